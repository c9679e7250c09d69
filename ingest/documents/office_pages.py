"""Page pictures for Word and PowerPoint: where LibreOffice (``soffice``) is installed, a DOCX
or PPTX is converted to PDF and its pages rendered, so passages cite a page with a picture.

A slide is its PDF page (slide N, page N). A Word document's paragraphs are placed on the PDF
page whose text holds their start (in document order; one not found stays on the page of the
one before); its figures and tables go to the page where their page-break span starts.
Without LibreOffice, or when the conversion fails, times out or does not match, the document
goes in as its reader read it, with a note saying why it has no page pictures.

``soffice`` runs without a shell, with a fresh profile per conversion (parallel runs do not
share one), bounded by :data:`CONVERT_TIMEOUT_S` (its process group killed past it).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from shutil import which

import pypdfium2 as pdfium

from ingest.documents.model import PagePart, ParsedDocument, ReadLimits
from ingest.documents.pdf import PDFIUM_LOCK, page_lines, render_page
from ingest.documents.pdfstreams import check_pdf_streams

CONVERT_TIMEOUT_S = 120.0
"""Seconds one conversion may take before LibreOffice is killed."""
MAX_PDF_BYTES = 200 * 1024 * 1024
"""The largest converted PDF read back."""
MATCH_CHARS = 40
"""Characters (spaces left out) of a paragraph's start looked for on the PDF pages."""
NO_PAGES = "no page pictures"
_SPACE = re.compile(r"\s+")


class ConversionError(Exception):
    """LibreOffice did not make a usable PDF (the message says why)."""


def with_pages(
    parsed: ParsedDocument, data: bytes, suffix: str, limits: ReadLimits
) -> ParsedDocument:
    """``parsed`` (a DOCX or PPTX as its reader read it) with page renders from LibreOffice's
    PDF of ``data``; unchanged, with a note saying why, where that cannot be done (unchanged
    and without a note where ``limits.office_pages`` is off)."""
    if not limits.office_pages:
        return parsed
    if parsed.total_pages > limits.max_pages:  # its own breaks or slides: the PDF has as many
        parsed.notes.append(
            f"{NO_PAGES}: it has {parsed.total_pages} pages or more, over the cap of "
            f"{limits.max_pages} (not converted)"
        )
        return parsed
    soffice = which("soffice")
    if soffice is None:
        parsed.notes.append(f"{NO_PAGES}: LibreOffice (soffice) is not installed")
        return parsed
    try:
        pdf_bytes = convert(soffice, data, suffix)
        check_pdf_streams(pdf_bytes)
        return _paged(parsed, pdf_bytes, suffix, limits)
    except Exception as exc:  # the document still goes in, as read
        parsed.notes.append(f"{NO_PAGES}: {exc}")
        return parsed


def convert(soffice: str, data: bytes, suffix: str, timeout: float | None = None) -> bytes:
    """``data`` (a ``suffix`` file) as PDF bytes made by ``soffice``; raises
    :class:`ConversionError` on failure or time-out."""
    limit = CONVERT_TIMEOUT_S if timeout is None else timeout
    with tempfile.TemporaryDirectory(prefix="mmrag-office-") as tmp:
        source = Path(tmp) / f"document{suffix}"
        source.write_bytes(data)
        out, profile = Path(tmp) / "out", Path(tmp) / "profile"
        command = [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(source),
        ]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=tmp,
            env={**os.environ, "HOME": tmp},
            start_new_session=True,  # its own process group, killed whole on time-out
        )
        try:
            _, err = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            _kill(process)
            raise ConversionError(
                f"LibreOffice took over {limit:g} s to convert it to PDF (killed)"
            ) from None
        result = out / "document.pdf"
        if process.returncode != 0 or not result.is_file():
            why = err.decode(errors="replace").strip().splitlines()[-1:] or ["no PDF made"]
            raise ConversionError(
                f"LibreOffice could not convert it to PDF (exit {process.returncode}: {why[0]})"
            )
        if result.stat().st_size > MAX_PDF_BYTES:
            raise ConversionError(f"LibreOffice's PDF is over {MAX_PDF_BYTES} bytes")
        return result.read_bytes()


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _paged(
    parsed: ParsedDocument, pdf_bytes: bytes, suffix: str, limits: ReadLimits
) -> ParsedDocument:
    pages = list(parsed.pages)
    with PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(pdf_bytes)
        except pdfium.PdfiumError as exc:
            raise ConversionError(f"LibreOffice's PDF could not be read ({exc})") from None
        try:
            total = len(pdf)
            if total == 0:
                raise ConversionError("LibreOffice's PDF has no pages")
            if total > limits.max_pages:
                raise ConversionError(
                    f"LibreOffice's PDF has {total} pages, over the cap of {limits.max_pages}"
                )
            texts = [_page_text(pdf, index) for index in range(total)]
        except BaseException:
            pdf.close()
            raise
    try:
        paged = _slides(pages, total) if suffix == ".pptx" else _placed(pages, texts)
    except BaseException:
        with PDFIUM_LOCK:
            pdf.close()
        raise
    rendered = _rendered(pdf, paged, limits, parsed.notes)
    return replace(parsed, pages=rendered, total_pages=total)


def _page_text(pdf: pdfium.PdfDocument, index: int) -> str:
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            return _squeeze(textpage.get_text_range())
        finally:
            textpage.close()
    finally:
        page.close()


def _squeeze(text: str) -> str:
    return _SPACE.sub("", text)


def _slides(pages: list[PagePart], total: int) -> list[PagePart]:
    numbers = [page.number for page in pages]
    if total != max(numbers, default=0):
        raise ConversionError(f"LibreOffice's PDF has {total} pages for {max(numbers)} slides")
    return pages


def _placed(pages: list[PagePart], texts: list[str]) -> list[PagePart]:
    """The DOCX's paragraphs, figures and tables on the PDF pages (see the module's text)."""
    placed = [PagePart(number, "") for number in range(1, len(texts) + 1)]
    lines: list[list[str]] = [[] for _ in texts]
    at, found, looked = 0, 0, 0
    for page in pages:
        first: int | None = None
        for line in page.text.split("\n"):
            key = _squeeze(line)[:MATCH_CHARS]
            if not key:
                continue
            looked += 1
            where = next((i for i in range(at, len(texts)) if key in texts[i]), None)
            if where is not None:
                at, found = where, found + 1
            first = at if first is None else first
            lines[at].append(line)
        start = placed[at if first is None else first]
        start.figures += page.figures
        start.tables += page.tables
        start.heading = start.heading or page.heading
    if looked and found * 2 < looked:
        raise ConversionError(
            f"the text of LibreOffice's PDF does not match the document ({found} of {looked} "
            "paragraphs found)"
        )
    for part, text in zip(placed, lines, strict=True):
        part.text = "\n".join(text)
    return placed


def _rendered(
    pdf: pdfium.PdfDocument, pages: list[PagePart], limits: ReadLimits, notes: list[str]
) -> Iterator[PagePart]:
    """Each page with its render and text runs, made as it is iterated (one render in memory
    at a time; a page that fails to render goes in without); closes the PDF at the end."""
    try:
        for page in pages:
            try:
                with PDFIUM_LOCK:
                    pdf_page = pdf[page.number - 1]
                    try:
                        page.render, _ = render_page(pdf_page, limits.render_pixels)
                        page.lines = page_lines(pdf_page)  # highlights on the render
                    finally:
                        pdf_page.close()
            except Exception as exc:
                notes.append(f"page {page.number}: {NO_PAGES} ({exc})")
            yield page
    finally:
        with PDFIUM_LOCK:
            pdf.close()
