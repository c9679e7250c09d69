"""The sample document of ``mmrag demo``: a small PDF (matplotlib's PDF backend) whose pages each
describe and picture one shelf of a shape warehouse, so a question has a known page.

Example::

    doc = write_sample_document(Path("data/sample-documents"))
    doc.question  # 'Which shelf holds three small blue squares below a yellow triangle ...?'
    doc.page      # 3: the page that answers it
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from rag.demo.collection import sample_scenes
from rag.demo.scenes import Scene, draw_scene

FILE_NAME = "shape-warehouse.pdf"
TITLE = "Shape warehouse guide"
SHELVES = "ABCD"
ANSWER_PAGE = 3


@dataclass(frozen=True)
class SampleDocument:
    """The written PDF, the question the demo asks and the page that answers it."""

    path: Path
    question: str
    page: int
    shelf: str


def write_sample_document(folder: Path, seed: int = 7) -> SampleDocument:
    """Write the PDF into ``folder`` (left alone when its bytes would not change)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scenes = sample_scenes(len(SHELVES), seed)
    path = folder / FILE_NAME
    data = _pdf(scenes)
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)
    answer = scenes[ANSWER_PAGE - 1]
    question = f"Which shelf holds {answer.caption()}?"
    return SampleDocument(path, question, ANSWER_PAGE, SHELVES[ANSWER_PAGE - 1])


def _pdf(scenes: list[Scene]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    metadata = {"Title": TITLE, "CreationDate": None, "Creator": "mmrag demo"}
    with (
        matplotlib.rc_context({"pdf.fonttype": 42}),
        PdfPages(buffer, metadata=metadata) as pdf,
    ):
        for number, (shelf, scene) in enumerate(zip(SHELVES, scenes, strict=True), start=1):
            figure = plt.figure(figsize=(6, 8))
            figure.text(0.08, 0.94, f"Shelf {shelf}", fontsize=14)
            lines = [
                f"Shelf {shelf} of the shape warehouse holds {scene.caption()}.",
                f"Everything on shelf {shelf} is counted every Monday morning.",
            ]
            for row, line in enumerate(lines):
                figure.text(0.08, 0.88 - 0.03 * row, line, fontsize=7)
            axes = figure.add_axes((0.2, 0.3, 0.6, 0.45))
            axes.imshow(draw_scene(scene, 256))
            axes.set_axis_off()
            caption = f"Figure {number}: shelf {shelf} holds {scene.caption()}"
            figure.text(0.1, 0.26, caption, fontsize=7)
            pdf.savefig(figure)
            plt.close(figure)
    return buffer.getvalue()
