"""Ingest benchmark: end-to-end items/s (read, decode, preprocess, embed, upsert) against the raw
model forward passes the same items need (image + text, same batch size and threads).

A folder of generated 640x480 JPEGs with captions is ingested into a fresh embedded Qdrant Edge
store with ViT-B-32's architecture and random weights (no download). The baseline embeds
already-preprocessed pixels and the captions in the same batches. Target: ratio >= 0.85.

    python -m bench.ingest                 # 256 images, batch 32
    python -m bench.ingest --quick         # 64 images, batch 16
    python -m bench.ingest --model mmrag-tiny --threads 1
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from ingest.pipeline import Ingestor
from ingest.sources import open_source
from rag.config import ClipSettings, IngestSettings, StoreSettings
from rag.embedding import load_embedder
from rag.embedding.base import Embedder
from rag.store import CollectionLayout, open_store

TARGET = 0.85


def make_folder(root: Path, count: int, size: tuple[int, int] = (640, 480)) -> Path:
    """``count`` photo-like JPEGs (shapes, blur, noise) with a caption sidecar each."""
    root.mkdir(parents=True, exist_ok=True)
    noise = Image.effect_noise(size, 40).convert("RGB")
    for i in range(count):
        rng = random.Random(i)
        image = Image.new("RGB", size, _colour(rng))
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x, y = rng.randrange(size[0]), rng.randrange(size[1])
            draw.ellipse(
                (x, y, x + rng.randrange(40, 300), y + rng.randrange(40, 300)), _colour(rng)
            )
        image = Image.blend(image.filter(ImageFilter.GaussianBlur(2)), noise, 0.15)
        image.save(root / f"photo{i:04d}.jpg", quality=88)
        (root / f"photo{i:04d}.txt").write_text(f"photo {i}: shapes in {_colour(rng)} light")
    return root


@dataclass
class Timing:
    """Items per wall-clock second and per CPU second (all threads of this process)."""

    items: int
    wall_s: float
    cpu_s: float

    @property
    def per_s(self) -> float:
        return self.items / self.wall_s

    @property
    def per_cpu_s(self) -> float:
        return self.items / self.cpu_s


def baseline(embedder: Embedder, folder: Path, batch: int, rounds: int) -> Timing:
    """The forward passes alone: pixels prepared beforehand, then image + text embeddings."""
    paths = sorted(folder.glob("*.jpg"))[:batch]
    pixels = embedder.preprocess_images([Image.open(p) for p in paths])
    texts = [p.with_suffix(".txt").read_text() for p in paths]
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        embedder.embed_pixels(pixels)
        embedder.encode_texts(texts)
    return Timing(rounds * len(paths), time.perf_counter() - wall, time.process_time() - cpu)


def ingest_once(
    embedder: Embedder,
    folder: Path,
    data: Path,
    settings: IngestSettings,
    jpegs_on_device: bool = False,
) -> Timing:
    """A whole ingest of ``folder`` into a fresh (or existing) store under ``data``
    (``jpegs_on_device``: the GPU path, JPEGs decoded by the embedder on its device)."""
    store = open_store(StoreSettings(), data)
    store.ensure_collection(CollectionLayout.of(embedder.dim))
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        ingestor = Ingestor(embedder, store, settings, jpegs_on_device=jpegs_on_device)
        report = ingestor.ingest(open_source(folder))
    finally:
        store.close()
    done = report.written + report.unchanged
    return Timing(done, time.perf_counter() - wall, time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 images, batch 16, 2 repeats")
    parser.add_argument("--images", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--workers", type=int, default=2, help="decode threads")
    parser.add_argument("--model", default="ViT-B-32")
    args = parser.parse_args()
    count = args.images or (64 if args.quick else 256)
    batch = args.batch_size or (16 if args.quick else 32)
    repeats = args.repeats or (2 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="mmrag-bench-ingest-") as tmp:
        run(Path(tmp), args, count, batch, repeats)


def run(tmp: Path, args: argparse.Namespace, count: int, batch: int, repeats: int) -> None:
    clip = ClipSettings(model=args.model, pretrained="", threads=args.threads, batch_size=batch)
    embedder = load_embedder(clip, tmp / "models")
    embedder.warm_up()
    folder = make_folder(tmp / "photos", count)
    print(f"{count} generated 640x480 JPEGs; model {embedder.model_id}, batch {batch}, "
          f"torch threads {args.threads or 'default'}, decode workers {args.workers}, "
          f"{repeats} interleaved repeats")  # fmt: skip
    settings = IngestSettings(batch_size=batch, decode_workers=args.workers)
    ingest_once(embedder, make_folder(tmp / "warm", batch), tmp / "warm-data", settings)
    pairs = []
    for repeat in range(repeats):
        forward = baseline(embedder, folder, batch, max(1, count // batch))
        full = ingest_once(embedder, folder, tmp / f"data{repeat}", settings)
        pairs.append((forward, full))
        print(f"  repeat {repeat}: forward {forward.per_s:6.1f}/s, ingest {full.per_s:6.1f}/s, "
              f"ratio {full.per_s / forward.per_s:.2f}")  # fmt: skip
    again = ingest_once(embedder, folder, tmp / "data0", settings)
    report(pairs, again)


def report(pairs: list[tuple[Timing, Timing]], again: Timing) -> None:
    best_forward = max(f.per_s for f, _ in pairs)
    best_ingest = max(i.per_s for _, i in pairs)
    cpu_ratio = statistics.median(i.per_cpu_s / f.per_cpu_s for f, i in pairs)
    wall_ratio = statistics.median(i.per_s / f.per_s for f, i in pairs)
    print(f"raw forward (image + text)  {best_forward:8.1f} items/s (best)")
    print(f"ingest, end to end          {best_ingest:8.1f} items/s (best)")
    print(f"ratio, wall clock           {wall_ratio:8.2f}   (median of pairs; target >= {TARGET})")
    print(f"ratio, CPU time per item    {cpu_ratio:8.2f}   (insensitive to other load)")
    print(f"re-run, all unchanged       {again.per_s:8.1f} items/s, "
          f"{again.per_s / best_forward:.1f}x the forward")  # fmt: skip


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))


if __name__ == "__main__":
    main()
