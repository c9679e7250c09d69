"""The DOCX reader asks python-docx for a style once per style id, not once per paragraph."""

from __future__ import annotations

import io

import docx
import pytest
from docx.styles.styles import Styles

from ingest.documents.docx import read_docx
from ingest.documents.model import ReadLimits


def _docx(paragraphs: int) -> bytes:
    document = docx.Document()
    document.add_heading("Boiler manual", level=1)
    for n in range(paragraphs):
        document.add_paragraph(f"Paragraph {n} about the burner.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_styles_are_looked_up_per_style_not_per_paragraph(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = []
    default = Styles.default

    def counted(self: Styles, style_type: object) -> object:
        calls.append(style_type)
        return default(self, style_type)

    monkeypatch.setattr(Styles, "default", counted)
    parsed = read_docx(_docx(300), "manual", ReadLimits())
    assert len(calls) <= 2  # not 300: each call scans every style of the document
    assert parsed.title == "Boiler manual"  # the heading's style still read
    assert "Paragraph 299 about the burner." in parsed.pages[0].text
