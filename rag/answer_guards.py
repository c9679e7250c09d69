"""Guards on a streamed answer, so what a user reads is an answer: the prompt's context markup
never reaches them, and a model that starts repeating itself is cut off.

Both guards take the answer piece by piece and give back the text that can be shown now. The
echo filter's output never depends on where the stream was split; the repetition guard cuts a
loop at its second copy, or where the shown text had already reached.

- :class:`ContextEchoFilter` drops what a small model copies from its prompt: the context
  delimiters (``<context n="2">``, ``</context>``, also in their defused ``‹`` form) wherever they
  are, and whole lines that are block headers (``source: ...``, ``picture: yes, ...``,
  ``document: ...``, ``text:``) or prompt labels (``Context:``, ``Question: ...``).
- :class:`RepetitionGuard` ends the answer at the first line that repeats an earlier line, or
  when the words start running in a loop (the same 6 to 24 words twice in a row, 2 to 5 words
  three times, one word four times).

Example::

    echo, loop = ContextEchoFilter(), RepetitionGuard()
    for piece in pieces:
        shown = loop.feed(echo.feed(piece))
        if loop.stopped:
            break
    shown += loop.feed(echo.flush()) + loop.flush()
"""

from __future__ import annotations

import re

CUT_NOTE = "\n\n(The answer was cut here: the model began repeating itself.)"
"""Appended to an answer that :class:`RepetitionGuard` cut."""

_HEADER_WORDS = ("source", "picture", "document", "text", "context", "question", "pictures")
_MARKUP_LINE = re.compile(
    r"^[ \t]*(?:[<‹]/?context\b[^>›\n]*[>›]?[ \t]*|(?:" + "|".join(_HEADER_WORDS) + r")[ \t]*:.*)$",
    re.I,
)
_LINE_PREFIXES = (
    *(f"{word}:" for word in _HEADER_WORDS), "<context", "‹context", "</context", "‹/context",
)  # fmt: skip
_INLINE_TAG = re.compile(r'[<‹]/?context(?:\s+n\s*=\s*"?\d*"?)?\s*[>›]?', re.I)
_TAG_TAIL = 24
"""How far back an unfinished ``<context n="..">`` tag is held at the end of a piece."""


class ContextEchoFilter:
    """Removes the prompt's context markup from a streamed answer (see the module)."""

    def __init__(self) -> None:
        self._held = ""
        self._at_line_start = True

    def feed(self, piece: str) -> str:
        """The text of ``piece`` that can be shown now."""
        text = self._held + piece
        out: list[str] = []
        while "\n" in text:
            line, _, text = text.partition("\n")
            if _MARKUP_LINE.match(line) and self._line_start(line):
                self._at_line_start = True
                continue  # the header line and its newline go
            out.append(_INLINE_TAG.sub("", line) + "\n")
            self._at_line_start = True
        keep = self._undecided(text)
        shown = text[: len(text) - len(keep)]
        self._held = keep
        if shown:
            out.append(_INLINE_TAG.sub("", shown))
            self._at_line_start = False
        return "".join(out)

    def flush(self) -> str:
        """Whatever was held at the end of the stream (never markup)."""
        held, self._held = self._held, ""
        if _MARKUP_LINE.match(held) and self._line_start(held):
            return ""
        return _INLINE_TAG.sub("", held)

    def _line_start(self, line: str) -> bool:
        """Whether ``line`` began at the start of a line of the answer (not after shown text)."""
        return self._at_line_start

    def _undecided(self, partial: str) -> str:
        """The tail of the unfinished line that could still turn out to be markup."""
        if self._at_line_start:
            head = partial.lstrip().lower()
            if not head or any(p.startswith(head) or head.startswith(p) for p in _LINE_PREFIXES):
                return partial
        cut = max(partial.rfind("<"), partial.rfind("‹"))
        tail = partial[cut:] if cut >= 0 else ""
        if tail and len(tail) <= _TAG_TAIL and ">" not in tail and "›" not in tail:
            return tail
        return ""


_WORD = re.compile(r"\w+")
_CITATION = re.compile(r"\[\d+\]")
_OPEN_CITATION = re.compile(r"\[\d*$")
MIN_LINE_CHARS = 5
"""Lines shorter than this (normalised) may repeat (list bullets, ``Yes.``)."""
MAX_PERIOD = 24
"""The longest run of words checked for looping."""
LONG_RUN = 6
"""A run of this many words or more is a loop when it comes twice in a row (one word: four
times; shorter runs: three times)."""


def _normal(line: str) -> str:
    return " ".join(_WORD.findall(_CITATION.sub("", line).lower()))


class RepetitionGuard:
    """Cuts an answer that degenerates into repetition (see the module). After :attr:`stopped`
    turns true, stop reading the model and append :data:`CUT_NOTE`."""

    def __init__(self) -> None:
        self._text = ""
        self._shown = 0
        self._line_start = 0
        self._seen: set[str] = set()
        self.stopped = False

    def feed(self, piece: str) -> str:
        """The text of ``piece`` that can be shown now ("" once stopped)."""
        if self.stopped or not piece:
            return ""
        self._text += piece
        end = self._check()
        shown = self._text[self._shown : end]
        self._shown = max(self._shown, end)
        return shown

    def flush(self) -> str:
        """The rest at the end of the stream (a last line that repeats an earlier one is cut)."""
        if self.stopped:
            return ""
        line = _normal(self._text[self._line_start :])
        if len(line) >= MIN_LINE_CHARS and line in self._seen:
            self.stopped = True
            return ""
        rest, self._shown = self._text[self._shown :], len(self._text)
        return rest

    def _check(self) -> int:
        """Where the text that may be shown ends; sets :attr:`stopped` on a loop."""
        text = self._text
        while (newline := text.find("\n", self._line_start)) >= 0:
            line = _normal(text[self._line_start : newline])
            if len(line) >= MIN_LINE_CHARS:
                if line in self._seen:
                    self.stopped = True
                    return self._line_start
                self._seen.add(line)
            self._line_start = newline + 1
        if (loop := self._loop_start()) is not None:
            self.stopped = True
            return max(loop, self._shown)
        partial = _normal(_OPEN_CITATION.sub("", text[self._line_start :]))
        if partial and any(seen.startswith(partial) for seen in self._seen):
            return max(self._line_start, self._shown)  # it may be a repeat: hold it
        return len(text)

    def _loop_start(self) -> int | None:
        """Where the second copy of a run of words that loops at the end of the text starts,
        or ``None``."""
        words = list(_WORD.finditer(self._text[-4000:].lower()))
        offset = max(len(self._text) - 4000, 0)
        names = [w.group() for w in words]
        for period in range(1, MAX_PERIOD + 1):
            repeats = 4 if period == 1 else 3 if period < LONG_RUN else 2
            if len(names) < period * repeats:
                break
            tail = names[-period * repeats :]
            if all(tail[i] == tail[i % period] for i in range(len(tail))):
                start = len(names) - period * repeats
                while start > 0 and names[start - 1] == names[start - 1 + period]:
                    start -= 1  # the loop began earlier: cut at its first repeat
                return offset + words[start + period].start()
        return None
