"""MmragRetriever (in process) and MmragRemoteRetriever (real API on 127.0.0.1): LangChain's
standard retriever tests, the Document shape, options, and errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from langchain_core.documents import Document
from langchain_tests.integration_tests import RetrieversIntegrationTests
from PIL import Image

from examples.demo import COLOURS, caption
from rag import errors
from rag.integrations.langchain import (
    MmragRemoteRetriever,
    MmragRetriever,
    RemoteAuthError,
    RemoteUnavailableError,
)
from rag.services import Services
from tests.integrations.conftest import API_KEY
from tests.integrations.standard import with_async_tests


@with_async_tests
class TestMmragRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _services(self, services: Services) -> None:
        self._retriever = services.retriever

    @property
    def retriever_constructor(self) -> type[MmragRetriever]:
        return MmragRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"retriever": self._retriever, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "a red square"


@with_async_tests
class TestMmragRemoteRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _server(self, live_url: str) -> None:
        self._url = live_url

    @property
    def retriever_constructor(self) -> type[MmragRemoteRetriever]:
        return MmragRemoteRetriever

    @property
    def retriever_constructor_params(self) -> dict[str, Any]:
        return {"url": self._url, "api_key": API_KEY, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "a red square"


def _check_shape(doc: Document, image_prefix: str) -> None:
    meta = doc.metadata
    assert doc.id == meta["id"]
    name = meta["external_id"]
    assert doc.page_content == caption(name)
    assert meta["source"].endswith(f"{name}.png")
    assert meta["metadata"] == {"colour": name}
    assert meta["image_url"] == f"{image_prefix}/v1/items/{doc.id}/image"
    assert set(meta["scores"]) == {"image", "text", "passage", "lexical", "fused", "rerank"}
    assert meta["scores"]["rerank"] is None


def test_local_and_remote_return_the_same_documents(services: Services, live_url: str) -> None:
    by_text = {"fusion": "weighted", "weights": {"image": 0.0, "text": 1.0}}
    local = MmragRetriever(retriever=services.retriever, k=5, **by_text).invoke(caption("red"))
    remote = MmragRemoteRetriever(url=live_url, api_key=API_KEY, k=5, **by_text).invoke(
        caption("red")
    )
    assert [d.id for d in local] == [d.id for d in remote]
    assert len(local) == len(COLOURS) and local[0].metadata["external_id"] == "red"
    for doc in local:
        _check_shape(doc, "")
    for doc in remote:
        _check_shape(doc, live_url)
    for a, b in zip(local, remote, strict=True):
        assert a.metadata["scores"] == pytest.approx(b.metadata["scores"])


def test_public_url_prefixes_local_image_urls(services: Services) -> None:
    retriever = MmragRetriever(retriever=services.retriever, image_base_url="https://pics.example/")
    doc = retriever.invoke("a blue square", k=1)[0]
    assert doc.metadata["image_url"] == f"https://pics.example/v1/items/{doc.id}/image"


@pytest.mark.parametrize("remote", [False, True], ids=["local", "remote"])
def test_options_filter_fusion_and_image(
    services: Services, live_url: str, remote: bool, tmp_path: Any
) -> None:
    retriever: MmragRetriever | MmragRemoteRetriever = (
        MmragRemoteRetriever(url=live_url, api_key=API_KEY)
        if remote
        else MmragRetriever(retriever=services.retriever)
    )
    only_green = retriever.invoke("a square", filter="metadata.colour=green", fusion="weighted")
    assert [d.metadata["external_id"] for d in only_green] == ["green"]
    picture = tmp_path / "query.png"
    Image.new("RGB", (48, 48), COLOURS["yellow"]).save(picture)
    by_image = retriever.invoke(
        "", image=picture, k=1, fusion="weighted", weights={"image": 1.0, "text": 0.0}
    )
    assert by_image[0].metadata["external_id"] == "yellow"
    by_pil = retriever.invoke("", image=Image.open(picture), k=1, fusion="rrf")
    assert len(by_pil) == 1
    with pytest.raises(errors.InvalidInputError, match="unknown search option"):
        retriever.invoke("a square", top_k=3)


@pytest.mark.asyncio
async def test_remote_async_matches_sync(live_url: str) -> None:
    retriever = MmragRemoteRetriever(url=live_url, api_key=API_KEY, k=3)
    sync_docs = retriever.invoke("a purple square")
    async_docs = await retriever.ainvoke("a purple square")
    assert [d.id for d in async_docs] == [d.id for d in sync_docs]
    filtered = await retriever.ainvoke("a purple square", filter=["metadata.colour!=red"])
    assert len(filtered) == 3
    assert "red" not in {d.metadata["external_id"] for d in filtered}
    retriever.close()


def test_remote_errors_are_mmrag_exceptions(live_url: str) -> None:
    with pytest.raises(RemoteAuthError, match="401"):
        MmragRemoteRetriever(url=live_url).invoke("a red square")
    with pytest.raises(RemoteAuthError):
        MmragRemoteRetriever(url=live_url, api_key="wrong").invoke("a red square")
    keyed = MmragRemoteRetriever(url=live_url, api_key=API_KEY)
    with pytest.raises(errors.InvalidInputError, match="cannot read filter"):
        keyed.invoke("a red square", filter="colour")
    with pytest.raises(errors.InvalidInputError, match="422"):
        keyed.invoke("a red square", fusion="loudest")


def test_unreachable_and_slow_servers() -> None:
    with pytest.raises(RemoteUnavailableError, match="cannot reach mmrag"):
        MmragRemoteRetriever(url="http://127.0.0.1:9", connect_timeout_s=1).invoke("x")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    from rag.integrations.langchain import MmragHttp

    http = MmragHttp("http://mmrag.test")
    http._client = httpx.Client(base_url="http://mmrag.test", transport=httpx.MockTransport(slow))
    with pytest.raises(RemoteUnavailableError, match="did not answer in time"):
        http.post_json("/v1/search", {"text": "x"})
