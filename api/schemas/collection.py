"""A collection's own search defaults (``/v1/admin/collection/defaults``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from rag.signals import SIGNALS


class CollectionDefaultsIn(BaseModel):
    """The collection's defaults, replacing the stored ones; a part left out or null follows
    the global setting (``MMRAG_RETRIEVAL__*``). Example: ``{"fusion": "weighted", "weights":
    {"passage": 0.5, "lexical": 0.25}, "signals": ["passage", "lexical"]}``."""

    model_config = ConfigDict(extra="forbid")

    fusion: Literal["rrf", "dbsf", "weighted"] | None = None
    weights: dict[str, float] | None = Field(default=None, max_length=len(SIGNALS))
    signals: list[str] | None = Field(default=None, min_length=1, max_length=len(SIGNALS))


class CollectionDefaultsOut(BaseModel):
    """The collection's defaults as searches use them (null: the global setting)."""

    collection: str
    fusion: str | None
    weights: dict[str, float] | None
    signals: list[str] | None
