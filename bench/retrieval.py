"""Retrieval benchmark: search latency without rerank, and the cost of reranking with Qwen3.

1. Search: p50/p95 of ``Retriever.search`` split into encode, store and fuse, at 100k points in
   embedded Qdrant Edge (512-d random unit vectors; HNSW built by ``optimize()`` unless
   ``--no-optimize``; the collection is then closed and reopened, as ``mmrag serve`` opens what
   ``mmrag ingest`` built, unless ``--no-reopen``; 100 other queries warm it up, unmeasured),
   with a random-weight ViT-B-32 for the query text. ``--signals all`` adds a
   384-d ``passage`` vector and ``lexical`` BM25-like terms (8 of a Zipf vocabulary of 30k) to
   every point and measures store + fuse over the four signals from query vectors computed
   beforehand. Baseline, same run: an exact numpy scan (one BLAS thread) over every dense vector
   plus fusion. Targets: store + fuse p50 <= 2 ms at 10k, <= 5 ms at 100k (two signals), <= 8 ms
   at 100k (four signals).
2. Rerank: seconds to rerank 5, 20 and 50 candidates with Qwen3-Reranker-0.6B's architecture
   (random weights, a Qwen3Config with the 0.6B sizes), with and without the shared-prefix KV
   cache. Prompts are token ids of the model card's lengths: 72 shared tokens (system prompt,
   instruction, query), 30 document tokens and 13 suffix tokens per candidate. Counts above
   ``--rerank-max`` are extrapolated linearly from the two largest measured counts, and say so.

    python -m bench.retrieval              # 100k points; rerank 5 and 20 measured, 50 extrapolated
    python -m bench.retrieval --quick      # 10k points, 30 queries; rerank 5 only
    python -m bench.retrieval --quick --signals all --skip-rerank   # four signals, 10k
    python -m bench.retrieval --device cuda --rerank-max 100   # on a GPU
    python -m bench.retrieval --skip-search --skip-rerank --reduced 8   # fp32 vs bf16 vs int8
    python -m bench.retrieval --crossover --skip-rerank   # by size: scan vs engine vs numpy
    python -m bench.retrieval --points 100000 --signals all --skip-rerank --vector-copy 100000
    python -m bench.retrieval --diversity --skip-rerank   # mmr, collapse vs plain: 10k, 100k

3. By size (``--crossover``): one Edge collection grown through ``--sizes`` (HNSW rebuilt by
   ``optimize()`` at each size; the store's numpy vector copy on); at each size, store + fuse p50
   of every mode with the store's exact scan of that copy (``MMRAG_STORE__EXACT_SCAN_MAX_POINTS``)
   and with the engine's search, in alternating blocks of queries, against an exact numpy scan of
   every dense vector: where the scan wins, and where numpy is cheaper than the default settings.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch

from rag.config import ClipSettings, RerankSettings, RetrievalSettings, StoreSettings
from rag.embedding.base import SparseTerms
from rag.identity import point_id
from rag.retrieval import fusion
from rag.retrieval.diversity import pool_size
from rag.retrieval.plan import SearchPlan, make_plan
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import Diversity, Hit, Query, Scores
from rag.store import CollectionLayout, PointRecord, VectorStore, open_store
from rag.store.edge import EdgeStore

DIM = 512
PASSAGE_DIM = 384
VOCABULARY = 30_000
DOC_TERMS, QUERY_TERMS = 8, 3
BATCH = 512
WARM_UP = 100
"""Unmeasured queries searched in every mode before the measured ones."""
SHARED_TOKENS, DOC_TOKENS, SUFFIX_TOKENS = 72, 30, 13
QWEN3_06B = {
    "vocab_size": 151669,
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_hidden_layers": 28,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "max_position_embeddings": 40960,
    "tie_word_embeddings": True,
}
CLIP = ("image", "text")
MODES = (
    ("rrf", "rrf", 60),
    ("dbsf", "dbsf", 60),
    ("weighted", "weighted", 60),
)
WORDS = ["red", "blue", "cat", "dog", "photo", "of", "a", "the", "small", "square", "on", "tree"]


def unit_rows(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    rows = rng.standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def random_terms(rng: np.random.Generator, count: int, query: bool) -> SparseTerms:
    """``count`` distinct Zipf-distributed term ids: counts for a document, 1 for a query."""
    ids: set[int] = set()
    while len(ids) < count:
        ids.add(int(min(rng.zipf(1.3), VOCABULARY)) - 1)
    ordered = tuple(sorted(ids))
    values = [1.0] * count if query else rng.integers(1, 4, count).astype(float).tolist()
    return SparseTerms(ordered, tuple(values))


def fill(store: VectorStore, size: int, four: bool, start: int = 0) -> dict[str, np.ndarray]:
    """Upsert points ``start..size`` (image/text, and passage/lexical when ``four``); the dense
    matrices by name (for the baseline)."""
    rng = np.random.default_rng(start)
    count = size - start
    dense = {"image": unit_rows(rng, count), "text": unit_rows(rng, count)}
    if four:
        dense["passage"] = unit_rows(rng, count, PASSAGE_DIM)
    for first in range(start, size, BATCH):
        points = []
        for i in range(first, min(first + BATCH, size)):
            vectors: dict[str, np.ndarray | SparseTerms] = {
                n: m[i - start] for n, m in dense.items()
            }
            if four:
                vectors["lexical"] = random_terms(rng, DOC_TERMS, query=False)
            payload = {"text": f"caption {i}", "has_image": True, "has_text": True}
            points.append(PointRecord(point_id("bench", str(i)), vectors, payload))
        store.upsert(points)
    store.flush()
    return dense


def query_sets(n: int, four: bool, seed: int = 1) -> list[dict[str, object]]:
    """Query vectors per signal, computed beforehand (one CLIP vector for image and text)."""
    rng = np.random.default_rng(seed)
    out: list[dict[str, object]] = []
    for clip in unit_rows(rng, n):
        query: dict[str, object] = {"image": clip, "text": clip}
        if four:
            query["passage"] = unit_rows(rng, 1, PASSAGE_DIM)[0]
            query["lexical"] = random_terms(rng, QUERY_TERMS, query=True)
        out.append(query)
    return out


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS on one thread: on a shared, busy machine its thread pool only contends."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return
    with threadpool_limits(1):
        yield


def percentiles(values: list[float]) -> tuple[float, float]:
    p50, p95 = np.percentile(np.array(values) * 1000, [50, 95])
    return float(p50), float(p95)


def search_latency(retriever: Retriever, queries: list[str], mode: str) -> dict[str, list[float]]:
    """Seconds per stage of full searches (the first three warm up)."""
    stages: dict[str, list[float]] = {"encode": [], "store": [], "fuse": [], "store+fuse": []}
    for i, text in enumerate(queries):
        query = Query(text=text, fusion=mode, top_k=10)  # type: ignore[arg-type]
        timings = retriever.search(query).timings
        if i >= 3:
            for stage in ("encode", "store", "fuse"):
                stages[stage].append(timings[stage])
            stages["store+fuse"].append(timings["store"] + timings["fuse"])
    return stages


def isolated_latency(
    retriever: Retriever, vectors: list[dict[str, object]], mode: str, signals: tuple[str, ...]
) -> list[float]:
    """Seconds of store + fuse alone, from query vectors computed beforehand."""
    query = Query(text="x", fusion=mode, top_k=10, signals=signals)  # type: ignore[arg-type]
    plan = make_plan(query, retriever.settings, 0)
    spent = []
    for q in vectors:
        timings: dict[str, float] = {}
        retriever.fused_hits(plan, q, None, timings)  # type: ignore[arg-type]
        spent.append(timings["store"] + timings["fuse"])
    return spent[3:]


def warm_up(store: VectorStore, signals: tuple[str, ...], n: int = WARM_UP) -> None:
    """Search ``n`` other queries in every mode first, unmeasured: a process's first searches of a
    collection are slower (reopened at 100k, four signals: rrf 12.7 ms p50 over the first 50
    queries, 4.6 ms after)."""
    retriever = Retriever(None, store, RetrievalSettings())  # type: ignore[arg-type]
    vectors = query_sets(n, four=len(signals) > 2, seed=2)
    for _, mode, _ in MODES:
        isolated_latency(retriever, vectors, mode, signals)


def timed(run: Callable[[dict[str, object]], object], vectors: list[dict[str, object]]) -> list:
    spent = []
    with one_blas_thread():
        for q in vectors:
            began = time.perf_counter()
            run(q)
            spent.append(time.perf_counter() - began)
    return spent[3:]


def brute_force(dense: dict[str, np.ndarray], limit: int) -> Callable[[dict[str, object]], list]:
    """The baseline: exact cosines over every point's dense vectors, top ``limit`` per vector,
    RRF (lexical is left out: numpy has no inverted index)."""

    def run(q: dict[str, object]) -> list:
        lists = []
        for name, matrix in dense.items():
            sims = matrix @ np.asarray(q[name])
            top = np.argpartition(-sims, limit)[:limit]
            top = top[np.argsort(-sims[top])]
            lists.append([(str(i), float(sims[i])) for i in top])
        return fusion.ranked(fusion.rrf(lists, k=60), 10)

    return run


def brute_force_answer(
    dense: dict[str, np.ndarray], limit: int, store: VectorStore, ids: list[str]
) -> Callable[[dict[str, object]], list]:
    """The baseline doing a search's whole job: :func:`brute_force`, then each hit's score per
    signal (a gather from the same matrices) and the hits' payloads from ``store`` (``ids``: the
    point id of each row)."""
    lists_and_rrf = brute_force(dense, limit)

    def run(q: dict[str, object]) -> list:
        top = lists_and_rrf(q)
        rows = np.array([int(i) for i, _ in top])
        scores = {name: matrix[rows] @ np.asarray(q[name]) for name, matrix in dense.items()}
        payloads = store.get([ids[r] for r in rows])
        return [
            (p.payload, {n: float(s[i]) for n, s in scores.items()}) for i, p in enumerate(payloads)
        ]

    return run


def brute_force_hits(
    dense: dict[str, np.ndarray], limit: int, store: VectorStore, ids: list[str]
) -> Callable[[dict[str, object]], list[Hit]]:
    """:func:`brute_force_answer` returning what the retriever returns: a :class:`Hit` with its
    :class:`Scores` per hit (image and text vectors only)."""
    lists_and_rrf = brute_force(dense, limit)

    def run(q: dict[str, object]) -> list[Hit]:
        top = lists_and_rrf(q)
        rows = np.array([int(i) for i, _ in top])
        image, text = (dense[name][rows] @ np.asarray(q[name]) for name in CLIP)
        payloads = store.get([ids[r] for r in rows])
        return [
            Hit(p.id, dict(p.payload), Scores(float(image[i]), float(text[i]), fused))
            for i, (p, (_, fused)) in enumerate(zip(payloads, top, strict=True))
        ]

    return run


def bench_search(
    size: int,
    n_queries: int,
    threads: int,
    four: bool,
    optimize: bool,
    copy: int | None = None,
    reopen: bool = True,
) -> None:
    signals = ("image", "text", "passage", "lexical") if four else ("image", "text")
    settings = StoreSettings(collection="bench-retrieval")
    if copy is not None:
        settings = settings.model_copy(update={"vector_copy_max_points": copy})
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(settings, Path(tmp))
        store.ensure_collection(CollectionLayout.of(DIM, PASSAGE_DIM if four else None, four))
        began = time.perf_counter()
        dense = fill(store, size, four)
        print(f"loaded {size} points ({'/'.join(signals)}) in {time.perf_counter() - began:.0f} s")
        if optimize:
            began = time.perf_counter()
            store.optimize()  # type: ignore[attr-defined]
            print(f"optimize() (HNSW, merged segments) took {time.perf_counter() - began:.0f} s")
        if reopen:  # as `mmrag serve` opens what `mmrag ingest` built
            store.close()
            began = time.perf_counter()
            store = open_store(settings, Path(tmp))
            print(f"closed and reopened the collection in {time.perf_counter() - began:.1f} s")
        else:
            print("searched in the process that built the collection (--no-reopen)")
        began = time.perf_counter()
        if isinstance(store, EdgeStore) and store.copies_vectors(wait=600):
            print(f"vector copy filled in {time.perf_counter() - began:.0f} s")
        warm_up(store, signals)
        if four:
            _four_signals(store, dense, n_queries, signals, size)
        else:
            _search_rows(store, dense, n_queries, threads, size)
        store.close()


def _four_signals(
    store: VectorStore,
    dense: dict[str, np.ndarray],
    n_queries: int,
    signals: tuple[str, ...],
    size: int,
) -> None:
    settings = RetrievalSettings()
    retriever = Retriever(None, store, settings)  # type: ignore[arg-type]  # vectors come ready
    vectors = query_sets(n_queries + 3, four=True)
    print(
        f"\nstore + fuse over {'/'.join(signals)}: {size} points, Edge, prefetch "
        f"{settings.prefetch_limit} per signal, top 10, {n_queries} queries, ms"
    )
    print(f"  {'mode':<16}{'p50':>8}{'p95':>8}")
    alone = {}
    for label, mode, _ in MODES:
        alone[label] = percentiles(isolated_latency(retriever, vectors, mode, signals))
        print(f"  {label:<16}{alone[label][0]:8.2f}{alone[label][1]:8.2f}", flush=True)
    _versus_numpy(alone, dense, vectors, settings.prefetch_limit, target=8.0)


def _versus_numpy(
    alone: dict[str, tuple[float, float]],
    dense: dict[str, np.ndarray],
    vectors: list[dict[str, object]],
    limit: int,
    target: float,
) -> None:
    base = percentiles(timed(brute_force(dense, limit), vectors))
    print(f"  {'numpy exact':<16}{base[0]:8.2f}{base[1]:8.2f}  (baseline: one BLAS thread)")
    for label, (p50, _) in alone.items():
        verdict = "meets" if p50 <= target else "misses"
        print(
            f"  {label:<16} store+fuse {base[0] / p50:6.2f}x the speed of numpy exact; "
            f"{verdict} the {target:g} ms p50 target"
        )


def _search_rows(
    store: VectorStore, dense: dict[str, np.ndarray], n_queries: int, threads: int, size: int
) -> None:
    from rag.embedding import load_embedder

    rng = np.random.default_rng(1)
    queries = [" ".join(rng.choice(WORDS, 8)) for _ in range(n_queries + 3)]
    with tempfile.TemporaryDirectory() as tmp:
        clip = ClipSettings(model="ViT-B-32", pretrained="", threads=threads)
        embedder = load_embedder(clip, Path(tmp) / "models")
        embedder.warm_up()
        settings = RetrievalSettings()
        print(
            f"\nsearch without rerank: {size} points, Edge, {DIM}-d, prefetch "
            f"{settings.prefetch_limit} x 2, top 10, {n_queries} queries, ms. 'alone': store + "
            "fuse from query vectors computed beforehand"
        )
        print(
            f"  {'mode':<16}{'encode p50':>11}{'store p50':>10}{'fuse p50':>9}"
            f"{'store+fuse p50':>15}{'p95':>7}{'alone p50':>10}{'p95':>7}"
        )
        vectors: list[dict[str, object]] = []
        for text in queries:
            clip_vector = embedder.embed_texts([text])[0]
            vectors.append({"image": clip_vector, "text": clip_vector})
        alone = {}
        for label, mode, k in MODES:
            retriever = Retriever(embedder, store, settings.model_copy(update={"rrf_k": k}))
            p = {
                stage: percentiles(v)
                for stage, v in search_latency(retriever, queries, mode).items()
            }
            alone[label] = percentiles(isolated_latency(retriever, vectors, mode, CLIP))
            print(
                f"  {label:<16}{p['encode'][0]:11.2f}{p['store'][0]:10.2f}{p['fuse'][0]:9.2f}"
                f"{p['store+fuse'][0]:15.2f}{p['store+fuse'][1]:7.2f}"
                f"{alone[label][0]:10.2f}{alone[label][1]:7.2f}"
            )
        target = 2.0 if size <= 10_000 else 5.0
        _versus_numpy(alone, dense, vectors, settings.prefetch_limit, target)


def qwen3_06b(device: str) -> tuple[torch.nn.Module, torch.Tensor]:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    dtype = torch.float32 if device == "cpu" else torch.bfloat16
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(**QWEN3_06B)).to(device=device, dtype=dtype).eval()
    yes_no = model.lm_head.weight[[2152, 9693]].detach()  # any two rows: weights are random
    return model, yes_no


def prompts(n: int, rng: np.random.Generator) -> list[list[int]]:
    shared = rng.integers(0, 150000, SHARED_TOKENS).tolist()
    suffix = rng.integers(0, 150000, SUFFIX_TOKENS).tolist()
    return [shared + rng.integers(0, 150000, DOC_TOKENS).tolist() + suffix for _ in range(n)]


def bench_rerank(
    counts: list[int], measure_max: int, device: str, batch_size: int, repeats: int
) -> None:
    began = time.perf_counter()
    model, yes_no = qwen3_06b(device)
    tokens = SHARED_TOKENS + DOC_TOKENS + SUFFIX_TOKENS
    print(
        f"\nrerank with Qwen3-Reranker-0.6B's architecture (random weights, built in "
        f"{time.perf_counter() - began:.0f} s), {device}, {torch.get_num_threads()} threads, "
        f"batch {batch_size}; prompt {tokens} tokens: {SHARED_TOKENS} shared + {DOC_TOKENS} "
        f"document + {SUFFIX_TOKENS} suffix; best of {repeats}"
    )
    rng = np.random.default_rng(0)
    warm = prompts(batch_size, rng)
    for share in (0, SHARED_TOKENS):  # both paths once at full batch width
        _rerank_seconds(model, yes_no, warm, share, batch_size)
    measured = _measure(model, yes_no, [n for n in counts if n <= measure_max], batch_size, repeats)
    print(f"  {'candidates':>10}{'full prompts s':>16}{'shared prefix s':>17}{'speed-up':>10}")
    for n, (full, shared) in measured.items():
        print(f"  {n:>10}{full:16.2f}{shared:17.2f}{full / shared:9.1f}x")
    _extrapolate([n for n in counts if n > measure_max], measured)


def _measure(
    model: torch.nn.Module, yes_no: torch.Tensor, counts: list[int], batch: int, repeats: int
) -> dict[int, tuple[float, float]]:
    """Best of ``repeats`` seconds per count, full prompts and shared prefix, interleaved so that
    a busy moment of the machine does not land on one cell only."""
    from rag.retrieval.rerank.qwen3 import common_prefix_length

    rng = np.random.default_rng(1)
    sequences = {n: prompts(n, rng) for n in counts}
    best: dict[tuple[int, int], float] = {}
    for _ in range(repeats):
        for n in counts:
            for share in (0, common_prefix_length(sequences[n])):
                seconds = _rerank_seconds(model, yes_no, sequences[n], share, batch)
                key = (n, 0 if share == 0 else 1)
                best[key] = min(best.get(key, float("inf")), seconds)
    return {n: (best[(n, 0)], best[(n, 1)]) for n in counts}


def _rerank_seconds(
    model: torch.nn.Module,
    yes_no: torch.Tensor,
    sequences: list[list[int]],
    shared: int,
    batch: int,
) -> float:
    from rag.retrieval.rerank.qwen3 import score_sequences

    start = time.perf_counter()
    with torch.inference_mode():
        score_sequences(model, yes_no, sequences, shared, batch)
    if yes_no.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def _extrapolate(counts: list[int], measured: dict[int, tuple[float, float]]) -> None:
    """Scale the largest measured count's times in proportion (overheads make this an upper
    bound for the shared prefix, whose prefix pass runs once)."""
    if not counts or not measured:
        return
    largest, (full, shared) = max(measured.items())
    for n in counts:
        scale = n / largest
        print(
            f"  {n:>10}{full * scale:16.2f}{shared * scale:17.2f}{full / shared:9.1f}x  "
            f"(EXTRAPOLATED in proportion to {largest}, not measured)"
        )


def bench_reduced(n: int, batch_size: int, repeats: int) -> None:
    """fp32 vs the reduced-precision paths of
    :class:`rag.retrieval.rerank.qwen3.Qwen3Reranker` (bf16, int8 Linear layers) on the 0.6B
    architecture: seconds for ``n`` candidates with the shared prefix, and max |P(yes) drift|
    against fp32 (target <= 0.01). The three take turns in each repeat (a busy moment of the
    machine does not land on one only); best wall and CPU seconds (CPU time hardly counts the
    time other jobs hold the cores; with 1 thread it is the figure to compare)."""
    import copy

    from rag.retrieval.rerank.qwen3 import (
        common_prefix_length,
        native_bf16,
        quantize_int8,
        score_sequences,
    )

    began = time.perf_counter()
    model, yes_no = qwen3_06b("cpu")
    print(
        f"\nrerank fp32 vs bf16 vs int8: Qwen3-Reranker-0.6B architecture (random weights, built "
        f"in {time.perf_counter() - began:.0f} s), cpu, {torch.get_num_threads()} threads, {n} "
        f"candidates, batch {batch_size}, best of {repeats} taking turns; native bf16 (AMX): "
        f"{native_bf16()}"
    )
    sequences = prompts(n, np.random.default_rng(3))
    shared = common_prefix_length(sequences)
    int8 = copy.deepcopy(model)
    quantize_int8(int8)
    nets = {"fp32": model, "bf16": copy.deepcopy(model).to(torch.bfloat16), "int8": int8}
    wall = dict.fromkeys(nets, float("inf"))
    cpu = dict.fromkeys(nets, float("inf"))
    scores: dict[str, list[float]] = {}
    for turn in range(repeats + 1):  # the first is a warm-up
        for name, net in nets.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            with torch.inference_mode():
                scores[name] = score_sequences(net, yes_no, sequences, shared, batch_size)
            if turn:
                wall[name] = min(wall[name], time.perf_counter() - start)
                cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    fp32_ms = wall["fp32"] / n * 1e3
    print(f"  fp32 {wall['fp32']:.2f} s ({fp32_ms:.0f} ms/candidate), cpu {cpu['fp32']:.2f} s")
    for name in ("bf16", "int8"):
        drift = max(abs(a - b) for a, b in zip(scores["fp32"], scores[name], strict=True))
        print(
            f"  {name} {wall[name]:.2f} s ({wall[name] / n * 1e3:.0f} ms/candidate) -> speed-up "
            f"{wall['fp32'] / wall[name]:.2f}x (cpu {cpu[name]:.2f} s, "
            f"{cpu['fp32'] / cpu[name]:.2f}x); max |P(yes) - fp32| {drift:.4f} (target <= 0.01)"
        )
    print(f"  P(yes) fp32 spread {min(scores['fp32']):.3f}..{max(scores['fp32']):.3f}")


def bench_crossover(sizes: list[int], n_queries: int, four: bool) -> None:
    signals = ("image", "text", "passage", "lexical") if four else CLIP
    settings = RetrievalSettings()
    default_scan = StoreSettings().exact_scan_max_points
    vectors = query_sets(n_queries + 3, four)
    print(
        f"\nstore + fuse p50 ms by collection size over {'/'.join(signals)}, Edge (HNSW), prefetch "
        f"{settings.prefetch_limit}, top 10, {n_queries} queries, vector copy on: lists from the "
        "store's exact scan of the copy (MMRAG_STORE__EXACT_SCAN_MAX_POINTS) and from the engine; "
        "numpy exact: a scan of every dense vector plus RRF, without payloads or per-hit scores; "
        "+ answer: also the hits' signal scores and payloads (the store's read); + hits: as "
        "+ answer, returning the retriever's Hit objects (image/text only). Every column "
        f"takes turns with the others in blocks of {BLOCK} queries, one BLAS thread"
    )
    header = "".join(f"{m + ' scan':>15}{m + ' engine':>15}" for _, m, _ in MODES)
    print(f"  {'points':>8}{header}{'numpy exact':>13}{'+ answer':>10}{'+ hits':>8}")
    default: dict[int, float] = {}
    exact: dict[int, float] = {}
    answered: dict[int, float] = {}
    hits: dict[int, float] = {}
    scan_wins: dict[str, list[int]] = {mode: [] for _, mode, _ in MODES}
    with tempfile.TemporaryDirectory() as tmp, one_blas_thread():
        store = open_store(StoreSettings(collection="bench-crossover"), Path(tmp))
        assert isinstance(store, EdgeStore)
        store.ensure_collection(CollectionLayout.of(DIM, PASSAGE_DIM if four else None, four))
        store.vector_copy_max_points = max(sizes)  # the copy follows every upsert
        dense: dict[str, list[np.ndarray]] = {}
        loaded = 0
        for size in sizes:
            for name, rows in fill(store, size, four, start=loaded).items():
                dense.setdefault(name, []).append(rows)
            loaded = size
            store.optimize()
            store.copies_vectors(wait=600)  # filled in the background on first use
            retriever = Retriever(None, store, settings)  # type: ignore[arg-type]
            matrices = {name: np.vstack(parts) for name, parts in dense.items()}
            ids = [point_id("bench", str(i)) for i in range(size)]
            runs: dict[str, Callable[[dict[str, object]], float]] = {}
            for _, mode, _ in MODES:
                runs[f"{mode} scan"] = _store_and_fuse(store, retriever, mode, signals, size)
                runs[f"{mode} engine"] = _store_and_fuse(store, retriever, mode, signals, 0)
            runs["numpy exact"] = _seconds(brute_force(matrices, settings.prefetch_limit))
            runs["+ answer"] = _seconds(
                brute_force_answer(matrices, settings.prefetch_limit, store, ids)
            )
            if not four:
                runs["+ hits"] = _seconds(
                    brute_force_hits(matrices, settings.prefetch_limit, store, ids)
                )
            p50 = _taking_turns(runs, vectors)
            store.exact_scan_max_points = default_scan
            cells = []
            for _, mode, _ in MODES:
                scan, engine = p50[f"{mode} scan"], p50[f"{mode} engine"]
                cells.append(f"{scan:15.2f}{engine:15.2f}")
                if scan < engine:
                    scan_wins[mode].append(size)
                chosen = scan if size <= default_scan else engine
                default[size] = max(default.get(size, 0.0), chosen)
            exact[size], answered[size] = p50["numpy exact"], p50["+ answer"]
            hits[size] = p50.get("+ hits", float("nan"))
            numpy_cells = f"{exact[size]:13.2f}{answered[size]:10.2f}{hits[size]:8.2f}"
            print(f"  {size:>8}{''.join(cells)}{numpy_cells}", flush=True)
        store.close()
    for mode, won in scan_wins.items():
        print(f"  {mode}: the scan beats the engine at " + (", ".join(map(str, won)) or "no size"))
    cheaper = [size for size in sizes if exact[size] < default[size]]
    print(
        f"  numpy exact is cheaper than every mode's store + fuse with the defaults (scan up to "
        f"{default_scan} points) at: " + (", ".join(map(str, cheaper)) or "no size measured")
    )
    print(
        "  the slowest mode's store + fuse with the defaults, over numpy + answer: "
        + ", ".join(f"{size} {default[size] / answered[size]:.2f}x" for size in sizes)
    )
    if not four:
        print(
            "  the same over numpy + hits: "
            + ", ".join(f"{size} {default[size] / hits[size]:.2f}x" for size in sizes)
        )


BLOCK = 20
"""Queries per block when columns take turns; the first 3 of a block warm up. Turns query by
query cost the scan 1.6x (10k points, rrf: 3.51 against 2.16 ms p50) and the engine 1.4x: each
evicts the other's working set from the caches, which no server sees."""


def _store_and_fuse(
    store: EdgeStore, retriever: Retriever, mode: str, signals: tuple[str, ...], scan_up_to: int
) -> Callable[[dict[str, object]], float]:
    """Seconds of one query's store + fuse in ``mode``, the store scanning collections of up to
    ``scan_up_to`` points (0: the engine's lists)."""
    query = Query(text="x", fusion=mode, top_k=10, signals=signals)  # type: ignore[arg-type]
    plan = make_plan(query, retriever.settings, 0)

    def run(q: dict[str, object]) -> float:
        store.exact_scan_max_points = scan_up_to
        timings: dict[str, float] = {}
        retriever.fused_hits(plan, q, None, timings)  # type: ignore[arg-type]
        return timings["store"] + timings["fuse"]

    return run


def _seconds(run: Callable[[dict[str, object]], object]) -> Callable[[dict[str, object]], float]:
    def timed_run(q: dict[str, object]) -> float:
        began = time.perf_counter()
        run(q)
        return time.perf_counter() - began

    return timed_run


def _taking_turns(
    runs: Mapping[str, Callable[[dict[str, object]], float]], vectors: list[dict[str, object]]
) -> dict[str, float]:
    """p50 ms of each run over the same queries, the runs taking turns block by block
    (:data:`BLOCK`; which goes first rotates), so that a slow moment of the machine falls on
    all of them."""
    names = list(runs)
    spent: dict[str, list[float]] = {name: [] for name in names}
    for block, start in enumerate(range(0, len(vectors), BLOCK)):
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            for i, q in enumerate(vectors[start : start + BLOCK]):
                seconds = runs[name](q)
                if i >= 3:
                    spent[name].append(seconds)
    return {name: percentiles(values)[0] for name, values in spent.items()}


def bench_diversity(sizes: list[int], n_queries: int) -> None:
    """``Retriever.search`` p50 of a plain fused search against the same search with ``mmr``
    (lambda 0.5) and with ``collapse`` by document, taking turns, at each of ``sizes`` (one Edge
    collection grown through them, HNSW rebuilt at each; image/text, default fusion, top 10;
    the query's vector handed over beforehand, so encoding costs nothing): wall-clock p50 and
    the ratios of wall and CPU (``time.process_time``) p50s over the plain search's."""
    settings = RetrievalSettings()
    vectors = query_sets(n_queries + 3, four=False)
    plan = SearchPlan(settings.fusion, {}, 10, 0, settings.prefetch_limit)
    pools = {mode: pool_size(plan, Diversity(mode)) for mode in ("mmr", "collapse")}
    print(
        f"\nsearch p50 ms with diversity over the plain fused search, Edge (HNSW), image/text, "
        f"{settings.fusion}, top 10, pool {pools['mmr']} (mmr) / {pools['collapse']} (collapse), "
        f"{n_queries} queries, taking turns in blocks of {BLOCK}, one BLAS thread; x: wall p50 / "
        "plain's (CPU p50's)"
    )
    print(
        f"  {'points':>8}{'copy':>6}{'plain':>9}{'mmr':>9}{'collapse':>10}"
        f"{'mmr x':>15}{'collapse x':>15}"
    )
    with tempfile.TemporaryDirectory() as tmp, one_blas_thread():
        store = open_store(StoreSettings(collection="bench-diversity"), Path(tmp))
        store.ensure_collection(CollectionLayout.of(DIM))
        loaded = 0
        for size in sizes:
            fill_documents(store, size, start=loaded)
            loaded = size
            store.optimize()
            copied = isinstance(store, EdgeStore) and store.copies_vectors(wait=600)
            embedder = _GivenVector()
            retriever = Retriever(embedder, store, settings)  # type: ignore[arg-type]
            spreads = {
                "plain": None,
                "mmr": Diversity("mmr", 0.5),
                "collapse": Diversity("collapse", field="document"),
            }
            warm = query_sets(WARM_UP, four=False, seed=2)
            runs = {name: _searched(retriever, embedder, d) for name, d in spreads.items()}
            for q in warm:
                for run in runs.values():
                    run(q)
            wall, cpu = _diversity_turns(runs, vectors)
            ratio = {
                name: f"{wall[name] / wall['plain']:.2f} ({cpu[name] / cpu['plain']:.2f})"
                for name in spreads
            }
            print(
                f"  {size:>8}{'yes' if copied else 'no':>6}{wall['plain']:9.2f}{wall['mmr']:9.2f}"
                f"{wall['collapse']:10.2f}{ratio['mmr']:>15}{ratio['collapse']:>15}",
                flush=True,
            )
        store.close()


def _diversity_turns(
    runs: Mapping[str, Callable[[dict[str, object]], tuple[float, float]]],
    vectors: list[dict[str, object]],
) -> tuple[dict[str, float], dict[str, float]]:
    """:func:`_taking_turns` for runs that give (wall, CPU) seconds: p50 ms of each."""
    names = list(runs)
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for block, start in enumerate(range(0, len(vectors), BLOCK)):
        shift = block % len(names)
        for name in names[shift:] + names[:shift]:
            for i, q in enumerate(vectors[start : start + BLOCK]):
                spent, used = runs[name](q)
                if i >= 3:
                    wall[name].append(spent)
                    cpu[name].append(used)
    return (
        {name: percentiles(values)[0] for name, values in wall.items()},
        {name: percentiles(values)[0] for name, values in cpu.items()},
    )


def fill_documents(store: VectorStore, size: int, start: int = 0, pages: int = 8) -> None:
    """Upsert points ``start..size`` with image/text vectors, each a page of a document of
    ``pages`` pages (``document.id``, ``page``)."""
    rng = np.random.default_rng(start)
    for first in range(start, size, BATCH):
        last = min(first + BATCH, size)
        image, text = unit_rows(rng, last - first), unit_rows(rng, last - first)
        points = [
            PointRecord(
                point_id("bench", str(i)),
                {"image": image[i - first], "text": text[i - first]},
                {"text": f"caption {i}", "document": {"id": f"doc{i // pages}"}, "page": i % pages},
            )
            for i in range(first, last)
        ]
        store.upsert(points)
    store.flush()


class _GivenVector:
    """An embedder whose text vector is the one it was handed (the benchmark's query)."""

    vector: np.ndarray

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return self.vector[None, :]


def _searched(
    retriever: Retriever, embedder: _GivenVector, diversity: Diversity | None
) -> Callable[[dict[str, object]], tuple[float, float]]:
    """Wall and CPU seconds of one ``retriever.search`` of a query's CLIP vector with
    ``diversity``."""
    query = Query(text="x", top_k=10, signals=CLIP, diversity=diversity)  # type: ignore[arg-type]

    def run(q: dict[str, object]) -> tuple[float, float]:
        embedder.vector = q["image"]  # type: ignore[assignment]
        began, used = time.perf_counter(), time.process_time()
        retriever.search(query)
        return time.perf_counter() - began, time.process_time() - used

    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.retrieval", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10k points, 30 queries, rerank 5")
    parser.add_argument("--points", type=int, default=None)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--device", default="cpu", help="where the reranker runs")
    parser.add_argument("--rerank-max", type=int, default=None, help="largest count to measure")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--repeats", type=int, default=1, help="best of N rerank timings")
    parser.add_argument("--signals", choices=("clip", "all"), default="clip")
    parser.add_argument("--no-optimize", action="store_true", help="search unindexed segments")
    parser.add_argument(
        "--no-reopen",
        action="store_true",
        help="search in the building process instead of reopening the collection first",
    )
    parser.add_argument("--skip-search", action="store_true")
    parser.add_argument("--crossover", action="store_true", help="by size, vs numpy exact")
    parser.add_argument(
        "--vector-copy",
        type=int,
        default=None,
        metavar="N",
        help="MMRAG_STORE__VECTOR_COPY_MAX_POINTS for the search run (default: the setting's)",
    )
    parser.add_argument(
        "--sizes", default="2500,5000,10000,20000,40000", help="collection sizes of --crossover"
    )
    parser.add_argument("--skip-rerank", action="store_true")
    parser.add_argument(
        "--diversity", action="store_true", help="mmr and collapse over the plain fused search"
    )
    parser.add_argument(
        "--diversity-sizes", default="10000,100000", help="collection sizes of --diversity"
    )
    parser.add_argument(
        "--reduced", type=int, default=0, metavar="N", help="fp32 vs bf16 vs int8, N candidates"
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    size = args.points or (10_000 if args.quick else 100_000)
    if args.diversity:
        sizes = [int(s) for s in args.diversity_sizes.split(",")]
        bench_diversity(sizes, 30 if args.quick else 100)
    elif args.crossover:
        sizes = [int(s) for s in args.sizes.split(",")]
        bench_crossover(sizes, 30 if args.quick else 60, args.signals == "all")
    elif not args.skip_search:
        n_queries = 30 if args.quick else args.queries
        four = args.signals == "all"
        optimize = not args.no_optimize
        bench_search(
            size, n_queries, args.threads, four, optimize, args.vector_copy, not args.no_reopen
        )
    if not args.skip_rerank:
        counts = [5, 20, 50] if args.rerank_max is None else [5, 20, 50, 100]
        measure_max = args.rerank_max or (5 if args.quick else 20)
        batch = RerankSettings().batch_size if args.device == "cpu" else 64
        bench_rerank(counts, measure_max, args.device, batch, args.repeats)
    if args.reduced:
        bench_reduced(args.reduced, RerankSettings().batch_size, max(args.repeats, 2))


if __name__ == "__main__":
    main()
