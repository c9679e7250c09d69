"""The Markdown Sources block that ends a chat answer, for clients that render only the message
text (Open WebUI and similar): each cited item's name, document and page (a link to the
original, at the page for a PDF), and its picture as an absolute image link.

Example (the end of a message)::

    **Sources**
    - [1] cat.png — [Annual report, page 4](https://rag.example/v1/documents/5e2a…/file#page=4)
      ![cat.png](https://rag.example/v1/items/9b1c…/image)
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from urllib.parse import quote

from fastapi import Request

from api.urls import document_file_url, item_image_url
from rag import payload as keys
from rag.answer import Answer
from rag.condense import MAX_CITED
from rag.retrieval.types import Hit
from rag.services import Services

HEADING = "**Sources**"
MAX_NAME_CHARS = 80
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#!|])")
_WHITESPACE = re.compile(r"\s+")
_ITEM_LINK = re.compile(r"/v1/items/([0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12})/image")


def public_base_url(services: Services, request: Request) -> str:
    """``MMRAG_API__PUBLIC_URL``, else the URL the request came in on (absolute links)."""
    return services.settings.api.public_url or str(request.base_url)


def sources_block(answer: Answer, base_url: str) -> str:
    """The block for the items ``answer`` cites (empty when it cites none), starting with a blank
    line so it can follow the answer text directly."""
    lines = []
    for citation in answer.citations:
        if not citation.cited or not 1 <= citation.n <= len(answer.hits):
            continue
        hit = answer.hits[citation.n - 1]
        name = _markdown(item_name(hit))
        where = _linked(_where(hit), hit, base_url)
        lines.append(f"- [{citation.n}] {name}{' — ' + where if where else ''}")
        if hit.has_image:
            lines.append(f"  ![{name}]({item_image_url(hit.id, base_url)})")
    return "\n\n" + "\n".join([HEADING, *lines]) if lines else ""


def cited_ids(content: str) -> tuple[str, ...]:
    """The items an earlier answer's Sources block links to (their pictures' URLs), as a chat
    client sends the answer back in the history; at most :data:`rag.condense.MAX_CITED`."""
    _, heading, block = content.rpartition(HEADING)
    if not heading:
        return ()
    return tuple(dict.fromkeys(_ITEM_LINK.findall(block)))[:MAX_CITED]


def item_name(hit: Hit) -> str:
    """A short name for an item: its ``title`` metadata, else its source's file name."""
    metadata = hit.payload.get(keys.METADATA) or {}
    title = metadata.get("title") if isinstance(metadata, dict) else None
    name = str(title or PurePosixPath(hit.source.replace("\\", "/")).name or hit.id)
    name = _WHITESPACE.sub(" ", name).strip()
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 1] + "…"


def _where(hit: Hit) -> str:
    document = hit.payload.get(keys.DOCUMENT)
    page = hit.payload.get(keys.PAGE)
    title = ""
    if isinstance(document, dict):
        title = _markdown(_WHITESPACE.sub(" ", str(document.get("title") or "")).strip())
    page_text = f"page {page}" if isinstance(page, int) and not isinstance(page, bool) else ""
    return ", ".join(part for part in (title, page_text) if part)


def _linked(where: str, hit: Hit, base_url: str) -> str:
    """``where`` as a link to the item's original document, at its page for a PDF
    (``#page=N``); as it is for an item of no document."""
    document = hit.payload.get(keys.DOCUMENT)
    if not where or not isinstance(document, dict) or not document.get("id"):
        return where
    page = hit.payload.get(keys.PAGE)
    pdf = str(document.get("source") or "").lower().endswith(".pdf")
    at = page if pdf and isinstance(page, int) and not isinstance(page, bool) else None
    doc_id = quote(str(document["id"]), safe="")
    return f"[{where}]({document_file_url(doc_id, at, base_url)})"


def _markdown(text: str) -> str:
    """``text`` with Markdown syntax escaped (it is item data, never markup)."""
    return _MARKDOWN.sub(r"\\\1", text)
