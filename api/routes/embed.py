"""``/v1/embed/text``, ``/v1/embed/image`` and ``/v1/similarity``: the CLIP space itself."""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, File, Form, UploadFile

from api.deps import ServicesDep
from api.images import decode_image, decode_pictures
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
    """Embed uploaded images (multipart field ``files``, repeatable).

    All images together may have at most ``MMRAG_INGEST__MAX_DECODED_PIXELS`` pixels (413),
    checked from their headers before any is decoded; they are decoded one at a time."""
    if len(files) > MAX_BATCH:
        raise InvalidInputError(f"at most {MAX_BATCH} images per request, got {len(files)}")
    sent = [(f.filename or "image", f.file.read()) for f in files]
    embedder = services.embedder
    pixels = [  # each picture shrinks to the model's input before the next is decoded
        embedder.preprocess_images([image])
        for image in decode_pictures(sent, services.settings.ingest)
    ]
    vectors = embedder.embed_pixels(np.concatenate(pixels))
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
