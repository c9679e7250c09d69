"""What search, chat, the compatible endpoints and ``mmrag search`` share: one :func:`build_query`
that turns a request's words, picture and retrieval options into a checked ``Query``."""

from __future__ import annotations

from PIL import Image

from api.images import decode_base64_image
from api.schemas.search import DiversityField, QueryIn
from rag.config import Settings
from rag.errors import InvalidInputError
from rag.retrieval.diversity import parse_diversity
from rag.retrieval.filters import parse_filter
from rag.retrieval.types import Diversity, FairExposure, FairTarget, Query
from rag.store.base import Filter


def build_query(
    settings: Settings,
    text: str | None,
    image: Image.Image | None = None,
    options: QueryIn | None = None,
    name: str = "text",
) -> Query:
    """The ``Query`` of a request: ``text`` checked against the length cap (``name`` is the field
    the error names), something to search for, and the retrieval options (signals, weights,
    fusion, filter, top-k, rerank, diversity, fair exposure; unset ones follow settings).

    Example::

        build_query(settings, "error E-1042", None, QueryIn(signals=["lexical"], top_k=5))
    """
    checked = check_question(text, settings, name)
    require_query(checked, image)
    if options is None:
        return Query(text=checked, image=image)
    return Query(
        text=checked,
        image=image,
        fusion=options.fusion,
        weights=options.weights,
        top_k=options.top_k,
        filter=query_filter(options.filter),
        rerank=options.rerank,
        signals=None if options.signals is None else tuple(options.signals),
        diversity=query_diversity(options.diversity),
        fair=query_fair(options.fair_by, options.fair_target),
    )


def query_fair(field: str | None, target: FairTarget) -> FairExposure | None:
    """A request's group-fair exposure: by payload ``field`` to ``target`` shares; off unset."""
    return None if field is None else FairExposure(field, target)


def query_diversity(value: DiversityField) -> Diversity | None:
    """A request's diversity, an object or the short form (``"mmr:0.7"``, ``"collapse:page"``)."""
    if value is None:
        return None
    if isinstance(value, str):
        return parse_diversity(value)
    return Diversity(value.mode, lambda_=value.lambda_, field=value.field)


def check_question(text: str | None, settings: Settings, name: str = "text") -> str | None:
    """``text`` stripped (``None`` when blank); 400 past ``MMRAG_API__MAX_QUESTION_CHARS``."""
    if text is None or not text.strip():
        return None
    cap = settings.api.max_question_chars
    if len(text) > cap:
        raise InvalidInputError(
            f"{name} has {len(text)} characters, more than the cap of {cap} "
            "(MMRAG_API__MAX_QUESTION_CHARS); shorten it"
        )
    return text.strip()


def query_image(encoded: str | None, settings: Settings, name: str = "image") -> Image.Image | None:
    """The image of base64 text or a data URL, checked against the pixel cap; ``None`` if absent."""
    if not encoded:
        return None
    return decode_base64_image(encoded, settings.ingest.max_image_pixels, name)


def query_filter(expressions: str | list[str] | None) -> Filter | None:
    """Filter expressions (``"metadata.year>=2020"``, or a list of them, all must hold)."""
    if expressions is None:
        return None
    return parse_filter([expressions] if isinstance(expressions, str) else expressions)


def require_query(text: str | None, image: Image.Image | None) -> None:
    if text is None and image is None:
        raise InvalidInputError("send text, an image, or both")
