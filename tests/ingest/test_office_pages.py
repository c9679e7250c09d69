"""Word and PowerPoint get page pictures through LibreOffice's PDF where ``soffice`` is
installed; without it, or when it fails or hangs, they go in as read, with a note."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image

from ingest.documents import office_pages
from ingest.runner import ingest_paths
from rag import payload as keys
from rag.services import Services
from tests.ingest.checks import all_points
from tests.ingest.conftest import ServicesFactory
from tests.ingest.documents_draw import write_docx, write_pptx

pytestmark = pytest.mark.office_pages

needs_soffice = pytest.mark.skipif(
    office_pages.which("soffice") is None, reason="LibreOffice (soffice) is not installed"
)


def _kind(services: Services, kind: str) -> list:
    return [p for p in all_points(services.store) if p.payload[keys.KIND] == kind]


def _passage(services: Services, words: str):
    return next(p for p in _kind(services, "passage") if words in p.payload[keys.TEXT])


def _page_pictures(services: Services) -> dict[int, str]:
    return {p.payload[keys.PAGE]: p.payload[keys.IMAGE_PATH] for p in _kind(services, "page")}


def _notes(report) -> list[str]:
    return [n.reason for n in report.notes]


@needs_soffice
def test_a_docx_page_two_passage_cites_page_two_with_its_picture(
    services: Services, folder: Path
) -> None:
    write_docx(folder / "boiler.docx")
    report = ingest_paths(services, [folder])
    assert not report.failures and not report.notes
    pages = _page_pictures(services)
    assert sorted(pages) == [1, 2]
    passage = _passage(services, "burner assembly is shown")
    assert passage.payload[keys.PAGE] == 2
    assert passage.payload[keys.IMAGE_PATH] == pages[2]
    text = passage.payload[keys.TEXT]  # its lines on the render, for highlights
    spans = {text[int(s) : int(e)]: box for *box, s, e in passage.payload[keys.LINES]}
    x0, y0, x1, y1 = next(b for t, b in spans.items() if "burner assembly is shown" in t)
    assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    assert _passage(services, "close the gas valve").payload[keys.PAGE] == 1
    with Image.open(pages[2]) as render:
        assert render.height > render.width  # a portrait page, not a figure
    (figure,) = _kind(services, "figure")
    assert figure.payload[keys.PAGE] == 2


@needs_soffice
def test_docx_paragraphs_that_flow_onto_page_two_cite_page_two(
    services: Services, folder: Path
) -> None:
    import docx

    document = docx.Document()  # no page breaks: LibreOffice's layout makes the pages
    for number in range(1, 61):
        document.add_paragraph(f"Paragraph number {number} of the long manual, line {number}.")
    document.add_paragraph("The last paragraph names the quokka.")
    document.save(folder / "long.docx")
    report = ingest_paths(services, [folder])
    assert not report.failures and not report.notes
    pages = _page_pictures(services)
    assert len(pages) >= 2
    first = _passage(services, "Paragraph number 1 of")
    last = _passage(services, "quokka")
    assert first.payload[keys.PAGE] == 1
    assert last.payload[keys.PAGE] == max(pages) >= 2
    assert last.payload[keys.IMAGE_PATH] == pages[max(pages)]


@needs_soffice
def test_a_pptx_slide_two_passage_cites_page_two_with_its_picture(
    services: Services, folder: Path
) -> None:
    write_pptx(folder / "results.pptx")
    report = ingest_paths(services, [folder])
    assert not report.failures and not report.notes
    pages = _page_pictures(services)
    assert sorted(pages) == [1, 2]
    passage = _passage(services, "Sales by region")
    assert passage.payload[keys.PAGE] == 2
    assert passage.payload[keys.IMAGE_PATH] == pages[2]
    with Image.open(pages[2]) as render:
        assert render.width > render.height  # a landscape slide


def test_without_soffice_a_docx_goes_in_as_read_with_a_note(
    services: Services, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(office_pages, "which", lambda name: None)
    write_docx(folder / "boiler.docx")
    report = ingest_paths(services, [folder])
    assert not report.failures
    assert _notes(report) == ["no page pictures: LibreOffice (soffice) is not installed"]
    assert not _kind(services, "page")
    passage = _passage(services, "burner assembly is shown")
    assert passage.payload[keys.PAGE] == 2  # the page break's page, as before
    assert keys.IMAGE_PATH not in passage.payload or passage.payload[keys.IMAGE_PATH] is None


def _soffice(tmp_path: Path, body: str) -> Path:
    """An executable shell script standing in for LibreOffice's ``soffice``."""
    script = tmp_path / "soffice"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return script


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def test_a_hanging_conversion_is_killed_and_the_pptx_goes_in_with_a_note(
    services: Services, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids = tmp_path / "pids"
    script = _soffice(tmp_path, f"echo $$ > {pids}\nsleep 60 &\necho $! >> {pids}\nwait")
    monkeypatch.setattr(office_pages, "which", lambda name: str(script))
    monkeypatch.setattr(office_pages, "CONVERT_TIMEOUT_S", 1.0)
    write_pptx(folder / "results.pptx")
    report = ingest_paths(services, [folder])
    assert not report.failures
    assert _notes(report) == [
        "no page pictures: LibreOffice took over 1 s to convert it to PDF (killed)"
    ]
    assert _passage(services, "Sales by region").payload[keys.PAGE] == 2
    assert not _kind(services, "page")
    shell, sleeper = (int(line) for line in pids.read_text().split())
    assert not _alive(shell) and not _alive(sleeper)  # the whole process group


def test_a_conversion_that_fails_is_a_note(tmp_path: Path) -> None:
    script = _soffice(tmp_path, "echo 'Error: source file could not be loaded' >&2\nexit 1")
    buffer = io.BytesIO(b"not a docx")
    with pytest.raises(office_pages.ConversionError, match="could not be loaded"):
        office_pages.convert(str(script), buffer.getvalue(), ".docx")


def test_office_pages_off_never_runs_libreoffice(
    make_services: ServicesFactory, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = tmp_path / "ran"
    script = _soffice(tmp_path, f"touch {ran}\nexit 1")
    monkeypatch.setattr(office_pages, "which", lambda name: str(script))
    services = make_services(office_pages=False)
    write_pptx(folder / "results.pptx")
    report = ingest_paths(services, [folder])
    assert not report.failures and not report.notes
    assert not ran.exists() and not _kind(services, "page")
    assert _passage(services, "Sales by region").payload[keys.PAGE] == 2


def test_a_document_over_the_page_cap_is_not_converted(
    make_services: ServicesFactory, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran = tmp_path / "ran"
    script = _soffice(tmp_path, f"touch {ran}\nexit 1")
    monkeypatch.setattr(office_pages, "which", lambda name: str(script))
    services = make_services(max_pages=1)
    write_pptx(folder / "results.pptx")  # two slides
    report = ingest_paths(services, [folder])
    assert not report.failures and not ran.exists()
    note = "no page pictures: it has 2 pages or more, over the cap of 1 (not converted)"
    assert note in _notes(report)
