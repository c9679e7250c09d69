"""Near-duplicate pictures at ingest: linked by ``duplicate_of``, reported, never deleted; on the
tiny CLIP and both store engines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ingest.runner import ingest_paths
from rag import payload as keys
from rag.config import StoreSettings
from rag.embedding.base import Embedder
from tests.ingest.checks import all_points
from tests.ingest.conftest import ServicesFactory
from tests.ingest.draw import picture


def _pictures(folder: Path) -> dict[str, Image.Image]:
    """An original, three distinct pictures, and a copy of the original with one pixel
    changed (named to come last)."""
    original = picture(1)
    copy = original.copy()
    copy.putpixel((0, 0), (0, 0, 0))
    shown = {"a.png": original, **{f"b{i}.png": picture(10 + i) for i in range(3)}}
    shown["c-copy.png"] = copy
    for name, image in shown.items():
        image.save(folder / name)
    return shown


def _threshold(embedder: Embedder, shown: dict[str, Image.Image]) -> float:
    """Halfway between the copy's cosine to the original and the highest cosine of two
    different pictures (the test needs the tiny CLIP to tell them apart)."""
    names = list(shown)
    vectors = embedder.embed_images(list(shown.values()))
    cos = vectors @ vectors.T / np.outer(*(2 * [np.linalg.norm(vectors, axis=1)]))
    copy, original = names.index("c-copy.png"), names.index("a.png")
    others = [cos[i, j] for i in range(len(names)) for j in range(i) if {i, j} != {copy, original}]
    assert cos[copy, original] > max(others) + 1e-4
    return float((cos[copy, original] + max(others)) / 2)


def _by_source(services) -> dict[str, dict]:
    return {p.payload[keys.SOURCE]: p.payload | {"id": p.id} for p in all_points(services.store)}


@pytest.mark.parametrize("batch_size", [1, 32])
def test_a_near_duplicate_picture_is_linked_and_reported_and_kept(
    make_services: ServicesFactory,
    store_settings: StoreSettings,
    folder: Path,
    tiny_embedder: Embedder,
    batch_size: int,
) -> None:
    shown = _pictures(folder)
    threshold = _threshold(tiny_embedder, shown)
    services = make_services(
        store_settings, batch_size=batch_size, duplicate_threshold=threshold, policy="overwrite"
    )
    report = ingest_paths(services, [folder])
    points = _by_source(services)
    assert len(points) == 5 and report.written == 5
    assert points["c-copy.png"][keys.DUPLICATE_OF] == points["a.png"]["id"]
    assert [p for p in points if keys.DUPLICATE_OF in points[p]] == ["c-copy.png"]
    [reported] = report.near_duplicates
    assert reported.source.endswith("c-copy.png")
    assert f"near-duplicate of point {points['a.png']['id']}" in reported.reason
    again = ingest_paths(services, [folder])  # overwrite: the original must not link to its copy
    assert again.written == 5
    assert {p: v.get(keys.DUPLICATE_OF) for p, v in _by_source(services).items()} == {
        p: v.get(keys.DUPLICATE_OF) for p, v in points.items()
    }


def test_without_a_threshold_nothing_is_linked(
    make_services: ServicesFactory, folder: Path
) -> None:
    _pictures(folder)
    services = make_services()
    report = ingest_paths(services, [folder])
    assert report.near_duplicates == []
    assert all(keys.DUPLICATE_OF not in p for p in _by_source(services).values())
