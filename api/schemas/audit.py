"""The bias audit: ``POST /v1/audit/bias`` (run now) and ``GET /v1/audit/bias`` (monitoring)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class AuditIn(BaseModel):
    """Audit a sample of the caller's collection: items are grouped by the metadata key
    ``group_field`` and labelled by ``label_field`` (default: ``MMRAG_AUDIT__GROUP_FIELD`` and
    ``MMRAG_AUDIT__LABEL_FIELD``). ``word_sets``: WEAT tests ``[{"name", "x", "y", "a", "b"}]``
    (default: the built-in ones)."""

    model_config = ConfigDict(extra="forbid")

    group_field: str | None = Field(default=None, min_length=1, max_length=200)
    label_field: str | None = Field(default=None, min_length=1, max_length=200)
    sample: int = Field(default=1000, ge=10, le=5000)
    k: int = Field(default=10, ge=1, le=100)
    word_sets: list[dict[str, Any]] | None = Field(default=None, max_length=16)


class AuditOut(BaseModel):
    """Every figure: per signal (``image``, ``text``, ``passage``) zero-shot accuracy and nDCG@k
    overall and per group, each group's share of the top-k against its share of the items
    (``exposure_ratio``), the gaps between groups (``gaps``: ``signal.figure``), the WEAT tests
    per text tower, and the embedding-quality figures of the sample."""

    source: str
    models: dict[str, str]
    sampled: int
    items: int
    labels: list[str]
    groups: list[str]
    signals: list[dict[str, Any]]
    weat: dict[str, list[dict[str, Any]]]
    gaps: dict[str, float]
    quality: dict[str, float | None]
    seconds: float


class AuditHistoryOut(BaseModel):
    """The latest monitoring records (newest last), each an :class:`AuditOut` with ``time``,
    ``collection`` and ``alerts``; empty while monitoring has not run."""

    records: list[dict[str, Any]]
