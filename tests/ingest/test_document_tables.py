"""Tables inside PDF, DOCX and PPTX become ``table`` items like a spreadsheet's sheets: Markdown
for the LLM, one ``header: value`` line per row for the text signals, bounded rows."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from api.schemas.items import ItemOut
from ingest.documents import office_pages
from ingest.runner import ingest_paths
from rag import payload as keys
from rag.highlights import best_boxes
from rag.prompting import build_context
from rag.retrieval.types import Hit, Query
from rag.services import Services
from tests.ingest.checks import all_points
from tests.ingest.conftest import ServicesFactory
from tests.ingest.tables_draw import write_table_docx, write_table_pdf, write_table_pptx

MARKDOWN = [
    "| Part | Torque |",
    "|---|---|",
    "| Flange bolt | 45 Nm |",
    "| Pump housing ZK-3391 | 80 Nm |",
]


@pytest.fixture
def services(make_services: ServicesFactory) -> Services:
    return make_services(render_pixels=300_000)


def _top(services: Services, text: str, kind: str = "table") -> Hit:
    """The best lexical hit of ``kind`` among the top two (a PDF page's passage holds the
    table's words too)."""
    result = services.retriever.search(Query(text=text, signals=("lexical",), rerank=False))
    return next(hit for hit in result.hits[:2] if hit.payload[keys.KIND] == kind)


def _notes(report) -> list[str]:
    """The report's notes but the one saying why Word/PowerPoint have no page pictures (where
    LibreOffice is not installed: tests/ingest/test_office_pages.py)."""
    return [n.reason for n in report.notes if not n.reason.startswith(office_pages.NO_PAGES)]


def _tables(services: Services) -> list:
    return [p for p in all_points(services.store) if p.payload[keys.KIND] == "table"]


def test_a_ruled_pdf_table_is_a_table_item_with_its_box_and_crop(
    services: Services, folder: Path
) -> None:
    write_table_pdf(folder / "torques.pdf")
    report = ingest_paths(services, [folder])
    assert not report.failures and not report.notes
    (table,) = _tables(services)  # page 1 has no table, the page frame is none either
    top = _top(services, "ZK-3391 torque")
    assert top.id == str(table.id)
    assert top.payload[keys.PAGE] == 2 and top.payload[keys.TABLE] == "table 1"
    assert top.payload[keys.ROWS] == [2, 3] and keys.SHEET not in top.payload
    assert top.payload[keys.TEXT].splitlines() == MARKDOWN
    assert "Part: Pump housing ZK-3391; Torque: 80 Nm" in top.passage_text
    assert "| Pump housing ZK-3391 | 80 Nm |" in build_context([top], 2000)[0].text
    x0, y0, x1, y1 = top.payload[keys.BBOX]  # PDF points, origin bottom left; page 432x576
    assert 0 < x0 < x1 < 432 and 0 < y0 < y1 < 576 * 0.75
    with Image.open(top.payload[keys.IMAGE_PATH]) as crop:
        assert crop.width > 2 * crop.height  # the wide, short table, not the page
    out = ItemOut.from_payload(top.id, top.payload)
    assert (out.kind, out.table, out.rows, out.page) == ("table", "table 1", [2, 3], 2)
    assert out.image_url is not None
    header, first, second = (line[:4] for line in top.payload[keys.LINES])  # on the crop
    assert header[1] < first[1] < second[1] and second[3] == pytest.approx(1, abs=0.01)
    assert best_boxes(top.payload, "What does the pump housing take?") == [second]


@pytest.mark.parametrize("writer", [write_table_docx, write_table_pptx])
def test_docx_and_pptx_tables_are_table_items(services: Services, folder: Path, writer) -> None:
    name = "torques.docx" if writer is write_table_docx else "torques.pptx"
    writer(folder / name)
    report = ingest_paths(services, [folder])
    assert not report.failures and not _notes(report)
    (table,) = _tables(services)
    assert table.payload[keys.TEXT].splitlines() == MARKDOWN
    assert (table.payload[keys.TABLE], table.payload[keys.ROWS]) == ("table 1", [2, 3])
    top = services.retriever.search(Query(text="ZK-3391", signals=("lexical",), rerank=False))
    assert top.hits[0].id == str(table.id)
    passages = [
        p.payload[keys.TEXT]
        for p in all_points(services.store)
        if p.payload[keys.KIND] == "passage"
    ]
    assert not any("ZK-3391" in text for text in passages)  # the table is not said twice


@pytest.mark.parametrize(
    ("writer", "name"),
    [(write_table_pdf, "big.pdf"), (write_table_docx, "big.docx"), (write_table_pptx, "big.pptx")],
)
def test_a_long_table_in_a_document_is_cut_with_a_note(
    make_services: ServicesFactory, folder: Path, writer, name: str
) -> None:
    services = make_services(render_pixels=300_000, max_table_rows=3)
    rows = [["Code", "Meaning"]] + [[f"E-{i:03d}", f"fault {i}"] for i in range(12)]
    writer(folder / name, rows)
    report = ingest_paths(services, [folder])
    assert not report.failures
    (note,) = _notes(report)
    assert "rows after row 4 not ingested" in note and "MAX_TABLE_ROWS" in note
    (table,) = _tables(services)
    assert table.payload[keys.ROWS] == [2, 4]
    assert table.payload[keys.TEXT].splitlines()[-1] == "| E-002 | fault 2 |"
