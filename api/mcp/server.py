"""The MCP server of mmrag: one set of tools and resources behind both transports (``mmrag mcp``
over stdio, ``/mcp`` on the API over streamable HTTP).

:func:`build_server` wires :data:`api.mcp.tools.TOOLS` and the ``mmrag://`` resources to an
``mcp`` SDK low-level ``Server``. Who calls comes from :class:`McpHost.principal` (the bearer key
on ``/mcp``, ``MMRAG_API_KEY`` on stdio); every call runs as that key's tenant and role.
Arguments are validated by the tools' models; every failure is a tool error that says what to
fix (the HTTP routes' messages), never the end of the session.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import anyio
import mcp_types as types
from fastapi.exceptions import RequestValidationError
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from api.auth import Principal
from api.errors import validation_message
from api.mcp.inputs import ItemArgs, PageArgs
from api.mcp.pictures import RESOURCE_BYTES, RESOURCE_SIDE, PictureBudget, read_picture
from api.mcp.tools import TOOLS, Caller, ToolOutput, get_document_page, get_item
from api.version import VERSION
from ingest.queue import Jobs
from rag.errors import MmragError
from rag.services import Services

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "mmrag is a multimodal knowledge base (pictures, documents, texts). Use `search` to find "
    "items by words or a picture, `ask` for a grounded answer with citations, `get_item` and "
    "`get_document_page` to read what a hit points to."
)
ITEM_PICTURE = "mmrag://items/{item_id}/picture"
DOCUMENT_PAGE = "mmrag://documents/{document_id}/pages/{page}"
_ITEM_URI = re.compile(r"^mmrag://items/(?P<item_id>[^/]+)/picture$")
_PAGE_URI = re.compile(r"^mmrag://documents/(?P<document_id>[^/]+)/pages/(?P<page>[^/]+)$")
RESOURCE_NOT_FOUND = -32002


@dataclass(frozen=True)
class McpHost:
    """What the server runs on: the app's services, its job queue, and who is calling now."""

    services: Services
    jobs: Callable[[], Jobs]
    principal: Callable[[], Principal]

    def caller(self) -> Caller:
        principal = self.principal()
        return Caller(self.services.for_tenant(principal.tenant), principal, self.jobs)


def build_server(host: McpHost) -> Server[Any]:
    """The MCP server: the tools the caller's role may call, and the picture and page resources."""

    listed = {name: _tool(spec) for name, spec in TOOLS.items()}  # schemas built once

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        principal = host.principal()
        return types.ListToolsResult(
            tools=[listed[name] for name, spec in TOOLS.items() if principal.may(spec.role)]
        )

    def input_schema(name: str) -> dict[str, Any] | None:
        """A tool's schema for the transport's header checks (else it lists every tool)."""
        tool = listed.get(name)
        return None if tool is None else tool.input_schema

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        caller = host.caller()
        return await anyio.to_thread.run_sync(
            partial(run_tool, caller, params.name, params.arguments or {})
        )

    async def list_resources(ctx: Any, params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[])

    async def list_templates(ctx: Any, params: Any) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(
            resource_templates=[
                types.ResourceTemplate(
                    name="item-picture",
                    uri_template=ITEM_PICTURE,
                    description="An item's picture (its image, page render or figure crop), "
                    f"at most {RESOURCE_SIDE} px a side.",
                ),
                types.ResourceTemplate(
                    name="document-page",
                    uri_template=DOCUMENT_PAGE,
                    description="A page (slide) of a document: its text, then its render.",
                ),
            ]
        )

    async def read_resource(
        ctx: Any, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        caller = host.caller()
        return await anyio.to_thread.run_sync(partial(read, caller, str(params.uri)))

    return Server(
        "mmrag",
        version=VERSION,
        instructions=INSTRUCTIONS,
        get_tool_input_schema=input_schema,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )


def run_tool(caller: Caller, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    """Call tool ``name``; any failure is a tool error (``is_error``) with a message."""
    try:
        spec = TOOLS.get(name)
        if spec is None:
            raise MCPToolRefused(f"unknown tool {name!r}: use {', '.join(TOOLS)}")
        if not caller.principal.may(spec.role):
            raise MCPToolRefused(
                f"this key's role ({caller.principal.role.name.lower()}) may not call "
                f"{name}: it needs {spec.role.name.lower()}"
            )
        return tool_result(spec.run(caller, spec.args.model_validate(arguments)))
    except Exception as exc:
        return types.CallToolResult(
            content=[types.TextContent(text=error_message(exc, f"tool {name}"))], is_error=True
        )


def tool_result(output: ToolOutput) -> types.CallToolResult:
    """The JSON as text (and structured content), then each picture after its label."""
    content: list[Any] = [types.TextContent(text=json.dumps(output.data, ensure_ascii=False))]
    for label, picture in output.pictures:
        content.append(types.TextContent(text=f"picture of {label}"))
        data = base64.b64encode(picture.data).decode()
        content.append(types.ImageContent(data=data, mime_type=picture.mime))
    return types.CallToolResult(content=content, structured_content=output.data)


def read(caller: Caller, uri: str) -> types.ReadResourceResult:
    """``mmrag://items/{id}/picture`` or ``mmrag://documents/{id}/pages/{n}``; a resource of
    another tenant, or none, is 'not found'."""
    try:
        if match := _ITEM_URI.match(uri):
            return _item_picture(caller, uri, match.group("item_id"))
        if match := _PAGE_URI.match(uri):
            return _page(caller, uri, match.group("document_id"), match.group("page"))
    except MCPError:
        raise
    except Exception as exc:
        raise MCPError(RESOURCE_NOT_FOUND, error_message(exc, f"resource {uri}")) from None
    raise MCPError(
        RESOURCE_NOT_FOUND, f"unknown resource {uri!r}: use {ITEM_PICTURE} or {DOCUMENT_PAGE}"
    )


def _item_picture(caller: Caller, uri: str, item_id: str) -> types.ReadResourceResult:
    args = ItemArgs.model_validate({"item_id": item_id, "picture": False})
    item = get_item(caller, args).data
    budget = PictureBudget(
        count=1, bytes=RESOURCE_BYTES, side=RESOURCE_SIDE, per_picture=RESOURCE_BYTES
    )
    payload = caller.services.store.get([item["id"]])[0].payload
    picture = read_picture(caller.services.settings, payload, budget)
    if picture is None:
        raise MCPError(RESOURCE_NOT_FOUND, f"item {item_id} has no picture that can be served")
    blob = base64.b64encode(picture.data).decode()
    return types.ReadResourceResult(
        contents=[types.BlobResourceContents(uri=uri, mime_type=picture.mime, blob=blob)]
    )


def _page(caller: Caller, uri: str, document_id: str, page: str) -> types.ReadResourceResult:
    args = PageArgs.model_validate({"document_id": document_id, "page": page})
    output = get_document_page(caller, args)
    contents: list[Any] = [
        types.TextResourceContents(uri=uri, mime_type="text/plain", text=output.data["text"] or "")
    ]
    for _, picture in output.pictures:
        blob = base64.b64encode(picture.data).decode()
        contents.append(types.BlobResourceContents(uri=uri, mime_type=picture.mime, blob=blob))
    return types.ReadResourceResult(contents=contents)


class MCPToolRefused(Exception):
    """A call refused before the tool ran (unknown tool, a role that may not call it)."""


def error_message(exc: Exception, what: str) -> str:
    """The message of ``exc`` as the HTTP API words it (validation errors name the field)."""
    if isinstance(exc, ValidationError | RequestValidationError):
        return validation_message(exc.errors())
    if isinstance(exc, HTTPException):
        return str(exc.detail)
    if isinstance(exc, MmragError):
        return str(exc) or exc.code
    if isinstance(exc, MCPToolRefused):
        return str(exc)
    log.exception("MCP %s failed", what)
    return "internal server error; see the server log"


def _tool(spec: Any) -> types.Tool:
    schema = spec.args.model_json_schema()
    schema.pop("title", None)
    return types.Tool(
        name=spec.name,
        description=spec.description,
        input_schema=schema,
        annotations=types.ToolAnnotations(
            read_only_hint=spec.read_only, open_world_hint=False, destructive_hint=False
        ),
    )
