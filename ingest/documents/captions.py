"""Which line describes a picture: a "Figure N"/"Fig."/"Table" line, else the nearest text."""

from __future__ import annotations

import re

CAPTION_LINE = re.compile(r"^\s*(fig(ure)?\.?|table|chart|image|photo)\s*[\dIVX]+", re.IGNORECASE)
MAX_HEADING_CHARS = 90


def lines_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def pick_caption(below: list[str], above: list[str]) -> str:
    """A caption line below the picture, else above it, else the nearest line (below first)."""
    for line in below + above[::-1]:
        if CAPTION_LINE.match(line):
            return line
    if below:
        return below[0]
    return above[-1] if above else ""


def figure_text(caption: str, title: str, heading: str | None) -> str:
    """A figure's text: its caption, then the document title and section heading."""
    parts = [caption.strip()] if caption.strip() else []
    for part in (heading, title):
        if part and part.strip() and part.strip() not in parts:
            parts.append(part.strip())
    return "\n".join(parts)


def heading_of(text: str) -> str | None:
    """The first line of a page when it is short enough to be a heading."""
    lines = lines_of(text)
    if lines and len(lines[0]) <= MAX_HEADING_CHARS and not CAPTION_LINE.match(lines[0]):
        return lines[0]
    return None
