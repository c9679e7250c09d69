"""What an OCR engine returns, and the protocol every engine speaks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from PIL import Image

from rag.errors import MmragError

Box = tuple[float, float, float, float]


class OcrError(MmragError):
    """Reading a picture failed or took too long; the item goes in without the text."""

    code = "ocr_failed"


@dataclass(frozen=True)
class OcrLine:
    """One line of text: its words, the engine's confidence in [0, 1], and its box
    ``(x0, y0, x1, y1)`` as fractions of the picture's width and height (origin top left)."""

    text: str
    confidence: float
    box: Box


@dataclass(frozen=True)
class OcrResult:
    """The lines of one picture, in reading order (top to bottom)."""

    lines: tuple[OcrLine, ...] = ()

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    @property
    def confidence(self) -> float | None:
        """The lines' confidence weighted by their length (``None`` without lines)."""
        weight = sum(len(line.text) for line in self.lines)
        if not weight:
            return None
        return round(sum(line.confidence * len(line.text) for line in self.lines) / weight, 4)

    def boxes(self) -> list[list[float]]:
        """Each line's box as a list (what the payload stores)."""
        return [list(line.box) for line in self.lines]


@runtime_checkable
class OcrEngine(Protocol):
    """An OCR engine: lines of text out of an RGB picture. ``model_id`` names the engine and its
    models (part of an item's fingerprint: a change re-reads). Implementations must be safe to
    call from several threads."""

    model_id: str

    def read(self, image: Image.Image) -> OcrResult: ...


def normalised(box: Sequence[float], width: int, height: int) -> Box:
    """``(x0, y0, x1, y1)`` in pixels as fractions of the picture, clamped to [0, 1]."""
    w, h = max(width, 1), max(height, 1)
    x0, y0, x1, y1 = box
    return (
        _unit(min(x0, x1) / w),
        _unit(min(y0, y1) / h),
        _unit(max(x0, x1) / w),
        _unit(max(y0, y1) / h),
    )


def in_reading_order(lines: list[OcrLine]) -> tuple[OcrLine, ...]:
    """Top to bottom, then left to right for lines that share a band."""
    return tuple(sorted(lines, key=lambda line: (round(line.box[1], 2), line.box[0])))


def _unit(value: float) -> float:
    return round(min(1.0, max(0.0, float(value))), 4)
