"""The PDF pre-scan bounds what compressed streams inflate to before PDFium loads them."""

from __future__ import annotations

import base64
import time
import zlib

import pytest

from ingest.documents import pdfstreams
from ingest.documents.model import ReadLimits
from ingest.documents.pdf import read_pdf
from ingest.documents.pdfstreams import check_pdf_streams
from rag.errors import InvalidInputError
from tests.fuzz import hostile

MIB = 1 << 20


def _one_page(stream_entries: bytes, data: bytes) -> bytes:
    pdf = hostile.Pdf()
    pdf.add(b"")
    stream = pdf.add(
        b"<< /Length %d %s >>\nstream\n%s\nendstream" % (len(data), stream_entries, data)
    )
    page = pdf.add(b"<< /Type /Page /Parent 0 0 R /MediaBox [0 0 612 792] /Contents [%d 0 R] >>"
                   % stream)  # fmt: skip
    root = hostile._pdf_pages(pdf, [page])
    pdf.set(1, b"<< /Type /Catalog /Pages %d 0 R >>" % root)
    return pdf.bytes()


def test_a_content_stream_bomb_is_refused_before_pdfium_reads_it(monkeypatch) -> None:
    monkeypatch.setattr(pdfstreams, "MAX_PDF_STREAM_BYTES", 2 * MIB)
    with pytest.raises(InvalidInputError, match=r"inflate to over 2097152 bytes.*compression bomb"):
        read_pdf(hostile.pdf_bomb_stream(3), "a.pdf", ReadLimits())


def test_streams_under_the_cap_are_counted_and_the_pdf_reads(monkeypatch) -> None:
    data = hostile.pdf_bomb_stream(1)
    assert check_pdf_streams(data) == MIB
    monkeypatch.setattr(pdfstreams, "MAX_PDF_STREAM_BYTES", 2 * MIB)
    parsed = read_pdf(data, "a.pdf", ReadLimits(max_pages=1))
    assert [page.number for page in parsed.pages] == [1]


def test_pictures_are_not_counted() -> None:
    data = hostile.pdf_document(image=(4000, 4000), placements=1)
    assert check_pdf_streams(data, cap=1024) < 1024


def test_a_picture_stream_drawn_as_page_contents_is_counted() -> None:
    spaces = zlib.compress(b" " * (2 * MIB), 9)
    data = _one_page(b"/Subtype /Image /Width 1 /Height 1 /Filter /FlateDecode", spaces)
    with pytest.raises(InvalidInputError, match="compression bomb"):
        check_pdf_streams(data, cap=MIB)


def test_flate_behind_ascii85_is_counted() -> None:
    packed = base64.a85encode(zlib.compress(b" " * (2 * MIB), 9)) + b"~>"
    data = _one_page(b"/Filter [/ASCII85Decode /FlateDecode]", packed)
    with pytest.raises(InvalidInputError, match="compression bomb"):
        check_pdf_streams(data, cap=MIB)
    assert check_pdf_streams(data, cap=4 * MIB) == 2 * MIB


def test_a_corrupt_stream_counts_what_inflated_before_the_damage() -> None:
    packed = zlib.compress(b" " * MIB, 9)
    data = _one_page(b"/Filter /FlateDecode", packed[:-30] + b"\xff" * 40)
    assert 0 < check_pdf_streams(data) <= MIB


@pytest.mark.parametrize("length", [b"/Length 10", b"/Length 99 0 R"])
def test_a_wrong_or_indirect_length_does_not_hide_a_stream(length) -> None:
    packed = zlib.compress(b" " * (2 * MIB), 9)
    data = _one_page(b"/Filter /FlateDecode", packed).replace(b"/Length %d" % len(packed), length)
    with pytest.raises(InvalidInputError, match="compression bomb"):
        check_pdf_streams(data, cap=MIB)


def _lzw(data: bytes) -> bytes:
    """``data`` LZW-encoded as PDF's LZWDecode reads it (early change, a clear every 4000)."""
    runs: list[list[int]] = [[]]
    table: dict[tuple[int, int], int] = {}
    word = None
    for byte in data:
        if word is None:
            word = byte
        elif (word, byte) in table:
            word = table[word, byte]
        else:
            runs[-1].append(word)
            table[word, byte] = 258 + len(table)
            word = byte
            if len(table) > 3700:
                runs[-1].append(word)
                runs.append([])
                table, word = {}, None
    if word is not None:
        runs[-1].append(word)
    acc, bits = 256, 9  # a clear, then each run ended by a clear (the last by an end)
    for run_index, run in enumerate(runs):
        codes = [*run, 257 if run_index == len(runs) - 1 else 256]
        for index, code in enumerate(codes):
            reader_next = 258 + max(0, index - 1)  # the reader's table as it reads this code
            width = 9 if reader_next < 511 else 10 if reader_next < 1023 else 11
            width = width if reader_next < 2047 else 12
            acc, bits = (acc << width) | code, bits + width
    acc <<= -bits % 8
    return acc.to_bytes((bits + 7) // 8, "big")


def test_lzw_streams_are_counted_as_pdfium_decodes_them() -> None:
    text = b"BT /F1 12 Tf 72 720 Td (Hello LZW) Tj ET"
    data = _one_page(b"/Filter /LZWDecode", _lzw(text))
    assert check_pdf_streams(data) == len(text)
    assert "Hello LZW" in next(iter(read_pdf(data, "a.pdf", ReadLimits()).pages)).text
    bomb = _one_page(b"/Filter /LZWDecode", _lzw(b" " * MIB))
    assert check_pdf_streams(bomb, cap=2 * MIB) == MIB
    with pytest.raises(InvalidInputError, match="compression bomb"):
        check_pdf_streams(bomb, cap=MIB // 2)


def test_long_runs_of_digits_and_names_scan_in_linear_time() -> None:
    picture = b"2 0 obj << /Subtype /Image /Filter /FlateDecode /Length 1 >> stream\nx\nendstream\n"
    digits = b"1 0 obj << /Length " + b"9" * 100_000 + b" >> stream\nendstream\n"
    filters = b"3 0 obj << " + b"/Filter [" * 6000 + b" >> stream\nx\nendstream\n"
    contents = b"/Contents [" * 100_000 + b"/Contents [" + b"9" * 100_000 + b"]"
    started = time.perf_counter()
    assert check_pdf_streams(picture + digits + filters * 20 + contents) == 0
    assert time.perf_counter() - started < 5  # quadratic regular expressions took over 70 s
