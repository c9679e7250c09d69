"""``POST /v1/moderate``: is an image safe? Zero-shot over the configured categories."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep
from api.image_requests import ImageRequest, image_body_doc, read_image_request
from api.schemas.moderate import ModerateIn, ModerateOut
from rag.moderation import ModerationResult, Moderator
from rag.services import Services

router = APIRouter(prefix="/v1", tags=["moderate"])


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
