"""Reading a request that sends one image (``/v1/classify``, ``/v1/moderate``): as a multipart
file (field ``image``) or as base64 / a data URL in a JSON body, with list-valued fields beside it.

Example::

    sent = await read_image_request(request, ClassifyIn, ("labels",))
    image = sent.decode(settings.ingest.max_image_pixels)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from PIL import Image
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile

from api.images import decode_base64, decode_image
from rag.errors import InvalidInputError

LIST_FIELD = {"type": "array", "items": {"type": "string"}}
"""The OpenAPI schema of a list-valued form field (for :func:`image_body_doc`)."""


def image_body_doc(json_model: type[BaseModel], fields: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI request body of an image route: multipart (``image`` and ``fields``) or JSON
    (``json_model``)."""
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
