"""Highlights: the lines of a passage that answered, as boxes over its picture.

At ingest, :func:`line_spans` ties each line of a page (a PDF text run or an OCR line, with its
box as fractions of the page render) to the characters of a passage it holds; the payload keeps
them compactly as ``[x0, y0, x1, y1, start, end]`` (:data:`rag.payload.LINES`). At answer time
:func:`best_boxes` picks the lines whose words best match a sentence (the answer's sentence
citing the passage, or a query).

Example::

    spans = line_spans("Spare impellers are kept in room 14.", [("Spare impellers are", box1),
                       ("kept in room 14.", box2)])
    best_boxes({"text": ..., "lines": spans}, "Impellers are in room 14 [1].")  # [box2]
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from rag import payload as keys
from rag.citations import MARKER, numbers

Box = tuple[float, float, float, float]
MAX_LINES = 200
"""Lines kept per passage (a passage is bounded by the passage model's tokens anyway)."""
MAX_HIGHLIGHTS = 3
"""Boxes a citation or hit carries: the best matching lines."""
_LOOKAHEAD = 6
_WORD = re.compile(r"\w+", re.UNICODE)
_COMMON = frozenset(
    re.findall(
        r"\w+",
        "the and for are was were with this that from has have had not but you your its his "
        "her they them their which what when where who how does did can will into than then "
        "there these those also only been being our out all any per may must should would could",
    )
)
_LEADING_MARKERS = re.compile(r"(?:\s*" + MARKER.pattern + ")+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def line_spans(passage: str, lines: Sequence[tuple[str, Box]]) -> list[list[float]]:
    """``[x0, y0, x1, y1, start, end]`` for each of ``lines`` (text, box) that holds words of
    ``passage``, ``start:end`` the characters of ``passage`` it holds, in passage order.

    The passage's words are found in the lines' words in order (a passage may start or end
    inside a line); words the lines do not hold (a hyphenation, a ligature) are skipped."""
    words = [(m.group(), m.start(), m.end()) for m in re.finditer(r"\S+", passage)]
    line_words = [(word, index) for index, (text, _) in enumerate(lines) for word in text.split()]
    if not words or not line_words:
        return []
    j = _start(words, line_words)
    if j is None:
        return []
    spans: dict[int, list[int]] = {}
    for word, start, end in words:
        found = next(
            (k for k in range(j, min(j + _LOOKAHEAD, len(line_words))) if line_words[k][0] == word),
            None,
        )
        if found is None:
            continue
        line = line_words[found][1]
        span = spans.setdefault(line, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
        j = found + 1
        if j >= len(line_words):
            break
    out = []
    for line in sorted(spans)[:MAX_LINES]:
        box = lines[line][1]
        out.append([*(round(float(v), 4) for v in box), *spans[line]])
    return out


def _start(words: list[tuple[str, int, int]], line_words: list[tuple[str, int]]) -> int | None:
    """Where the passage's first words begin among the lines' words (the first place the
    first three, else the first, match)."""
    head = [w for w, _, _ in words[:3]]
    firsts = [k for k, (word, _) in enumerate(line_words) if word == head[0]]
    for k in firsts:
        if [w for w, _ in line_words[k : k + len(head)]] == head:
            return k
    return firsts[0] if firsts else None


def best_boxes(
    payload: Mapping[str, Any], text: str | None, limit: int = MAX_HIGHLIGHTS
) -> list[list[float]]:
    """The boxes of the payload's lines whose words best match ``text`` (citation markers
    left out): the best line and the others that share at least half as many words, at most
    ``limit``, top to bottom. Without ``text``, or when no line shares a word, none."""
    lines, passage = _lines(payload)
    if not lines or not text:
        return []
    wanted = _words(MARKER.sub(" ", text))
    scored = []
    for line in lines:
        if not (isinstance(line, list) and len(line) == 6):
            continue
        shared = len(_words(passage[int(line[4]) : int(line[5])]) & wanted)
        if shared:
            scored.append((shared, [float(v) for v in line[:4]]))
    if not scored:
        return []
    top = max(shared for shared, _ in scored)
    picked = sorted(scored, key=lambda s: -s[0])
    kept = [box for shared, box in picked if 2 * shared >= top][:limit]
    return sorted(kept, key=lambda box: (box[1], box[0]))


def sentences_citing(answer: str, n: int) -> str:
    """The sentences of ``answer`` that cite block ``n`` (``[n]`` or ``[m, n]``), joined."""
    sentences: list[str] = []
    for part in _SENTENCE_END.split(answer):
        lead = _LEADING_MARKERS.match(part)
        if sentences and lead:  # "... 230 volts. [1] Next": the marker closes the sentence
            sentences[-1] += " " + lead.group().strip()
            part = part[lead.end() :].strip()
        if part:
            sentences.append(part)
    found = [
        sentence
        for sentence in sentences
        if any(n in numbers(m.group(1)) for m in MARKER.finditer(sentence))
    ]
    return " ".join(found)


def _lines(payload: Mapping[str, Any]) -> tuple[list[Any], str]:
    """The payload's lines and the text their spans index: a passage's :data:`~rag.payload.LINES`
    over its text, else a picture's OCR lines (``ocr_text`` holds one line per box)."""
    lines, text = payload.get(keys.LINES), payload.get(keys.TEXT)
    if isinstance(lines, list) and isinstance(text, str):
        return lines, text
    boxes, read = payload.get(keys.OCR_BOXES), payload.get(keys.OCR_TEXT)
    if not (isinstance(boxes, list) and isinstance(read, str)):
        return [], ""
    rows = read.split("\n")
    if len(rows) != len(boxes):
        return [], ""
    spans, start = [], 0
    for row, box in zip(rows, boxes, strict=True):
        spans.append([*box, start, start + len(row)])
        start += len(row) + 1
    return spans, read


def _words(text: str) -> set[str]:
    """Lower-case words of three letters or more (common English ones left out), and numbers
    of any length."""
    found = (m.group().lower() for m in _WORD.finditer(text))
    return {w for w in found if (len(w) > 2 and w not in _COMMON) or w.isdigit()}
