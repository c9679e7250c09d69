"""The LangChain retrievers carry a document's title, page and links (built without ``api/``)."""

from __future__ import annotations

from rag import payload as keys
from rag.integrations.langchain_retriever import hit_document, json_hit_document
from rag.retrieval.types import Hit, Scores

DOC = {"id": "d0c", "title": "Aurora manual", "source": "manual.pdf", "pages": 4}
PAYLOAD = {
    keys.TEXT: "The main pump needs 230 volts.",
    keys.SOURCE: "manual.pdf",
    keys.KIND: "passage",
    keys.DOCUMENT: DOC,
    keys.PAGE: 3,
    keys.HAS_IMAGE: False,
    keys.IMAGE_PATH: "/data/documents/ab/ab12.png",
}


def test_in_process_hit_of_a_passage_links_its_page() -> None:
    hit = Hit("p1", PAYLOAD, Scores(None, 0.9, 0.5))
    meta = hit_document(hit, "http://rag:8000").metadata
    assert meta["image_url"] == "http://rag:8000/v1/items/p1/image"  # the page render
    assert (meta["kind"], meta["page"]) == ("passage", 3)
    assert meta["document"] == {**DOC, "file_url": "http://rag:8000/v1/documents/d0c/file#page=3"}


def test_remote_hit_links_are_made_absolute() -> None:
    body = {
        "id": "p1",
        "text": "x",
        "kind": "figure",
        "page": 2,
        "figure": 0,
        "image_url": "/v1/items/p1/image",
        "document": {**DOC, "file_url": "/v1/documents/d0c/file#page=2"},
        "scores": {"image": 0.1, "text": 0.2, "fused": 0.3},
    }
    meta = json_hit_document(body, "http://rag:8000/").metadata
    assert meta["image_url"] == "http://rag:8000/v1/items/p1/image"
    assert meta["document"]["file_url"] == "http://rag:8000/v1/documents/d0c/file#page=2"
    assert (meta["kind"], meta["page"], meta["figure"]) == ("figure", 2, 0)


def test_an_image_item_has_no_document() -> None:
    payload = {keys.TEXT: "a cat", keys.SOURCE: "cat.jpg", keys.HAS_IMAGE: True}
    meta = hit_document(Hit("i1", payload, Scores(0.5, 0.4, 0.3))).metadata
    assert meta["document"] is None and meta["image_url"] == "/v1/items/i1/image"
