"""``POST /v1/moderate``: is an image safe? Zero-shot over the configured categories."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep
from api.routes.classify import ImageRequest, image_body_doc, read_image_request
from rag.moderation import ModerationResult, Moderator
from rag.services import Services

router = APIRouter(prefix="/v1", tags=["moderate"])


class ModerateIn(BaseModel):
    """JSON form: ``{"image": "<base64 or data URL>"}``."""

    image: str = Field(description="The picture, base64-encoded or as a data: URL.")


class FlaggedOut(BaseModel):
    category: str
    probability: float


class ModerateOut(BaseModel):
    """``is_safe``: the unsafe categories together stay under ``MMRAG_MODERATION__THRESHOLD``;
    ``confidence`` in [0.5, 1]; ``flagged``: unsafe categories that matched; ``scores``: every
    category's probability."""

    is_safe: bool
    confidence: float
    unsafe_probability: float
    flagged: list[FlaggedOut]
    scores: dict[str, float]
    model: str


@router.post("/moderate", response_model=ModerateOut, openapi_extra=image_body_doc(ModerateIn, {}))
async def moderate(request: Request, services: ServicesDep) -> ModerateOut:
    """Check an image against the unsafe and safe categories (``MMRAG_MODERATION__*``).

    Multipart: ``image`` (file). JSON: ``{"image": base64}``.
    """
    sent = await read_image_request(request, ModerateIn)
    result = await run_in_threadpool(_check, services, sent)
    return ModerateOut.model_validate(result.as_dict())


def _check(services: Services, sent: ImageRequest) -> ModerationResult:
    image = sent.decode(services.settings.ingest.max_image_pixels)
    return moderator_for(services).check(image)


def moderator_for(services: Services) -> Moderator:
    """The app's moderator (category vectors computed once, in :class:`Services`)."""
    return services.moderator
