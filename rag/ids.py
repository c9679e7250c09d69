"""Moved to :mod:`rag.identity` (the one home of item identity); kept for old imports."""

from rag.identity import content_hash, item_key, point_id

__all__ = ["content_hash", "item_key", "point_id"]
