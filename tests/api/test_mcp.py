"""The MCP server through the ``mcp`` client SDK: ``/mcp`` on the real app over a loopback socket,
and ``mmrag mcp`` over stdio as a subprocess. Tools, pictures, keys, tenants and roles."""

from __future__ import annotations

import base64
import io
import os
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from PIL import Image

from api.auth import EVERYONE, KeyRing, Role
from api.main import create_app
from api.mcp.stdio import stdio_principal
from rag.errors import ConfigError
from tests.api.conftest import add_item, png_bytes

REPO = Path(__file__).resolve().parents[2]
B = "mcp-key-of-tenant-b"
A = "mcp-key-of-tenant-a"
A_READ = "mcp-reader-of-tenant-a"
SECRET = "zebra secret of tenant b"
RED = (200, 30, 30)
NOTE = b"# B notes\n\nThe vault opens on Tuesdays.\n"
TOOLS = {"search", "ask", "get_item", "list_documents", "get_document_page", "ingest", "job_status"}

Session = Callable[[Client], Awaitable[Any]]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def live(make_settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real app with three keys, served by uvicorn on a free loopback port; its /mcp URL."""
    import uvicorn

    folder = tmp_path_factory.mktemp("mcp")
    keys = folder / "keys.txt"
    keys.write_text(f"{B} tenant-b write\n{A} tenant-a write\n{A_READ} tenant-a read\n")
    app = create_app(make_settings(folder / "data", api_keys_file=keys))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/mcp"
    server.should_exit = True
    thread.join(timeout=10)


def _http(url: str, key: str, session: Session) -> Any:
    """Run ``session`` with a client of ``url`` that sends ``key`` as a bearer token."""

    async def main() -> Any:
        http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
        async with Client(streamable_http_client(url, http_client=http)) as client:
            return await session(client)

    return anyio.run(main)


async def _call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    """The structured answer of a tool that must succeed."""
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text  # type: ignore[union-attr]
    return result.structured_content


async def _error(client: Client, tool: str, **arguments: Any) -> str:
    """The message of a tool call that must fail as a tool error."""
    result = await client.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    return result.content[0].text  # type: ignore[union-attr]


async def _ingested(client: Client, **arguments: Any) -> str:
    """Ingest through the ``ingest`` tool; the job id once ``job_status`` says done."""
    job_id = (await _call(client, "ingest", **arguments))["job_id"]
    deadline = time.monotonic() + 120  # generous: the suite shares 2 cores with much else
    while (state := (await _call(client, "job_status", job_id=job_id))["state"]) != "done":
        assert state in ("queued", "running") and time.monotonic() < deadline, state
        await anyio.sleep(0.1)
    return job_id


def _pictures(result: Any) -> list[Image.Image]:
    return [
        Image.open(io.BytesIO(base64.b64decode(block.data)))
        for block in result.content
        if block.type == "image"
    ]


async def _tour(client: Client) -> dict[str, str]:
    """What both transports must do for a writer: list the tools, ingest a picture and a
    document until done, find the picture (its image content is the picture), answer with
    citations, read the item and the page, refuse a bad input as a tool error."""
    assert {tool.name for tool in (await client.list_tools()).tools} == TOOLS
    job_id = await _ingested(client, file=_b64(png_bytes(RED)), filename="red.png", text=SECRET)
    await _ingested(client, file=_b64(NOTE), filename="b-notes.md")

    found = await client.call_tool("search", {"text": SECRET, "filter": "kind=image"})
    hit = found.structured_content["hits"][0]
    assert hit["text"] == SECRET and hit["kind"] == "image" and "scores" in hit
    (picture,) = _pictures(found)
    assert picture.size == (24, 24) and picture.convert("RGB").getpixel((5, 5)) == RED
    by_item = await _call(client, "search", item_id=hit["id"], pictures=0)
    assert by_item["hits"][0]["id"] == hit["id"]

    answered = await client.call_tool("ask", {"question": SECRET})
    assert not answered.is_error
    assert answered.structured_content["citations"] and answered.structured_content["answer"]
    cited = {"role": "assistant", "content": "It is there [1].", "citations": [hit["id"]]}
    history = [{"role": "user", "content": SECRET}, cited]
    followed = await _call(client, "ask", question="and its colour?", history=history)
    assert followed["retrieval"]["candidates"] == [hit["id"]]

    item = await client.call_tool("get_item", {"item_id": hit["id"]})
    assert item.structured_content["text"] == SECRET and len(_pictures(item)) == 1
    listed = await _call(client, "list_documents", limit=1)
    (document,) = listed["documents"]
    assert document["title"] and listed["next"] is None
    assert (await _call(client, "list_documents", cursor=document["id"]))["documents"] == []
    page = await _call(client, "get_document_page", document_id=document["id"], page=1)
    assert "vault opens on Tuesdays" in page["text"]

    read = await client.read_resource(f"mmrag://items/{hit['id']}/picture")
    assert base64.b64decode(read.contents[0].blob) == png_bytes(RED)
    read = await client.read_resource(f"mmrag://documents/{document['id']}/pages/1")
    assert "vault opens on Tuesdays" in read.contents[0].text

    assert "top_k" in await _error(client, "search", text="x", top_k=0)
    assert "send text, an image, or both" in await _error(client, "search")
    assert "not valid base64" in await _error(client, "search", image="%%%")
    assert "unknown" in await _error(client, "nope")
    assert "MMRAG_INGEST__ROOTS" in await _error(client, "ingest", paths=["/srv/photos"])
    assert "send paths, or a file" in await _error(client, "ingest")
    assert "file is not valid base64" in await _error(client, "ingest", file="%%%")
    deep: dict[str, Any] = {}
    for _ in range(30):
        deep = {"a": deep}
    assert "metadata nests deeper" in await _error(client, "ingest", text="x", metadata=deep)
    assert "bogus: unknown field" in await _error(client, "search", text="x", bogus=1)
    return {"item_id": hit["id"], "document_id": document["id"], "job_id": job_id}


@pytest.fixture(scope="module")
def b_data(live: str) -> dict[str, str]:
    """Tenant B's tour of ``/mcp``: B's item, document and job ids."""
    return _http(live, B, _tour)


def test_http_mcp_serves_the_tools_pictures_and_answers(b_data: dict[str, str]) -> None:
    assert set(b_data) == {"item_id", "document_id", "job_id"}  # _tour asserted each step


def test_http_mcp_refuses_a_missing_or_wrong_key_and_a_foreign_host(live: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-API-Key": "wrong"}):
        refused = httpx.post(live, json={}, headers=headers)
        assert refused.status_code == 401
        assert "missing or invalid API key" in refused.json()["message"]
    rebound = httpx.post(live, json={}, headers={"Host": "evil.example", "X-API-Key": B})
    assert rebound.status_code == 400  # the request gate's Host allow-list covers /mcp
    with pytest.raises(Exception):  # noqa: B017 (the SDK raises its transport's error)
        _http(live, "wrong", lambda client: client.list_tools())


def test_tenant_a_finds_nothing_of_tenant_b_through_mcp(live: str, b_data: dict[str, str]) -> None:
    async def sweep(client: Client) -> None:
        item, document, job = b_data["item_id"], b_data["document_id"], b_data["job_id"]
        for tool, arguments in [
            ("search", {"text": SECRET}),
            ("search", {"text": "vault Tuesdays"}),
            # not the secret itself: the answer reports the query it searched
            ("ask", {"question": "What does the zebra secret say about opening days?"}),
            ("list_documents", {}),
        ]:
            result = await client.call_tool(tool, arguments)
            text = " ".join(getattr(block, "text", "") for block in result.content)
            assert not _pictures(result)
            for leaked in (SECRET, "vault", item, document):
                assert leaked not in text, (tool, leaked)
        assert "no item" in await _error(client, "search", item_id=item)
        assert "no item" in await _error(client, "get_item", item_id=item)
        assert "no page" in await _error(client, "get_document_page", document_id=document, page=1)
        assert "no ingest job" in await _error(client, "job_status", job_id=job)
        for uri in (f"mmrag://items/{item}/picture", f"mmrag://documents/{document}/pages/1"):
            with pytest.raises(MCPError, match="no "):
                await client.read_resource(uri)

    _http(live, A, sweep)


def test_a_reader_key_cannot_ingest_through_mcp(live: str) -> None:
    async def as_reader(client: Client) -> None:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert names == TOOLS - {"ingest", "job_status"}
        message = await _error(client, "ingest", text="from a reader")
        assert message == "this key's role (read) may not call ingest: it needs write"
        assert (await _call(client, "search", text="anything"))["hits"] == []

    _http(live, A_READ, as_reader)


def test_stdio_mcp_serves_the_tools_as_the_key_in_mmrag_api_key(
    tiny_env: dict[str, str], tmp_path: Path
) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text("stdio-key tenant-s write\n")
    env = {
        **tiny_env,
        "MMRAG_API_KEYS_FILE": str(keys),
        "MMRAG_API_KEY": "stdio-key",
        "PYTHONPATH": str(REPO),
        **{name: os.environ[name] for name in os.environ if name.startswith(("HF_", "OMP_"))},
        "MMRAG_CLIP__EXPORT_DIR": os.environ["MMRAG_CLIP__EXPORT_DIR"],
    }
    command = StdioServerParameters(
        command=sys.executable, args=["-m", "mmrag_cli.main", "mcp"], env=env, cwd=tmp_path
    )

    async def main() -> None:
        async with Client(command) as client:
            await _tour(client)

    anyio.run(main)


def test_stdio_key_maps_to_its_principal_and_a_wrong_one_is_refused() -> None:
    ring = KeyRing([], None)
    assert stdio_principal(ring, None) is EVERYONE
    ring = KeyRing(["k1:tenant-s:read"])
    principal = stdio_principal(ring, "k1")
    assert principal.tenant == "tenant-s" and principal.role == Role.READ
    for wrong in (None, "", "k2"):
        with pytest.raises(ConfigError, match="MMRAG_API_KEY"):
            stdio_principal(ring, wrong)


def test_list_documents_pages_through_each_document_once(services, tmp_path: Path) -> None:
    from api.mcp.inputs import DocumentsArgs
    from api.mcp.tools import Caller, list_documents
    from rag import payload as keys

    ids = sorted(str(uuid.uuid4()) for _ in range(3))
    for n, doc_id in enumerate(ids):
        document = {"id": doc_id, "title": f"doc {n}", "source": f"d{n}.pdf", "pages": 2}
        for kind in ("page", "passage", "passage"):  # three points on page 1 of each
            extra = {keys.KIND: kind, keys.PAGE: 1, keys.DOCUMENT: document}
            add_item(services, tmp_path, f"{kind} of doc {n} {uuid.uuid4()}", extra=extra)
    caller = Caller(services, EVERYONE, lambda: pytest.fail("no job queue needed"))

    def page(**args: Any) -> dict[str, Any]:
        return list_documents(caller, DocumentsArgs(**args)).data

    first = page(limit=2)
    assert [d["id"] for d in first["documents"]] == ids[:2] and first["next"] == ids[1]
    rest = page(limit=2, cursor=first["next"])
    assert [d["id"] for d in rest["documents"]] == ids[2:] and rest["next"] is None
