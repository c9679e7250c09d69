"""``POST /v1/ingest`` with ``{"paths": [...]}``: folders, manifests and documents on the server,
only under the configured roots (``MMRAG_INGEST__ROOTS``)."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from pydantic_core import from_json

from api.auth import Principal, Role
from api.schemas.ingest import IngestPathsIn
from ingest.sources import check_path
from ingest.specs import JobSpec
from rag.config import Settings
from rag.errors import InvalidInputError


def wants_paths(body: bytes) -> bool:
    """Whether a JSON body asks for server paths (``{"paths": ...}``) rather than uploads."""
    try:
        data = from_json(body)  # jiter: nesting past its limit is a ValueError, not a recursion
    except ValueError:
        return False
    return isinstance(data, dict) and "paths" in data


def paths_spec(body: bytes, settings: Settings, principal: Principal) -> JobSpec:
    """The job of a server-paths request, as ``principal``'s tenant: 400 for a path outside the
    roots or unreadable, 403 for a collection other than the server's without an admin key.

    The spec carries the roots: the worker checks every path against them again when it opens
    it (a folder may have been swapped for a symlink since)."""
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
        collection=_collection(request.collection, settings, principal),
        policy=request.policy,
        prune=request.prune,
        tenant=principal.tenant,
        roots=[str(root) for root in roots],
    )


def _collection(name: str | None, settings: Settings, principal: Principal) -> str | None:
    """``None`` (the server's collection) unless an admin names another: every other collection
    is a store the server opens and holds until it stops, so a writer may not create them."""
    if name in (None, settings.store.collection):
        return None
    if not principal.may(Role.ADMIN):
        raise HTTPException(
            status_code=403,
            detail=f"only an admin key may ingest into another collection than "
            f"{settings.store.collection!r}; leave out 'collection'",
        )
    return name


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
