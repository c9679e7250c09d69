"""Documents made in the tests: known text on known pages, known figures."""

from __future__ import annotations

import io
from pathlib import Path

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
    a caption under it on the pages of :data:`FIGURE_CAPTIONS`."""
    facts = facts or PAGE_FACTS
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
    return path


def png_bytes(seed: int, size: tuple[int, int] = (96, 80)) -> bytes:
    rng = np.random.default_rng(seed)
    image = Image.fromarray((rng.random((size[1], size[0], 3)) * 255).astype("uint8"))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
