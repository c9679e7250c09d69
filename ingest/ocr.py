"""OCR in ingest: which pictures are read (``MMRAG_OCR__MODE``), and a failure as a note.

In ``auto`` mode: PDF pages whose text layer covers less than :data:`MIN_TEXT_COVERAGE` of the
page, standalone pictures, and document figures (a picture in which the detector finds no text
gives nothing). ``always`` reads every page too. What is read never blocks an item: a failure
or a time-out is a note in the report, and the item goes in with what it has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PIL import Image

from rag import payload as keys
from rag.config import OcrSettings
from rag.ocr import OcrError, OcrReader, OcrResult

if TYPE_CHECKING:  # ingest.documents imports this module
    from ingest.documents.model import PagePart

MIN_TEXT_COVERAGE = 0.02
"""A PDF page whose text layer's character boxes cover less than this share of the page is
read by OCR in ``auto`` mode (a scan, or a scan with a stamped header)."""


class PictureText:
    """The OCR reader and the mode; ``reader=None`` (or mode ``off``) reads nothing.

    Example::

        text = PictureText(services.ocr_reader, settings.ocr.mode)
        result = text.read(image, "page 3", notes)  # None on failure, with a note
    """

    def __init__(self, reader: OcrReader | None = None, mode: str = "auto") -> None:
        self.reader = reader if mode != "off" else None
        self.mode = mode

    @classmethod
    def of(cls, reader: OcrReader | None, settings: OcrSettings) -> PictureText:
        return cls(reader, settings.mode)

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

    def read(self, image: Image.Image, where: str, notes: list[str]) -> OcrResult | None:
        """The text of ``image``; ``None`` (and a note naming ``where``) when OCR failed."""
        if self.reader is None:
            return None
        try:
            return self.reader.read(image)
        except OcrError as exc:
            notes.append(f"{where}: {exc}")
            return None


def ocr_payload(result: OcrResult, model_id: str | None, text: str | None = None) -> dict[str, Any]:
    """The payload fields of a picture read by OCR (``text``: a passage of it instead)."""
    return {
        keys.OCR_TEXT: result.text if text is None else text,
        keys.OCR_CONFIDENCE: result.confidence,
        keys.OCR_BOXES: result.boxes(),
        keys.OCR_MODEL: model_id,
    }
