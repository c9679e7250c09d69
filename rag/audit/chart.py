"""A PNG of a bias report, on the figure :func:`rag.quality.plot_projection` draws on
(:func:`rag.quality.new_figure`, :func:`rag.quality.save_figure`): one panel a signal with
accuracy, nDCG and exposure ratio per group, and below them the WEAT effect sizes of each text
tower."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rag.audit.bias import BiasReport
from rag.audit.groups import SignalAudit
from rag.quality import new_figure, save_figure

FIGURES = (
    ("accuracy", "zero-shot accuracy"),
    ("ndcg", "nDCG@k"),
    ("exposure_ratio", "exposure ratio"),
)


def plot_bias(report: BiasReport, path: Path) -> Path:
    """Write the chart of ``report`` to ``path`` (folders made as needed)."""
    columns = max(1, len(report.signals))
    figure = new_figure(max(7.0, 4.2 * columns), 7.5)
    grid = figure.add_gridspec(2, columns, height_ratios=(3, 2))
    for n, signal in enumerate(report.signals):
        _signal_panel(figure.add_subplot(grid[0, n]), signal)
    weat_ax = figure.add_subplot(grid[1, :])
    rows = [
        (f"{tower}: {r.name}", r.effect_size) for tower, found in report.weat.items() for r in found
    ]
    weat_ax.barh([name for name, _ in rows], [value for _, value in rows], color="tab:purple")
    weat_ax.axvline(0.0, color="0.5", linewidth=0.5)
    weat_ax.set_xlim(-2, 2)
    weat_ax.set_title("WEAT effect size (targets x vs y, attributes a vs b)")
    weat_ax.tick_params(axis="y", labelsize=7)
    figure.suptitle(f"Bias audit: {report.source}")
    figure.tight_layout()
    return save_figure(figure, path)


def _signal_panel(ax: Any, signal: SignalAudit) -> None:
    names = [g.group for g in signal.groups]
    width = 0.8 / len(FIGURES)
    top = 1.0
    for n, (attr, title) in enumerate(FIGURES):
        values = [getattr(g, attr) or 0.0 for g in signal.groups]
        top = max(top, *values) if values else top
        ax.bar(np.arange(len(names)) + n * width, values, width, label=title)
    ax.set_xticks(np.arange(len(names)) + width, names)
    ax.axhline(1.0, color="0.7", linewidth=0.5)
    ax.set_ylim(0, top * 1.5)
    ax.set_title(f"{signal.signal} (k={signal.k})")
    ax.legend(loc="upper left", fontsize=6)
