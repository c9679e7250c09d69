"""Chat benchmark: latency of a grounded answer with SmolLM2-135M, in-process (llama.cpp) and over
HTTP (the ``openai`` backend against ``python -m llama_cpp.server`` running the same GGUF on
loopback), over a small generated collection (tiny CLIP, embedded Qdrant Edge).

Reports, per backend, p50/p95 of time to first token and total latency, split into retrieve,
rerank and generate (seconds, per streamed answer), and the HTTP backend's p50 against the
in-process one. Each question asks about one item, with ``top_k`` hits in the prompt; the
backends take turns question by question; the first answer of each (model load, cold caches) is
not counted.

The in-process backend runs three times: as configured by default (``llamacpp``: llama.cpp's
prompt cache, ``MMRAG_LLM__PROMPT_CACHE_MB``, and fast weights, the small Q4_1 GGUF loaded as
Q8_0 with fused attention), without the prompt cache (``llamacpp-nocache``), and as before
both (``llamacpp-before``: the GGUF's own Q4_1 weights, no cache), against which the others'
first token is compared (wall clock, and this process's CPU time, which other jobs on the
machine disturb less). After each answer the tokens it evaluated are evaluated again, after
the same prefix, from an empty state, timed: the model's raw prefill rate for that work at that
moment. ``prefill`` is the prompt tokens the model
really evaluated for the answer over its wait for the first token (less retrieval, rerank and
the rewrite), against that raw rate: what the answer path costs beyond llama.cpp's own work;
``prompt rate`` counts all the prompt's tokens, kept prefixes included. The first answer of
each backend (empty caches) is shown on its own line and left out of the p50s. With
``--follow-ups`` every question after the first is a follow-up of the previous answer: the
question is rewritten by the model first (``MMRAG_LLM__CONDENSE=llm``), whose own prompt
otherwise takes the place of the answer prompt's prefix in the model.

    python -m bench.chat                  # 300 items, 20 questions, 64 answer tokens
    python -m bench.chat --quick          # 60 items, 5 questions, 32 answer tokens
    python -m bench.chat --quick --backends llamacpp,llamacpp-nocache,llamacpp-before
    python -m bench.chat --quick --follow-ups --backends llamacpp,llamacpp-nocache,llamacpp-before
    python -m bench.chat --backends llamacpp
    python -m bench.chat --base-url http://gpu-box:8080/v1 --model qwen2.5  # another server
    python -m bench.chat --rerank tiny    # a tiny random Qwen3 reranker (rag.testing)
    python -m bench.chat --rerank /models/Qwen3-Reranker-0.6B
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from rag import payload as keys
from rag.answer import Answerer, FinalEvent, TokenEvent
from rag.config import LLMSettings, RerankSettings, RetrievalSettings, StoreSettings
from rag.embedding import load_embedder, tiny_clip_settings
from rag.embedding.base import Embedder
from rag.identity import point_id
from rag.llm import LlamaCppChatModel
from rag.llm.base import ChatMessage, ChatModel
from rag.llm.openai import OpenAIChatModel
from rag.retrieval.rerank import Reranker, build_reranker
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import Query
from rag.store import CollectionLayout, PointRecord, VectorStore, open_store
from rag.testing.llama_cpp_server import LlamaCppServer
from rag.testing.tiny_rerankers import build_tiny_qwen3

COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black", "pink", "brown"]
THINGS = ["lighthouse", "bicycle", "teapot", "violin", "cactus", "kite", "tram", "owl", "anchor"]
PLACES = ["harbour", "market", "library", "mountain hut", "train station", "garden", "bakery"]
STAGES = ("retrieve", "rerank", "condense", "first_token", "first_token_cpu", "generate", "total")
LOCAL = ("llamacpp", "llamacpp-nocache", "llamacpp-before")
BASELINE = "llamacpp-before"


class EvalClock:
    """Records each ``Llama.eval`` call of a loaded model: (start, tokens, seconds)."""

    def __init__(self, llm: object) -> None:
        self.calls: list[tuple[float, int, float]] = []
        self.llm = llm
        self.untimed = original = llm.eval  # type: ignore[attr-defined]

        def timed(tokens: list[int]) -> None:
            began = time.perf_counter()
            original(tokens)
            self.calls.append((began, len(tokens), time.perf_counter() - began))

        llm.eval = timed  # type: ignore[attr-defined]

    def raw_rate(self, prompt_tokens: int, evaluated: int) -> tuple[float, float]:
        """Tokens a second (wall clock, this process's CPU time) of llama.cpp's own evaluation
        of the same work as the answer's: the last prompt's tokens after its first
        ``prompt_tokens - evaluated``, evaluated again after that prefix from an empty state."""
        tokens = list(self.llm.input_ids[:prompt_tokens])  # type: ignore[attr-defined]
        prefix = max(0, prompt_tokens - evaluated)
        self.llm.reset()  # type: ignore[attr-defined]
        if prefix:
            self.untimed(tokens[:prefix])
        began, cpu = time.perf_counter(), time.process_time()
        self.untimed(tokens[prefix:])
        wall, cpu = time.perf_counter() - began, time.process_time() - cpu
        n = len(tokens) - prefix
        return n / wall, n / cpu if cpu > 0 else 0.0

    def prompt_eval(self, since: float, until: float) -> tuple[int, float]:
        """(tokens, seconds) of the last prompt evaluation (more than one token, or the only
        call) between ``since`` and ``until``: the answer's own prompt, after any rewrite."""
        calls = [c for c in self.calls if since <= c[0] <= until]
        prompts = [c for c in calls if c[1] > 1] or calls[:1]
        return (prompts[-1][1], prompts[-1][2]) if prompts else (0, 0.0)


def caption(rng: random.Random, i: int) -> str:
    color, thing, place = rng.choice(COLORS), rng.choice(THINGS), rng.choice(PLACES)
    year, days = 1900 + rng.randrange(120), rng.choice(["weekdays", "Sundays"])
    return (
        f"Item {i}: a {color} {thing} photographed at the {place}. The {thing} was restored in "
        f"{year} and is shown to visitors on {days}."
    )


def fill(store: VectorStore, embedder: Embedder, n: int, seed: int = 0) -> list[str]:
    """Write ``n`` generated items (solid-colour picture + caption); their captions."""
    rng = random.Random(seed)
    texts = [caption(rng, i) for i in range(n)]
    for start in range(0, n, 32):
        chunk = texts[start : start + 32]
        pictures = [Image.new("RGB", (64, 48), t.split()[3]) for t in chunk]
        vectors = zip(embedder.embed_images(pictures), embedder.embed_texts(chunk), strict=True)
        store.upsert([
            PointRecord(point_id("bench-chat", text), {"image": iv, "text": tv}, _payload(text))
            for text, (iv, tv) in zip(chunk, vectors, strict=True)
        ])  # fmt: skip
    store.flush()
    return texts


def question(text: str) -> str:
    """A question about one generated item ("What is known about a red owl photographed at …?")."""
    return f"What is known about {text.split(': ', 1)[1].split('.')[0]}?"


def _payload(text: str) -> dict[str, object]:
    return {
        keys.TEXT: text, keys.SOURCE: f"bench/{abs(hash(text)) % 10**8}.png", keys.HAS_IMAGE: True,
        keys.HAS_TEXT: True, keys.MIME: "image/png", keys.WIDTH: 64, keys.HEIGHT: 48,
        keys.METADATA: {"title": text.split(":")[0]},
    }  # fmt: skip


def make_reranker(name: str, folder: Path) -> Reranker | None:
    if name == "tiny":
        name = str(build_tiny_qwen3(folder / "tiny-qwen3", RerankSettings().instruction))
    return build_reranker(RerankSettings(model=name, required=name != "none"), folder)


def ask(
    answerer: Answerer,
    question: str,
    top_k: int,
    history: list[ChatMessage] | None = None,
    clock: EvalClock | None = None,
) -> tuple[dict[str, float], str]:
    """Stream one answer; its stage timings, decode rate (pieces a second after the first),
    prompt rate (prompt tokens a second of the wait before the first piece, less retrieval and
    the rewrite) and, with ``clock``, its prefill rate (the tokens the model evaluated a second
    of that wait) and the raw rate of its prompt, and its text."""
    stamps: list[float] = []
    began, cpu_began, first_cpu = time.perf_counter(), time.process_time(), 0.0
    for event in answerer.stream(Query(text=question, top_k=top_k), history=history):
        if isinstance(event, TokenEvent):
            if not stamps:
                first_cpu = time.process_time() - cpu_began
            stamps.append(time.perf_counter())
        elif isinstance(event, FinalEvent):
            answer = event.answer
            span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
            timings = answer.timings
            before = sum(timings.get(s, 0.0) for s in ("retrieve", "rerank", "condense"))
            wait = timings["first_token"] - before
            prompt_rate = (answer.prompt_tokens or 0) / wait if wait > 0 else 0.0
            row = {**timings, "decode": (len(stamps) - 1) / span if span else 0.0}
            row["prompt_tokens"] = float(answer.prompt_tokens or 0)
            row["first_token_cpu"] = first_cpu
            if clock is not None and stamps and wait > 0:
                tokens, _ = clock.prompt_eval(began, stamps[0])
                row["evaluated_tokens"] = float(tokens)
                row["prefill"] = tokens / wait
                row["prefill_cpu"] = tokens / first_cpu if first_cpu > 0 else 0.0
                row["raw"], row["raw_cpu"] = clock.raw_rate(answer.prompt_tokens or 0, tokens)
            return {**row, "prompt_rate": prompt_rate}, answer.text
    raise RuntimeError("no final event")


def report(name: str, rows: list[dict[str, float]], first: dict[str, float] | None) -> None:
    print(f"\n{name}\n{'stage':<15} {'p50 s':>8} {'p95 s':>8}")
    for stage in STAGES:
        values = [row.get(stage, 0.0) for row in rows]
        p50, p95 = np.percentile(values, [50, 95])
        print(f"{stage:<15} {p50:8.3f} {p95:8.3f}")
    decode = float(np.median([row["decode"] for row in rows]))
    print(f"{'decode':<15} {decode:8.1f}   tokens/s after the first (p50)")
    rate = float(np.median([row["prompt_rate"] for row in rows]))
    print(f"{'prompt rate':<15} {rate:8.1f}   prompt tokens/s of the wait for the first (p50)")
    if all("prefill" in row for row in rows):
        prefill = float(np.median([row["prefill"] for row in rows]))
        raw = float(np.median([row["raw"] for row in rows]))
        ratio = float(np.median([row["prefill"] / row["raw"] for row in rows]))
        cpu = float(np.median([row["prefill_cpu"] / row["raw_cpu"] for row in rows]))
        tokens = float(np.median([row["evaluated_tokens"] for row in rows]))
        prompt = float(np.median([row["prompt_tokens"] for row in rows]))
        print(f"{'prefill':<15} {prefill:8.1f}   evaluated tokens/s of that wait (p50), "
              f"{tokens:.0f} of {prompt:.0f} prompt tokens evaluated")  # fmt: skip
        print(f"{'raw prefill':<15} {raw:8.1f}   tokens/s, the same tokens again (p50)")
        print(f"{'prefill / raw':<15} {ratio:8.2f}   p50 of the answers' (target >= 0.9); in CPU "
              f"time {cpu:.2f} (the whole wait's CPU, retrieval included)")  # fmt: skip
    if first:
        print(f"{'first answer':<15} {first['first_token']:8.3f}   s to the first token "
              f"(empty caches; not in the p50s)")  # fmt: skip


def compare(results: dict[str, list[dict[str, float]]]) -> None:
    """The HTTP backend's p50 first-token and total latency against the in-process one; the
    prompt cache's first token against none, and each in-process backend's against the
    baseline (``llamacpp-before``: the shipped weights, no cache; target <= 0.6)."""
    if {"llamacpp", "llamacpp-nocache"} <= results.keys():
        cached = float(np.median([row["first_token"] for row in results["llamacpp"]]))
        plain = float(np.median([row["first_token"] for row in results["llamacpp-nocache"]]))
        print(f"\nfirst token, prompt cache / none, p50: {cached:.3f} s / {plain:.3f} s = "
              f"{cached / plain:.3f}")  # fmt: skip
    if BASELINE in results:
        for stage, what in (("first_token", "first token"), ("first_token_cpu", "its CPU time")):
            before = float(np.median([row[stage] for row in results[BASELINE]]))
            for name in (n for n in LOCAL if n in results and n != BASELINE):
                now = float(np.median([row[stage] for row in results[name]]))
                print(f"{what}, {name} / {BASELINE}, p50: {now:.3f} s / {before:.3f} s = "
                      f"{now / before:.3f} (target <= 0.6)")  # fmt: skip
    if not {"llamacpp", "openai"} <= results.keys():
        return
    print("\nopenai (HTTP) / llamacpp (in-process), p50:")
    for stage in ("first_token", "generate", "total"):
        local = float(np.median([row[stage] for row in results["llamacpp"]]))
        http = float(np.median([row[stage] for row in results["openai"]]))
        print(f"  {stage:<12} {http:7.3f} s / {local:7.3f} s = {http / local:5.3f}"
              f"  ({(http / local - 1) * 100:+.1f} %)")  # fmt: skip


@contextlib.contextmanager
def chat_models(
    backends: list[str], llm: LLMSettings, base_url: str | None, model: str
) -> Iterator[dict[str, ChatModel]]:
    """The backends to compare; ``openai`` starts llama_cpp.server with the same GGUF unless
    ``base_url`` names another server."""
    models: dict[str, ChatModel] = {}
    with contextlib.ExitStack() as stack:
        if "llamacpp" in backends:
            models["llamacpp"] = LlamaCppChatModel.from_settings(llm)
        if "llamacpp-nocache" in backends:
            models["llamacpp-nocache"] = LlamaCppChatModel.from_settings(
                llm.model_copy(update={"prompt_cache_mb": 0})
            )
        if BASELINE in backends:
            before = LlamaCppChatModel.from_settings(llm.model_copy(update={"prompt_cache_mb": 0}))
            before.fast = False
            models[BASELINE] = before
        if "openai" in backends:
            if base_url is None:
                server = stack.enter_context(LlamaCppServer(n_ctx=llm.n_ctx))
                base_url, model = server.url, server.model
            models["openai"] = OpenAIChatModel(base_url, model, read_timeout_s=300)
        yield models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small run (about a minute)")
    parser.add_argument("--items", type=int)
    parser.add_argument("--questions", type=int)
    parser.add_argument("--max-tokens", type=int)
    parser.add_argument("--top-k", type=int, default=4)
    parser.add_argument("--rerank", default="none", help="none, tiny, or a reranker model/folder")
    parser.add_argument("--backends", default=",".join([*LOCAL, "openai"]), help="comma-separated")
    parser.add_argument(
        "--follow-ups", action="store_true", help="each question a follow-up of the last answer"
    )
    parser.add_argument(
        "--base-url", help="an OpenAI-compatible server instead of llama_cpp.server"
    )
    parser.add_argument("--model", default="", help="the model at --base-url")
    args = parser.parse_args()
    n_items = args.items or (60 if args.quick else 300)
    n_questions = args.questions or (5 if args.quick else 20)
    max_tokens = args.max_tokens or (32 if args.quick else 64)
    backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    condense = "llm" if args.follow_ups else "off"
    llm = LLMSettings(
        backend="llamacpp", max_tokens=max_tokens, temperature=0.0, n_ctx=4096, condense=condense
    )

    with (
        tempfile.TemporaryDirectory(prefix="bench-chat-") as tmp,
        chat_models(backends, llm, args.base_url, args.model) as models,
    ):
        folder = Path(tmp)
        embedder = load_embedder(tiny_clip_settings(), folder / "models")
        store = open_store(StoreSettings(collection="bench-chat"), folder)
        store.ensure_collection(CollectionLayout.of(embedder.dim))
        texts = fill(store, embedder, n_items)
        retriever = Retriever(
            embedder, store, RetrievalSettings(), make_reranker(args.rerank, folder)
        )
        answerers = {}
        for name, model in models.items():
            began = time.perf_counter()
            model.warm_up()
            print(f"{name}: {model.model_name} ready in {time.perf_counter() - began:.2f} s",
                  flush=True)  # fmt: skip
            answerers[name] = Answerer(retriever, model, llm)
        print(f"{n_items} items, {n_questions} questions, top_k {args.top_k}, max_tokens "
              f"{max_tokens}, rerank {args.rerank}, {os.cpu_count()} CPUs", flush=True)  # fmt: skip
        questions = [question(t) for t in random.Random(1).sample(texts, n_questions + 1)]
        results: dict[str, list[dict[str, float]]] = {name: [] for name in answerers}
        firsts: dict[str, dict[str, float]] = {}
        histories: dict[str, list[ChatMessage]] = {name: [] for name in answerers}
        clocks = {
            name: EvalClock(model.loaded_llm())
            for name, model in models.items()
            if isinstance(model, LlamaCppChatModel)
        }
        for n, q in enumerate(questions):
            for name, answerer in answerers.items():
                history = histories[name] if args.follow_ups else None
                row, text = ask(answerer, q, args.top_k, history, clocks.get(name))
                histories[name] = [ChatMessage("user", q), ChatMessage("assistant", text)]
                if n:  # the first answer of each backend (empty caches) is reported alone
                    results[name].append(row)
                else:
                    firsts[name] = row
        store.close()
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) at the end")
    for name, rows in results.items():
        report(f"{name} ({models[name].model_name})", rows, firsts.get(name))
    compare(results)


if __name__ == "__main__":
    main()
