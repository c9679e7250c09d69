"""A document's pictures share one decoded-pixel budget and a per-page cap, both applied before
any picture is decoded or cropped: hostile documents ingest their text, a bounded number of
figures and a note, in bounded memory and time."""

from __future__ import annotations

import base64
import io
import time
import zlib
from pathlib import Path

import pytest
from PIL import Image

from ingest.pixels import MAX_FIGURES_PER_PAGE, MAX_PICTURES_PER_PAGE
from ingest.report import IngestReport
from ingest.runner import ingest_paths
from rag import payload as keys
from rag.services import Services
from tests.ingest.checks import all_points
from tests.ingest.conftest import ServicesFactory
from tests.peak_rss import MB, PeakRss


def _ingest(services: Services, folder: Path) -> tuple[IngestReport, float, int]:
    """Ingest ``folder`` after a small document (models load at the first, and must not be
    counted): the report, the seconds and the growth of the peak RSS."""
    warm = folder.parent / "warm"
    warm.mkdir()
    docx_with_references(warm / "warm.docx", 1, 100)
    (warm / "warm.pdf").write_bytes(pdf_with_placements(1, 1))
    assert ingest_paths(services, [warm]).failed == 0
    with PeakRss() as peak:
        started = time.monotonic()
        report = ingest_paths(services, [folder])
        elapsed = time.monotonic() - started
    return report, elapsed, peak.growth


def _figures(services: Services, source: str) -> list[dict]:
    points = all_points(services.store, with_vectors=False)
    return [
        p.payload
        for p in points
        if p.payload[keys.KIND] == "figure" and p.payload[keys.SOURCE] == source
    ]


def _texts(services: Services) -> str:
    points = all_points(services.store, with_vectors=False)
    return " ".join(p.payload.get(keys.TEXT) or "" for p in points)


def one_bit_png(side: int) -> bytes:
    """A ``side`` x ``side`` white one-bit PNG: a few hundred bytes, 4 bytes a pixel decoded."""
    buffer = io.BytesIO()
    Image.new("1", (side, side), 1).save(buffer, format="PNG")
    return buffer.getvalue()


def docx_with_references(path: Path, references: int, side: int) -> Path:
    """One paragraph of text, then ``references`` inline uses of one ``side`` x ``side`` one-bit
    PNG (a single picture part of a few KiB)."""
    import docx
    from docx.shared import Inches

    buffer = io.BytesIO(one_bit_png(side))
    document = docx.Document()
    document.add_paragraph("Close the gas valve before opening the burner door.")
    run = document.add_paragraph().add_run()
    for _ in range(references):
        buffer.seek(0)
        run.add_picture(buffer, width=Inches(1))
    document.save(path)
    return path


def pdf_with_placements(pages: int, placements: int) -> bytes:
    """``pages`` Letter pages, each with a line of text and ``placements`` near-full-page draws
    of one 2x2 image, every one in a slightly different box (a few KiB, Flate-compressed)."""
    image = 3 + 2 * pages
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % (3 + 2 * i) for i in range(pages)), pages),
    ]
    for number in range(1, pages + 1):
        draws = b"".join(
            b"q %.1f 0 0 %.1f 20 20 cm /Im0 Do Q\n" % (540 - (i % 100) * 0.5, 700 - (i // 100))
            for i in range(placements)
        )
        text = b"BT /F1 12 Tf 30 760 Td (Placement manual page %d) Tj ET\n" % number
        content = zlib.compress(draws + text)
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /XObject << /Im0 %d 0 R >> /Font << /F1 %d 0 R >> >> >>"
            % (len(objects) + 2, image, image + 1)
        )
        objects.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream"
            % (len(content), content)
        )
    objects.append(
        b"<< /Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Length 4 >>\nstream\n\x00\x80\xff\x40\nendstream"
    )
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_a_docx_repeating_one_huge_picture_decodes_only_its_budget(
    make_services: ServicesFactory, folder: Path
) -> None:
    # 300 uses of one 1000x1000 picture: 300 MP, ~1.2 GB in Pillow if all were decoded
    services = make_services(max_decoded_pixels=8_000_000)
    docx_with_references(folder / "manual.docx", 300, 1000)
    assert (folder / "manual.docx").stat().st_size < 64 * 1024
    report, elapsed, growth = _ingest(services, folder)
    assert report.failed == 0, report.failures
    assert len(_figures(services, "manual.docx")) == 8  # 8 x 1 MP fill the budget
    notes = [n.reason for n in report.notes]
    assert any("292 picture(s) not ingested" in n for n in notes), notes
    assert any("MMRAG_INGEST__MAX_DECODED_PIXELS" in n for n in notes), notes
    assert "Close the gas valve" in _texts(services)
    assert growth < 200 * MB, f"peak RSS grew by {growth / MB:.0f} MB"
    assert elapsed < 30


def test_a_pdf_with_thousands_of_placements_crops_only_the_capped_figures(
    make_services: ServicesFactory, folder: Path
) -> None:
    # 3000 near-full-page placements: ~430 KB a crop at this render size, ~1.3 GB for them all
    services = make_services(render_pixels=200_000)
    (folder / "placements.pdf").write_bytes(pdf_with_placements(1, 3000))
    assert (folder / "placements.pdf").stat().st_size < 64 * 1024
    report, elapsed, growth = _ingest(services, folder)
    assert report.failed == 0, report.failures
    assert len(_figures(services, "placements.pdf")) == MAX_FIGURES_PER_PAGE
    notes = [n.reason for n in report.notes]
    assert any(f"3000 pictures: the first {MAX_FIGURES_PER_PAGE}" in n for n in notes), notes
    assert "Placement manual page 1" in _texts(services)
    assert growth < 200 * MB, f"peak RSS grew by {growth / MB:.0f} MB"
    assert elapsed < 30


def test_a_pdf_s_figures_across_pages_share_the_document_budget(
    make_services: ServicesFactory, folder: Path
) -> None:
    services = make_services(render_pixels=200_000, max_decoded_pixels=2_000_000)
    (folder / "placements.pdf").write_bytes(pdf_with_placements(3, 200))
    report, _, _ = _ingest(services, folder)
    assert report.failed == 0, report.failures
    figures = _figures(services, "placements.pdf")
    assert figures and sum(f[keys.WIDTH] * f[keys.HEIGHT] for f in figures) <= 2_000_000
    assert {f[keys.PAGE] for f in figures} == {1}  # page 1 spent the whole budget
    notes = [n.reason for n in report.notes]
    assert sum("MMRAG_INGEST__MAX_DECODED_PIXELS" in n for n in notes) == 3, notes
    assert all(f"Placement manual page {n}" in _texts(services) for n in (1, 2, 3))


def _write_repeating(path: Path, references: int, picture: bytes) -> None:
    """A PPTX slide, an HTML page or a Markdown file: a line of text, ``references`` pictures."""
    if path.suffix == ".pptx":
        from pptx import Presentation
        from pptx.util import Inches

        deck = Presentation()
        slide = deck.slides.add_slide(deck.slide_layouts[5])
        slide.shapes.title.text = "Close the gas valve"
        for _ in range(references):
            slide.shapes.add_picture(io.BytesIO(picture), Inches(1), Inches(2), Inches(1))
        deck.save(path)
        return
    url = "data:image/png;base64," + base64.b64encode(picture).decode()
    if path.suffix == ".md":
        path.write_text("# Close the gas valve\n\n" + f"![p]({url})\n" * references)
    else:
        path.write_text("<h1>Close the gas valve</h1>" + f"<img src='{url}'>" * references)


@pytest.mark.parametrize("name", ["deck.pptx", "page.html", "notes.md"])
def test_pictures_past_the_budget_are_skipped_and_noted_in_every_format(
    make_services: ServicesFactory, folder: Path, name: str
) -> None:
    services = make_services(max_decoded_pixels=3_000_000)
    _write_repeating(folder / name, 40, one_bit_png(1000))
    report = ingest_paths(services, [folder])
    assert report.failed == 0, report.failures
    assert len(_figures(services, name)) == 3
    notes = [n.reason for n in report.notes]
    assert any("37 picture(s) not ingested" in n for n in notes), notes
    assert "Close the gas valve" in _texts(services)


def test_a_page_of_countless_icons_notes_those_past_the_look_cap(
    make_services: ServicesFactory, folder: Path
) -> None:
    services = make_services()
    icons = MAX_PICTURES_PER_PAGE + 500  # each under min_figure_pixels: never a figure
    _write_repeating(folder / "icons.html", icons, one_bit_png(8))
    report = ingest_paths(services, [folder])
    assert report.failed == 0, report.failures
    notes = [n.reason for n in report.notes]
    assert any(f"has {icons} pictures: the first {MAX_PICTURES_PER_PAGE}" in n for n in notes)
