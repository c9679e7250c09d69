"""Text read from pictures (OCR): engines behind one protocol, and a time-out guard.

Example::

    reader = OcrReader(load_ocr_engine(settings.ocr), settings.ocr.timeout_s)
    result = reader.read(Image.open("screenshot.png"))
    result.text, result.confidence, result.boxes()
"""

from rag.ocr.base import OcrEngine, OcrError, OcrLine, OcrResult
from rag.ocr.guard import OcrReader
from rag.ocr.load import load_ocr_engine

__all__ = ["OcrEngine", "OcrError", "OcrLine", "OcrReader", "OcrResult", "load_ocr_engine"]
