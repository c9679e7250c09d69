"""Pictures of the context for vision models: the top blocks' pictures, downscaled, each stamped
with its block number so the model can cite it.

A picture is opened as the picture route opens it (:mod:`rag.safe_open`): the stored path must
lie under the data folder, the files folder or the item's own ingest root, with no symlink in
any component, a regular file; it is decoded only as one of the ingest formats.

Example::

    images = context_pictures(hits, blocks, 3, 768, roots=[data_dir, files_dir])
    messages = build_messages(question, blocks, images=images)
"""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from rag import payload as keys
from rag.llm.base import ChatImage
from rag.llm.context import ContextBlock
from rag.retrieval.types import Hit
from rag.safe_open import open_under, read_fd, stored_file_roots

log = logging.getLogger(__name__)

JPEG_QUALITY = 85
MAX_SOURCE_PIXELS = 80_000_000
"""Pictures larger than this are not opened (the ingest cap keeps real items far below it)."""
MAX_SOURCE_BYTES = 64 * 1024 * 1024
"""Picture files larger than this are not read."""
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
"""The formats ingest accepts (``ingest.images.ALLOWED_FORMATS``; ``rag`` cannot import it)."""


def context_pictures(
    hits: Sequence[Hit],
    blocks: Sequence[ContextBlock],
    max_count: int,
    max_side: int,
    roots: Sequence[str | Path] = (),
) -> list[ChatImage]:
    """Up to ``max_count`` pictures of the blocks, best-ranked first (block ``n`` is
    ``hits[n - 1]``); a picture that cannot be read, or is not under ``roots`` (the data and
    files folders) or its item's ingest root, is skipped (and logged)."""
    images: list[ChatImage] = []
    for block in blocks:
        if len(images) >= max_count:
            break
        hit = hits[block.n - 1]
        path = hit.payload.get(keys.IMAGE_PATH)
        if not hit.has_image or not path:
            continue
        try:
            data = read_fd(
                open_under(str(path), stored_file_roots(roots, hit.payload)), MAX_SOURCE_BYTES
            )
            images.append(ChatImage(picture_bytes(data, max_side, block.n), n=block.n))
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            log.warning("picture of block %d (%s) left out: %s", block.n, hit.id, exc)
    return images


def picture_bytes(data: bytes, max_side: int, n: int) -> bytes:
    """The picture in ``data`` as JPEG, its longer side at most ``max_side``, with ``[n]`` in
    its top-left corner."""
    with Image.open(io.BytesIO(data), formats=FORMATS) as opened:
        if opened.width * opened.height > MAX_SOURCE_PIXELS:
            raise ValueError(f"{opened.width}x{opened.height} is too large")
        opened.draft("RGB", (max_side, max_side))
        picture = ImageOps.exif_transpose(opened).convert("RGB")
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    stamp(picture, f"[{n}]")
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def stamp(picture: Image.Image, label: str) -> None:
    """Write ``label`` in white on black in the top-left corner, about 1/12 of the height."""
    size = max(10, min(picture.width, picture.height) // 12)
    font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(picture)
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    pad = max(2, size // 5)
    draw.rectangle((0, 0, right - left + 2 * pad, bottom - top + 2 * pad), fill="black")
    draw.text((pad - left, pad - top), label, fill="white", font=font)
