"""Bad documents fail alone with a reason; pages and pictures they lose are reported."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from ingest.runner import ingest_paths
from rag import payload as keys
from rag.services import Services
from tests.ingest.checks import all_points
from tests.ingest.conftest import ServicesFactory
from tests.ingest.documents_draw import (
    minimal_pdf,
    png_bytes,
    write_docx,
    write_pdf,
    write_pptx,
    zip_bomb_docx,
)


@pytest.fixture
def services(make_services: ServicesFactory) -> Services:
    return make_services(render_pixels=200_000, max_pages=3, max_text_chars=5000)


def _corpus(folder: Path, outside: Path) -> None:
    write_pdf(folder / "good.pdf")  # 4 pages: over the cap of 3
    full_pdf = (folder / "good.pdf").read_bytes()
    (folder / "encrypted.pdf").write_bytes(minimal_pdf(encrypt=True))
    (folder / "zero_pages.pdf").write_bytes(minimal_pdf(pages=0))
    (folder / "corrupt.pdf").write_bytes(b"%PDF-1.4\nthis is not a pdf at all")
    (folder / "truncated.pdf").write_bytes(full_pdf[: len(full_pdf) // 3])
    (folder / "huge_page.pdf").write_bytes(minimal_pdf(size=(14400, 14400)))
    write_docx(folder / "good.docx")
    (folder / "truncated.docx").write_bytes((folder / "good.docx").read_bytes()[:2000])
    zip_bomb_docx(folder / "bomb.docx", folder / "good.docx")
    write_pptx(folder / "good.pptx")
    (folder / "corrupt.pptx").write_bytes(os.urandom(3000))
    (outside / "secret.png").write_bytes(png_bytes(9))
    (folder / "link.png").symlink_to(outside / "secret.png")
    (folder / "escape.html").write_text(
        "<p>Escapes are refused.</p><img src='../outside/secret.png'>"
        f"<img src='{outside / 'secret.png'}'><img src='link.png'>"
    )
    (folder / "latin1.html").write_bytes("<p>caf\xe9</p>".encode("latin-1"))
    (folder / "long.md").write_text("# Long\n\n" + " ".join(f"w{i}" for i in range(3000)))


def test_bad_documents_fail_alone_with_reasons(
    services: Services, tmp_path: Path, folder: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    _corpus(folder, outside)
    report = ingest_paths(services, [folder])
    reasons = {Path(f.source).name: f.reason for f in report.failures}
    assert set(reasons) == {
        "encrypted.pdf", "zero_pages.pdf", "corrupt.pdf", "truncated.pdf",
        "truncated.docx", "bomb.docx", "corrupt.pptx", "latin1.html",
        "link.png",  # the symlink is an image item too, refused: no symlink is followed
    }  # fmt: skip
    assert "encrypted" in reasons["encrypted.pdf"]
    assert "without pages" in reasons["zero_pages.pdf"]
    assert "corrupt" in reasons["corrupt.pdf"] and "truncated" in reasons["truncated.pdf"]
    assert "not a valid zip" in reasons["truncated.docx"]
    assert "zip bomb" in reasons["bomb.docx"]
    assert "corrupt or truncated PPTX" in reasons["corrupt.pptx"]
    assert "not UTF-8" in reasons["latin1.html"]
    notes = {Path(n.source).name: [] for n in report.notes}
    for note in report.notes:
        notes[Path(note.source).name].append(note.reason)
    assert any("pages 4-4 not ingested" in n for n in notes["good.pdf"])
    assert any("text cut at 5000" in n for n in notes["long.md"])
    escape = notes["escape.html"]
    assert len(escape) == 3 and sum("leaves" in n for n in escape) == 1
    assert any("symlink" in n for n in escape)
    assert any("absolute" in n for n in escape)
    points = all_points(services.store, with_vectors=False)
    by_source: dict[str, set[int]] = {}
    for point in points:
        by_source.setdefault(point.payload[keys.SOURCE], set()).add(point.payload[keys.PAGE])
    assert by_source["good.pdf"] == {1, 2, 3}
    assert {"good.docx", "good.pptx", "huge_page.pdf", "long.md", "escape.html"} <= set(by_source)
    huge = next(p for p in points if p.payload[keys.SOURCE] == "huge_page.pdf")
    assert huge.payload[keys.WIDTH] * huge.payload[keys.HEIGHT] <= 200_000
    words = {
        w
        for p in points
        if p.payload[keys.SOURCE] == "long.md"
        for w in p.payload[keys.TEXT].split()
    }
    last = max(int(w[1:]) for w in words if w.startswith("w"))
    assert 900 < last < 1100  # the first 5000 characters of "w0 w1 ... w2999"
    assert not any(p.payload[keys.SOURCE] == "escape.html" and p.payload[keys.KIND] == "figure"
                   for p in points)  # fmt: skip


def test_a_document_that_turns_bad_keeps_its_points(services: Services, folder: Path) -> None:
    write_pdf(folder / "manual.pdf")
    first = ingest_paths(services, [folder])
    (folder / "manual.pdf").write_bytes(b"%PDF-1.4\nbroken now")
    second = ingest_paths(services, [folder], prune=True)
    assert second.failed == 1 and second.pruned == 0 and second.replaced == 0
    assert services.store.count() == first.points_written


def test_a_page_with_too_many_pictures_keeps_the_first(
    services: Services, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ingest import pixels

    monkeypatch.setattr(pixels, "MAX_FIGURES_PER_PAGE", 3)
    picture = base64.b64encode(png_bytes(1)).decode()
    images = "".join(
        f"<p>tile {i}<img src='data:image/png;base64,{picture}' alt='tile {i}'></p>"
        for i in range(5)
    )
    (folder / "tiles.html").write_text(f"<html><body>{images}</body></html>")
    report = ingest_paths(services, [folder])
    figures = [
        p
        for p in all_points(services.store, with_vectors=False)
        if p.payload[keys.KIND] == "figure"
    ]
    assert len(figures) == 3
    assert any("5 pictures: the first 3" in n.reason for n in report.notes)
