"""Page renders and figure crops, stored once by content under ``<files_dir>/documents``
(one folder per collection and tenant: :mod:`ingest.stored_files`)."""

from __future__ import annotations

import hashlib
import io
import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ingest.stored_files import write_whole

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
    ``created`` lists the files this store wrote (not those it found): what a failed run may
    have left that no point names.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.created: list[Path] = []
        self._lock = threading.Lock()

    def save(self, image: Image.Image) -> StoredPicture:
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="PNG", compress_level=1)
        data = buffer.getvalue()
        sha = hashlib.sha256(data).hexdigest()
        path = self.root / sha[:2] / f"{sha}.png"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            write_whole(path, data)
            with self._lock:
                self.created.append(path)
        return StoredPicture(path, sha, image.width, image.height)


def pictures_dir(files_dir: Path) -> Path:
    """Page renders and figure crops under ``Settings.files_dir`` (shared by every replica)."""
    return Path(files_dir) / PICTURES_DIR
