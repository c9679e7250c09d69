"""Running an engine so that a picture that hangs it can be abandoned."""

from __future__ import annotations

import threading

from PIL import Image

from rag.ocr.base import OcrEngine, OcrError, OcrResult

MAX_ABANDONED = 4
"""Reads still running past their time-out before new pictures are refused outright (a hung
engine would otherwise gather one stuck thread per picture)."""


class OcrReader:
    """Reads pictures with ``engine``, each within ``timeout_s`` seconds (thread-safe).

    A read past the time-out is abandoned on its own daemon thread and raises :class:`OcrError`;
    so does an engine error. The caller ingests the item without its text and reports why."""

    def __init__(self, engine: OcrEngine, timeout_s: float) -> None:
        self.engine = engine
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._abandoned: list[threading.Thread] = []

    @property
    def model_id(self) -> str:
        return self.engine.model_id

    def read(self, image: Image.Image) -> OcrResult:
        self._refuse_when_stuck()
        done: list[OcrResult | BaseException] = []
        thread = threading.Thread(
            target=_run, args=(self.engine, image, done), name="mmrag-ocr", daemon=True
        )
        thread.start()
        thread.join(self.timeout_s)
        if thread.is_alive():
            with self._lock:
                self._abandoned.append(thread)
            raise OcrError(
                f"OCR took longer than {self.timeout_s:g} s (MMRAG_OCR__TIMEOUT_S); "
                "ingested without the text in the picture"
            )
        result = done[0]
        if isinstance(result, OcrError):
            raise result
        if isinstance(result, BaseException):
            raise OcrError(f"OCR failed: {type(result).__name__}: {result}") from result
        return result

    def _refuse_when_stuck(self) -> None:
        with self._lock:
            self._abandoned = [t for t in self._abandoned if t.is_alive()]
            stuck = len(self._abandoned)
        if stuck >= MAX_ABANDONED:
            raise OcrError(
                f"the OCR engine is stuck ({stuck} pictures still running past "
                "MMRAG_OCR__TIMEOUT_S); ingested without the text in the picture"
            )


def _run(engine: OcrEngine, image: Image.Image, done: list[OcrResult | BaseException]) -> None:
    try:
        done.append(engine.read(image))
    except BaseException as exc:  # handed to the waiting thread
        done.append(exc)
