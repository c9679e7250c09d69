"""The embedder seam: CLIP-style models that put images and texts into one space."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class TextEncoding:
    """Embeddings of texts plus, per text, whether it was cut at the model's context length."""

    vectors: np.ndarray
    truncated: list[bool]


@runtime_checkable
class Embedder(Protocol):
    """Embeds images and texts into one L2-normalised float32 space of ``dim`` dimensions.

    Example::

        embedder.warm_up()
        v = embedder.embed_texts(["a red square"])  # shape (1, embedder.dim)
    """

    @property
    def model_id(self) -> str:
        """A stable name for the model and its weights (stored with the collection)."""
        ...

    @property
    def dim(self) -> int:
        """Size of every vector this embedder returns."""
        ...

    @property
    def context_length(self) -> int:
        """Maximum number of text tokens, start and end tokens included."""
        ...

    @property
    def logit_scale(self) -> float:
        """The model's temperature multiplier: softmax logits are ``logit_scale * cosine``."""
        ...

    def warm_up(self) -> None:
        """Load the model now (otherwise the first call loads it)."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 unit vectors; texts past the context are truncated."""
        ...

    def encode_texts(self, texts: Sequence[str]) -> TextEncoding:
        """Like :meth:`embed_texts`, and reports which texts were truncated."""
        ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Number of tokens of each text, start and end tokens included, before truncation."""
        ...

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``(len(images), dim)`` float32 unit vectors."""
        ...

    def preprocess_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """The model's image preprocessing alone (thread-safe; ingest runs it in a pool)."""
        ...

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Embed images already passed through :meth:`preprocess_images`."""
        ...

    def embed_jpegs(self, datas: Sequence[bytes]) -> np.ndarray:
        """Embed JPEG files' bytes, decoded on the model's device (ingest's GPU path).

        JPEGs that cannot be decoded raise :class:`~rag.errors.UndecodableImagesError`, whose
        ``reasons`` name them by index."""
        ...


# --- text signals (issue "Text signals"): the passage model and lexical terms -------------------


@runtime_checkable
class PassageEncoder(Protocol):
    """A sentence model (sentence-transformers) for passages: float32 unit vectors of ``dim``.

    Queries and passages may get different prompts (e5: ``"query: "`` / ``"passage: "``).

    Example::

        encoder.encode_documents(["The pump needs 230 V."])  # shape (1, encoder.dim)
        encoder.encode_queries(["what voltage does the pump need"])
    """

    @property
    def model_id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int:
        """Longest input in tokens (special tokens included); longer passages are cut."""
        ...

    def warm_up(self) -> None: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class SparseTerms:
    """Term ids (sorted, unique) and their weights: one text's lexical vector."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


@runtime_checkable
class LexicalEncoder(Protocol):
    """BM25 term weights for Qdrant sparse vectors with the IDF modifier (the engine adds IDF).

    Example::

        encoder.encode_documents(["error E-1042 on start"])[0]  # SparseTerms(indices=..., ...)
    """

    @property
    def model_id(self) -> str: ...

    def encode_documents(self, texts: Sequence[str]) -> list[SparseTerms]: ...

    def encode_queries(self, texts: Sequence[str]) -> list[SparseTerms]: ...
