"""The context-block format of a grounded prompt, as typed data.

A block is one retrieved item shown to the model as ``<context n="N">`` … ``</context>``: a header
of ``key: value`` lines (source, document and page, picture, metadata), then ``text:`` and the item
text. :mod:`rag.prompting` builds blocks from hits (sanitising every field); backends that read the
context (the extractive one) get the blocks themselves through :class:`Grounding`, so nothing
re-parses a rendered prompt.

Example::

    block = ContextBlock(1, "A cat sits on the red mat.", source="cat.png", picture="yes")
    print(block.rendered)
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

OPEN = '<context n="{n}">'
CLOSE = "</context>"
NO_TEXT = "(no text)"
# A block's text stops at the next opening tag, so an unclosed one costs linear time, not a scan
# to the end of the message for each of them.
_BLOCK = re.compile(r'<context n="(\d+)">\n((?:[^<]|<(?!context n="))*?)\n</context>')


@dataclass(frozen=True)
class ContextBlock:
    """Item ``n`` (1-based, in rank order) of the context. Every field is already sanitised."""

    n: int
    text: str
    source: str = "unknown"
    picture: str = "none"
    """``none``, or ``yes`` with size and type (``yes, 640x480, image/png``)."""
    document: str = ""
    """The document's title (or source) when the item is part of a document."""
    page: int | None = None
    figure: bool = False
    """Whether the item is a figure of that page."""
    fields: tuple[tuple[str, str], ...] = ()
    """Metadata ``(key, value)`` lines."""
    truncated: bool = False
    """Whether ``text`` was cut to fit the token budget."""
    ocr: bool = False
    """Whether ``text`` holds words read from a picture by OCR (said in the header)."""

    @property
    def header(self) -> list[str]:
        """The ``key: value`` lines before the text."""
        lines = [f"source: {self.source}"]
        if self.document:
            where = f", page {self.page}" if self.page else ""
            figure = " (figure)" if self.figure else ""
            lines.append(f"document: {self.document}{where}{figure}")
        elif self.page:
            lines.append(f"page: {self.page}")
        lines.append(f"picture: {self.picture}")
        if self.ocr:
            lines.append("text read from the picture by OCR: yes (words may be misread)")
        lines.extend(f"{key}: {value}" for key, value in self.fields)
        return lines

    @property
    def rendered(self) -> str:
        """The block as the model reads it."""
        body = "\n".join([*self.header, "text:", self.text if self.text.strip() else NO_TEXT])
        return f"{OPEN.format(n=self.n)}\n{body}\n{CLOSE}"

    def with_text(self, text: str, truncated: bool = True) -> ContextBlock:
        """The same block with another (cut) text."""
        return dataclasses.replace(self, text=text, truncated=truncated)


@dataclass(frozen=True)
class Grounding:
    """What a grounded user message was rendered from: the caller's question, the blocks, and
    whether the question stands for a picture query (the picture is what is asked about)."""

    question: str
    blocks: tuple[ContextBlock, ...]
    image_query: bool = False
    pictures: tuple[int, ...] = ()
    """Numbers of the blocks whose pictures are attached to the message."""


def render_user_message(grounding: Grounding) -> str:
    """The user turn of a grounded prompt: the context blocks, the attached pictures, then the
    question (already sanitised by the caller)."""
    context = "\n\n".join(block.rendered for block in grounding.blocks)
    parts = [f"Context:\n{context}"]
    if grounding.pictures:
        labels = ", ".join(f"[{n}]" for n in grounding.pictures)
        parts.append(
            f"Pictures: the attached pictures belong to blocks {labels}, in that order; each "
            "shows its block number in its corner."
        )
    parts.append(f"Question: {grounding.question}")
    return "\n\n".join(parts)


def parse_grounding(user_message: str) -> Grounding | None:
    """The grounding of a user message rendered elsewhere in this format (a LangChain prompt
    built from :func:`rag.integrations.langchain_chain.format_context`); ``None`` without blocks.
    Only block number, source and text are read back."""
    blocks = []
    for match in _BLOCK.finditer(user_message):
        header, _, text = match.group(2).partition("\ntext:\n")
        source = header.split("\n", 1)[0].removeprefix("source: ")
        blocks.append(ContextBlock(int(match.group(1)), "" if text == NO_TEXT else text, source))
    if not blocks:
        return None
    tail = user_message[user_message.rfind(CLOSE) + len(CLOSE) :]
    _, found, question = tail.rpartition("Question:")
    return Grounding((question if found else tail).strip(), tuple(blocks))
