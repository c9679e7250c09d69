"""The records an item passes through the pipeline in."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest

from ingest.items import ReadItem, SourceItem


def test_a_read_item_is_not_changed_in_place_but_replaced() -> None:
    read = ReadItem(SourceItem("a.png", "a.png"), "key", "pid", "hash", "a", ["a"], None, {})
    with pytest.raises(FrozenInstanceError):
        read.image_bytes = None  # type: ignore[misc]
    without = replace(read, image_bytes=None, text="b")
    assert (read.text, without.text, without.point_id) == ("a", "b", "pid")
