"""The filter-expression parser, and filtered searches on both engines against Python's answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from rag.config import RetrievalSettings
from rag.errors import InvalidInputError
from rag.retrieval.filters import parse_condition, parse_filter
from rag.retrieval.retriever import Retriever
from rag.retrieval.types import Query
from rag.store import DatetimeRange, Filter, MatchAny, MatchValue, Range, VectorStore

from .conftest import N_ITEMS, Item


@pytest.mark.parametrize(
    ("expression", "condition", "negated"),
    [
        ("metadata.color=red", MatchValue("metadata.color", "red"), False),
        ("metadata.year=2003", MatchValue("metadata.year", 2003), False),
        ('metadata.year="2003"', MatchValue("metadata.year", "2003"), False),
        ("has_image=true", MatchValue("has_image", True), False),
        ("external_id=42", MatchValue("external_id", "42"), False),  # an indexed keyword field
        ("metadata.color=red|blue", MatchAny("metadata.color", ("red", "blue")), False),
        ("metadata.year=2001|2002", MatchAny("metadata.year", (2001, 2002)), False),
        ("metadata.color!=red", MatchValue("metadata.color", "red"), True),
        ("metadata.year>=2010", Range("metadata.year", gte=2010.0), False),
        ("metadata.year < 2.5", Range("metadata.year", lt=2.5), False),
        ("score=0.5", Range("score", gte=0.5, lte=0.5), False),
        (
            "ingested_at>=2024-06-01",
            DatetimeRange("ingested_at", gte="2024-06-01T00:00:00Z"),
            False,
        ),
        (
            "ingested_at<2024-06-01T12:00:00+02:00",
            DatetimeRange("ingested_at", lt="2024-06-01T10:00:00Z"),
            False,
        ),
    ],
)
def test_parse_condition(expression: str, condition: Any, negated: bool) -> None:
    assert parse_condition(expression) == (condition, negated)


def test_parse_filter_combines_every_expression() -> None:
    flt = parse_filter(["metadata.color=red", "metadata.year>=2010", "source!=a.png"])
    assert flt == Filter(
        must=(MatchValue("metadata.color", "red"), Range("metadata.year", gte=2010.0)),
        must_not=(MatchValue("source", "a.png"),),
    )
    assert parse_filter([]) is None


@pytest.mark.parametrize("expression", ["color", "=red", "color=", "year>=soon", "a=x||y"])
def test_bad_expressions_say_how_to_write_them(expression: str) -> None:
    with pytest.raises(InvalidInputError, match=r"key=value|date|alternative"):
        parse_condition(expression)


def _color(item: Item) -> Any:
    return item.payload["metadata"]["color"]  # type: ignore[index]


def _year(item: Item) -> Any:
    return item.payload["metadata"]["year"]  # type: ignore[index]


CASES: list[tuple[list[str], Callable[[Item], bool]]] = [
    (["metadata.color=red"], lambda i: _color(i) == "red"),
    (["metadata.color=red|green"], lambda i: _color(i) in ("red", "green")),
    (["metadata.color!=red"], lambda i: _color(i) != "red"),
    (["metadata.year>=2010", "metadata.year<=2015"], lambda i: 2010 <= _year(i) <= 2015),
    (["metadata.year=2003|2004"], lambda i: _year(i) in (2003, 2004)),
    (["source=set1/item-4.png|set2/item-5.png"], lambda i: i.external_id in ("item-4", "item-5")),
    (["external_id=item-7"], lambda i: i.external_id == "item-7"),
    (["has_image=false"], lambda i: not i.payload["has_image"]),
    (["ingested_at>=2024-06-01"], lambda i: str(i.payload["ingested_at"]) >= "2024-06"),
    (["ingested_at<2024-03-01T00:00:00Z"], lambda i: str(i.payload["ingested_at"]) < "2024-03"),
]


@pytest.mark.parametrize(("expressions", "predicate"), CASES)
@pytest.mark.parametrize("mode", ["rrf", "weighted"])
def test_filtered_search_returns_exactly_the_matching_items(
    filled_store: VectorStore,
    tiny_embedder: Any,
    corpus: list[Item],
    expressions: list[str],
    predicate: Callable[[Item], bool],
    mode: str,
) -> None:
    settings = RetrievalSettings(prefetch_limit=N_ITEMS, max_top_k=N_ITEMS)
    retriever = Retriever(tiny_embedder, filled_store, settings)
    query = Query(text="a thing", fusion=mode, top_k=N_ITEMS, filter=parse_filter(expressions))
    found = {hit.id for hit in retriever.search(query).hits}
    assert found == {item.id for item in corpus if predicate(item)}
