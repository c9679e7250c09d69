"""RapidOCR: PP-OCR detection, orientation and recognition models (ONNX, shipped in the
``rapidocr`` wheel) run by ONNX Runtime on the CPU; works offline."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import numpy as np
from PIL import Image

from rag.ocr.base import OcrLine, OcrResult, in_reading_order, normalised

DETECT_SIDE = 960
"""The detector sees the picture with its longer side at most this long (RapidOCR's default
scales the shorter side up to 736, which makes a wide screenshot ~10x slower to read)."""


class RapidOcrEngine:
    """The default engine (``MMRAG_OCR__ENGINE=rapidocr``)."""

    def __init__(self) -> None:
        from rapidocr import RapidOCR

        self._engine = RapidOCR(
            params={
                "Global.log_level": "error",
                "Det.limit_type": "max",
                "Det.limit_side_len": DETECT_SIDE,
            }
        )
        self.model_id = f"rapidocr-{version('rapidocr')}/PP-OCR"

    def read(self, image: Image.Image) -> OcrResult:
        rgb = image.convert("RGB")
        output: Any = self._engine(np.asarray(rgb)[:, :, ::-1])  # RapidOCR wants BGR arrays
        boxes, texts, scores = output.boxes, output.txts, output.scores
        if boxes is None or texts is None:
            return OcrResult()
        lines = []
        for polygon, text, score in zip(boxes, texts, scores or [], strict=False):
            if not str(text).strip():
                continue
            xs, ys = [float(p[0]) for p in polygon], [float(p[1]) for p in polygon]
            box = normalised((min(xs), min(ys), max(xs), max(ys)), rgb.width, rgb.height)
            lines.append(OcrLine(str(text).strip(), round(float(score), 4), box))
        return OcrResult(in_reading_order(lines))
