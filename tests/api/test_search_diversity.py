"""``diversity`` and ``fair_by`` through every shell: ``POST /v1/search`` on the real app, the
MCP ``search`` tool over a loopback socket, and both LangChain retrievers."""

from __future__ import annotations

from collections import Counter
from typing import Any

import anyio
import pytest
from fastapi.testclient import TestClient
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from rag.integrations.langchain_retriever import MmragRemoteRetriever, MmragRetriever
from rag.services import Services
from tests.api.conftest import add_item

QUERY = "a red square on a mat"


@pytest.fixture(scope="module")
def pages(services: Services, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Three pages of doc-a and two of doc-b (near-identical red pictures), each labelled with a
    group; their ids per document."""
    folder = tmp_path_factory.mktemp("pages")
    found: dict[str, list[str]] = {"doc-a": [], "doc-b": []}
    layout = [("doc-a", 1, (220, 20, 20), "x"), ("doc-a", 2, (222, 22, 20), "x")]
    layout += [("doc-a", 3, (218, 20, 24), "y"), ("doc-b", 1, (200, 30, 30), "y")]
    layout += [("doc-b", 2, (30, 200, 30), "z")]
    for doc, page, color, group in layout:
        extra = {"document": {"id": doc, "title": doc}, "page": page}
        text = f"{QUERY}, {doc} page {page}"
        found[doc].append(add_item(services, folder, text, color, {"group": group}, extra))
    return found


def _search(client: TestClient, **options: Any) -> dict[str, Any]:
    response = client.post("/v1/search", json={"text": QUERY, "top_k": 10, **options})
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.mark.parametrize(
    "diversity", ["collapse:document", "collapse", {"mode": "collapse", "field": "document"}]
)
def test_api_collapse_by_document_returns_one_hit_per_document_with_its_fold_count(
    client: TestClient, pages: dict[str, list[str]], diversity: Any
) -> None:
    hits = _search(client, diversity=diversity)["hits"]
    documents = [hit["document"]["id"] for hit in hits if hit.get("document")]
    assert sorted(documents) == ["doc-a", "doc-b"]
    folded = {hit["document"]["id"]: hit["folded"] for hit in hits if hit.get("document")}
    assert folded == {"doc-a": 2, "doc-b": 1}


def test_api_mmr_at_lambda_1_keeps_the_plain_order(
    client: TestClient, pages: dict[str, list[str]]
) -> None:
    plain = [hit["id"] for hit in _search(client)["hits"]]
    spread = _search(client, diversity={"mode": "mmr", "lambda": 1.0})
    assert [hit["id"] for hit in spread["hits"]] == plain
    assert "diversify" in spread["timings"]


def test_api_fair_by_reports_shares_targets_and_the_fused_loss(
    client: TestClient, pages: dict[str, list[str]]
) -> None:
    body = _search(client, top_k=3, fair_by="metadata.group", fair_target="equal")
    fairness = body["fairness"]
    assert fairness["field"] == "metadata.group" and fairness["target"] == "equal"
    groups = Counter(hit["metadata"].get("group", "(none)") for hit in body["hits"])
    assert dict(groups) == fairness["shares"]
    assert all(abs(groups[g] - want) <= 1 for g, want in fairness["targets"].items())
    assert fairness["fused_loss"] >= 0 and 0 <= fairness["fused_loss_ratio"] < 1
    assert _search(client)["fairness"] is None


@pytest.mark.parametrize(
    ("options", "status", "says"),
    [
        ({"diversity": "spread"}, 400, "collapse:<field>"),
        ({"diversity": "mmr:x"}, 400, "mmr:0.5"),
        ({"diversity": "collapse:metadata."}, 400, "payload field"),
        ({"fair_by": ""}, 400, "payload field"),
        ({"diversity": {"mode": "mmr", "lambda": 2}}, 422, "lambda"),
        ({"fair_target": "most"}, 422, "fair_target"),
    ],
)
def test_api_bad_diversity_or_fairness_is_a_client_error_that_says_what_to_fix(
    client: TestClient, options: dict[str, Any], status: int, says: str
) -> None:
    response = client.post("/v1/search", json={"text": QUERY, **options})
    assert response.status_code == status
    assert says in response.text


def test_mcp_search_tool_takes_diversity_and_fair_by(
    live_url: str, pages: dict[str, list[str]]
) -> None:
    async def main() -> dict[str, Any]:
        http = create_mcp_http_client()
        async with Client(streamable_http_client(f"{live_url}/mcp", http_client=http)) as client:
            arguments = {"text": QUERY, "top_k": 10, "diversity": "collapse:document"}
            arguments |= {"fair_by": "metadata.group", "pictures": 0}
            result = await client.call_tool("search", arguments)
            assert not result.is_error, result.content
            return result.structured_content  # type: ignore[return-value]

    out = anyio.run(main)
    documents = [hit["document"]["id"] for hit in out["hits"] if hit.get("document")]
    assert sorted(documents) == ["doc-a", "doc-b"]
    assert out["fairness"]["field"] == "metadata.group"


def test_langchain_retrievers_take_diversity_in_process_and_over_http(
    services: Services, live_url: str, pages: dict[str, list[str]]
) -> None:
    local = MmragRetriever(retriever=services.retriever, k=10, diversity="collapse:document")
    remote = MmragRemoteRetriever(url=live_url, k=10)
    for docs in (local.invoke(QUERY), remote.invoke(QUERY, diversity="collapse:document")):
        folded = {
            d.metadata["document"]["id"]: d.metadata["folded"]
            for d in docs
            if d.metadata["document"]
        }
        assert folded == {"doc-a": 2, "doc-b": 1}
    fair = local.invoke(QUERY, k=3, diversity=None, fair_by="metadata.group", fair_target="equal")
    assert len({d.metadata["metadata"].get("group") for d in fair}) == 3
