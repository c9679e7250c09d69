"""Test pictures drawn with PIL, and a folder builder."""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageDraw


def picture(seed: int, size: tuple[int, int] = (48, 36)) -> Image.Image:
    """A few random coloured rectangles on a random background (distinct per seed)."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, _colour(rng))
    draw = ImageDraw.Draw(image)
    for _ in range(3):
        x0, y0 = rng.randrange(size[0] // 2), rng.randrange(size[1] // 2)
        x1, y1 = x0 + rng.randrange(4, size[0] // 2), y0 + rng.randrange(4, size[1] // 2)
        draw.rectangle((x0, y0, x1, y1), fill=_colour(rng))
    return image


def image_bytes(seed: int, fmt: str = "PNG", size: tuple[int, int] = (48, 36)) -> bytes:
    buffer = io.BytesIO()
    picture(seed, size).save(buffer, fmt)
    return buffer.getvalue()


def save(path: Path, seed: int, fmt: str | None = None, size: tuple[int, int] = (48, 36)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture(seed, size).save(path, fmt)
    return path


def captioned_folder(root: Path, count: int, start: int = 0) -> Path:
    """``count`` images ``img<i>.png`` with ``img<i>.txt`` captions under ``root``."""
    for i in range(start, start + count):
        save(root / f"img{i:03d}.png", seed=i)
        (root / f"img{i:03d}.txt").write_text(f"a picture number {i}", encoding="utf-8")
    return root


def _colour(rng: random.Random) -> tuple[int, int, int]:
    return (rng.randrange(256), rng.randrange(256), rng.randrange(256))
