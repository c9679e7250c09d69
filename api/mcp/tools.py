"""The MCP tools, one function each, thin over the HTTP routes' own code paths.

Every tool takes a :class:`Caller` (the services as the key's tenant sees them, the key's
principal, the job queue) and its validated arguments (:mod:`api.mcp.inputs`), and returns a
:class:`ToolOutput`: the JSON the matching route answers, and the pictures to send as image
content. Errors are raised as the routes raise them (``rag.errors``); :mod:`api.mcp.server` turns
them into tool errors with the same messages.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from pydantic import BaseModel

from api.answering import answer, generation_options, make_ask
from api.auth import Principal, Role, sees_job
from api.images import decode_base64, decode_image
from api.mcp.inputs import (
    AskArgs,
    DocumentsArgs,
    IngestArgs,
    ItemArgs,
    JobArgs,
    PageArgs,
    SearchArgs,
)
from api.mcp.pictures import Picture, PictureBudget, read_picture, read_stored
from api.queries import build_query, query_image
from api.routes.chat import chat_out
from api.routes.ingest import job_out
from api.routes.search import search_out
from api.schemas.ingest import IngestAcceptedOut, RejectedOut
from api.schemas.items import ItemOut, document_out
from api.server_paths import paths_spec
from api.uploads import uploads_from_json
from ingest.queue import Jobs
from ingest.specs import JobSpec
from ingest.uploads import stage_uploads
from rag import payload as keys
from rag.errors import InvalidInputError, NotFoundError
from rag.identity import document_filter
from rag.services import Services
from rag.store.base import Filter, MatchAny, MatchValue

MAX_SCANNED = 50_000
"""Most first-page points ``list_documents`` reads in one call."""


@dataclass(frozen=True)
class Caller:
    """Who calls a tool: ``services`` as the key's tenant sees them, the key's principal, and
    the ingest job queue (opened on first use)."""

    services: Services
    principal: Principal
    jobs: Callable[[], Jobs]


@dataclass
class ToolOutput:
    """A tool's answer: ``data`` (JSON) and ``pictures`` as ``(label, picture)`` pairs."""

    data: dict[str, Any]
    pictures: list[tuple[str, Picture]] = field(default_factory=list)


@dataclass(frozen=True)
class ToolSpec:
    """A tool: its name, what it does, its arguments' model, the least role that may call it."""

    name: str
    description: str
    args: type[BaseModel]
    run: Callable[[Caller, Any], ToolOutput]
    role: Role = Role.READ
    read_only: bool = True


def search(caller: Caller, args: SearchArgs) -> ToolOutput:
    """``POST /v1/search`` with the hits' pictures."""
    services = caller.services
    settings = services.settings
    image = query_image(args.image, settings)
    if args.item_id is not None:
        if image is not None:
            raise InvalidInputError("send image or item_id, not both")
        image = _item_picture(services, args.item_id)
    result = services.retriever.search(build_query(settings, args.text, image, args))
    out = search_out(result, settings.api.public_url, args.text)
    shown = [(f"hit {n}: item {hit.id}", hit.payload) for n, hit in enumerate(result.hits, 1)]
    return ToolOutput(out.model_dump(mode="json"), _pictures(services, shown, args.pictures))


def ask(caller: Caller, args: AskArgs) -> ToolOutput:
    """``POST /v1/chat`` (not streamed) with the citations' pictures."""
    services = caller.services
    checked = make_ask(
        services,
        args.question,
        query_image(args.image, services.settings),
        [turn.message() for turn in args.history],
        generation_options(services, args.max_tokens, args.temperature),
        args,
    )
    result = answer(services, checked)
    out = chat_out(result, services.settings.api.public_url)
    cited = [
        (f"citation [{c.n}]: item {c.id}", c.payload) for c in result.citations if c.has_picture
    ]
    return ToolOutput(out.model_dump(mode="json"), _pictures(services, cited, args.pictures))


def get_item(caller: Caller, args: ItemArgs) -> ToolOutput:
    """``GET /v1/items/{id}`` with the item's picture."""
    services = caller.services
    payload = _payload(services, args.item_id)
    item = ItemOut.from_payload(str(args.item_id), payload, services.settings.api.public_url)
    shown = [(f"item {args.item_id}", payload)]
    return ToolOutput(item.model_dump(mode="json"), _pictures(services, shown, int(args.picture)))


def list_documents(caller: Caller, args: DocumentsArgs) -> ToolOutput:
    """The documents of the collection ordered by id, ``limit`` a page; ``next`` is the last id
    of the page (``None`` at the end). Found from their first pages' points, at most
    :data:`MAX_SCANNED` of them a call."""
    services = caller.services
    first_pages = Filter(
        must=(MatchValue(keys.PAGE, 1), MatchAny(keys.KIND, ("page", "passage", "figure")))
    )
    found: dict[str, dict[str, Any]] = {}
    offset: str | None = None
    scanned = 0
    while scanned < MAX_SCANNED:
        points, offset = services.store.scroll(first_pages, limit=256, offset=offset)
        scanned += len(points)
        for point in points:
            document = point.payload.get(keys.DOCUMENT)
            if isinstance(document, dict) and str(document.get("id")) > (args.cursor or ""):
                found.setdefault(str(document["id"]), point.payload)
        if offset is None:
            break
    ids = sorted(found)[: args.limit]
    base_url = services.settings.api.public_url
    documents = [_dump(document_out(found[doc_id], base_url)) for doc_id in ids]
    more = len(found) > len(ids) or offset is not None
    return ToolOutput({"documents": documents, "next": ids[-1] if ids and more else None})


def get_document_page(caller: Caller, args: PageArgs) -> ToolOutput:
    """One page (slide) of a document: its text (the page's, else its passages' in order), the
    document, and the page's render as image content."""
    services = caller.services
    on_page = Filter(
        must=(*document_filter(str(args.document_id)).must, MatchValue(keys.PAGE, args.page))
    )
    points, _ = services.store.scroll(on_page, limit=512)
    if not points:
        raise NotFoundError(f"no page {args.page} of document {args.document_id}")
    page = next((p for p in points if p.payload.get(keys.KIND) == "page"), None)
    passages = sorted(
        (p for p in points if p.payload.get(keys.KIND) == "passage"), key=_passage_index
    )
    text = page.payload.get(keys.TEXT) if page is not None else None
    if not text:
        text = "\n\n".join(str(p.payload.get(keys.TEXT) or "") for p in passages)
    shown = page or next((p for p in passages if p.payload.get(keys.IMAGE_PATH)), None)
    base_url = services.settings.api.public_url
    data = {
        "document": _dump(document_out(points[0].payload, base_url)),
        "page": args.page,
        "text": text,
        "items": [
            {"id": p.id, "kind": p.payload.get(keys.KIND), "figure": p.payload.get(keys.FIGURE)}
            for p in points
        ],
    }
    pictures = [] if shown is None else [(f"page {args.page}", shown.payload)]
    return ToolOutput(data, _pictures(services, pictures, int(args.picture)))


def ingest(caller: Caller, args: IngestArgs) -> ToolOutput:
    """``POST /v1/ingest``: server paths (``{"paths": ...}``) or one uploaded item, queued as
    the route queues them; answers the job id."""
    settings = caller.services.settings
    if args.paths is not None:
        if args.file is not None or args.text is not None:
            raise InvalidInputError("send paths, or a file and/or text, not both")
        body = {"paths": args.paths, "prune": args.prune, "policy": args.policy}
        spec = paths_spec(json.dumps(body).encode(), settings, caller.principal)
        return _accepted(caller.jobs().submit(spec), len(spec.paths), [])
    if args.file is None and args.text is None:
        raise InvalidInputError("send paths, or a file (base64) and/or text")
    if args.file is not None:
        decode_base64(args.file, "file")  # the route would name the field items[0].image
    item = {"image": args.file, "text": args.text, "filename": args.filename, "id": args.id}
    body = {"items": [{**item, "metadata": args.metadata}], "policy": args.policy}
    uploads, policy = uploads_from_json(json.dumps(body).encode())
    staged = stage_uploads(uploads, settings, caller.principal.tenant)
    rejected = [
        RejectedOut(index=e.index, source=e.source, reason=e.reason) for e in staged.rejected
    ]
    if not staged.items:
        reasons = "; ".join(f"{r.source}: {r.reason}" for r in rejected[:5])
        raise InvalidInputError(f"no item was accepted: {reasons}")
    spec = JobSpec.for_uploads(staged.items, policy=policy, tenant=caller.principal.tenant)  # type: ignore[arg-type]
    return _accepted(caller.jobs().submit(spec), len(staged.items), rejected)


def job_status(caller: Caller, args: JobArgs) -> ToolOutput:
    """``GET /v1/ingest/{job_id}``: the job's state, progress and report (the key's own jobs)."""
    gone = NotFoundError(f"no ingest job {args.job_id!r}")
    try:
        job = caller.jobs().get(args.job_id)
    except NotFoundError:
        raise gone from None
    if not sees_job(caller.principal, job.spec.tenant):
        raise gone
    return ToolOutput(job_out(job).model_dump(mode="json"))


TOOLS: dict[str, ToolSpec] = {
    spec.name: spec
    for spec in (
        ToolSpec(
            "search",
            "Search the collection by words, a picture (base64, or an item's by id), or both. "
            "Hits carry their id, kind, document and page, every signal's score, and the first "
            "ones their picture.",
            SearchArgs,
            search,
        ),
        ToolSpec(
            "ask",
            "Ask a question about the collection: a grounded answer citing its sources as [n], "
            "with the citations (and their pictures).",
            AskArgs,
            ask,
        ),
        ToolSpec(
            "get_item", "An item by id: its text, source, metadata and picture.", ItemArgs, get_item
        ),
        ToolSpec(
            "list_documents",
            "The documents (PDF, Office, HTML, Markdown) in the collection, a page at a time.",
            DocumentsArgs,
            list_documents,
        ),
        ToolSpec(
            "get_document_page",
            "One page (slide) of a document: its text and its render.",
            PageArgs,
            get_document_page,
        ),
        ToolSpec(
            "ingest",
            "Add to the collection: folders, manifests or documents on the server (under "
            "MMRAG_INGEST__ROOTS), or one picture or document sent as base64 (with an optional "
            "text). Answers a job id; follow it with job_status.",
            IngestArgs,
            ingest,
            role=Role.WRITE,
            read_only=False,
        ),
        ToolSpec(
            "job_status",
            "An ingest job's state (queued, running, done, failed, cancelled), progress, report.",
            JobArgs,
            job_status,
            role=Role.WRITE,
        ),
    )
}
"""Every tool by name."""


def _accepted(job_id: str, accepted: int, rejected: list[RejectedOut]) -> ToolOutput:
    out = IngestAcceptedOut(
        job_id=job_id, status_url=f"/v1/ingest/{job_id}", accepted=accepted, rejected=rejected
    )
    return ToolOutput(out.model_dump(mode="json"))


def _payload(services: Services, item_id: uuid.UUID) -> dict[str, Any]:
    points = services.store.get([str(item_id)])
    if not points:
        raise NotFoundError(f"no item with id {item_id}")
    return points[0].payload


def _item_picture(services: Services, item_id: uuid.UUID) -> Image.Image:
    """The picture of item ``item_id`` as a query (``item_id`` of ``search``)."""
    payload = _payload(services, item_id)
    if not payload.get(keys.IMAGE_PATH):
        raise InvalidInputError(f"item {item_id} has no picture; search by its text instead")
    data = read_stored(services.settings, payload, f"image file of item {item_id}")
    return decode_image(data, services.settings.ingest.max_image_pixels, "item_id")


def _pictures(
    services: Services, shown: Iterable[tuple[str, dict[str, Any]]], count: int
) -> list[tuple[str, Picture]]:
    budget = PictureBudget(count=count)
    found = []
    for label, payload in shown:
        if budget.count <= 0:
            break
        picture = read_picture(services.settings, payload, budget)
        if picture is not None:
            found.append((label, picture))
    return found


_PASSAGE = re.compile(r"\.s(\d+)$")


def _passage_index(point: Any) -> int:
    match = _PASSAGE.search(str(point.payload.get(keys.ITEM_KEY) or ""))
    return int(match.group(1)) if match else 0


def _dump(model: BaseModel | None) -> dict[str, Any] | None:
    return None if model is None else model.model_dump(mode="json")
