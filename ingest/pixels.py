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
    """A document's figures: at most :data:`MAX_FIGURES_PER_PAGE` a page and the document's
    :class:`PixelBudget` in all. Readers ask before reading or decoding a picture; what does not
    fit is counted, and :meth:`end_page` says it in the notes."""

    def __init__(self, max_pixels: int) -> None:
        self.pixels = PixelBudget(max_pixels)
        self._on_page = self._over_cap = self._over_budget = 0

    def room(self) -> bool:
        """Whether one more picture may be looked at on this page; ``False`` counts it skipped."""
        if self._on_page >= MAX_FIGURES_PER_PAGE:
            self._over_cap += 1
            return False
        if self.pixels.spent >= self.pixels.max_pixels:
            self._over_budget += 1
            return False
        return True

    def take(self, pixels: int) -> bool:
        """Whether a picture of ``pixels`` may be decoded; counted as skipped when not."""
        if not self.room():
            return False
        if not self.pixels.take(pixels):
            self._over_budget += 1
            return False
        self._on_page += 1
        return True

    def end_page(self, number: int, notes: list[str]) -> None:
        """Note what this page lost, then start counting the next page."""
        if self._over_cap:
            notes.append(
                f"page {number} has {self._on_page + self._over_cap} pictures: the first "
                f"{self._on_page} are figures, the rest are not ingested"
            )
        if self._over_budget:
            notes.append(
                f"page {number}: {self._over_budget} picture(s) not ingested, over the "
                f"document's budget of {self.pixels.max_pixels} decoded pixels ({SETTING})"
            )
        self._on_page = self._over_cap = self._over_budget = 0
