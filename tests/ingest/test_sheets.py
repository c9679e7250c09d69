"""Spreadsheets as documents whose sheets are tables: an ``.xlsx`` with two sheets, a ``.csv``
named as a manifest's document, big sheets cut with a note, refused workbooks with a reason."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from api.schemas.items import ItemOut
from ingest.runner import ingest_paths
from rag import payload as keys
from rag.prompting import build_context
from rag.retrieval.types import Hit, Query
from rag.services import Services
from tests.ingest.checks import all_points
from tests.ingest.conftest import ServicesFactory

PARTS = [
    ("Part", "Code", "Price"),
    ("Intake valve", "QX-5521", 12.5),
    ("Bearing", "BR-0042", 3),
    ("Gasket", "GS-7788", 0.75),
]
STAFF = [("Name", "Room"), ("Ingrid Henriksen", "B-204"), ("Tomas Lund", "C-118")]


def write_xlsx(path: Path, sheets: dict[str, list[tuple]], macros: bool = False) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    book.save(path)
    if macros:  # a workbook part that would hold VBA (never run; only noted)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("xl/vbaProject.bin", b"\x00" * 64)
    return path


def _top(services: Services, text: str) -> Hit:
    result = services.retriever.search(Query(text=text, signals=("lexical",), rerank=False))
    return result.hits[0]


def test_an_xlsx_with_two_sheets_becomes_table_items_cited_by_sheet_and_rows(
    services: Services, folder: Path
) -> None:
    write_xlsx(folder / "inventory.xlsx", {"Parts": PARTS, "Staff": STAFF})
    report = ingest_paths(services, [folder])
    assert not report.failures and not report.notes and report.written == 2
    top = _top(services, "QX-5521")
    assert top.payload[keys.KIND] == "table"
    assert (top.payload[keys.SHEET], top.payload[keys.ROWS], top.payload[keys.PAGE]) == (
        "Parts",
        [2, 4],
        1,
    )
    assert top.payload[keys.TEXT].splitlines()[:3] == [
        "| Part | Code | Price |",
        "|---|---|---|",
        "| Intake valve | QX-5521 | 12.5 |",
    ]
    assert "Part: Intake valve; Code: QX-5521; Price: 12.5" in top.passage_text
    block = build_context([top], 2000)[0]
    assert "| Intake valve | QX-5521 | 12.5 |" in block.text
    out = ItemOut.from_payload(top.id, top.payload)
    assert (out.kind, out.sheet, out.rows) == ("table", "Parts", [2, 4])
    staff = _top(services, "Henriksen")
    assert (staff.payload[keys.SHEET], staff.payload[keys.ROWS]) == ("Staff", [2, 3])
    assert staff.payload[keys.DOCUMENT]["pages"] == 2


def test_a_csv_named_as_a_manifest_document_is_a_table(services: Services, folder: Path) -> None:
    rows = ["code,meaning", "E-1042,fan blocked", "E-2001,door open"]
    (folder / "codes.csv").write_text("\n".join(rows) + "\n")
    (folder / "codes.tsv").write_text("code\tmeaning\nT-77\tlid loose\n")
    manifest = folder / "docs.jsonl"
    lines = [{"document": "codes.csv"}, {"document": "codes.tsv"}]
    manifest.write_text("\n".join(json.dumps(line) for line in lines))
    report = ingest_paths(services, [manifest])
    assert not report.failures and report.written == 2
    top = _top(services, "E-2001")
    assert (top.payload[keys.SHEET], top.payload[keys.ROWS]) == ("codes", [2, 3])
    assert "code: E-2001; meaning: door open" in top.passage_text
    assert _top(services, "T-77").payload[keys.TEXT].endswith("| T-77 | lid loose |")


def test_a_big_sheet_is_cut_with_a_note(make_services: ServicesFactory, folder: Path) -> None:
    services = make_services(max_table_rows=5)
    wide = ",".join(f"c{i}" for i in range(1000))
    lines = [wide] + [",".join(str(r * 1000 + i) for i in range(1000)) for r in range(1000)]
    (folder / "big.csv").write_text("\n".join(lines))  # 10^6 cells
    (folder / "list.jsonl").write_text(json.dumps({"document": "big.csv"}))
    report = ingest_paths(services, [folder / "list.jsonl"])
    assert not report.failures and report.written == 1
    reasons = [note.reason for note in report.notes]
    assert any("columns past 256" in r for r in reasons)
    assert any("rows after row 6 not ingested" in r and "MAX_TABLE_ROWS" in r for r in reasons)
    (table,) = [p for p in all_points(services.store) if p.payload[keys.CHUNK_INDEX] == 0]
    assert table.payload[keys.ROWS] == [2, 6]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512, "encrypted (password-protected)"),
        (b"PK\x03\x04 not really a zip", "corrupt or truncated XLSX"),
        (b"", "empty file"),
    ],
)
def test_a_workbook_that_cannot_be_read_fails_alone(
    services: Services, folder: Path, content: bytes, reason: str
) -> None:
    (folder / "bad.xlsx").write_bytes(content)
    write_xlsx(folder / "good.xlsx", {"Staff": STAFF})
    report = ingest_paths(services, [folder])
    assert [Path(f.source).name for f in report.failures] == ["bad.xlsx"]
    assert reason in report.failures[0].reason
    assert report.written == 1


def test_macros_are_noted_and_never_run(services: Services, folder: Path) -> None:
    write_xlsx(folder / "macro.xlsx", {"Staff": STAFF}, macros=True)
    report = ingest_paths(services, [folder])
    assert report.written == 1
    assert [n.reason for n in report.notes] == ["the workbook holds macros: ignored, never run"]


def test_a_zip_bomb_workbook_is_refused_before_unpacking(services: Services, folder: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\x00" * (20 * 1024 * 1024))
    (folder / "bomb.xlsx").write_bytes(buffer.getvalue())
    report = ingest_paths(services, [folder])
    assert "a zip bomb?" in report.failures[0].reason
