"""Write the example labelled set of ``mmrag audit bias``: 24 small drawn pictures (a circle, a
square or a triangle in one of three colours, on a light or a dark background), a caption each,
the shape as the class label and the background as the group. Drawn here, so free of any licence.

    python examples/bias/make_set.py        # rewrites examples/bias/set.jsonl and pictures/
"""

from __future__ import annotations

import json
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


if __name__ == "__main__":
    main()
