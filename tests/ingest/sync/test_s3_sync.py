"""An S3 source against moto's standalone server on loopback (the S3 wire protocol, real
boto3): incremental by ETag and size, deletes propagate, wrong credentials are a source error."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from ingest.specs import JobSpec
from ingest.sync.manage import source_root
from ingest.sync.mirror import SourceError, mirror_dir
from ingest.sync.model import SourceConfig
from ingest.sync.registry import SourceRegistry
from ingest.sync.run import run_sync
from rag.services import Services
from tests.ingest.draw import image_bytes
from tests.ingest.sync.conftest import BUCKET, sources_of


def _client(s3: dict[str, str]):
    return boto3.client(
        "s3",
        endpoint_url=s3["endpoint"],
        region_name="us-east-1",
        aws_access_key_id=s3["id"],
        aws_secret_access_key=s3["secret"],
    )


def _secrets(path: Path, key_id: str, secret: str) -> str:
    path.write_text(json.dumps({"aws_access_key_id": key_id, "aws_secret_access_key": secret}))
    return str(path)


def _source(name: str, s3: dict[str, str], secrets: str) -> SourceConfig:
    return SourceConfig(
        name=name,
        kind="s3",
        location=f"s3://{BUCKET}/shelf/",
        endpoint_url=s3["endpoint"],
        region="us-east-1",
        secrets_file=secrets,
    )


def _sync(services: Services, name: str):
    return run_sync(services, JobSpec.for_source(name, None, None))


def test_second_sync_writes_only_what_changed_and_deletes_propagate(
    synced: Services, registry: SourceRegistry, s3: dict[str, str], tmp_path: Path
) -> None:
    client = _client(s3)
    objects = {
        "shelf/cat.png": image_bytes(1),
        "shelf/cat.txt": b"a grey cat",
        "shelf/dog.png": image_bytes(2),
        "shelf/dog.txt": b"a brown dog",
        "shelf/guide.md": b"# Guide\n\nFeed the cat at noon.\n\nWalk the dog at six.\n",
        "shelf/notes/todo.txt": b"buy milk",
        "elsewhere/skip.txt": b"not under the prefix",
    }
    for key, body in objects.items():
        client.put_object(Bucket=BUCKET, Key=key, Body=body)
    config = _source("shelf", s3, _secrets(tmp_path / "s.json", s3["id"], s3["secret"]))
    registry.add(config)
    root = source_root(synced.settings, config)
    first = _sync(synced, "shelf")
    assert first.failed == 0 and first.written >= 4
    assert set(sources_of(synced, root)) == {"cat.png", "dog.png", "guide.md", "notes/todo.txt"}
    assert registry.get("shelf").state.fetched == 6

    unchanged = _sync(synced, "shelf")
    assert unchanged.points_written == 0 and registry.get("shelf").state.fetched == 0

    client.put_object(Bucket=BUCKET, Key="shelf/cat.txt", Body=b"a sleepy grey cat")
    client.put_object(Bucket=BUCKET, Key="shelf/bird.txt", Body=b"a small bird")
    client.delete_object(Bucket=BUCKET, Key="shelf/guide.md")
    guide_points = sources_of(synced, root)["guide.md"]
    changed = _sync(synced, "shelf")
    assert changed.written == 2 and changed.points_written == 2  # the re-captioned cat, the bird
    assert changed.pruned == guide_points
    assert set(sources_of(synced, root)) == {"cat.png", "dog.png", "bird.txt", "notes/todo.txt"}
    state = registry.get("shelf").state
    assert state.fetched == 2 and state.error is None
    assert not (mirror_dir(synced.settings, "shelf") / "guide.md").exists()


def test_wrong_credentials_are_a_clear_source_error(
    synced: Services, registry: SourceRegistry, s3: dict[str, str], tmp_path: Path
) -> None:
    registry.add(_source("wrong", s3, _secrets(tmp_path / "w.json", "AKIAWRONG", "nope")))
    with pytest.raises(SourceError, match="access key is not known: check the credentials"):
        _sync(synced, "wrong")
    state = registry.get("wrong").state
    assert state.error is not None and "check the credentials" in state.error
    assert "nope" not in state.error and state.last_ok_at is None
    assert synced.store_for(None).count() == 0
