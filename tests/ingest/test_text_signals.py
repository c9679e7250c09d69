"""Ingest's text signals: passage vectors and lexical terms per text, and the fingerprint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ingest.items import DecodedItem, ReadItem, SourceItem
from ingest.points import fingerprint, is_unchanged, item_points
from ingest.runner import ingest_paths
from ingest.text_signals import TextEncoders
from rag import payload as keys
from rag.config import LexicalSettings, PassageSettings, Settings
from rag.embedding.base import SparseTerms
from rag.embedding.lexical import BM25Encoder
from rag.embedding.passage import load_passage_encoder
from rag.embedding.tiny import tiny_clip_settings
from rag.services import Services
from rag.store.base import IMAGE, LEXICAL, PASSAGE, TEXT


@pytest.fixture(scope="module")
def encoders(tmp_path_factory: pytest.TempPathFactory) -> TextEncoders:
    passage = load_passage_encoder(PassageSettings(), tmp_path_factory.mktemp("models"))
    return TextEncoders(passage, BM25Encoder(LexicalSettings()))


def test_each_text_gets_a_passage_vector_and_its_terms(encoders: TextEncoders) -> None:
    out = encoders.encode(["error E-1042 on start", "...", "word " * 300])
    assert [sorted(row) for row in out.vectors] == [
        [LEXICAL, PASSAGE],
        [PASSAGE],  # no terms: no lexical vector
        [LEXICAL, PASSAGE],
    ]
    assert out.vectors[0][PASSAGE].shape == (384,)
    assert isinstance(out.vectors[0][LEXICAL], SparseTerms)
    assert out.truncated == [False, False, True]


def test_encoders_that_are_off_add_nothing() -> None:
    out = TextEncoders().encode(["a text"])
    assert out.vectors == [{}] and out.truncated == [False]
    assert TextEncoders().model_ids() == {keys.PASSAGE_MODEL: None, keys.LEXICAL_MODEL: None}


def test_a_new_passage_model_makes_the_stored_point_stale(encoders: TextEncoders) -> None:
    read = _read("t", ["t"])
    stored = fingerprint(read, "root", "clip", encoders.model_ids())
    assert is_unchanged(stored, fingerprint(read, "root", "clip", encoders.model_ids()))
    other = {**encoders.model_ids(), keys.PASSAGE_MODEL: "intfloat/multilingual-e5-small"}
    assert not is_unchanged(stored, fingerprint(read, "root", "clip", other))


def test_points_carry_every_vector_of_their_chunk() -> None:
    read = _read("a b", ["a", "b"])
    image = np.ones(4, dtype=np.float32)
    chunks = [
        {TEXT: np.zeros(4), PASSAGE: np.zeros(3), LEXICAL: SparseTerms((1,), (1.0,))},
        {TEXT: np.zeros(4), PASSAGE: np.zeros(3)},
    ]
    points = item_points(DecodedItem(read), image, chunks, {}, "c")
    assert [sorted(p.vectors) for p in points] == [
        [IMAGE, LEXICAL, PASSAGE, TEXT],
        [IMAGE, PASSAGE, TEXT],
    ]


def _read(text: str, chunks: list[str]) -> ReadItem:
    item = SourceItem(source="a.txt", display="a.txt", text=text)
    return ReadItem(item, "key", "pid", "hash", text, chunks, None, {})


def test_a_collection_ingested_without_text_signals_is_backfilled(tmp_path: Path) -> None:
    """Turning the text signals on adds their vectors to the old collection, and the next
    ingest re-embeds every item (its fingerprint lacks the model ids), then skips them."""
    manifest = tmp_path / "items.jsonl"
    rows = [{"id": f"t{n}", "text": f"error E-10{n} on start"} for n in range(3)]
    manifest.write_text("\n".join(json.dumps(row) for row in rows))
    base = {
        "data_dir": tmp_path / "data",
        "clip": tiny_clip_settings(),
        "rerank": {"model": "none"},
    }
    off = {"passage": {"model": "none"}, "lexical": {"enabled": False}}
    for settings, written, vectors in (
        (Settings(**base, **off), 3, {TEXT}),
        (Settings(**base), 3, {TEXT, PASSAGE, LEXICAL}),
        (Settings(**base), 0, {TEXT, PASSAGE, LEXICAL}),
    ):
        services = Services(settings)
        try:
            assert ingest_paths(services, [manifest]).written == written
            points, _ = services.store.scroll(limit=10, with_vectors=True)
            assert [set(p.vectors) for p in points] == [vectors] * 3
        finally:
            services.close()
