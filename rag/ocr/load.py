"""The configured OCR engine (``MMRAG_OCR__ENGINE``)."""

from __future__ import annotations

from rag.config import OcrSettings
from rag.ocr.base import OcrEngine


def load_ocr_engine(settings: OcrSettings) -> OcrEngine | None:
    """The engine, or ``None`` when OCR is off (``engine=none`` or ``mode=off``)."""
    if settings.engine == "none" or settings.mode == "off":
        return None
    if settings.engine == "tesseract":
        from rag.ocr.tesseract import TesseractEngine

        return TesseractEngine(settings.languages, settings.timeout_s)
    from rag.ocr.rapid import RapidOcrEngine

    return RapidOcrEngine()
