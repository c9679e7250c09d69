"""Chat benchmark: latency of a grounded answer with SmolLM2-135M, in-process (llama.cpp) and over
HTTP (the ``openai`` backend against ``python -m llama_cpp.server`` running the same GGUF on
loopback), over a small generated collection (tiny CLIP, embedded Qdrant Edge).

Reports, per backend, p50/p95 of time to first token and total latency, split into retrieve,
rerank and generate (seconds, per streamed answer), and the HTTP backend's p50 against the
in-process one. Each question asks about one item, with ``top_k`` hits in the prompt; the
backends take turns question by question; the first answer of each (model load, cold caches) is
not counted.

The in-process backend runs twice, with llama.cpp's prompt cache (``llamacpp``,
``MMRAG_LLM__PROMPT_CACHE_MB``) and without (``llamacpp-nocache``), and the run measures the
model's raw prefill rate (a whole answer prompt evaluated from an empty cache): each answer's
prefill rate is its prompt tokens over its wait for the first token less retrieval and the
rewrite, so a prompt whose fixed part was kept counts its kept tokens as fast. With
``--follow-ups`` every question after the first is a follow-up of the previous answer: the
question is rewritten by the model first (``MMRAG_LLM__CONDENSE=llm``), whose own prompt
otherwise takes the place of the answer prompt's prefix in the model.

    python -m bench.chat                  # 300 items, 20 questions, 64 answer tokens
    python -m bench.chat --quick          # 60 items, 5 questions, 32 answer tokens
    python -m bench.chat --quick --follow-ups --backends llamacpp,llamacpp-nocache
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
from rag.llm.base import ChatMessage, ChatModel, GenerationOptions
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
STAGES = ("retrieve", "rerank", "condense", "first_token", "generate", "total")


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
    answerer: Answerer, question: str, top_k: int, history: list[ChatMessage] | None = None
) -> tuple[dict[str, float], str]:
    """Stream one answer; its stage timings, decode rate (pieces a second after the first) and
    prefill rate (prompt tokens a second of the wait before the first piece, less retrieval
    and the rewrite), and its text."""
    stamps: list[float] = []
    for event in answerer.stream(Query(text=question, top_k=top_k), history=history):
        if isinstance(event, TokenEvent):
            stamps.append(time.perf_counter())
        elif isinstance(event, FinalEvent):
            answer = event.answer
            span = stamps[-1] - stamps[0] if len(stamps) > 1 else 0.0
            timings = answer.timings
            before = sum(timings.get(s, 0.0) for s in ("retrieve", "rerank", "condense"))
            wait = timings["first_token"] - before
            prefill = (answer.prompt_tokens or 0) / wait if wait > 0 else 0.0
            row = {**timings, "decode": (len(stamps) - 1) / span if span else 0.0}
            return {**row, "prefill": prefill}, answer.text
    raise RuntimeError("no final event")


def raw_prefill_rate(model: LlamaCppChatModel, answerer: Answerer, question: str) -> float:
    """The model's own prefill rate: tokens a second of one answer prompt evaluated from an
    empty cache (no kept state, no prefix of an earlier prompt)."""
    answerer.answer(Query(text=question, top_k=4), options=GenerationOptions(max_tokens=1))
    llm = model.loaded_llm()
    tokens = list(llm.input_ids[: llm.n_tokens])
    llm.reset()
    began = time.perf_counter()
    llm.eval(tokens)
    return len(tokens) / (time.perf_counter() - began)


def report(name: str, rows: list[dict[str, float]], raw_rate: float = 0.0) -> None:
    print(f"\n{name}\n{'stage':<12} {'p50 s':>8} {'p95 s':>8}")
    for stage in STAGES:
        values = [row.get(stage, 0.0) for row in rows]
        p50, p95 = np.percentile(values, [50, 95])
        print(f"{stage:<12} {p50:8.3f} {p95:8.3f}")
    decode = float(np.median([row["decode"] for row in rows]))
    print(f"{'decode':<12} {decode:8.1f}   tokens/s after the first (p50)")
    prefill = float(np.median([row["prefill"] for row in rows]))
    raw = f" = {prefill / raw_rate:.2f} x the raw rate" if raw_rate else ""
    print(f"{'prefill':<12} {prefill:8.1f}   prompt tokens/s before the first (p50){raw}")


def compare(results: dict[str, list[dict[str, float]]]) -> None:
    """The HTTP backend's p50 first-token and total latency against the in-process one; the
    prompt cache's first token against none."""
    if {"llamacpp", "llamacpp-nocache"} <= results.keys():
        cached = float(np.median([row["first_token"] for row in results["llamacpp"]]))
        plain = float(np.median([row["first_token"] for row in results["llamacpp-nocache"]]))
        print(f"\nfirst token, prompt cache / none, p50: {cached:.3f} s / {plain:.3f} s = "
              f"{cached / plain:.3f}")  # fmt: skip
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
    parser.add_argument(
        "--backends", default="llamacpp,llamacpp-nocache,openai", help="comma-separated"
    )
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
        histories: dict[str, list[ChatMessage]] = {name: [] for name in answerers}
        for n, q in enumerate(questions):
            for name, answerer in answerers.items():
                history = histories[name] if args.follow_ups else None
                row, text = ask(answerer, q, args.top_k, history)
                histories[name] = [ChatMessage("user", q), ChatMessage("assistant", text)]
                if n:  # the first answer of each backend is the warm-up
                    results[name].append(row)
        raw_rate = 0.0
        local = next((m for m in models.values() if isinstance(m, LlamaCppChatModel)), None)
        if local is not None:
            raw_rate = raw_prefill_rate(local, Answerer(retriever, local, llm), questions[0])
            print(f"raw prefill: {raw_rate:.1f} tokens/s (one answer prompt, empty cache)")
        store.close()
    for name, rows in results.items():
        rate = raw_rate if name.startswith("llamacpp") else 0.0
        report(f"{name} ({models[name].model_name})", rows, rate)
    compare(results)


if __name__ == "__main__":
    main()
