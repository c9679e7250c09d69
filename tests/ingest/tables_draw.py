"""Documents with tables, made in the tests: a ruled table in a PDF, tables in DOCX and PPTX."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.backends.backend_pdf import PdfPages

TORQUES = [["Part", "Torque"], ["Flange bolt", "45 Nm"], ["Pump housing ZK-3391", "80 Nm"]]
PROSE = "The torque values below were measured on the test bench in March."


def write_table_pdf(path: Path, rows: list[list[str]] | None = None) -> Path:
    """Two pages: page 1 prose only, page 2 a sentence above a ruled table of ``rows`` (first
    row the header)."""
    rows = rows or TORQUES
    buffer = io.BytesIO()
    with matplotlib.rc_context({"pdf.fonttype": 42}), PdfPages(buffer) as pdf:
        fig = plt.figure(figsize=(6, 8))
        fig.text(0.08, 0.9, "Section 1: Assembly", fontsize=13)
        fig.text(0.08, 0.85, "Bolts are tightened in a star pattern.", fontsize=9)
        pdf.savefig(fig)
        plt.close(fig)
        fig = plt.figure(figsize=(6, 8))
        fig.text(0.08, 0.9, "Section 2: Torques", fontsize=13)
        fig.text(0.08, 0.85, PROSE, fontsize=9)
        ax = fig.add_axes((0.1, 0.35, 0.8, 0.4))
        ax.set_axis_off()
        ax.table(cellText=rows[1:], colLabels=rows[0], loc="center")
        pdf.savefig(fig)
        plt.close(fig)
    path.write_bytes(buffer.getvalue())
    return path


def write_table_docx(path: Path, rows: list[list[str]] | None = None) -> Path:
    """A paragraph, then a table of ``rows``."""
    import docx

    rows = rows or TORQUES
    document = docx.Document()
    document.add_paragraph(PROSE)
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.save(path)
    return path


def write_table_pptx(path: Path, rows: list[list[str]] | None = None) -> Path:
    """One slide: a title and a table of ``rows``."""
    from pptx import Presentation
    from pptx.util import Inches

    rows = rows or TORQUES
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Torques"
    size = (Inches(1), Inches(2), Inches(6), Inches(2))
    shape = slide.shapes.add_table(len(rows), len(rows[0]), *size)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            shape.table.cell(r, c).text = value
    deck.save(path)
    return path
