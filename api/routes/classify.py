"""``POST /v1/classify``: zero-shot classification of an image over free-text labels."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep
from api.image_requests import LIST_FIELD, ImageRequest, image_body_doc, read_image_request
from api.schemas.classify import ClassifyIn, ClassifyOut, LabelOut
from rag.classify import Classification, ZeroShotClassifier, request_templates
from rag.services import Services

router = APIRouter(prefix="/v1", tags=["classify"])


@router.post(
    "/classify",
    response_model=ClassifyOut,
    openapi_extra=image_body_doc(ClassifyIn, {"labels": LIST_FIELD, "templates": LIST_FIELD}),
)
async def classify(request: Request, services: ServicesDep) -> ClassifyOut:
    """Rank ``labels`` for an image with CLIP (prompt ensembles, softmax with the model's scale).

    Multipart: ``image`` (file) and ``labels`` (repeatable, or one comma-separated field).
    JSON: ``{"image": base64, "labels": [...], "templates": [...]}``.
    """
    sent = await read_image_request(request, ClassifyIn, ("labels", "templates"))
    labels = sent.lists.get("labels") or []
    templates = sent.lists.get("templates") or None
    result = await run_in_threadpool(_classify, services, sent, labels, templates)
    ranked = [LabelOut(**score.as_dict()) for score in result.labels]  # type: ignore[arg-type]
    return ClassifyOut(model=result.model, label=ranked[0].label, labels=ranked)


def _classify(
    services: Services, sent: ImageRequest, labels: list[str], templates: list[str] | None
) -> Classification:
    image = sent.decode(services.settings.ingest.max_image_pixels)
    return classifier_for(services, templates).classify(image, labels)


def classifier_for(services: Services, templates: list[str] | None = None) -> ZeroShotClassifier:
    """The app's classifier (label vectors cached), or a new one for request templates."""
    if templates:
        limit = services.settings.classify.max_labels
        return ZeroShotClassifier(services.embedder, request_templates(templates), limit)
    return services.classifier
