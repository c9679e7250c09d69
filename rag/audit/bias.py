"""The bias audit: per-group zero-shot accuracy, retrieval exposure and nDCG for each signal of
the loaded models, WEAT associations of their text towers, and the gaps between groups.

Signals (each where the items have what it needs):

* ``image``: CLIP label prompts (the zero-shot template ensemble) against picture vectors;
* ``text``: CLIP text vectors of the labels against those of the items' texts;
* ``passage``: the passage model's label queries against the items' texts as documents.

Example::

    vectors = embed_labelled_set(items, folder, embedder, passage)
    report = bias_audit(vectors, embedder, passage)
    print(report.rows())
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.audit.groups import GAP_FIGURES, SignalAudit, audit_signal
from rag.audit.labelled import LabelledItem, read_picture
from rag.audit.weat import DEFAULT_WORD_SETS, WeatResult, WordSets, weat
from rag.classify import ZeroShotClassifier
from rag.config import CLASSIFY_TEMPLATES
from rag.embedding.base import Embedder, PassageEncoder

BATCH = 32
SIGNALS = ("image", "text", "passage")


@dataclass(frozen=True)
class SignalVectors:
    """Item vectors of one signal with each row's label and group."""

    vectors: np.ndarray
    labels: list[str]
    groups: list[str]


@dataclass(frozen=True)
class AuditVectors:
    """What an audit measures: the labels (queries) and each signal's item vectors."""

    source: str
    items: int
    labels: list[str]
    signals: dict[str, SignalVectors]


@dataclass
class BiasReport:
    """Every figure of an audit; ``gaps`` flattens each signal's gaps as ``signal.figure``."""

    source: str
    models: dict[str, str]
    items: int
    labels: list[str]
    groups: list[str]
    signals: list[SignalAudit]
    weat: dict[str, list[WeatResult]]
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gaps(self) -> dict[str, float]:
        return {
            f"{s.signal}.{name}": value
            for s in self.signals
            for name, value in s.gaps.items()
            if value is not None
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "models": self.models,
            "items": self.items,
            "labels": self.labels,
            "groups": self.groups,
            "signals": [s.to_dict() for s in self.signals],
            "weat": {tower: [r.to_dict() for r in found] for tower, found in self.weat.items()},
            "gaps": self.gaps,
            "seconds": self.seconds,
            **self.extra,
        }

    def rows(self) -> list[tuple[str, str]]:
        """(figure, value) rows for a table: every metric of the report."""
        rows = [
            ("items / labels / groups", f"{self.items} / {len(self.labels)} / {len(self.groups)}")
        ]
        for s in self.signals:
            rows.append((f"{s.signal}: zero-shot accuracy", _num(s.accuracy)))
            rows.append((f"{s.signal}: nDCG@{s.k}", _num(s.ndcg)))
            for g in s.groups:
                rows.append((f"{s.signal} ({g.group}): accuracy", _num(g.accuracy)))
                rows.append((f"{s.signal} ({g.group}): nDCG@{s.k}", _num(g.ndcg)))
                share = f"{g.top_k_share:.3f} of top-{s.k} (items {g.share:.3f})"
                rows.append((f"{s.signal} ({g.group}): exposure", share))
                rows.append((f"{s.signal} ({g.group}): exposure ratio", _num(g.exposure_ratio)))
            for name in GAP_FIGURES:
                rows.append((f"{s.signal}: gap in {name}", _num(s.gaps.get(name))))
        for tower, found in self.weat.items():
            for r in found:
                value = f"d={r.effect_size:+.3f} S={r.statistic:+.4f} p={r.p_value:.3f}"
                rows.append((f"WEAT {tower}: {r.name}", value))
        rows.append(("seconds", f"{self.seconds:.2f}"))
        return rows


def embed_labelled_set(
    items: Sequence[LabelledItem],
    folder: Path,
    embedder: Embedder,
    passage: PassageEncoder | None,
    source: str = "",
) -> AuditVectors:
    """Embed a labelled set's pictures (CLIP) and texts (CLIP text and the passage model)."""
    pictured = [i for i in items if i.image is not None]
    texted = [i for i in items if i.text is not None]
    signals: dict[str, SignalVectors] = {}
    if pictured:
        vectors = np.concatenate(
            [
                embedder.embed_images([read_picture(folder, i) for i in pictured[n : n + BATCH]])
                for n in range(0, len(pictured), BATCH)
            ]
        )
        signals["image"] = _signal(vectors, pictured)
    if texted:
        texts = [str(i.text) for i in texted]
        signals["text"] = _signal(embedder.embed_texts(texts), texted)
        if passage is not None:
            signals["passage"] = _signal(passage.encode_documents(texts), texted)
    labels = sorted({i.label for i in items})
    return AuditVectors(source or str(folder), len(items), labels, signals)


def bias_audit(
    vectors: AuditVectors,
    embedder: Embedder,
    passage: PassageEncoder | None,
    word_sets: Sequence[WordSets] = DEFAULT_WORD_SETS,
    k: int = 5,
    templates: Sequence[str] = CLASSIFY_TEMPLATES,
) -> BiasReport:
    """Every figure for ``vectors`` (see the module docstring)."""
    started = time.perf_counter()
    labels = vectors.labels
    queries = {
        "image": lambda: ZeroShotClassifier(embedder, templates).label_vectors(labels),
        "text": lambda: embedder.embed_texts(labels),
        "passage": lambda: None if passage is None else passage.encode_queries(labels),
    }
    audits = []
    for name in SIGNALS:
        found = vectors.signals.get(name)
        label_vectors = queries[name]() if found is not None and len(found.labels) else None
        if found is not None and label_vectors is not None:
            audits.append(
                audit_signal(
                    name, label_vectors, found.vectors, found.labels, found.groups, labels, k
                )
            )
    towers: dict[str, Any] = {"clip": embedder.embed_texts}
    if passage is not None:
        towers["passage"] = passage.encode_queries
    weats = {tower: [weat(encode, s) for s in word_sets] for tower, encode in towers.items()}
    groups = sorted({g for s in vectors.signals.values() for g in s.groups})
    models = {"clip": embedder.model_id}
    if passage is not None:
        models["passage"] = passage.model_id
    return BiasReport(
        source=vectors.source,
        models=models,
        items=vectors.items,
        labels=labels,
        groups=groups,
        signals=audits,
        weat=weats,
        seconds=time.perf_counter() - started,
    )


def _signal(vectors: np.ndarray, items: Sequence[LabelledItem]) -> SignalVectors:
    return SignalVectors(
        np.asarray(vectors, np.float32), [i.label for i in items], [i.group for i in items]
    )


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
