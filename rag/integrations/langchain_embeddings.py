"""``ClipEmbeddings``: mmrag's CLIP embedder as a LangChain ``Embeddings``."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

from langchain_core.embeddings import Embeddings
from PIL import Image, UnidentifiedImageError

from rag.embedding.base import Embedder
from rag.errors import InvalidInputError

ImageInput = Image.Image | str | os.PathLike[str]
"""A PIL image or the path of an image file."""


class ClipEmbeddings(Embeddings):
    """Texts and images in one CLIP space, for LangChain vector stores and retrievers.

    Wraps an existing mmrag embedder (it builds no model of its own), so vectors match the ones
    mmrag ingested: a query embedded here finds mmrag's items by their ``text`` or ``image`` vector.

    Example::

        embeddings = ClipEmbeddings(Services(load_settings()).embedder)
        embeddings.embed_query("a red square")       # [0.01, ...], len == embeddings.dim
        embeddings.embed_image("photos/square.png")  # same space as the texts
    """

    def __init__(self, embedder: Embedder) -> None:
        if not isinstance(embedder, Embedder):
            raise InvalidInputError(
                f"ClipEmbeddings needs an mmrag Embedder, got {type(embedder).__name__}: "
                "pass Services(settings).embedder or rag.embedding.load_embedder(...)"
            )
        self.embedder = embedder

    @property
    def dim(self) -> int:
        """Size of every vector (loads the model if it is not loaded yet)."""
        return self.embedder.dim

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector per text; texts past CLIP's context length are truncated."""
        return self.embedder.embed_texts(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query text (CLIP embeds queries and documents alike)."""
        return self.embed_documents([text])[0]

    def embed_images(self, images: Sequence[ImageInput]) -> list[list[float]]:
        """One vector per image (PIL images or file paths), in the texts' space."""
        return self.embedder.embed_images([open_image(image) for image in images]).tolist()

    def embed_image(self, image: ImageInput) -> list[float]:
        """The vector of one image (a PIL image or a file path)."""
        return self.embed_images([image])[0]

    def __repr__(self) -> str:
        return f"ClipEmbeddings(model_id={self.embedder.model_id!r})"


def open_image(image: ImageInput) -> Image.Image:
    """``image`` as a PIL image (a path is opened, decoded and converted to RGB)."""
    if isinstance(image, Image.Image):
        return image
    if not isinstance(image, str | os.PathLike):
        raise InvalidInputError(
            f"an image must be a PIL image or a file path, got {type(image).__name__}"
        )
    try:
        with Image.open(image) as opened:
            return opened.convert("RGB")
    except FileNotFoundError:
        raise InvalidInputError(f"image file {os.fspath(image)!r} does not exist") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInputError(f"cannot read image {os.fspath(image)!r}: {exc}") from None


def image_bytes(image: ImageInput) -> bytes:
    """The encoded bytes of ``image``: a file's own bytes, or a PIL image saved as PNG."""
    if isinstance(image, Image.Image):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return buffer.getvalue()
    open_image(image)  # the same checks and messages as a local search
    return Path(image).read_bytes()
