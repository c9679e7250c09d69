"""``/v1/audit/bias``: the bias audit of the collection now (POST), and the scheduled
monitoring's latest records (GET). Admins only."""

from __future__ import annotations

import time

from fastapi import APIRouter, HTTPException, Query

from api.deps import PrincipalDep, ServicesDep
from api.schemas.audit import AuditHistoryOut, AuditIn, AuditOut
from rag.audit.monitor import (
    audit_live,
    history_path,
    latest_records,
    quality_figures,
    sample_collection,
    word_sets,
)
from rag.audit.weat import parse_word_sets
from rag.errors import InvalidInputError

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.post("/bias")
def audit_bias(body: AuditIn, services: ServicesDep) -> AuditOut:
    """Audit a sample of the caller's collection with the loaded models: per group zero-shot
    accuracy, exposure and nDCG@k for each signal, the gaps between groups, WEAT associations
    of the text towers and the embedding-quality figures. Nothing is stored. A 400 names what
    is missing (no group or label field, fewer than two labels in the sample)."""
    started = time.perf_counter()
    settings = services.settings.audit
    group_field = body.group_field or settings.group_field
    label_field = body.label_field or settings.label_field
    if not group_field or not label_field:
        raise InvalidInputError(
            "give group_field and label_field (metadata keys of the items), or set "
            "MMRAG_AUDIT__GROUP_FIELD and MMRAG_AUDIT__LABEL_FIELD"
        )
    sets = (
        word_sets(settings)
        if body.word_sets is None
        else parse_word_sets(body.word_sets, "word_sets")
    )
    vectors, items = sample_collection(services.store, group_field, label_field, body.sample)
    if len(vectors.labels) < 2:
        raise InvalidInputError(
            f"{vectors.items} sampled items carry both metadata keys {group_field!r} and "
            f"{label_field!r} with {len(vectors.labels)} label(s): the audit needs two or more"
        )
    report = audit_live(vectors, services, sets, body.k)
    data = report.to_dict()
    data.update(sampled=len(items), quality=quality_figures(items))
    data["seconds"] = time.perf_counter() - started
    return AuditOut.model_validate(data)


@router.get("/bias")
def audit_history(
    services: ServicesDep,
    principal: PrincipalDep,
    limit: int = Query(default=1, ge=1, le=100),
) -> AuditHistoryOut:
    """The latest records of the scheduled monitoring (``MMRAG_AUDIT__INTERVAL_S``), newest
    last. They cover every tenant's points: a key bound to one tenant gets a 403."""
    if principal.tenant is not None:
        raise HTTPException(
            status_code=403,
            detail="the monitoring records cover every tenant: use an admin key of every "
            "tenant (*), or POST /v1/audit/bias to audit this tenant's items",
        )
    settings = services.settings
    path = history_path(settings.data_dir, settings.store.collection)
    return AuditHistoryOut(records=latest_records(path, limit))
