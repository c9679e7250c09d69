"""The CLIP embedder: open_clip models behind the :class:`~rag.embedding.base.Embedder` seam."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rag.config import ClipSettings
from rag.embedding.backends import EncoderBackend, build_backend
from rag.embedding.base import TextEncoding
from rag.embedding.gpu import (
    batch_size_of,
    decode_jpeg_batch,
    is_jpeg,
    preprocess_tensors,
    preprocesses_on_device,
)
from rag.embedding.images import preprocess_batch
from rag.embedding.loading import LoadedClip, load_clip, model_id_for
from rag.embedding.torch_runtime import TorchBackend
from rag.errors import InvalidInputError, UndecodableImagesError


class ClipEmbedder:
    """Embeds images and texts with an open_clip model; float32 unit vectors of ``dim`` dimensions.

    The constructor is cheap; the model loads in :meth:`warm_up` (or on first use).

    Example::

        embedder = ClipEmbedder(tiny_clip_settings(), Path("data/models"))
        embedder.embed_texts(["a red square"]).shape  # (1, 32)
    """

    def __init__(self, settings: ClipSettings, cache_dir: Path) -> None:
        self.settings = settings
        self.cache_dir = Path(cache_dir)
        self._lock = threading.Lock()
        self._clip: LoadedClip | None = None
        self._backend: EncoderBackend | None = None

    @property
    def model_id(self) -> str:
        """``model/weights``, e.g. ``ViT-B-32/openai`` or ``mmrag-tiny/random-seed0``."""
        return self._clip.model_id if self._clip else model_id_for(self.settings)

    @property
    def dim(self) -> int:
        """Size of every vector."""
        return self._loaded().dim

    @property
    def context_length(self) -> int:
        """Maximum number of text tokens, start and end tokens included."""
        return self._loaded().tokenizer.context_length

    @property
    def logit_scale(self) -> float:
        """The model's learned temperature (``exp`` applied): logits = scale * cosine."""
        return float(self._loaded().model.logit_scale.detach().exp().reshape(-1)[0])

    def warm_up(self) -> None:
        """Load the model now."""
        self._loaded()

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 unit vectors; texts past the context are truncated."""
        return self.encode_texts(texts).vectors

    def encode_texts(self, texts: Sequence[str]) -> TextEncoding:
        """Vectors plus, per text, whether it was cut at the context length."""
        _check_sequence(texts, "texts")
        clip, backend = self._loaded(), self._ready_backend()
        truncated: list[bool] = []
        parts = []
        step = batch_size_of(self.settings)
        for start in range(0, len(texts), step):
            tokens = clip.tokenizer.tokenize(texts[start : start + step])
            truncated.extend(tokens.truncated)
            parts.append(backend.encode_tokens(tokens))
        return TextEncoding(vectors=self._stack(parts), truncated=truncated)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text before truncation, start and end tokens included."""
        _check_sequence(texts, "texts")
        return self._loaded().tokenizer.count(texts)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``(len(images), dim)`` float32 unit vectors."""
        _check_sequence(images, "images")
        backend = self._ready_backend()
        return self._batched(
            images, lambda chunk: backend.encode_pixels(self.preprocess_images(chunk))
        )

    def preprocess_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``(n, 3, H, W)`` float32 model inputs; thread-safe."""
        _check_sequence(images, "images")
        clip = self._loaded()
        return preprocess_batch(clip.preprocess, images, clip.image_size)

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Embed the output of :meth:`preprocess_images`."""
        clip, backend = self._loaded(), self._ready_backend()
        pixels = _check_pixels(pixels, clip.image_size)
        return self._batched(pixels, backend.encode_pixels)

    def embed_jpegs(self, datas: Sequence[bytes]) -> np.ndarray:
        """Embed JPEG files' bytes, decoded and preprocessed on the model's device in batches.

        The GPU path of ingest (``MMRAG_CLIP__DECODE=device``, the default on CUDA): the host
        never decodes pixels. With the ``torch`` runtime the pixels stay on the device; other
        runtimes get them as host arrays. A model whose preprocessing the device does not
        reproduce (anything but bicubic, shortest side, centre crop) decodes with PIL on the host
        instead. Sizes are not checked here: ingest checks them from the file header first.

        Bytes that are not a JPEG raise :class:`InvalidInputError`; JPEGs that cannot be decoded
        raise :class:`UndecodableImagesError`, whose ``reasons`` name them by index.
        """
        _check_sequence(datas, "datas")
        bad = [i for i, data in enumerate(datas) if not (isinstance(data, bytes) and is_jpeg(data))]
        if bad:
            raise InvalidInputError(f"items {bad[:5]} are not JPEG bytes; use embed_images")
        clip, backend = self._loaded(), self._ready_backend()
        cfg = clip.model.visual.preprocess_cfg
        if not preprocesses_on_device(cfg):
            return self._embed_jpegs_on_host(datas)
        torch_backend = backend if isinstance(backend, TorchBackend) else None
        device = torch_backend.device if torch_backend else torch.device(self.settings.device)
        step, parts = batch_size_of(self.settings), []
        for start in range(0, len(datas), step):
            try:
                images = decode_jpeg_batch(datas[start : start + step], device)
            except UndecodableImagesError as exc:
                reasons = {start + i: why for i, why in exc.reasons.items()}
                raise UndecodableImagesError(reasons) from None
            pixels = preprocess_tensors(images, clip.image_size, cfg["mean"], cfg["std"])
            if torch_backend is not None:
                parts.append(torch_backend.encode_pixel_tensor(pixels))
            else:
                parts.append(backend.encode_pixels(pixels.cpu().numpy()))
        return self._stack(parts)

    def _embed_jpegs_on_host(self, datas: Sequence[bytes]) -> np.ndarray:
        images, reasons = [], {}
        for index, data in enumerate(datas):
            try:
                with Image.open(io.BytesIO(data), formats=["JPEG"]) as opened:
                    images.append(opened.convert("RGB"))
            except Exception as exc:  # Pillow raises many types on broken data
                reasons[index] = f"corrupt or truncated JPEG: {exc}"
        if reasons:
            raise UndecodableImagesError(reasons)
        return self.embed_images(images)

    def _batched(self, items: Sequence | np.ndarray, run: Callable[..., np.ndarray]) -> np.ndarray:
        """Run ``run`` on slices of a batch of items; stacked unit rows."""
        step = batch_size_of(self.settings)
        return self._stack([run(items[i : i + step]) for i in range(0, len(items), step)])

    def _stack(self, parts: list[np.ndarray]) -> np.ndarray:
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalise(np.concatenate(parts))

    def _loaded(self) -> LoadedClip:
        if self._clip is None:
            with self._lock:
                if self._clip is None:
                    if self.settings.threads:
                        torch.set_num_threads(self.settings.threads)
                    self._clip = load_clip(self.settings, self.cache_dir)
        return self._clip

    def _ready_backend(self) -> EncoderBackend:
        if self._backend is None:
            clip = self._loaded()
            with self._lock:
                if self._backend is None:
                    self._backend = build_backend(self.settings, clip, self.cache_dir)
        return self._backend


def _normalise(features: np.ndarray) -> np.ndarray:
    features = np.asarray(features, dtype=np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.maximum(norms, 1e-12)


def _check_sequence(items: object, what: str) -> None:
    if isinstance(items, str | bytes) or not isinstance(items, Sequence):
        raise InvalidInputError(f"{what} must be a list, got {type(items).__name__}")


def _check_pixels(pixels: object, size: int) -> np.ndarray:
    if not isinstance(pixels, np.ndarray) or pixels.shape[1:] != (3, size, size):
        shape = getattr(pixels, "shape", type(pixels).__name__)
        raise InvalidInputError(
            f"pixels must be a (n, 3, {size}, {size}) array from preprocess_images, got {shape}"
        )
    return np.ascontiguousarray(pixels, dtype=np.float32)
