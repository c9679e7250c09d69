"""Document ingest benchmark: PDF pages/s end to end, split by stage (render, text, embed,
upsert), against the model forward passes alone for the same items (target: ingest >= 0.85x).

Generated PDFs (matplotlib; a heading, two paragraphs and a raster figure with its caption per
page) are ingested into a fresh embedded Qdrant Edge store with ViT-B-32's architecture and
random weights (no download). Each page becomes a page (render embedded), a figure (crop and
caption embedded) and its passages (texts embedded).

Scanned PDFs (pages that are pictures of text, no text layer) are read by OCR
(``MMRAG_OCR__ENGINE``'s default, RapidOCR): their ingest against the OCR engine alone on the
same page renders, in the same run (target: ingest >= 0.85x), and re-ingested unchanged (what
OCR read comes from its cache: the issue's target is under a tenth of the first run).

Spreadsheets (generated ``.xlsx``, 2 sheets of 6 columns each): rows/s and table items/s end to
end against the text forwards of the same items' chunks alone, in the same run (no render and no
picture: a table item's cost is its ``header: value`` row lines through the text model).

    python -m bench.documents            # 6 PDFs x 8 pages, 6 workbooks x 2 sheets x 500 rows
    python -m bench.documents --quick    # 2 PDFs x 4 pages, 2 workbooks x 2 sheets x 100 rows
    python -m bench.documents --scanned-only --quick   # only the scanned PDFs
    python -m bench.documents --sheets-only --quick    # only the spreadsheets
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from ingest.documents.passages import split_passages
from ingest.documents.pdf import read_pdf
from ingest.documents.pictures import PictureStore
from ingest.documents.reader import DocumentReader, limits_of
from ingest.items import SourceItem
from ingest.ocr import OcrCache, PictureText
from ingest.pipeline import Ingestor
from ingest.sources import open_source
from rag import payload as keys
from rag.config import ClipSettings, IngestSettings, OcrSettings, StoreSettings
from rag.embedding import load_embedder
from rag.embedding.base import Embedder
from rag.ocr import OcrEngine, OcrReader, load_ocr_engine
from rag.store import CollectionLayout, open_store
from rag.store.base import PointRecord

TARGET = 0.85
WORDS = [
    "pump",
    "valve",
    "pressure",
    "filter",
    "intake",
    "outlet",
    "motor",
    "bearing",
    "seal",
    "gasket",
    "flow",
    "rate",
    "level",
    "sensor",
    "alarm",
    "panel",
    "cable",
    "fuse",
    "relay",
    "meter",
    "reading",
    "weekly",
    "monthly",
    "inspection",
    "crew",
    "shift",
    "report",
]


def make_pdfs(folder: Path, documents: int, pages: int) -> list[Path]:
    """``documents`` PDFs of ``pages`` A5-ish pages: sentences, a raster figure, its caption."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in range(documents):
        path = folder / f"report{d:02d}.pdf"
        with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(path) as pdf:
            for p in range(pages):
                rng = random.Random(d * 1000 + p)
                fig = plt.figure(figsize=(6, 8))
                fig.text(0.08, 0.94, f"Report {d}, section {p + 1}", fontsize=13)
                for line in range(12):
                    words = " ".join(rng.choice(WORDS) for _ in range(14))
                    fig.text(0.08, 0.9 - 0.022 * line, words.capitalize() + ".", fontsize=7)
                ax = fig.add_axes((0.2, 0.2, 0.6, 0.4))
                ax.imshow(np.random.default_rng(d * 1000 + p).random((48, 64, 3)))
                ax.set_axis_off()
                fig.text(0.2, 0.15, f"Figure {p + 1}: readings of week {p + 1}", fontsize=8)
                pdf.savefig(fig)
                plt.close(fig)
        paths.append(path)
    return paths


@dataclass
class Stages:
    """Seconds per stage for all pages, measured one stage at a time on one thread."""

    render: float = 0.0
    text: float = 0.0
    embed: float = 0.0
    upsert: float = 0.0


def measure_stages(
    embedder: Embedder, pdfs: list[Path], data: Path, settings: IngestSettings
) -> tuple[Stages, int]:
    """Each stage alone over the same pages: parse + render + save pictures (``render``),
    passages (``text``), the forward passes (``embed``), the writes (``upsert``)."""
    stages, pictures = Stages(), PictureStore(data / "pictures")
    images: list[Image.Image] = []
    texts: list[str] = []
    pages = 0
    for pdf in pdfs:
        started = time.perf_counter()
        parsed = read_pdf(pdf.read_bytes(), pdf.stem, limits_of(settings))
        parsed_pages = list(parsed.pages)
        for page in parsed_pages:
            assert page.render is not None
            pictures.save(page.render)
            images += [page.render] + [f.image for f in page.figures]
            for figure in page.figures:
                pictures.save(figure.image)
                texts.append(figure.caption)
        stages.render += time.perf_counter() - started
        started = time.perf_counter()
        for page in parsed_pages:
            texts += split_passages(
                page.text, embedder.count_tokens, embedder.context_length, settings.passage_overlap
            )
        stages.text += time.perf_counter() - started
        pages += len(parsed_pages)
    stages.embed, vectors = forward(embedder, images, texts, settings.batch_size)
    store = open_store(StoreSettings(), data / "store")
    store.ensure_collection(CollectionLayout.of(embedder.dim))
    points = [PointRecord(_uuid(i), {"text": v}, {"text": "x"}) for i, v in enumerate(vectors)]
    started = time.perf_counter()
    for start in range(0, len(points), settings.batch_size):
        store.upsert(points[start : start + settings.batch_size])
    store.flush()
    stages.upsert = time.perf_counter() - started
    store.close()
    return stages, pages


def forward(
    embedder: Embedder, images: list[Image.Image], texts: list[str], batch: int
) -> tuple[float, list[np.ndarray]]:
    """Seconds of the model forward passes alone (pixels prepared beforehand)."""
    pixels = [
        embedder.preprocess_images(images[i : i + batch]) for i in range(0, len(images), batch)
    ]
    started = time.perf_counter()
    vectors = [v for chunk in pixels for v in embedder.embed_pixels(chunk)]
    for start in range(0, len(texts), batch):
        vectors += list(embedder.encode_texts(texts[start : start + batch]).vectors)
    return time.perf_counter() - started, vectors


def make_scans(folder: Path, documents: int, pages: int) -> list[Path]:
    """``documents`` PDFs of ``pages`` pictures of text (A5 at 100 dpi, 14 lines of words)."""
    from PIL import ImageDraw, ImageFont

    folder.mkdir(parents=True, exist_ok=True)
    font_file = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    font = (
        ImageFont.truetype(str(font_file), 18) if font_file.exists() else ImageFont.load_default(18)
    )
    paths = []
    for d in range(documents):
        images = []
        for p in range(pages):
            rng = random.Random(d * 1000 + p)
            image = Image.new("RGB", (583, 827), "white")
            draw = ImageDraw.Draw(image)
            draw.text((40, 40), f"Scanned report {d}, page {p + 1}", font=font, fill="black")
            for line in range(14):
                words = " ".join(rng.choice(WORDS) for _ in range(5)).capitalize() + "."
                draw.text((40, 100 + 44 * line), words, font=font, fill="black")
            images.append(image)
        path = folder / f"scan{d:02d}.pdf"
        images[0].save(path, format="PDF", save_all=True, append_images=images[1:], resolution=100)
        paths.append(path)
    return paths


def ocr_alone(engine: OcrEngine, pdfs: list[Path], settings: IngestSettings) -> tuple[float, int]:
    """Seconds of the OCR engine alone over the pages' renders (rendered beforehand)."""
    renders = []
    for pdf in pdfs:
        parsed = read_pdf(pdf.read_bytes(), pdf.stem, limits_of(settings))
        renders += [page.render for page in parsed.pages if page.render is not None]
    started = time.perf_counter()
    for render in renders:
        engine.read(render)
    return time.perf_counter() - started, len(renders)


def ingest_once(
    embedder: Embedder,
    folder: Path,
    data: Path,
    settings: IngestSettings,
    ocr: PictureText | None = None,
) -> float:
    store = open_store(StoreSettings(), data)
    store.ensure_collection(CollectionLayout.of(embedder.dim))
    if ocr is not None:  # OCR results cached next to the renders, as ingest.runner does
        ocr = PictureText(ocr.reader, ocr.mode, OcrCache(data / "pictures"))
    started = time.perf_counter()
    try:
        report = Ingestor(
            embedder, store, settings, pictures=PictureStore(data / "pictures"), ocr=ocr
        ).ingest(open_source(folder))
    finally:
        store.close()
    assert report.failed == 0, report.failures
    return time.perf_counter() - started


def make_sheets(folder: Path, documents: int, rows: int, sheets: int = 2) -> list[Path]:
    """``documents`` workbooks of ``sheets`` sheets: a header row, ``rows`` rows of 6 columns."""
    import openpyxl

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in range(documents):
        book = openpyxl.Workbook(write_only=True)
        for s in range(sheets):
            rng = random.Random(d * 1000 + s)
            sheet = book.create_sheet(f"week {s + 1}")
            sheet.append(["date", "unit", "part", "reading", "level", "note"])
            for r in range(rows):
                note = " ".join(rng.choice(WORDS) for _ in range(4))
                day = f"2026-{1 + r % 12:02d}-{1 + r % 28:02d}"
                sheet.append([day, f"unit {rng.randrange(40)}", rng.choice(WORDS),
                              round(rng.uniform(0, 100), 2), rng.randrange(10), note])  # fmt: skip
        path = folder / f"sheet{d:02d}.xlsx"
        book.save(path)
        paths.append(path)
    return paths


def sheet_chunks(
    embedder: Embedder, folder: Path, data: Path, settings: IngestSettings
) -> tuple[list[str], int, int]:
    """The chunks ingest embeds for the folder's workbooks (read as ingest reads them), with
    the count of rows and table items."""
    split = partial(
        split_passages, count_tokens=embedder.count_tokens,
        max_tokens=embedder.context_length, overlap=settings.passage_overlap,
    )  # fmt: skip
    reader = DocumentReader("bench", settings, PictureStore(data), split)
    items = [
        read
        for item in open_source(folder).items
        if isinstance(item, SourceItem)
        for read in reader.read(item).items
    ]
    rows = sum(r[1] - r[0] + 1 for read in items if (r := read.extra.get(keys.ROWS)))
    return [chunk for read in items for chunk in read.chunks], rows, len(items)


def _uuid(i: int) -> str:
    return f"00000000-0000-0000-0000-{i:012d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="2 documents x 4 pages, 100 rows a sheet"
    )
    parser.add_argument("--documents", type=int, default=None)
    parser.add_argument("--pages", type=int, default=None)
    parser.add_argument("--model", default="ViT-B-32")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--scanned-only", action="store_true", help="only the scanned PDFs (OCR)")
    parser.add_argument("--sheets-only", action="store_true", help="only the spreadsheets")
    parser.add_argument("--rows", type=int, default=None, help="rows per sheet")
    args = parser.parse_args()
    documents = args.documents or (2 if args.quick else 6)
    pages = args.pages or (4 if args.quick else 8)
    with tempfile.TemporaryDirectory(prefix="mmrag-bench-documents-") as tmp:
        run(Path(tmp), args, documents, pages)


def run(tmp: Path, args: argparse.Namespace, documents: int, pages: int) -> None:
    clip = ClipSettings(model=args.model, pretrained="", threads=args.threads)
    embedder = load_embedder(clip, tmp / "models")
    embedder.warm_up()
    settings = IngestSettings()
    if not (args.scanned_only or args.sheets_only):
        run_text(tmp, embedder, settings, documents, pages)
    if not args.sheets_only:
        run_scanned(tmp, embedder, settings, documents, pages)
    if not args.scanned_only:
        run_sheets(tmp, embedder, settings, documents, args.rows or (100 if args.quick else 500))


def run_text(
    tmp: Path, embedder: Embedder, settings: IngestSettings, documents: int, pages: int
) -> None:
    folder = tmp / "pdfs"
    pdfs = make_pdfs(folder, documents, pages)
    print(f"{documents} PDFs x {pages} pages; model {embedder.model_id}, batch "
          f"{settings.batch_size}, render budget {settings.render_pixels} px")  # fmt: skip
    ingest_once(embedder, tmp / "pdfs", tmp / "warm", settings)  # warm caches
    stages, total = measure_stages(embedder, pdfs, tmp / "stages", settings)
    whole = min(ingest_once(embedder, folder, tmp / f"data{i}", settings) for i in range(2))
    again = ingest_once(embedder, folder, tmp / "data0", settings)
    _report(stages, total, whole, again)


def run_scanned(
    tmp: Path, embedder: Embedder, settings: IngestSettings, documents: int, pages: int
) -> None:
    """Scanned PDFs through ingest with OCR against the OCR engine alone on the same renders."""
    engine = load_ocr_engine(OcrSettings())
    assert engine is not None
    folder = tmp / "scans"
    pdfs = make_scans(folder, documents, pages)
    ocr = PictureText(OcrReader(engine, timeout_s=600), "auto")
    print(f"\nscanned: {documents} PDFs x {pages} pages (no text layer); OCR {engine.model_id}")
    ingest_once(embedder, folder, tmp / "scans-warm", settings, ocr)  # warm caches
    alone, total = ocr_alone(engine, pdfs, settings)
    whole = min(ingest_once(embedder, folder, tmp / f"scans{i}", settings, ocr) for i in range(2))
    print(f"OCR engine alone            {total / alone:8.2f} pages/s")
    print(f"ingest with OCR, end to end {total / whole:8.2f} pages/s (best of 2)")
    print(f"ratio ingest / OCR alone    {alone / whole:8.2f}   (target >= {TARGET})")
    again = ingest_once(embedder, folder, tmp / "scans0", settings, ocr)
    print(f"re-run, all unchanged       {total / again:8.2f} pages/s "
          f"({again / whole:.1%} of the first run; OCR results from the cache)")  # fmt: skip


def run_sheets(
    tmp: Path, embedder: Embedder, settings: IngestSettings, documents: int, rows: int
) -> None:
    """Workbooks through ingest against the text forwards of the same chunks alone."""
    folder = tmp / "sheets"
    make_sheets(folder, documents, rows)
    texts, total_rows, tables = sheet_chunks(embedder, folder, tmp / "sheets-read", settings)
    print(f"\nspreadsheets: {documents} workbooks x 2 sheets x {rows} rows x 6 columns; "
          f"{tables} table items, {len(texts)} chunks")  # fmt: skip
    ingest_once(embedder, folder, tmp / "sheets-warm", settings)  # warm caches
    alone, _ = forward(embedder, [], texts, settings.batch_size)
    whole = min(ingest_once(embedder, folder, tmp / f"sheets{i}", settings) for i in range(2))
    print(f"forward alone               {total_rows / alone:8.2f} rows/s "
          f"{tables / alone:8.2f} table items/s")  # fmt: skip
    print(f"ingest, end to end          {total_rows / whole:8.2f} rows/s "
          f"{tables / whole:8.2f} table items/s (best of 2)")  # fmt: skip
    print(f"ratio ingest / forward      {alone / whole:8.2f}   (target >= {TARGET})")


def _report(stages: Stages, pages: int, whole: float, again: float) -> None:
    serial = stages.render + stages.text + stages.embed + stages.upsert
    print("stage (alone, one thread)   s/page   share")
    for name in ("render", "text", "embed", "upsert"):
        seconds = getattr(stages, name)
        print(f"  {name:<24} {seconds / pages:7.4f}   {seconds / serial:5.1%}")
    print(f"forward alone               {pages / stages.embed:8.2f} pages/s")
    print(f"ingest, end to end          {pages / whole:8.2f} pages/s (best of 2)")
    print(f"ratio ingest / forward      {stages.embed / whole:8.2f}   (target >= {TARGET})")
    print(f"share outside the forward   {1 - stages.embed / whole:8.1%} of the ingest time")
    print(f"re-run, all unchanged       {pages / again:8.2f} pages/s")


if __name__ == "__main__":
    main()
