"""``/v1/embed/text``, ``/v1/embed/image`` and ``/v1/similarity``: the CLIP space itself."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, UploadFile

from api.deps import ServicesDep
from api.images import decode_image
from api.schemas.embed import (
    MAX_BATCH,
    MAX_TEXT_CHARS,
    EmbedOut,
    EmbedTextIn,
    SimilarityOut,
    SimilarityScore,
)
from rag import classify
from rag.errors import InvalidInputError

router = APIRouter(prefix="/v1", tags=["embeddings"])


@router.post("/embed/text")
def embed_text(body: EmbedTextIn, services: ServicesDep) -> EmbedOut:
    """Embed texts. Example: ``{"texts": ["a red square", "a blue circle"]}``."""
    embedder = services.query_embedder  # concurrent small calls share one batch
    encoding = embedder.encode_texts(body.texts)
    return EmbedOut(
        model=embedder.model_id,
        dim=embedder.dim,
        embeddings=encoding.vectors.tolist(),
        truncated=encoding.truncated,
    )


@router.post("/embed/image")
def embed_image(
    files: Annotated[list[UploadFile], File(description="One or more images.")],
    services: ServicesDep,
) -> EmbedOut:
    """Embed uploaded images (multipart field ``files``, repeatable)."""
    if len(files) > MAX_BATCH:
        raise InvalidInputError(f"at most {MAX_BATCH} images per request, got {len(files)}")
    max_pixels = services.settings.ingest.max_image_pixels
    images = [decode_image(f.file.read(), max_pixels, f.filename or "image") for f in files]
    embedder = services.embedder
    vectors = embedder.embed_images(images)
    return EmbedOut(model=embedder.model_id, dim=embedder.dim, embeddings=vectors.tolist())


@router.post("/similarity")
def similarity(
    image: Annotated[UploadFile, File(description="The image to score.")],
    text: Annotated[list[str], Form(description="Texts to score against the image; repeatable.")],
    services: ServicesDep,
) -> SimilarityOut:
    """Score texts against an image (multipart: ``image`` file, ``text`` fields).

    Scores are cosines; probabilities are the CLIP softmax over the given texts.
    """
    if len(text) > MAX_BATCH:
        raise InvalidInputError(f"at most {MAX_BATCH} texts per request, got {len(text)}")
    if any(len(t) > MAX_TEXT_CHARS for t in text):
        raise InvalidInputError(f"every text needs at most {MAX_TEXT_CHARS} characters")
    picture = decode_image(
        image.file.read(), services.settings.ingest.max_image_pixels, image.filename or "image"
    )
    scores = [
        SimilarityScore(text=s.label, score=s.cosine, probability=s.probability)
        for s in classify.similarity(services.embedder, picture, text)
    ]
    return SimilarityOut(model=services.embedder.model_id, scores=scores)
