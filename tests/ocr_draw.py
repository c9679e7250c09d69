"""Pictures of text for the OCR tests: lines drawn in DejaVu Sans (PIL's default font,
scaled, where the Debian fonts are missing)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    if FONT.exists():
        return ImageFont.truetype(str(FONT), size)
    return ImageFont.load_default(size)


def text_picture(lines: list[str], width: int = 760, size: int = 30) -> Image.Image:
    """Black lines of text on white, one every ``2 * size`` pixels."""
    image = Image.new("RGB", (width, 2 * size * len(lines) + size), "white")
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((size, size // 2 + 2 * size * index), line, font=font(size), fill="black")
    return image


def scanned_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF whose pages are pictures of ``pages`` (no text layer), as a scanner makes them."""
    images = [text_picture(lines) for lines in pages]
    images[0].save(path, format="PDF", save_all=True, append_images=images[1:], resolution=72)
    return path


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (its data is one row)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * (width + 1)))
        + chunk(b"IEND", b"")
    )
