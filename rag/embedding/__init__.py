"""CLIP embeddings of images and texts (open_clip), loaded once per process.

Example::

    from rag.embedding import load_embedder, tiny_clip_settings

    embedder = load_embedder(tiny_clip_settings(), Path("data/models"))
    vectors = embedder.embed_texts(["a red square"])  # (1, 32) float32 unit vectors
"""

from __future__ import annotations

import threading
from pathlib import Path

import open_clip

from rag.config import ClipSettings
from rag.embedding.base import Embedder, TextEncoding
from rag.embedding.clip import ClipEmbedder
from rag.embedding.tiny import TINY_MODEL, tiny_clip_settings

open_clip.add_model_config(Path(__file__).parent / "configs" / "mmrag-tiny.json")

__all__ = [
    "TINY_MODEL",
    "ClipEmbedder",
    "Embedder",
    "TextEncoding",
    "load_embedder",
    "tiny_clip_settings",
]

_embedders: dict[tuple[str, str], ClipEmbedder] = {}
_embedders_lock = threading.Lock()


def load_embedder(settings: ClipSettings, cache_dir: Path) -> Embedder:
    """The process-wide embedder for these settings and cache folder (built once, loaded lazily)."""
    key = (settings.model_dump_json(), str(Path(cache_dir).resolve()))
    with _embedders_lock:
        embedder = _embedders.get(key)
        if embedder is None:
            embedder = _embedders[key] = ClipEmbedder(settings, Path(cache_dir))
        return embedder
