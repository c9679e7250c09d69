"""Page renders and figure crops, stored once by content under ``<data_dir>/documents``."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

PICTURES_DIR = "documents"


@dataclass(frozen=True)
class StoredPicture:
    """A saved picture: where it lies, the sha256 of its PNG bytes, and its size."""

    path: Path
    sha256: str
    width: int
    height: int


class PictureStore:
    """Saves pictures as ``<root>/<sha[:2]>/<sha>.png``; the same pixels are written once.

    Thread-safe (each write goes to a temporary file, then is renamed into place).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def save(self, image: Image.Image) -> StoredPicture:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG", compress_level=1)
        data = buffer.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        path = self.root / sha[:2] / f"{sha}.png"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".part", delete=False) as f:
                f.write(data)
            os.replace(f.name, path)
        return StoredPicture(path, sha, image.width, image.height)


def pictures_dir(files_dir: Path) -> Path:
    """Page renders and figure crops under ``Settings.files_dir`` (shared by every replica)."""
    return Path(files_dir) / PICTURES_DIR
