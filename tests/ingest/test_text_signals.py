"""Ingest's text signals: passage vectors and lexical terms per text, and the fingerprint."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.items import DecodedItem, ReadItem, SourceItem
from ingest.points import fingerprint, is_unchanged, item_points
from ingest.text_signals import TextEncoders
from rag import payload as keys
from rag.config import LexicalSettings, PassageSettings
from rag.embedding.base import SparseTerms
from rag.embedding.lexical import BM25Encoder
from rag.embedding.passage import load_passage_encoder
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
