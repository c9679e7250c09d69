"""Documents made in the tests: known text on known pages, known figures."""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.backends.backend_pdf import PdfPages
from PIL import Image

PAGE_FACTS = {
    1: "The Aurora pump station was built in 1987 beside the northern reservoir.",
    2: "Maintenance crews inspect the intake filters every second Tuesday of the month.",
    3: "The main pump needs a supply of 230 volts and draws 12 amperes at full load.",
    4: "Spare impellers are kept in the blue cabinet in room 14 of the east wing.",
}
FIGURE_CAPTIONS = {
    2: "Figure 1: Monthly flow through the intake in cubic metres",
    4: "Figure 2: Layout of the east wing storage rooms",
}


def _colour(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((24, 32, 3))


def write_pdf(
    path: Path, facts: dict[int, str] | None = None, title: str = "Aurora manual"
) -> Path:
    """A PDF of one page per fact (text layer as TrueType, so it extracts), a raster figure with
    a caption under it on the pages of :data:`FIGURE_CAPTIONS` (drawn once per content)."""
    path.write_bytes(_pdf_bytes(tuple(sorted((facts or PAGE_FACTS).items())), title))
    return path


@functools.cache
def _pdf_bytes(facts: tuple[tuple[int, str], ...], title: str) -> bytes:
    buffer = io.BytesIO()
    _draw_pdf(buffer, dict(facts), title)
    return buffer.getvalue()


def _draw_pdf(path: Any, facts: dict[int, str], title: str) -> None:
    with (
        matplotlib.rc_context({"pdf.fonttype": 42}),
        PdfPages(path, metadata={"Title": title}) as pdf,
    ):
        for number, fact in sorted(facts.items()):
            fig = plt.figure(figsize=(6, 8))
            fig.text(0.08, 0.94, f"Section {number}: {title}", fontsize=13)
            fig.text(0.08, 0.88, fact, fontsize=8, wrap=True)
            if number in FIGURE_CAPTIONS:
                ax = fig.add_axes((0.2, 0.35, 0.6, 0.4))
                ax.imshow(_colour(number), interpolation="nearest")
                ax.set_axis_off()
                fig.text(0.2, 0.3, FIGURE_CAPTIONS[number], fontsize=8)
            pdf.savefig(fig)
            plt.close(fig)


def png_bytes(seed: int, size: tuple[int, int] = (96, 80)) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype("uint8"))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_docx(path: Path, picture: bytes | None = None) -> Path:
    """Two pages (an explicit page break): a heading, paragraphs, a table; a picture with its
    caption paragraph on page 2."""
    import docx
    from docx.shared import Inches

    document = docx.Document()
    document.core_properties.title = "Boiler handbook"
    document.add_heading("Safety", level=1)
    document.add_paragraph("Always close the gas valve before opening the burner door.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Part", "Torque"
    table.cell(1, 0).text, table.cell(1, 1).text = "Flange bolt", "45 Nm"
    document.add_page_break()
    document.add_heading("Parts", level=1)
    document.add_paragraph("The burner assembly is shown below.")
    document.add_picture(io.BytesIO(picture or png_bytes(7)), width=Inches(2))
    document.add_paragraph("Figure 3: Burner assembly seen from the left", style="Caption")
    document.save(path)
    return path


def write_pptx(path: Path, picture: bytes | None = None) -> Path:
    """Two slides: a title slide with notes, a picture slide with alt text."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Quarterly results"
    slide.placeholders[1].text = "Revenue grew by 14 percent in the third quarter."
    slide.notes_slide.notes_text_frame.text = "Mention the new Oslo office."
    slide = deck.slides.add_slide(deck.slide_layouts[5])
    slide.shapes.title.text = "Sales by region"
    shape = slide.shapes.add_picture(io.BytesIO(picture or png_bytes(8)), Inches(1), Inches(2))
    shape._element.nvPicPr.cNvPr.set("descr", "Bar chart of sales by region")
    deck.save(path)
    return path


def minimal_pdf(pages: int = 1, encrypt: bool = False, size: tuple[int, int] = (200, 200)) -> bytes:
    """A hand-written PDF: ``pages`` empty pages of ``size`` points; ``encrypt`` adds a standard
    security handler whose user password is not empty (so it cannot be opened without it)."""
    kids = " ".join(f"{3 + i} 0 R" for i in range(pages))
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>",
    ]
    objects += [
        f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {size[0]} {size[1]}] >>" for _ in range(pages)
    ]
    trailer_extra = ""
    if encrypt:
        objects.append(
            "<< /Filter /Standard /V 1 /R 2 /P -4 /O <" + "ab" * 32 + "> /U <" + "cd" * 32 + "> >>"
        )
        trailer_extra = f" /Encrypt {len(objects)} 0 R /ID [<{'11' * 16}> <{'11' * 16}>]"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode()
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{trailer_extra} >>\n"
        f"startxref\n{xref}\n%%EOF\n"
    ).encode()
    return bytes(out)


def zip_bomb_docx(path: Path, source: Path, megabytes: int = 4) -> Path:
    """A copy of the DOCX ``source`` with one extra part of zeros that compresses ~1000x."""
    import shutil
    import zipfile

    shutil.copy(source, path)
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/bomb.bin", b"\0" * (megabytes * 1024 * 1024))
    return path
