"""The sample collection of ``mmrag demo``: synthetic pictures with a description each, on disk
in the folder layout ``mmrag ingest`` reads (``scene-0001.png`` + ``scene-0001.json`` sidecar).

Example::

    items = write_sample_collection(Path("data/sample"), count=200)
    items[0].scene.caption()   # 'two small red circles above a blue square on a white background'
"""

from __future__ import annotations

import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.demo.scenes import Scene, draw_scene, random_scene

PREFIX = "scene-"


@dataclass(frozen=True)
class SampleItem:
    """One picture of the sample collection: its external ``id``, scene and image file."""

    id: str
    scene: Scene
    image_path: Path

    def metadata(self) -> dict[str, Any]:
        """What the sidecar stores as metadata (filterable in searches)."""
        scene = self.scene
        colours = sorted({scene.first.colour, *([scene.second.colour] if scene.second else [])})
        shapes = sorted({scene.first.shape, *([scene.second.shape] if scene.second else [])})
        return {
            "caption": scene.caption(),
            "count": scene.first.count,
            "size": scene.first.size,
            "colours": colours,
            "shapes": shapes,
            "relation": scene.relation,
            "background": scene.background,
        }


def sample_scenes(count: int, seed: int = 0) -> list[Scene]:
    """``count`` scenes with distinct captions, the same for the same ``seed``."""
    rng = random.Random(f"sample-{seed}")
    scenes: dict[str, Scene] = {}
    while len(scenes) < count:
        scene = random_scene(rng)
        scenes.setdefault(scene.caption(), scene)
    return list(scenes.values())


def write_sample_collection(
    folder: Path, count: int = 200, seed: int = 0, size: int = 128
) -> list[SampleItem]:
    """Write the pictures and their sidecars into ``folder`` (files of a larger earlier run are
    removed); returns the items in order."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    items = []
    for number, scene in enumerate(sample_scenes(count, seed), start=1):
        item_id = f"{PREFIX}{number:04d}"
        item = SampleItem(item_id, scene, folder / f"{item_id}.png")
        _write_item(item, size)
        items.append(item)
    _remove_extra(folder, {item.id for item in items})
    return items


def _write_item(item: SampleItem, size: int) -> None:
    sidecar = {"id": item.id, "text": item.scene.description(), "metadata": item.metadata()}
    text = json.dumps(sidecar, indent=1) + "\n"
    _write_if_changed(item.image_path.with_suffix(".json"), text.encode("utf-8"))
    picture = io.BytesIO()
    draw_scene(item.scene, size).save(picture, format="PNG")
    _write_if_changed(item.image_path, picture.getvalue())


def _write_if_changed(path: Path, data: bytes) -> None:
    """Leave identical files alone, so re-running the demo re-ingests nothing."""
    if not path.is_file() or path.read_bytes() != data:
        path.write_bytes(data)


def _remove_extra(folder: Path, keep: set[str]) -> None:
    for path in folder.glob(f"{PREFIX}*"):
        if path.suffix in (".png", ".json") and path.stem not in keep:
            path.unlink()
