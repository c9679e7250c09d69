"""A small corpus of coloured pictures with captions, for the LangChain tests and examples."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 180, 60),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 40),
    "purple": (140, 40, 160),
}


def caption(name: str) -> str:
    return f"A {name} square drawn on a plain background; its colour is {name}."


def write_folder(root: Path) -> Path:
    """Pictures with sidecar captions (one ``.png`` + ``.json`` per colour) in ``root``."""
    import json

    root.mkdir(parents=True, exist_ok=True)
    for name, rgb in COLOURS.items():
        Image.new("RGB", (48, 48), rgb).save(root / f"{name}.png")
        sidecar = {"text": caption(name), "id": name, "metadata": {"colour": name}}
        (root / f"{name}.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return root
