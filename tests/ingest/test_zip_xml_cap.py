"""DOCX and PPTX: the XML parts' total unpacked size is capped before a library parses them."""

from __future__ import annotations

import io
import random
import string
import zipfile

import docx
import pytest

from ingest.documents import zipcheck
from ingest.documents.docx import read_docx
from ingest.documents.model import ReadLimits
from ingest.documents.zipcheck import check_zip
from rag.errors import InvalidInputError

KIB = 1 << 10


def _docx_with_text(chars: int) -> bytes:
    """A real DOCX whose body holds ``chars`` of random words (XML that compresses ~3x, well
    within the ratio cap)."""
    words = random.Random(7)
    document = docx.Document()
    line = 2000
    for _ in range(chars // line):
        document.add_paragraph("".join(words.choices(string.ascii_lowercase + " ", k=line)))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_xml_parts_over_the_cap_are_refused_before_parsing(monkeypatch) -> None:
    monkeypatch.setattr(zipcheck, "MAX_XML_BYTES", 1024 * KIB)  # python-docx's template: 800 KiB
    data = _docx_with_text(512 * KIB)
    with pytest.raises(InvalidInputError, match=r"XML parts unpack to .* over the cap of 1048576"):
        read_docx(data, "a.docx", ReadLimits())


def test_xml_parts_under_the_cap_read(monkeypatch) -> None:
    monkeypatch.setattr(zipcheck, "MAX_XML_BYTES", 2048 * KIB)
    parsed = read_docx(_docx_with_text(512 * KIB), "a.docx", ReadLimits())
    assert sum(len(page.text) for page in parsed.pages) > 500 * KIB


def test_a_part_given_an_xml_type_counts_whatever_its_name(monkeypatch) -> None:
    monkeypatch.setattr(zipcheck, "MAX_XML_BYTES", 256 * KIB)
    text = "".join(random.Random(3).choices(string.ascii_lowercase, k=200 * KIB)).encode()
    types = (
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="dat" ContentType="application/xml"/>'
        '<Override PartName="/word/media/a.png" ContentType="application/vnd.openxmlformats-'
        'officedocument.wordprocessingml.header+xml"/></Types>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", types)
        archive.writestr("word/media/a.png", text)  # typed as a header
        archive.writestr("word/b.dat", text)  # typed as XML by its extension
        archive.writestr("word/media/c.png", text)  # a picture: not counted
    counted = len(types) + 2 * len(text)
    with pytest.raises(InvalidInputError, match=f"unpack to {counted} bytes"):
        check_zip(buffer.getvalue(), "DOCX", ReadLimits())
