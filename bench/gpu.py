"""GPU path benchmark: raw image-tower forward, and JPEG bytes to vectors on the device vs PIL.

ViT-B-32's architecture with random weights. Same run, same model and batch:

1. raw forward: ``encode_image`` on ready tensors on the device (fp32, then bf16 autocast):
   images/s, the ceiling (issue target on an H200: >= 20k images/s);
2. JPEG bytes to vectors: the PIL path (decode + preprocess on the host in a thread pool, then
   ``embed_pixels``) vs the device path (``embed_jpegs``: batched device decode, resize and
   normalise on the device, bf16): images/s and the ratio;
3. ingest end to end, JPEG files to points in a fresh embedded Qdrant Edge store, through
   ``ingest.pipeline.Ingestor`` as ``mmrag ingest`` runs it (read, hash, header checks, embed,
   upsert; ingest batch = ``--batch``): PIL decoding in the pool (``MMRAG_CLIP__DECODE=pil``) vs
   the GPU path (``device``, the default on CUDA): images/s and the ratio (issue target on an
   H200: >= 2k images/s).

    python -m bench.gpu --device cuda              # on a GPU
    python -m bench.gpu --device cpu --images 64   # the same code path on CPU (slow)
    python -m bench.gpu --device cpu --images 64 --model mmrag-tiny --batch 32   # a quick check
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.ingest import ingest_once
from rag.config import ClipSettings, IngestSettings
from rag.embedding import ClipEmbedder


def jpegs(n: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        small = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
        picture = Image.fromarray(small).resize((640, 480), Image.BILINEAR)
        buffer = io.BytesIO()
        picture.save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(run, device: str, repeats: int) -> float:
    run()  # warm-up
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        sync(device)
        best = min(best, time.perf_counter() - began)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="ViT-B-32")
    args = parser.parse_args(argv)
    device = args.device
    settings = ClipSettings(
        model=args.model, pretrained="", device=device, runtime="torch", gpu_batch_size=args.batch,
        batch_size=args.batch,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        bf16 = ClipEmbedder(settings.model_copy(update={"precision": "bf16"}), Path(tmp))
        bf16.warm_up()
        clip = bf16._loaded()
        size = clip.image_size
        pixels = torch.randn(args.batch, 3, size, size, device=device)
        print(f"{args.model} (random weights) on {device}, batch {args.batch}, {args.images} JPEGs")
        for precision in ("fp32", "bf16"):
            dtype = torch.bfloat16 if precision == "bf16" else None

            def forward(dtype: torch.dtype | None = dtype) -> None:
                with (
                    torch.inference_mode(),
                    torch.autocast(
                        torch.device(device).type, dtype=dtype or torch.float32, enabled=bool(dtype)
                    ),
                ):
                    clip.model.encode_image(pixels)

            seconds = timed(forward, device, args.repeats)
            print(f"  raw forward {precision}: {args.batch / seconds:10.0f} images/s")
        datas = jpegs(args.images)
        workers = os.cpu_count() or 2
        pil = ClipEmbedder(
            settings.model_copy(update={"precision": "bf16", "decode": "pil"}), Path(tmp)
        )

        def pil_path() -> None:
            def prepare(data: bytes) -> np.ndarray:
                return pil.preprocess_images([Image.open(io.BytesIO(data))])

            with ThreadPoolExecutor(workers) as pool:
                batches = list(pool.map(prepare, datas))
            pil.embed_pixels(np.concatenate(batches))

        host = timed(pil_path, device, 1)
        on_device = timed(lambda: bf16.embed_jpegs(datas), device, 1)
        print(
            f"  JPEG -> vectors, PIL on {workers} host threads: {args.images / host:8.0f} images/s"
        )
        print(
            f"  JPEG -> vectors, device decode + preprocess: {args.images / on_device:8.0f} "
            f"images/s -> {host / on_device:.2f}x the PIL path"
        )
        folder = Path(tmp) / "jpegs"
        folder.mkdir()
        for i, data in enumerate(datas):
            (folder / f"photo{i:05d}.jpg").write_bytes(data)
        rates = {
            on: ingest_rate(bf16, folder, Path(tmp) / f"store-{on}", args.batch, workers, on)
            for on in (False, True)
        }
        print(f"  ingest end to end, PIL in {workers} pool threads: {rates[False]:8.0f} images/s")
        print(
            f"  ingest end to end, JPEGs decoded on the device: {rates[True]:8.0f} images/s -> "
            f"{rates[True] / rates[False]:.2f}x the PIL path (target on an H200: >= 2000)"
        )


def ingest_rate(
    embedder: ClipEmbedder, folder: Path, data: Path, batch: int, workers: int, on_device: bool
) -> float:
    """Images/s of a whole ``Ingestor`` run over ``folder`` (after a warm-up run; ``overwrite``
    so the timed run embeds and writes every image again)."""
    settings = IngestSettings(batch_size=batch, decode_workers=workers, policy="overwrite")
    ingest_once(embedder, folder, data, settings, jpegs_on_device=on_device)
    timing = ingest_once(embedder, folder, data, settings, jpegs_on_device=on_device)
    if timing.items != len(list(folder.iterdir())):
        raise RuntimeError(f"ingest wrote {timing.items} of the folder's images")
    return timing.per_s


if __name__ == "__main__":
    main()
