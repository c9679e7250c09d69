"""OCR in ingest, on pictures made here: a scanned PDF (pages that are pictures, no text layer)
and a screenshot found through the text signals (real all-MiniLM-L6-v2, BM25, embedded Qdrant
Edge); a hanging engine and a picture past the pixel cap are notes and reasons, never lost runs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from api.schemas.items import ItemOut
from ingest.ocr import OcrCache
from ingest.report import IngestReport
from ingest.runner import ingest_paths
from rag import payload as keys
from rag.config import ClipSettings, OcrSettings, Settings
from rag.embedding.base import Embedder
from rag.highlights import best_boxes
from rag.ocr import OcrLine, OcrReader, OcrResult, load_ocr_engine
from rag.prompting import build_context
from rag.retrieval.types import Hit, Query
from rag.services import Services
from tests.ingest.checks import all_points
from tests.ocr_draw import png_claiming, scanned_pdf, text_picture

PAGES = [
    ["Harbour pump manual", "Chapter one covers the intake."],
    ["The filter mesh is rinsed weekly.", "Spare parts ship from Oslo."],
    ["The quartz valve VX-3318 opens", "only at noon on Tuesdays."],
    ["Warranty: two years.", "Keep the receipt."],
]


@pytest.fixture(scope="module")
def rapidocr() -> OcrReader:
    """One RapidOCR engine for the module (it loads in a few seconds)."""
    engine = load_ocr_engine(OcrSettings())
    assert engine is not None
    return OcrReader(engine, timeout_s=120)


def _services(settings: Settings, embedder: Embedder, reader: object) -> Services:
    """Services with OCR on (``auto``) through ``reader``, the session's tiny CLIP, the real
    passage model, small page renders."""
    update = {
        "ocr": OcrSettings(),
        "ingest": settings.ingest.model_copy(update={"render_pixels": 400_000}),
    }
    services = Services(settings.model_copy(update=update))
    services.__dict__["embedder"] = embedder
    services.__dict__["ocr_reader"] = reader
    return services


@pytest.fixture(scope="module")
def ingested(
    rapidocr: OcrReader, tiny_clip: ClipSettings, tiny_embedder: Embedder, tmp_path_factory
) -> Iterator[tuple[Services, IngestReport]]:
    """A scanned PDF, a screenshot and a picture without text, ingested once for the module."""
    folder = tmp_path_factory.mktemp("scans")
    settings = Settings(
        data_dir=folder / "data",
        clip=tiny_clip,
        rerank={"model": "none"},
        llm={"backend": "extractive"},
    )
    services = _services(settings, tiny_embedder, rapidocr)
    files = folder / "files"
    files.mkdir()
    scanned_pdf(files / "pump.pdf", PAGES)
    text_picture(["Error ZX-4471: disk quota exceeded"]).save(files / "dialog.png")
    Image.new("RGB", (64, 64), (200, 30, 30)).save(files / "red.png")
    report = ingest_paths(services, [files])
    yield services, report
    services.close()


def _top(services: Services, text: str, signal: str) -> Hit:
    result = services.retriever.search(Query(text=text, signals=(signal,), rerank=False, top_k=3))
    return result.hits[0]


def test_the_scans_go_in_without_failures_or_notes(ingested) -> None:
    _, report = ingested
    assert not report.failures and not report.notes
    assert report.written == 4 + 4 + 4 + 2  # pages, their figures (the scans), passages, pictures


@pytest.mark.parametrize(
    ("signal", "query"),
    [("lexical", "quartz valve VX-3318"), ("passage", "when does the quartz valve open")],
)
def test_a_sentence_on_page_3_of_a_scanned_pdf_is_found(ingested, signal: str, query: str) -> None:
    services, _ = ingested
    top = _top(services, query, signal)
    assert (top.payload[keys.KIND], top.payload[keys.PAGE]) == ("passage", 3)
    assert "VX-3318" in top.payload[keys.TEXT] and "noon" in top.payload[keys.TEXT]
    assert top.payload[keys.OCR_TEXT] == top.payload[keys.TEXT]
    assert 0.5 < top.payload[keys.OCR_CONFIDENCE] <= 1.0
    out = ItemOut.from_payload(top.id, top.payload)
    assert out.ocr_text == top.payload[keys.TEXT] and out.ocr_confidence
    block = build_context([top], 2000)[0]
    assert "VX-3318" in block.text and "read from the picture by OCR" in block.rendered


def test_a_scanned_page_keeps_its_line_boxes_normalised(ingested) -> None:
    services, _ = ingested
    points = all_points(services.store)
    page = next(p for p in points if p.payload[keys.KIND] == "page" and p.payload[keys.PAGE] == 3)
    boxes = page.payload[keys.OCR_BOXES]
    assert len(boxes) == 2 and page.payload[keys.OCR_TEXT].splitlines()[0].endswith("VX-3318 opens")
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    assert boxes[0][3] <= boxes[1][1] + 0.05  # the first line above the second
    figures = [p for p in points if p.payload[keys.KIND] == "figure"]
    assert figures and not any(keys.OCR_TEXT in f.payload for f in figures)  # read once, as pages


def test_a_screenshot_is_found_by_the_code_it_shows(ingested) -> None:
    services, _ = ingested
    top = _top(services, "ZX-4471", "lexical")
    assert top.payload[keys.SOURCE] == "dialog.png" and top.payload[keys.KIND] == "image"
    assert "ZX-4471" in top.payload[keys.OCR_TEXT] and "ZX-4471" in top.passage_text
    assert top.payload[keys.TEXT] == ""  # the item's own text stays its own
    assert top.payload[keys.OCR_CONFIDENCE] > 0.5 and len(top.payload[keys.OCR_BOXES]) == 1


def test_unchanged_pictures_are_not_read_again(ingested) -> None:
    services, _ = ingested
    source = next(iter({p.payload[keys.SOURCE_ROOT] for p in all_points(services.store)}))
    reader = services.ocr_reader
    counting = services.__dict__["ocr_reader"] = _Counting(reader)
    try:
        again = ingest_paths(services, [Path(source)])
    finally:
        services.__dict__["ocr_reader"] = reader
    assert again.written == 0 and again.unchanged == 14
    # the standalone pictures are not read; the scan's pages are rendered again, and what OCR
    # read from the same render bytes comes from the cache
    assert counting.calls == 0


def test_a_passage_read_by_ocr_highlights_the_line_that_answers(ingested) -> None:
    services, _ = ingested
    top = _top(services, "quartz valve VX-3318", "lexical")
    page = next(
        p
        for p in all_points(services.store)
        if p.payload[keys.KIND] == "page" and p.payload[keys.PAGE] == 3
    )
    first, second = page.payload[keys.OCR_BOXES]
    assert [line[:4] for line in top.payload[keys.LINES]] == [first, second]
    assert best_boxes(top.payload, "The quartz valve VX-3318 [1].") == [first]
    assert best_boxes(top.payload, "Only at noon on Tuesdays [1].") == [second]
    assert best_boxes(page.payload, "only at noon") == [second]  # the page's own OCR lines


def test_an_unchanged_scan_is_re_ingested_without_a_page_read_again(
    make, rapidocr: OcrReader, tmp_path: Path
) -> None:
    """The time this saves (an unchanged re-run at ~3 % of the first) is a benchmark figure:
    ``python -m bench.documents --scanned-only``."""
    counting = _Counting(rapidocr)
    services = make(counting)
    folder = tmp_path / "scans"
    folder.mkdir()
    scanned_pdf(folder / "pump.pdf", PAGES)
    first = ingest_paths(services, [folder])
    read_first = counting.calls
    again = ingest_paths(services, [folder])
    assert first.written == again.unchanged == 12 and again.written == 0
    assert read_first >= len(PAGES) and counting.calls == read_first


def test_a_cached_ocr_result_that_does_not_parse_is_read_again(tmp_path: Path) -> None:
    cache = OcrCache(tmp_path)
    sha = "ab" * 32
    result = OcrResult((OcrLine("Error ZX-4471", 0.9, (0.1, 0.2, 0.8, 0.3)),))
    cache.put(sha, "rapidocr-x", result)
    assert cache.get(sha, "rapidocr-x") == result
    assert cache.get(sha, "tesseract-y") is None  # another engine reads again
    (path,) = (tmp_path / "ab").glob("*.ocr.json")
    path.write_text("{not json")
    assert cache.get(sha, "rapidocr-x") is None
    assert cache.get("../../etc/passwd", "rapidocr-x") is None  # only a sha256 names a file


class _Counting:
    def __init__(self, reader: OcrReader) -> None:
        self.reader, self.calls, self.model_id = reader, 0, reader.model_id

    def read(self, image: Image.Image) -> OcrResult:
        self.calls += 1
        return self.reader.read(image)


@pytest.fixture
def make(settings: Settings, tiny_embedder: Embedder) -> Iterator:
    """``make(reader)``: :func:`_services` for one test."""
    made: list[Services] = []

    def build(reader: object) -> Services:
        made.append(_services(settings, tiny_embedder, reader))
        return made[-1]

    yield build
    for services in made:
        services.close()


class _Hanging:
    model_id = "hanging"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.calls = 0

    def read(self, image: Image.Image) -> OcrResult:
        self.calls += 1
        self.release.wait(30)
        return OcrResult()


@pytest.fixture
def hanging() -> Iterator[_Hanging]:
    engine = _Hanging()
    yield engine
    engine.release.set()


def test_an_ocr_time_out_is_a_note_the_picture_goes_in_and_is_read_next_run(
    make, hanging: _Hanging, tmp_path: Path
) -> None:
    services = make(OcrReader(hanging, timeout_s=0.3))
    folder = tmp_path / "shots"
    folder.mkdir()
    text_picture(["Error ZX-4471"]).save(folder / "dialog.png")
    scanned_pdf(folder / "scan.pdf", [PAGES[0]])
    report = ingest_paths(services, [folder])
    assert report.written == 3 and not report.failures  # the picture; the scan's page + figure
    notes = sorted((Path(n.source).name, n.reason) for n in report.notes)
    assert [item for item, _ in notes] == ["dialog.png", "scan.pdf"]
    assert all("longer than 0.3 s (MMRAG_OCR__TIMEOUT_S)" in reason for _, reason in notes)
    assert notes[1][1].startswith("page 1: ")
    kinds = sorted(p.payload[keys.KIND] for p in all_points(services.store))
    assert kinds == ["figure", "image", "page"]
    again = ingest_paths(services, [folder])  # a picture whose read failed is read again
    assert "dialog.png" in {Path(n.source).name for n in again.notes}


def test_a_30000_square_picture_is_refused_before_ocr(
    make, hanging: _Hanging, tmp_path: Path
) -> None:
    services = make(OcrReader(hanging, timeout_s=0.2))
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "huge.png").write_bytes(png_claiming(30000, 30000))
    text_picture(["Error ZX-4471"]).save(folder / "dialog.png")
    report = ingest_paths(services, [folder])
    assert report.written == 1 and len(report.failures) == 1
    assert Path(report.failures[0].source).name == "huge.png"
    assert "900000000 pixels" in report.failures[0].reason  # Pillow's bomb check, then ours
    assert hanging.calls == 1  # the other picture only
