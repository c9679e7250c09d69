"""Manifest lines with metadata past the bounds of ``rag.metadata`` fail alone, with the limit
named; the other lines are read."""

from __future__ import annotations

import json
from pathlib import Path

from ingest.records import Record, iter_records
from rag.errors import InvalidInputError
from rag.metadata import MAX_METADATA_DEPTH


def test_deeply_nested_manifest_metadata_fails_its_line_only(tmp_path: Path) -> None:
    deep = {"a": json.loads("[" * MAX_METADATA_DEPTH + "]" * MAX_METADATA_DEPTH)}
    lines = [
        json.dumps({"text": "fine", "metadata": {"year": 2024}}),
        json.dumps({"text": "deep", "metadata": deep}),
        '{"text": "deeper", "metadata": {"a": ' + "[" * 5000 + "]" * 5000 + "}}",
        '{"text": "csv-style", "metadata": "{\\"b\\": 1}"}',
    ]
    manifest = tmp_path / "items.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    found = dict(iter_records(manifest))
    assert isinstance(found[1], Record) and found[1].metadata == {"year": 2024}
    assert isinstance(found[2], InvalidInputError)
    assert f"{MAX_METADATA_DEPTH} levels" in str(found[2])
    assert isinstance(found[3], InvalidInputError) and "too deeply" in str(found[3])
    assert isinstance(found[4], InvalidInputError)  # JSONL metadata must be an object
    assert len(found) == 4
