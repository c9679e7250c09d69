"""A collection's own search defaults: stored, checked, and used by the plan before the settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.config import RetrievalSettings
from rag.errors import InvalidInputError
from rag.retrieval.collection_defaults import (
    NO_DEFAULTS,
    CollectionDefaults,
    DefaultsFile,
    defaults_path,
    load_defaults,
    parse_defaults,
    save_defaults,
)
from rag.retrieval.plan import make_plan
from rag.retrieval.types import Query

SETTINGS = RetrievalSettings(fusion="dbsf")
OWN = parse_defaults("weighted", "passage=0.5,lexical=0.25", "passage,lexical")


def test_saved_defaults_load_back_and_clear(tmp_path: Path) -> None:
    assert load_defaults(tmp_path, "docs") == NO_DEFAULTS
    save_defaults(tmp_path, "docs", OWN)
    assert load_defaults(tmp_path, "docs") == OWN
    assert OWN.weights == {"passage": 0.5, "lexical": 0.25}  # signals not named stay unset
    save_defaults(tmp_path, "docs", NO_DEFAULTS)
    assert not defaults_path(tmp_path, "docs").exists()


@pytest.mark.parametrize(
    ("fusion", "weights", "signals", "words"),
    [
        ("best", None, None, "unknown fusion"),
        (None, "passage=-1", None, "not negative"),
        (None, "passage=0", None, "not all zero"),
        (None, "colour=1", None, "unknown weight"),
        (None, None, "passage,smell", "unknown signal"),
    ],
)
def test_bad_defaults_say_what_to_fix(fusion, weights, signals, words: str) -> None:
    with pytest.raises(InvalidInputError, match=words):
        parse_defaults(fusion, weights, signals)


def test_a_collection_name_that_names_another_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="collection name"):
        defaults_path(tmp_path, "../keys")


def test_the_plan_uses_the_collections_defaults_before_the_settings() -> None:
    plan = make_plan(Query(text="error E-1042"), SETTINGS, 0, {}, OWN)
    assert plan.fusion == "weighted"
    assert plan.signals == ("passage", "lexical")
    assert plan.weights == {"passage": 0.5, "lexical": 0.25}
    without = make_plan(Query(text="error E-1042"), SETTINGS, 0, {}, None)
    assert without.fusion == "dbsf" and without.signals == ("image", "text", "passage", "lexical")


def test_the_request_still_overrides_each_default() -> None:
    query = Query(
        text="error E-1042", fusion="rrf", signals=("text", "lexical"), weights={"text": 1}
    )
    plan = make_plan(query, SETTINGS, 0, {}, OWN)
    assert plan.fusion == "rrf"
    assert plan.signals == ("text", "lexical")
    assert plan.weights == {"text": 1.0, "lexical": 0.0}


def test_default_weights_leave_the_other_signals_at_the_settings() -> None:
    own = CollectionDefaults(weights={"lexical": 0.25})
    plan = make_plan(Query(text="words"), SETTINGS, 0, {}, own)
    assert plan.weights["lexical"] == 0.25
    assert plan.weights["image"] == SETTINGS.image_weight


def test_default_signals_a_query_cannot_search_fall_back_to_what_it_can() -> None:
    own = CollectionDefaults(signals=("text", "passage"))
    from PIL import Image

    picture = make_plan(Query(image=Image.new("RGB", (4, 4))), SETTINGS, 0, {}, own)
    assert picture.signals == ("text",)  # passage needs words; text (CLIP) takes a picture
    words_only = CollectionDefaults(signals=("passage",))
    assert make_plan(
        Query(image=Image.new("RGB", (4, 4))), SETTINGS, 0, {}, words_only
    ).signals == (
        "image",
        "text",
    )
    unavailable = {"passage": "the passage model is off"}
    plan = make_plan(Query(text="words"), SETTINGS, 0, unavailable, own)
    assert plan.signals == ("text",)


def test_the_file_is_read_again_when_it_changes(tmp_path: Path) -> None:
    source = DefaultsFile(tmp_path, "docs")
    assert source.read() == NO_DEFAULTS
    save_defaults(tmp_path, "docs", OWN)
    assert source.read() == OWN
    save_defaults(tmp_path, "docs", CollectionDefaults(fusion="rrf"))
    path = defaults_path(tmp_path, "docs")
    os.utime(path, ns=(1, 1))  # a change the size alone might miss is still seen
    assert source.read() == CollectionDefaults(fusion="rrf")
    path.unlink()
    assert source.read() == NO_DEFAULTS


def test_a_broken_file_is_ignored_by_searches_and_named_by_load(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = defaults_path(tmp_path, "docs")
    path.parent.mkdir(parents=True)
    path.write_text('{"fusion": "best"}')
    assert DefaultsFile(tmp_path, "docs").read() == NO_DEFAULTS
    assert "collection defaults ignored" in caplog.text
    with pytest.raises(InvalidInputError, match="unknown fusion"):
        load_defaults(tmp_path, "docs")
