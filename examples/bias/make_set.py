"""Write the example labelled set of ``mmrag audit bias``: 24 small drawn pictures (a circle, a
square or a triangle in one of three colours, on a light or a dark background), a caption each,
the shape as the class label and the background as the group. Drawn here, so free of any licence.

    python examples/bias/make_set.py        # rewrites examples/bias/set.jsonl and pictures/
    python examples/bias/make_set.py DIR    # also DIR: the set as a folder for ``mmrag ingest``
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle")
COLOURS = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 70, 220),
    "yellow": (230, 200, 30),
}
BACKGROUNDS = {"light": (245, 245, 240), "dark": (30, 30, 35)}
SIZE = 32


def draw(shape: str, colour: tuple[int, int, int], background: tuple[int, int, int]) -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE), background)
    pen = ImageDraw.Draw(image)
    box = (6, 6, SIZE - 6, SIZE - 6)
    if shape == "circle":
        pen.ellipse(box, fill=colour)
    elif shape == "square":
        pen.rectangle(box, fill=colour)
    else:
        pen.polygon([(SIZE // 2, 5), (SIZE - 5, SIZE - 6), (5, SIZE - 6)], fill=colour)
    return image


def main(folder: Path = Path(__file__).parent) -> None:
    (folder / "pictures").mkdir(parents=True, exist_ok=True)
    rows = []
    for group, background in BACKGROUNDS.items():
        for shape in SHAPES:
            for colour, rgb in COLOURS.items():
                name = f"pictures/{shape}-{colour}-{group}.png"
                draw(shape, rgb, background).save(folder / name, optimize=True)
                caption = f"a {colour} {shape} on a {group} background"
                rows.append({"image": name, "text": caption, "label": shape, "group": group})
    lines = "".join(json.dumps(row) + "\n" for row in rows)
    (folder / "set.jsonl").write_text(lines, encoding="utf-8")


def write_ingest_folder(target: Path, folder: Path = Path(__file__).parent) -> None:
    """The set as a folder ``mmrag ingest`` reads: each picture with a sidecar holding its text
    and its label and group as metadata (``shape``, ``background``), so that monitoring runs
    with ``MMRAG_AUDIT__GROUP_FIELD=background MMRAG_AUDIT__LABEL_FIELD=shape``."""
    target.mkdir(parents=True, exist_ok=True)
    for line in (folder / "set.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        picture = target / Path(row["image"]).name
        shutil.copyfile(folder / row["image"], picture)
        metadata = {"shape": row["label"], "background": row["group"]}
        sidecar = {"text": row["text"], "metadata": metadata}
        picture.with_suffix(".json").write_text(json.dumps(sidecar), encoding="utf-8")


if __name__ == "__main__":
    main()
    if len(sys.argv) > 1:
        write_ingest_folder(Path(sys.argv[1]))
