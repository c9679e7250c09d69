"""One budget for decoded pixels: a request's or a document's pictures together, counted from
their headers (or a PDF's crop boxes) before a single pixel is decoded.

A picture's own size is capped by ``MMRAG_INGEST__MAX_IMAGE_PIXELS``; the pictures of one
request or one document together by ``MMRAG_INGEST__MAX_DECODED_PIXELS``. A request over the
budget is refused (413, :class:`~rag.errors.TooManyPixelsError`); a document's pictures past it,
or past :data:`MAX_FIGURES_PER_PAGE` on a page, are skipped and reported, never decoded.
"""

from __future__ import annotations

from rag.errors import TooManyPixelsError

MAX_FIGURES_PER_PAGE = 64
"""Pictures beyond this many on one page are noted, not ingested (icons, tiles, sprites)."""
MAX_PICTURES_PER_PAGE = 16 * MAX_FIGURES_PER_PAGE
"""Pictures looked at (header read) per page, too small ones included; the rest are noted."""

SETTING = "MMRAG_INGEST__MAX_DECODED_PIXELS"


class PixelBudget:
    """Pixels left to decode for one request or one document."""

    def __init__(self, max_pixels: int) -> None:
        self.max_pixels = max_pixels
        self.spent = 0

    def take(self, pixels: int) -> bool:
        """Spend ``pixels`` if they fit; ``False`` (nothing spent) when they would pass the cap."""
        if self.spent + pixels > self.max_pixels:
            return False
        self.spent += pixels
        return True

    def charge(self, pixels: int, name: str) -> None:
        """Spend ``pixels`` for the picture ``name``; raise :class:`TooManyPixelsError` past the
        cap, before anything is decoded."""
        if not self.take(pixels):
            raise TooManyPixelsError(
                f"{name}: the request's pictures have more than {self.max_pixels} pixels "
                f"together ({self.spent + pixels} so far; {SETTING}); send fewer or smaller "
                "pictures per request"
            )


class FigureBudget:
    """A document's figures: at most :data:`MAX_FIGURES_PER_PAGE` a page (and
    :data:`MAX_PICTURES_PER_PAGE` looked at), and the document's :class:`PixelBudget` in all.

    A reader calls :meth:`room` before it reads or decodes anything of a picture, then
    :meth:`take` with the pixels its header (or crop box) gives. Once a picture does not fit the
    pixel budget, the document's later pictures are skipped unread. What is skipped is counted,
    and :meth:`end_page` says it in the notes."""

    def __init__(self, max_pixels: int) -> None:
        self.pixels = PixelBudget(max_pixels)
        self.exhausted = False
        self._on_page = self._looked = self._over_cap = self._over_budget = 0

    def room(self) -> bool:
        """Whether one more picture on this page may be looked at; ``False`` counts it skipped."""
        if self._on_page >= MAX_FIGURES_PER_PAGE or self._looked >= MAX_PICTURES_PER_PAGE:
            self._over_cap += 1
            return False
        if self.exhausted:
            self._over_budget += 1
            return False
        self._looked += 1
        return True

    def take(self, pixels: int) -> bool:
        """Whether a picture of ``pixels`` (``room`` said yes) may be decoded; a picture that
        does not fit is counted skipped and ends the document's budget."""
        if not self.pixels.take(pixels):
            self.exhausted = True
            self._over_budget += 1
            return False
        self._on_page += 1
        return True

    def end_page(self, number: int, notes: list[str]) -> None:
        """Note what this page lost, then start counting the next page."""
        if self._over_cap:
            notes.append(
                f"page {number} has {self._looked + self._over_cap} pictures: the first "
                f"{self._looked} were looked at ({self._on_page} became figures), the rest are "
                f"not ingested (at most {MAX_FIGURES_PER_PAGE} figures a page)"
            )
        if self._over_budget:
            notes.append(
                f"page {number}: {self._over_budget} picture(s) not ingested, over the "
                f"document's budget of {self.pixels.max_pixels} decoded pixels ({SETTING})"
            )
        self._on_page = self._looked = self._over_cap = self._over_budget = 0
