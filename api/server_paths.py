"""``POST /v1/ingest`` with ``{"paths": [...]}``: folders, manifests and documents on the server,
only under the configured roots (``MMRAG_INGEST__ROOTS``)."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from api.schemas.ingest import IngestPathsIn
from ingest.sources import check_path
from ingest.specs import JobSpec
from rag.config import Settings
from rag.errors import InvalidInputError


def wants_paths(body: bytes) -> bool:
    """Whether a JSON body asks for server paths (``{"paths": ...}``) rather than uploads."""
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and "paths" in data


def paths_spec(body: bytes, settings: Settings) -> JobSpec:
    """The job of a server-paths request; 400 for a path outside the roots or unreadable."""
    try:
        request = IngestPathsIn.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        raise RequestValidationError(errors) from None
    roots = [root.resolve() for root in settings.ingest.roots]
    paths = [str(inside_roots(path, roots)) for path in request.paths]
    return JobSpec(
        kind="paths",
        paths=paths,
        collection=request.collection,
        policy=request.policy,
        prune=request.prune,
    )


def inside_roots(path: str, roots: list[Path]) -> Path:
    """``path`` resolved (symlinks followed); refused unless it lies under one of ``roots``."""
    if not roots:
        raise InvalidInputError(
            "server paths are turned off: set MMRAG_INGEST__ROOTS to the folders the API may "
            "read, or upload the files instead"
        )
    named = ", ".join(str(root) for root in roots)
    given = Path(path)
    if not given.is_absolute():
        raise InvalidInputError(f"{path}: give an absolute path under the ingest roots ({named})")
    real = given.resolve()
    if not any(real.is_relative_to(root) for root in roots):
        raise InvalidInputError(
            f"{path} is outside the ingest roots ({named}), itself or through a symlink; "
            "use a path under them or add its folder to MMRAG_INGEST__ROOTS"
        )
    check_path(real)
    return real
