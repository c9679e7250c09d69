"""``POST /v1/classify``: zero-shot classification of an image over free-text labels.

Also holds the request reading shared with ``/v1/moderate``: an image sent as a multipart file
(field ``image``) or as base64 / a data URL in a JSON body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from PIL import Image
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import ServicesDep
from api.images import decode_base64, decode_image
from rag.classify import Classification, ZeroShotClassifier, request_templates
from rag.errors import InvalidInputError
from rag.services import Services

router = APIRouter(prefix="/v1", tags=["classify"])


class ClassifyIn(BaseModel):
    """JSON form: ``{"image": "<base64 or data URL>", "labels": ["cat", "dog"]}``."""

    image: str = Field(description="The picture, base64-encoded or as a data: URL.")
    labels: list[str] = Field(min_length=1, description="Labels to rank.")
    templates: list[str] | None = Field(
        default=None, description="Prompt templates with {} (default: MMRAG_CLASSIFY__TEMPLATES)."
    )


class LabelOut(BaseModel):
    label: str
    probability: float
    cosine: float


class ClassifyOut(BaseModel):
    """Labels best first; ``label`` is the top one. Probabilities sum to 1 over the labels."""

    model: str
    label: str
    labels: list[LabelOut]


def image_body_doc(json_model: type[BaseModel], fields: dict[str, Any]) -> dict[str, Any]:
    multipart = {
        "type": "object",
        "required": ["image"],
        "properties": {"image": {"type": "string", "format": "binary"}, **fields},
    }
    content = {
        "multipart/form-data": {"schema": multipart},
        "application/json": {"schema": json_model.model_json_schema()},
    }
    return {"requestBody": {"required": True, "content": content}}


LIST_FIELD = {"type": "array", "items": {"type": "string"}}


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


@dataclass
class ImageRequest:
    """An image request as sent: the image bytes and list-valued fields."""

    image: bytes
    name: str = "image"
    lists: dict[str, list[str]] = field(default_factory=dict)

    def decode(self, max_pixels: int) -> Image.Image:
        return decode_image(self.image, max_pixels, self.name)


async def read_image_request(
    request: Request, json_model: type[BaseModel], list_fields: tuple[str, ...] = ()
) -> ImageRequest:
    """Read ``image`` and ``list_fields`` from a multipart form or a JSON body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        async with request.form(max_files=1, max_fields=1000) as form:
            upload = form.get("image")
            if not isinstance(upload, UploadFile):
                raise InvalidInputError("send the picture as a file part named 'image'")
            lists = {name: _form_list(form.getlist(name)) for name in list_fields}
            return ImageRequest(await upload.read(), upload.filename or "image", lists)
    if content_type == "application/json":
        body = _parse_json(await request.body(), json_model)
        lists = {name: list(getattr(body, name) or []) for name in list_fields}
        return ImageRequest(decode_base64(body.image, "image"), "image", lists)
    raise InvalidInputError(
        f"send multipart/form-data or application/json, not {content_type or 'no content type'!r}"
    )


def _form_list(values: list[Any]) -> list[str]:
    texts = [value for value in values if isinstance(value, str)]
    if len(texts) == 1 and "," in texts[0]:
        texts = texts[0].split(",")
    return [text.strip() for text in texts if text.strip()]


def _parse_json(data: bytes, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None
    except json.JSONDecodeError as exc:  # pragma: no cover - pydantic reports bad JSON itself
        raise InvalidInputError(f"the body is not valid JSON: {exc}") from None
