"""Another app's ``langchain_qdrant.QdrantVectorStore`` reading mmrag's collection (qdrant-client
local mode: the same ``QdrantClient`` object mmrag writes through)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_qdrant import QdrantVectorStore
from PIL import Image
from qdrant_client import models

from examples.demo import COLOURS, caption, demo_services
from ingest.runner import ingest_paths
from rag.config import ClipSettings
from rag.integrations.langchain import QDRANT_PAYLOAD_KEYS, ClipEmbeddings
from rag.services import Services
from rag.store.client import QdrantClientStore


@pytest.fixture(scope="module")
def memory_services(
    shared_clip: ClipSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    data = tmp_path_factory.mktemp("data")
    built = demo_services(data, clip=shared_clip, store={"url": ":memory:"})
    (data / "no-caption").mkdir()
    Image.new("RGB", (48, 48), (0, 0, 0)).save(data / "no-caption" / "black.png")
    assert ingest_paths(built, [data / "no-caption"]).written == 1  # an image-only item
    yield built
    built.close()


def _vector_store(services: Services, vector_name: str) -> QdrantVectorStore:
    store = services.store
    assert isinstance(store, QdrantClientStore)
    return QdrantVectorStore(
        client=store.client,
        collection_name=store.collection,
        embedding=ClipEmbeddings(services.embedder),
        vector_name=vector_name,
        **QDRANT_PAYLOAD_KEYS,
    )


def test_text_vector_returns_mmrag_items(memory_services: Services) -> None:
    docs = _vector_store(memory_services, "text").similarity_search_with_score(caption("blue"), k=3)
    best, score = docs[0]
    assert best.page_content == caption("blue")
    assert best.metadata["colour"] == "blue"
    assert score == pytest.approx(1.0, abs=1e-4)
    assert len(docs) == 3


HAS_TEXT = models.Filter(
    must=[models.FieldCondition(key="has_text", match=models.MatchValue(value=True))]
)
"""Image-only items have an empty text; this filter leaves them out."""


def test_image_vector_finds_pictures_by_words_and_by_picture(memory_services: Services) -> None:
    vector_store = _vector_store(memory_services, "image")
    everything = vector_store.similarity_search("a square", k=len(COLOURS) + 1)
    assert sorted(d.page_content for d in everything)[0] == ""  # the image-only item
    by_words = vector_store.similarity_search("a square", k=len(COLOURS) + 1, filter=HAS_TEXT)
    assert sorted(d.metadata["colour"] for d in by_words) == sorted(COLOURS)
    picture = ClipEmbeddings(memory_services.embedder).embed_image(
        Image.new("RGB", (48, 48), COLOURS["green"])
    )
    best = vector_store.similarity_search_by_vector(picture, k=1, filter=HAS_TEXT)[0]
    assert best.page_content == caption("green")
    stored = memory_services.store.get([best.metadata["_id"]])[0]
    assert stored.payload["external_id"] == "green"


def test_langchain_filters_and_retriever_on_mmrag_payload(memory_services: Services) -> None:
    vector_store = _vector_store(memory_services, "text")
    only_red = models.Filter(
        must=[models.FieldCondition(key="metadata.colour", match=models.MatchValue(value="red"))]
    )
    docs = vector_store.similarity_search("a square", k=5, filter=only_red)
    assert [d.metadata["colour"] for d in docs] == ["red"]
    retrieved = vector_store.as_retriever(search_kwargs={"k": 2}).invoke(caption("yellow"))
    assert retrieved[0].metadata["colour"] == "yellow"
