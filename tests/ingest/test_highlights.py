"""Highlights on document pages: a PDF passage's line boxes cover the words an answer cites,
and the citation and the search hit carry them."""

from __future__ import annotations

from pathlib import Path

import pypdfium2 as pdfium
import pytest

from api.schemas.chat import CitationOut
from api.schemas.search import HitOut
from ingest.runner import ingest_paths
from rag import payload as keys
from rag.highlights import best_boxes
from rag.retrieval.types import Query
from rag.services import Services
from tests.ingest.checks import all_points
from tests.ingest.conftest import ServicesFactory
from tests.ingest.documents_draw import PAGE_FACTS, write_pdf


@pytest.fixture
def services(make_services: ServicesFactory) -> Services:
    return make_services(render_pixels=200_000)


def _word_boxes(path: Path, page: int, words: str) -> list[tuple[float, float, float, float]]:
    """The character boxes of ``words`` on ``page`` as fractions of the page (top left 0)."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        sheet = pdf[page - 1]
        width, height = sheet.get_size()
        text = sheet.get_textpage()
        found = text.search(words).get_next()
        assert found is not None
        start, count = found
        boxes = []
        for index in range(start, start + count):
            left, bottom, right, top = text.get_charbox(index)
            if right > left:
                boxes.append((left / width, 1 - top / height, right / width, 1 - bottom / height))
        return boxes
    finally:
        pdf.close()


def _inside(inner: tuple[float, ...], outer: list[float], slack: float = 0.004) -> bool:
    return (
        inner[0] >= outer[0] - slack
        and inner[1] >= outer[1] - slack
        and inner[2] <= outer[2] + slack
        and inner[3] <= outer[3] + slack
    )


def test_a_pdf_passage_highlights_the_line_that_holds_the_cited_words(
    services: Services, folder: Path
) -> None:
    pdf = write_pdf(folder / "manual.pdf")
    assert not ingest_paths(services, [folder]).failures
    (passage,) = [
        p
        for p in all_points(services.store)
        if p.payload[keys.KIND] == "passage" and p.payload[keys.PAGE] == 3
    ]
    lines = passage.payload[keys.LINES]
    assert len(lines) >= 2  # the heading and the fact
    for x0, y0, x1, y1, start, end in lines:
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1 and 0 <= start < end
    (box,) = best_boxes(passage.payload, "It needs 230 volts [1].")
    for char in _word_boxes(pdf, 3, "230 volts"):
        assert _inside(char, box)
    heading = _word_boxes(pdf, 3, "Section 3")[0]
    assert not _inside(heading, box)  # the heading's line is not the one


def test_citations_and_hits_carry_the_highlights(services: Services, folder: Path) -> None:
    write_pdf(folder / "manual.pdf")
    ingest_paths(services, [folder])
    query = Query(text=PAGE_FACTS[3], signals=("passage", "lexical"), rerank=False)
    answer = services.answerer.answer(query)
    cited = next(c for c in answer.citations if c.payload.get(keys.PAGE) == 3)
    out = CitationOut.of(cited)
    assert out.highlights and all(len(box) == 4 for box in out.highlights)
    assert out.highlights == best_boxes(cited.payload, answer.text)
    hit = services.retriever.search(query).hits[0]
    assert HitOut.of(hit, "", "230 volts").highlights == best_boxes(hit.payload, "230 volts")
    assert HitOut.of(hit, "", "230 volts").highlights
