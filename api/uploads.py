"""Read the two forms of ``POST /v1/ingest`` (multipart and JSON) into :class:`Upload` items."""

from __future__ import annotations

from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from api.images import decode_base64
from api.schemas.ingest import MAX_ITEMS, IngestIn
from ingest.uploads import Upload
from rag.errors import InvalidInputError
from rag.metadata import parse_metadata

MULTIPART_FIELDS = ("files", "texts", "ids", "metadata", "policy")


async def uploads_from_form(form: FormData) -> tuple[list[Upload], str | None]:
    """Item ``i`` is ``files[i]``, ``texts[i]``, ``ids[i]`` and ``metadata[i]``, each optional."""
    unknown = sorted(set(form.keys()) - set(MULTIPART_FIELDS))
    if unknown:
        raise InvalidInputError(
            f"unknown form field {unknown[0]!r}: use {', '.join(MULTIPART_FIELDS)}"
        )
    files = [_file(value, n) for n, value in enumerate(form.getlist("files"))]
    texts = [_text(value, "texts", n) for n, value in enumerate(form.getlist("texts"))]
    ids = [_text(value, "ids", n) for n, value in enumerate(form.getlist("ids"))]
    metadata = [
        _metadata(_text(v, "metadata", n), n) for n, v in enumerate(form.getlist("metadata"))
    ]
    count = max(len(files), len(texts))
    _check_count(count)
    uploads = []
    for n in range(count):
        upload = files[n] if n < len(files) else None
        uploads.append(
            Upload(
                image=await upload.read() if upload else None,
                text=_at(texts, n),
                filename=(upload.filename or "") if upload else "",
                external_id=_at(ids, n),
                metadata=_at(metadata, n),
            )
        )
    policy = form.get("policy")
    return uploads, _policy(_text(policy, "policy", 0) if policy is not None else None)


def uploads_from_json(data: bytes) -> tuple[list[Upload], str | None]:
    """Items of ``{"items": [{"image": base64, "text", "id", "metadata", "filename"}]}``."""
    try:
        body = IngestIn.model_validate_json(data)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None
    uploads = [
        Upload(
            image=decode_base64(item.image, f"items[{n}].image") if item.image else None,
            text=item.text,
            filename=item.filename,
            external_id=item.id,
            metadata=item.metadata,
        )
        for n, item in enumerate(body.items)
    ]
    return uploads, body.policy


def _policy(value: str | None) -> str | None:
    if value in (None, "", "skip", "overwrite"):
        return value or None
    raise InvalidInputError(f"policy {value!r} is not 'skip' or 'overwrite'")


def _file(value: Any, n: int) -> UploadFile:
    if not isinstance(value, UploadFile):
        raise InvalidInputError(f"files[{n}] is not a file: send it as a file part")
    return value


def _text(value: Any, field: str, n: int) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{field}[{n}] must be a text field, not a file")
    return value


def _metadata(text: str, n: int) -> dict[str, Any] | None:
    if not text.strip():
        return None
    return parse_metadata(text, f"metadata[{n}]")


def _at(values: list[Any], n: int) -> Any:
    return values[n] if n < len(values) and values[n] != "" else None


def _check_count(count: int) -> None:
    if count == 0:
        raise InvalidInputError("send at least one item: 'files' (images) and/or 'texts'")
    if count > MAX_ITEMS:
        raise InvalidInputError(f"at most {MAX_ITEMS} items per request, got {count}")
