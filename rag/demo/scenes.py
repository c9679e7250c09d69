"""Synthetic scenes: coloured shapes drawn with PIL, with a caption and a longer description.

A scene is one group of 1-3 equal shapes (count, size, colour, shape), optionally placed above,
below, left of or right of a second shape, on a plain background. Everything is drawn from a
seeded ``random.Random``, so a seed always gives the same scenes.

Example::

    scene = random_scene(random.Random(0))
    scene.caption()        # 'two small red circles above a blue square on a white background'
    draw_scene(scene, 64)  # a 64x64 RGB PIL image
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 225),
    "yellow": (240, 210, 40),
    "purple": (150, 60, 200),
    "orange": (245, 140, 30),
}
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (250, 250, 250),
    "black": (15, 15, 15),
    "gray": (140, 140, 140),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond")
SIZES: dict[str, float] = {"small": 0.065, "large": 0.125}
"""Half-width of a shape as a fraction of the canvas side."""
RELATIONS: tuple[str, ...] = ("above", "below", "left of", "right of")
COUNT_WORDS: dict[int, str] = {1: "a", 2: "two", 3: "three"}
SECOND_SIZE = 0.1
PAIR_SHARE = 0.85
"""Share of scenes with a second shape and a relation."""


@dataclass(frozen=True)
class Group:
    """``count`` shapes of one ``size``, ``colour`` and ``shape``."""

    count: int
    size: str
    colour: str
    shape: str

    def phrase(self, with_size: bool = True) -> str:
        """``two small red circles`` / ``a blue square``."""
        noun = self.shape if self.count == 1 else self.shape + "s"
        words = [w for w in (self.size if with_size else "", self.colour, noun) if w]
        count = COUNT_WORDS[self.count]
        if count == "a" and words[0][0] in "aeiou":
            count = "an"
        return " ".join([count, *words])


@dataclass(frozen=True)
class Scene:
    """A first group, an optional relation to a second shape, a background, a layout seed."""

    first: Group
    relation: str | None
    second: Group | None
    background: str
    layout_seed: int

    def caption(self) -> str:
        """One natural-language sentence that names everything in the picture."""
        text = self.first.phrase()
        if self.second is not None:
            text += f" {self.relation} {self.second.phrase(with_size=False)}"
        return f"{text} on a {self.background} background"

    def phrases(self) -> list[str]:
        """Short partial descriptions: ``two small red circles``, ``a blue square``, ..."""
        found = [self.first.phrase(), self.first.phrase(with_size=False)]
        if self.second is not None:
            found.append(self.caption().split(" on a ")[0])
            found.append(self.second.phrase(with_size=False))
        return found

    def questions(self) -> list[str]:
        """Questions this scene answers (``how many red circles are above the blue square?``)."""
        first, second = self.first, self.second
        found = [f"which picture shows {self.caption()}?"]
        if second is None:
            found.append(f"how many {first.colour} {first.shape}s are on the {self.background}?")
            return found
        where = f"{self.relation} the {second.colour} {second.shape}"
        found.append(f"how many {first.colour} {first.shape}s are {where}?")
        found.append(f"what is {where}?")
        return found

    def description(self) -> str:
        """A few sentences about the scene (for answers), starting with the caption."""
        first = self.first
        sentences = [self.caption().capitalize() + "."]
        many = "There is one" if first.count == 1 else f"There are {first.count}"
        plural = "" if first.count == 1 else "s"
        sentences.append(f"{many} {first.colour} {first.shape}{plural}, {first.size} in size.")
        if self.second is not None:
            second = self.second
            sentences.append(
                f"The {first.colour} {first.shape}{plural} {_be(first.count)} {self.relation} "
                f"the {second.colour} {second.shape}, which is in the {_area(self.relation)}."
            )
        colours = sorted({first.colour, *([self.second.colour] if self.second else [])})
        sentences.append(f"Colours in the picture: {', '.join(colours)} on {self.background}.")
        return " ".join(sentences)


def random_scene(rng: random.Random) -> Scene:
    """A scene with every attribute drawn uniformly from ``rng``."""
    first = Group(
        rng.randint(1, 3), rng.choice(list(SIZES)), rng.choice(list(COLOURS)), rng.choice(SHAPES)
    )
    relation, second = None, None
    if rng.random() < PAIR_SHARE:
        relation = rng.choice(RELATIONS)
        second = Group(1, "", rng.choice(list(COLOURS)), rng.choice(SHAPES))
    return Scene(first, relation, second, rng.choice(list(BACKGROUNDS)), rng.getrandbits(32))


def draw_scene(scene: Scene, size: int = 64) -> Image.Image:
    """The scene as a ``size`` x ``size`` RGB image (same layout at every size)."""
    image = Image.new("RGB", (size, size), BACKGROUNDS[scene.background])
    pen = ImageDraw.Draw(image)
    for shape, colour, x, y, half in _layout(scene):
        _draw_shape(pen, shape, COLOURS[colour], x * size, y * size, half * size)
    return image


def _layout(scene: Scene) -> list[tuple[str, str, float, float, float]]:
    """Each shape as (shape, colour, centre x, centre y, half-width), in canvas fractions."""
    rng = random.Random(scene.layout_seed)
    first, second = scene.first, scene.second
    half = SIZES[first.size]
    if second is None:
        box = (0.0, 0.0, 1.0, 1.0)
        axis = rng.choice("xy")
        return [(first.shape, first.colour, x, y, half) for x, y in _row(rng, box, first, axis)]
    first_box, second_box, axis = _split(scene.relation or "above")
    shapes = [(first.shape, first.colour, x, y, half) for x, y in _row(rng, first_box, first, axis)]
    sx, sy = _spot(rng, second_box, SECOND_SIZE)
    return [*shapes, (second.shape, second.colour, sx, sy, SECOND_SIZE)]


def _split(relation: str) -> tuple[tuple[float, ...], tuple[float, ...], str]:
    top, bottom = (0.0, 0.0, 1.0, 0.5), (0.0, 0.5, 1.0, 1.0)
    left, right = (0.0, 0.0, 0.5, 1.0), (0.5, 0.0, 1.0, 1.0)
    return {
        "above": (top, bottom, "x"),
        "below": (bottom, top, "x"),
        "left of": (left, right, "y"),
        "right of": (right, left, "y"),
    }[relation]


def _row(
    rng: random.Random, box: tuple[float, ...], group: Group, axis: str
) -> list[tuple[float, float]]:
    """``group.count`` centres spread along ``axis`` of ``box`` (slots, jittered, no overlap)."""
    half = SIZES[group.size]
    x0, y0, x1, y1 = box
    along = (x0, x1) if axis == "x" else (y0, y1)
    across = (y0, y1) if axis == "x" else (x0, x1)
    slot = (along[1] - along[0] - 0.04) / group.count
    centres = []
    for i in range(group.count):
        room = max(slot / 2 - half - 0.01, 0.0)
        a = along[0] + 0.02 + slot * (i + 0.5) + rng.uniform(-room, room)
        b = rng.uniform(across[0] + half + 0.03, across[1] - half - 0.03)
        centres.append((a, b) if axis == "x" else (b, a))
    return centres


def _spot(rng: random.Random, box: tuple[float, ...], half: float) -> tuple[float, float]:
    x0, y0, x1, y1 = box
    margin = half + 0.04
    return rng.uniform(x0 + margin, x1 - margin), rng.uniform(y0 + margin, y1 - margin)


def _draw_shape(
    pen: ImageDraw.ImageDraw, shape: str, fill: tuple[int, int, int], x: float, y: float, h: float
) -> None:
    if shape == "circle":
        pen.ellipse((x - h, y - h, x + h, y + h), fill=fill)
    elif shape == "square":
        s = h * 0.9
        pen.rectangle((x - s, y - s, x + s, y + s), fill=fill)
    elif shape == "triangle":
        points = [(x + h * math.cos(a), y - h * math.sin(a)) for a in _angles(90, 3)]
        pen.polygon(points, fill=fill)
    else:
        pen.polygon([(x, y - h), (x + h, y), (x, y + h), (x - h, y)], fill=fill)


def _angles(start_deg: float, n: int) -> list[float]:
    return [math.radians(start_deg + i * 360 / n) for i in range(n)]


def _be(count: int) -> str:
    return "is" if count == 1 else "are"


def _area(relation: str | None) -> str:
    return {"above": "lower half", "below": "upper half", "left of": "right half"}.get(
        relation or "", "left half"
    )
