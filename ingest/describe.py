"""Pictures described at ingest (``MMRAG_INGEST__DESCRIBE=vision-llm``).

A picture, figure or scanned page whose own text (caption and OCR) is shorter than
:data:`MIN_TEXT_CHARS` is sent, downscaled, to the answers' vision LLM with a short bounded
prompt; the one-paragraph answer is stored as ``description`` (apart from ``text`` and
``ocr_text``) and added to the item's text signals marked as machine-written
(:data:`MARK`). A failure or a time-out is a note: the item goes in without a description.

Example::

    describer = PictureDescriber.of(services.chat_model, settings.ingest)
    text = describer.describe(image, len(caption) + len(ocr), "figure 2", notes)
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from PIL import Image

from rag import payload as keys
from rag.config import IngestSettings
from rag.llm.base import ChatImage, ChatMessage, ChatModel, GenerationOptions

MIN_TEXT_CHARS = 40
"""Pictures whose caption and OCR text together are shorter than this are described."""
MAX_SIDE = 768
"""The picture sent is downscaled so that its longer side is at most this many pixels."""
MAX_TOKENS = 160
"""Tokens the model may write for one description."""
MAX_CHARS = 1200
"""A longer answer is cut here."""
MARK = keys.DESCRIPTION_MARK
"""What the description is shown after wherever it is shown (chunk text, the LLM context)."""
PROMPT = (
    "Describe this picture in one short paragraph (at most 80 words) for a search index: what "
    "it shows, any visible text, numbers or labels, and the kind of picture (photo, chart, "
    "diagram, scan). Plain text only, no preamble."
)


class PictureDescriber:
    """Describes pictures with a vision ``model``; ``model=None`` describes nothing."""

    def __init__(self, model: ChatModel | None = None, timeout_s: float = 60.0) -> None:
        self.model = model
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @classmethod
    def of(cls, model: ChatModel | None, settings: IngestSettings) -> PictureDescriber:
        """The describer ``settings.describe`` asks for (``off``: none)."""
        if settings.describe != "vision-llm":
            return cls()
        return cls(model, settings.describe_timeout_s)

    @property
    def enabled(self) -> bool:
        return self.model is not None

    def wants(self, text_chars: int) -> bool:
        """Whether a picture with ``text_chars`` characters of caption and OCR is described."""
        return self.model is not None and text_chars < MIN_TEXT_CHARS

    def describe(self, image: Image.Image, where: str, notes: list[str]) -> str | None:
        """One paragraph on ``image``; ``None`` (and a note naming ``where``) on failure."""
        if self.model is None:
            return None
        model = self.model
        try:
            if not model.accepts_images():  # asked once by the backend; a failed ask is no
                notes.append(
                    f"{where}: not described: the LLM {model.model_name} takes no pictures "
                    "(or could not be reached)"
                )
                return None
            message = ChatMessage("user", PROMPT, images=(ChatImage(_jpeg(image)),))
            options = GenerationOptions(max_tokens=MAX_TOKENS, temperature=0.0)
            future = self._executor().submit(model.generate, [message], options)
            text = future.result(timeout=self.timeout_s)
        except FutureTimeout:
            notes.append(f"{where}: not described: no answer in {self.timeout_s:g} s")
            return None
        except Exception as exc:  # any backend error is a note, never a lost item
            notes.append(f"{where}: not described: {type(exc).__name__}: {exc}")
            return None
        text = " ".join(str(text).split())[:MAX_CHARS]
        if not text:
            notes.append(f"{where}: not described: the LLM answered nothing")
            return None
        return text

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:  # a hung call holds a thread until the backend's own timeout
                self._pool = ThreadPoolExecutor(4, thread_name_prefix="mmrag-describe")
            return self._pool


def description_payload(text: str, model: str) -> dict[str, Any]:
    """The payload fields of a described picture."""
    return {keys.DESCRIPTION: text, keys.DESCRIPTION_BY: model}


def marked(text: str) -> str:
    """``text`` as shown: after :data:`MARK`."""
    return MARK + text


def _jpeg(image: Image.Image) -> bytes:
    picture = image.convert("RGB")
    picture.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=85)
    return out.getvalue()
