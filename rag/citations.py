"""Citation markers that hold: every ``[n]`` left in an answer names a block of its context.

:class:`CitationFilter` drops, as the answer streams, the numbers of a marker that name no block
(``[7]`` with 4 blocks; ``[2, 9]`` becomes ``[2]``) and counts them. A trailing piece that may
still become a marker is held until the next piece decides it, so the joined output never depends
on where the stream was split (:func:`filter_citations` is the whole-text form).

Example::

    f = CitationFilter(blocks=3)
    text = f.feed("Paris [1][") + f.feed("7].") + f.flush()  # 'Paris [1].'; f.removed == 1
"""

from __future__ import annotations

import re

MARKER = re.compile(r"\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]")
# A dropped marker takes at most 16 spaces before it with it: an unbounded \s* tried at every
# position of a long run of spaces was quadratic (20,000 spaces in an answer took 16 s).
_MARKER_WITH_SPACE = re.compile(r"\s{0,16}" + MARKER.pattern)
_OPEN_TAIL = re.compile(r"\s{0,16}(?:\[[\d\s,;]{0,24})?$")
_SAYS_UNKNOWN = re.compile(
    r"\b(?:collection|context|blocks?)\b[^.]{0,40}\b(?:(?:does not|doesn't|do not|don't|cannot|"
    r"can't)\s+(?:say|answer|contain|mention|hold|tell|show)|(?:holds?|has|have) (?:no|nothing))|"
    r"no context block|"
    r"not (?:in|from) the (?:collection|context)",
    re.I,
)

UNSUPPORTED_NOTE = (
    "\n\n(The collection does not back this answer: it cites none of the context blocks.)"
)
"""Added to an answer that cites no block and does not itself say that the context is silent."""


def numbers(marker_body: str) -> list[int]:
    """The numbers of a marker's inside (``"2, 3"`` gives ``[2, 3]``)."""
    return [int(part) for part in re.split(r"[,;]", marker_body)]


class CitationFilter:
    """Removes marker numbers outside ``1..blocks`` from a streamed answer; ``removed`` counts
    them."""

    def __init__(self, blocks: int) -> None:
        self.blocks = blocks
        self.removed = 0
        self._held = ""

    def feed(self, piece: str) -> str:
        """The text of ``piece`` that can be shown now."""
        text = self._held + piece
        tail = _OPEN_TAIL.search(text)
        cut = tail.start() if tail else len(text)
        self._held = text[cut:]
        return self._filtered(text[:cut])

    def flush(self) -> str:
        """What was held at the end of the stream (not a marker after all)."""
        held, self._held = self._held, ""
        return self._filtered(held)

    def _filtered(self, text: str) -> str:
        return _MARKER_WITH_SPACE.sub(self._marker, text)

    def _marker(self, match: re.Match[str]) -> str:
        found = numbers(match.group(1))
        valid = [n for n in found if 1 <= n <= self.blocks]
        self.removed += len(found) - len(valid)
        if len(valid) == len(found):
            return match.group(0)
        if not valid:
            return ""
        space = match.group(0)[: match.group(0).index("[")]
        return f"{space}[{', '.join(map(str, valid))}]"


def filter_citations(text: str, blocks: int) -> tuple[str, int]:
    """``text`` with marker numbers outside ``1..blocks`` removed, and how many were removed."""
    f = CitationFilter(blocks)
    return f.feed(text) + f.flush(), f.removed


def cited_numbers(text: str, limit: int) -> list[int]:
    """The block numbers ``1..limit`` that ``text`` cites as ``[n]`` or ``[n, m]``, in order of
    first mention."""
    seen: list[int] = []
    for match in MARKER.finditer(text):
        for n in numbers(match.group(1)):
            if 1 <= n <= limit and n not in seen:
                seen.append(n)
    return seen


def says_unknown(text: str) -> bool:
    """Whether an answer says that the collection or context does not answer the question."""
    return bool(_SAYS_UNKNOWN.search(text))
