"""Pictures in MCP results: kept as they are when small, else downscaled, bounded in count and
bytes."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from api.mcp.pictures import PICTURE_BYTES, SIDE, Picture, PictureBudget, fitted
from tests.api.conftest import png_bytes

MAX_PIXELS = 50_000_000


def _noise_png(size: tuple[int, int]) -> bytes:
    """A PNG that compresses badly (random pixels), so bytes grow with its size."""
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_small_picture_is_sent_as_it_is() -> None:
    data = png_bytes((200, 30, 30))
    assert fitted(data, MAX_PIXELS, SIDE, PICTURE_BYTES) == Picture(data, "image/png")


def test_a_large_picture_is_downscaled_within_the_bounds() -> None:
    data = _noise_png((2000, 1000))
    assert len(data) > PICTURE_BYTES
    picture = fitted(data, MAX_PIXELS, SIDE, PICTURE_BYTES)
    assert picture is not None and picture.mime == "image/jpeg"
    assert len(picture.data) <= PICTURE_BYTES
    with Image.open(io.BytesIO(picture.data)) as image:
        assert max(image.size) <= SIDE and image.size[0] == 2 * image.size[1]


def test_the_budget_bounds_count_and_bytes() -> None:
    small = Picture(b"x" * 100, "image/png")
    budget = PictureBudget(count=2, bytes=250)
    assert budget.take(small) and budget.take(small)
    assert not budget.take(small)  # count spent
    budget = PictureBudget(count=5, bytes=150)
    assert budget.take(small) and not budget.take(small)  # bytes spent
    assert not PictureBudget(per_picture=50).take(small)  # one picture over its own cap
