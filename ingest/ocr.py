"""OCR in ingest: which pictures are read (``MMRAG_OCR__MODE``), and a failure as a note.

In ``auto`` mode: PDF pages whose text layer covers less than :data:`MIN_TEXT_COVERAGE` of the
page, standalone pictures, and document figures (a picture in which the detector finds no text
gives nothing). ``always`` reads every page too. What is read never blocks an item: a failure
or a time-out is a note in the report, and the item goes in with what it has. What was read is
cached by the picture's bytes (:class:`OcrCache`): re-ingesting an unchanged scan reads nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from ingest.stored_files import write_whole
from rag import payload as keys
from rag.config import OcrSettings
from rag.ocr import OcrError, OcrLine, OcrReader, OcrResult

if TYPE_CHECKING:  # ingest.documents imports this module
    from ingest.documents.model import PagePart

MAX_CACHE_BYTES = 4 * 1024 * 1024
"""A cached OCR result past this size is not trusted (it is read again)."""
_SHA = re.compile(r"[0-9a-f]{64}")
MIN_TEXT_COVERAGE = 0.02
"""A PDF page whose text layer's character boxes cover less than this share of the page is
read by OCR in ``auto`` mode (a scan, or a scan with a stamped header)."""


class PictureText:
    """The OCR reader and the mode; ``reader=None`` (or mode ``off``) reads nothing.

    Example::

        text = PictureText(services.ocr_reader, settings.ocr.mode)
        result = text.read(image, "page 3", notes)  # None on failure, with a note
    """

    def __init__(
        self, reader: OcrReader | None = None, mode: str = "auto", cache: OcrCache | None = None
    ) -> None:
        self.reader = reader if mode != "off" else None
        self.mode = mode
        self.cache = cache

    @classmethod
    def of(
        cls, reader: OcrReader | None, settings: OcrSettings, cache: OcrCache | None = None
    ) -> PictureText:
        return cls(reader, settings.mode, cache)

    @property
    def model_id(self) -> str | None:
        return None if self.reader is None else self.reader.model_id

    @property
    def reads_pictures(self) -> bool:
        """Standalone pictures and figures are read (``auto`` and ``always``)."""
        return self.reader is not None

    def reads_page(self, page: PagePart) -> bool:
        """Whether a page's render is read: always in ``always``; in ``auto`` when its text
        layer is known to cover little of it."""
        if self.reader is None or page.render is None:
            return False
        if self.mode == "always":
            return True
        return page.text_coverage is not None and page.text_coverage < MIN_TEXT_COVERAGE

    def read(
        self, image: Image.Image, where: str, notes: list[str], sha256: str | None = None
    ) -> OcrResult | None:
        """The text of ``image``; ``None`` (and a note naming ``where``) when OCR failed.
        With ``sha256`` (of the picture's bytes) a result read before from the same bytes by
        the same engine is reused from the cache, and a new one is kept there."""
        if self.reader is None:
            return None
        cache = self.cache if sha256 else None
        if cache is not None and sha256 and (known := cache.get(sha256, self.reader.model_id)):
            return known
        try:
            result = self.reader.read(image)
        except OcrError as exc:
            notes.append(f"{where}: {exc}")
            return None
        if cache is not None and sha256:
            cache.put(sha256, self.reader.model_id, result)
        return result


class OcrCache:
    """What OCR read from a picture, kept as ``<root>/<sha[:2]>/<sha>.<engine>.ocr.json`` (the
    picture's sha256 and a digest of the engine's id): an unchanged scan is not read again.

    ``root`` is the collection's (and tenant's) picture folder; a file that does not parse is
    ignored (the picture is read again and the file rewritten). Thread-safe."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, sha256: str, model_id: str) -> Path | None:
        if not _SHA.fullmatch(sha256):
            return None
        engine = hashlib.sha256(model_id.encode()).hexdigest()[:16]
        return self.root / sha256[:2] / f"{sha256}.{engine}.ocr.json"

    def get(self, sha256: str, model_id: str) -> OcrResult | None:
        path = self._path(sha256, model_id)
        if path is None:
            return None
        try:
            data = json.loads(path.read_bytes()[:MAX_CACHE_BYTES])
            lines = tuple(
                OcrLine(str(text), float(confidence), (float(a), float(b), float(c), float(d)))
                for text, confidence, a, b, c, d in data["lines"]
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return OcrResult(lines)

    def put(self, sha256: str, model_id: str, result: OcrResult) -> None:
        path = self._path(sha256, model_id)
        if path is None:
            return
        lines = [[line.text, line.confidence, *line.box] for line in result.lines]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_whole(path, json.dumps({"model": model_id, "lines": lines}).encode())
        except OSError:  # a cache that cannot be written only costs a read next time
            return


def ocr_payload(result: OcrResult, model_id: str | None, text: str | None = None) -> dict[str, Any]:
    """The payload fields of a picture read by OCR (``text``: a passage of it instead)."""
    return {
        keys.OCR_TEXT: result.text if text is None else text,
        keys.OCR_CONFIDENCE: result.confidence,
        keys.OCR_BOXES: result.boxes(),
        keys.OCR_MODEL: model_id,
    }
