"""The embedding quality report: figures against brute force, a PNG, a real collection."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.runner import ingest_paths
from rag.demo.collection import write_sample_collection
from rag.quality import (
    ItemVectors,
    best_clustering,
    collect_vectors,
    mean_pairwise_distance,
    mean_unpaired_cosine,
    modality_gap,
    near_duplicates,
    plot_projection,
    quality_report,
)
from rag.services import Services


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


RNG = np.random.default_rng(0)
IMAGES = _unit(RNG.normal(size=(30, 8)))
TEXTS = _unit(IMAGES + 0.3 * RNG.normal(size=(30, 8)))


def test_closed_forms_match_brute_force() -> None:
    n = len(IMAGES)
    cos = IMAGES @ IMAGES.T
    assert mean_pairwise_distance(IMAGES) == pytest.approx(
        1 - (cos.sum() - np.trace(cos)) / (n * (n - 1)), abs=1e-5
    )
    cross = IMAGES @ TEXTS.T
    expected = (cross.sum() - np.trace(cross)) / (n * (n - 1))
    assert mean_unpaired_cosine(IMAGES, TEXTS) == pytest.approx(expected, abs=1e-5)
    gap = np.linalg.norm(IMAGES.mean(0) - TEXTS.mean(0))
    assert modality_gap(IMAGES, TEXTS) == pytest.approx(gap, abs=1e-6)
    assert mean_pairwise_distance(np.repeat(IMAGES[:1], 5, axis=0)) == pytest.approx(0, abs=1e-6)


def test_two_clear_clusters_are_found() -> None:
    centres = _unit(np.eye(8)[:2] * 10)
    points = _unit(np.repeat(centres, 20, axis=0) + 0.05 * RNG.normal(size=(40, 8)))
    best = best_clustering(points, max_clusters=5)
    assert best is not None and best.k == 2 and best.score > 0.8


def test_report_on_items_with_a_duplicate_and_missing_vectors(tmp_path: Path) -> None:
    items = [ItemVectors(str(i), f"{i}.png", IMAGES[i], TEXTS[i]) for i in range(30)]
    items += [
        ItemVectors("copy", "copy.png", IMAGES[0], None),
        ItemVectors("t", "t.txt", None, TEXTS[1]),
    ]
    report = quality_report(items, max_clusters=4)
    assert (report.items, report.images, report.texts, report.pairs) == (32, 31, 31, 30)
    assert report.paired_cosine > report.unpaired_cosine
    assert report.pair_margin == pytest.approx(report.paired_cosine - report.unpaired_cosine)
    assert report.near_duplicate_count == {"image": 1, "text": 1}
    assert {(d.a, d.b) for d in report.near_duplicates} == {("0", "copy"), ("1", "t")}
    assert near_duplicates(items, "image", threshold=1.01) == []
    assert len(report.rows()) == 11 and report.to_dict()["pair_margin"] is not None
    png = plot_projection(items, tmp_path / "out" / "q.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_on_an_ingested_collection(settings, tmp_path: Path) -> None:
    folder = tmp_path / "pictures"
    write_sample_collection(folder, count=12, size=32)
    services = Services(settings)
    try:
        ingest_paths(services, [folder])
        items = collect_vectors(services.store, limit=10, page=4)
    finally:
        services.close()
    assert len(items) == 10 and all(i.image is not None and i.text is not None for i in items)
    assert all(abs(float(np.linalg.norm(i.image)) - 1) < 1e-5 for i in items)
    assert quality_report(items, max_clusters=3).pairs == 10
