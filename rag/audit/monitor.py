"""Bias and embedding-quality monitoring of a live collection: the audit's figures over a sample
of the stored points, one JSON line a run, and alerts when a gap between groups or a quality
figure drifts past its threshold.

* The sample: the first ``sample`` points in id order (ids are content hashes, so this is an
  even spread), first chunks only; an item's group and label are its metadata keys
  ``group_field`` and ``label_field`` (items lacking either enter only the quality figures).
* Quality figures (as ``mmrag quality`` computes them): mean pairwise distance of images and of
  texts, paired and unpaired image-text cosine, their margin, and the modality gap. A figure
  drifts when it moves more than ``drift_threshold`` from the first record of the history (the
  baseline; remove the file to start a new one).
* History: ``<data_dir>/audit/monitor-<collection>.jsonl``; past 64 MiB it keeps the baseline
  and the newest 32 MiB of records.

Example::

    record = Monitor(services, settings.audit).run_once()
    record["alerts"]   # [{"kind": "gap", "figure": "image.accuracy", "value": 0.4, ...}]
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag import payload as keys
from rag.audit.bias import AuditVectors, BiasReport, SignalVectors, bias_audit
from rag.audit.groups import check_sizes
from rag.audit.weat import DEFAULT_WORD_SETS, WordSets, load_word_sets
from rag.config import AuditSettings
from rag.quality import (
    ItemVectors,
    mean_pairwise_distance,
    mean_unpaired_cosine,
    modality_gap,
)
from rag.store.base import VectorStore

if TYPE_CHECKING:
    from rag.services import Services

log = logging.getLogger(__name__)

HISTORY_DIR = "audit"
MAX_TAIL_BYTES = 4 * 1024 * 1024
"""Most bytes of the history read back for the latest records."""
MAX_HISTORY_BYTES = 64 * 1024 * 1024
"""Past this size the history keeps its first record (the baseline) and the newest ones."""
K = 10
"""Top-k of the exposure and nDCG figures."""

OnRecord = Callable[[dict[str, Any]], None]


def history_path(data_dir: Path, collection: str) -> Path:
    return Path(data_dir) / HISTORY_DIR / f"monitor-{collection}.jsonl"


def sample_collection(
    store: VectorStore, group_field: str, label_field: str, limit: int, page: int = 256
) -> tuple[AuditVectors, list[ItemVectors]]:
    """Up to ``limit`` first-chunk points: the audit's vectors (items with a group and a label)
    and every sampled item's CLIP vectors for the quality figures."""
    rows: dict[str, tuple[list[np.ndarray], list[str], list[str]]] = {}
    quality: list[ItemVectors] = []
    tagged = 0
    offset: str | None = None
    while len(quality) < limit:
        points, offset = store.scroll(limit=page, offset=offset, with_vectors=True)
        for point in points:
            if int(point.payload.get(keys.CHUNK_INDEX) or 0) > 0 or len(quality) >= limit:
                continue
            vectors = {
                name: _unit(point.vectors.get(name)) for name in ("image", "text", "passage")
            }
            quality.append(ItemVectors(point.id, "", vectors["image"], vectors["text"]))
            meta = point.payload.get(keys.METADATA) or {}
            group, label = _tag(meta, group_field), _tag(meta, label_field)
            if group is None or label is None:
                continue
            tagged += 1
            for name, vector in vectors.items():
                if vector is not None:
                    found = rows.setdefault(name, ([], [], []))
                    found[0].append(vector)
                    found[1].append(label)
                    found[2].append(group)
        if offset is None:
            break
    signals = {
        name: SignalVectors(np.stack(v), labels, groups)
        for name, (v, labels, groups) in rows.items()
    }
    labels = sorted({label for s in signals.values() for label in s.labels})
    return AuditVectors(f"collection:{store.collection}", tagged, labels, signals), quality


def quality_figures(items: list[ItemVectors]) -> dict[str, float | None]:
    """The drift-watched figures of :mod:`rag.quality` for ``items``."""
    images = _stack([i.image for i in items])
    texts = _stack([i.text for i in items])
    paired = [i for i in items if i.image is not None and i.text is not None]
    pair_images, pair_texts = _stack([i.image for i in paired]), _stack([i.text for i in paired])
    paired_cos = float((pair_images * pair_texts).sum(axis=1).mean()) if paired else None
    unpaired = mean_unpaired_cosine(pair_images, pair_texts)
    return {
        "mean_pairwise_distance.image": mean_pairwise_distance(images),
        "mean_pairwise_distance.text": mean_pairwise_distance(texts),
        "paired_cosine": paired_cos,
        "unpaired_cosine": unpaired,
        "pair_margin": None if paired_cos is None or unpaired is None else paired_cos - unpaired,
        "modality_gap": modality_gap(images, texts),
    }


def alerts(
    gaps: dict[str, float],
    quality: dict[str, float | None],
    baseline: dict[str, float | None] | None,
    settings: AuditSettings,
) -> list[dict[str, Any]]:
    """Gaps over ``gap_threshold`` and quality figures that moved more than ``drift_threshold``
    from ``baseline``."""
    found = [
        {"kind": "gap", "figure": name, "value": value, "threshold": settings.gap_threshold}
        for name, value in sorted(gaps.items())
        if value > settings.gap_threshold
    ]
    for name, value in sorted(quality.items()):
        before = (baseline or {}).get(name)
        if value is None or before is None:
            continue
        if abs(value - before) > settings.drift_threshold:
            found.append(
                {
                    "kind": "drift",
                    "figure": name,
                    "value": value,
                    "baseline": before,
                    "threshold": settings.drift_threshold,
                }
            )
    return found


def latest_records(path: Path, count: int = 1) -> list[dict[str, Any]]:
    """The last ``count`` records of a history file (newest last); ``[]`` when there is none."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - MAX_TAIL_BYTES))
            tail = handle.read()
    except FileNotFoundError:
        return []
    lines = tail.splitlines()[1:] if size > MAX_TAIL_BYTES else tail.splitlines()
    records = []
    for line in lines[-count:] if count else []:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by a crash mid-write
    return records


class Monitor:
    """Runs the audit over a sample of ``services``' collection, appends the record to the
    history, logs each alert and hands the record to ``on_record`` (the metrics exporter)."""

    def __init__(
        self, services: Services, settings: AuditSettings, on_record: OnRecord | None = None
    ) -> None:
        self.services = services
        self.settings = settings
        self.on_record = on_record
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._run_lock = threading.Lock()

    @property
    def path(self) -> Path:
        base = self.services.settings
        return history_path(base.data_dir, base.store.collection)

    def run_once(self) -> dict[str, Any]:
        """One monitoring run: measure, store, alert; the record."""
        with self._run_lock:
            record = self._measure()
            baseline = self._baseline()
            record["alerts"] = alerts(record["gaps"], record["quality"], baseline, self.settings)
            self._append(record)
        for alert in record["alerts"]:
            log.warning("bias audit alert: %s", json.dumps(alert, sort_keys=True))
        if self.on_record is not None:
            self.on_record(record)
        return record

    def start(self) -> None:
        """Run every ``interval_s`` seconds on a daemon thread (nothing when it is 0)."""
        if self.settings.interval_s <= 0 or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="mmrag-audit", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self.settings.interval_s):
            try:
                self.run_once()
            except Exception:  # one failed run must not end the schedule
                log.exception("bias audit monitoring run failed")

    def _measure(self) -> dict[str, Any]:
        started = time.perf_counter()
        services, settings = self.services, self.settings
        vectors, items = sample_collection(
            services.store, settings.group_field, settings.label_field, settings.sample
        )
        report = audit_live(vectors, services, word_sets(settings))
        report.seconds = time.perf_counter() - started
        return {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "collection": services.settings.store.collection,
            "sampled": len(items),
            "quality": quality_figures(items),
            **report.to_dict(),
        }

    def _baseline(self) -> dict[str, float | None] | None:
        try:
            with open(self.path, "rb") as handle:
                first = handle.readline(MAX_TAIL_BYTES)
            return dict(json.loads(first).get("quality") or {})
        except (FileNotFoundError, json.JSONDecodeError, AttributeError):
            return None

    def _append(self, record: dict[str, Any]) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(record, ensure_ascii=False, default=str) + "\n"
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        if path.stat().st_size > MAX_HISTORY_BYTES:
            _trim(path)


def _trim(path: Path) -> None:
    """Keep the baseline (first record) and the newest records in half of
    :data:`MAX_HISTORY_BYTES`; the file is replaced whole, never left cut."""
    with open(path, "rb") as handle:
        baseline = handle.readline(MAX_TAIL_BYTES)
        handle.seek(max(0, path.stat().st_size - MAX_HISTORY_BYTES // 2))
        newest = handle.read().split(b"\n", 1)[-1]
    spare = path.with_suffix(".jsonl.tmp")
    with open(spare, "wb") as handle:
        handle.write(baseline + newest)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(spare, path)


def audit_live(
    vectors: AuditVectors,
    services: Services,
    sets: tuple[WordSets, ...] = DEFAULT_WORD_SETS,
    k: int = K,
) -> BiasReport:
    """The audit of a collection sample with the models of ``services``; with fewer than two
    labels in the sample only the WEAT tests run (``InvalidInputError`` past the label and
    group bounds of :func:`rag.audit.groups.check_sizes`)."""
    found = list(vectors.signals.values())
    labels = [label for s in found for label in s.labels]
    groups = [group for s in found for group in s.groups]
    if len(set(labels)) < 2:
        vectors = AuditVectors(vectors.source, vectors.items, vectors.labels, {})
    else:
        check_sizes(labels, groups, "the sample")
    return bias_audit(
        vectors,
        services.embedder,
        services.passage_encoder,
        sets,
        k,
        services.settings.classify.templates,
    )


def word_sets(settings: AuditSettings) -> tuple[WordSets, ...]:
    """The configured WEAT word sets, else the defaults."""
    return DEFAULT_WORD_SETS if settings.word_sets is None else load_word_sets(settings.word_sets)


def _tag(meta: Any, field: str) -> str | None:
    if not field or not isinstance(meta, dict):
        return None
    value = meta.get(field)
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text[:200] or None


def _unit(value: Any) -> np.ndarray | None:
    if value is None or not hasattr(value, "__len__"):
        return None
    vector = np.asarray(value, np.float32)
    if vector.ndim != 1:
        return None
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None


def _stack(vectors: list[np.ndarray | None]) -> np.ndarray:
    present = [v for v in vectors if v is not None]
    return np.stack(present) if present else np.zeros((0, 0), np.float32)
