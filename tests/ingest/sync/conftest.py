"""Fixtures of the synced-source tests: services whose ingest roots hold the test's folders."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest

from ingest.sync.registry import SourceRegistry
from rag import payload as keys
from rag.services import Services
from rag.store.base import Filter, MatchValue
from tests.conftest import free_port
from tests.ingest.conftest import ServicesFactory


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "roots"
    path.mkdir()
    return path


@pytest.fixture
def synced(make_services: ServicesFactory, root: Path) -> Services:
    """Services whose ``MMRAG_INGEST__ROOTS`` is the test's ``roots`` folder."""
    return make_services(roots=[root])


@pytest.fixture
def registry(synced: Services) -> SourceRegistry:
    return SourceRegistry.for_settings(synced.settings)


BUCKET = "library"


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A moto S3 server on 127.0.0.1 whose only valid keys are an IAM user's (auth switched on
    after the user and the bucket were made); yields the endpoint and the user's keys."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    setup = {"aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", **setup)
    iam.create_user(UserName="reader")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="reader", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="reader")["AccessKey"]
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **setup).create_bucket(
        Bucket=BUCKET
    )
    httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"0").raise_for_status()
    try:
        yield {"endpoint": endpoint, "id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    finally:
        httpx.post(f"{endpoint}/moto-api/reset-auth", content=b"inf")
        httpx.post(f"{endpoint}/moto-api/reset")  # moto's state is the process's: start clean
        server.stop()


def sources_of(services: Services, root: str) -> dict[str, int]:
    """``source -> points`` of the points under ``root`` (payload ``source_root``)."""
    store = services.store_for(None)
    found: dict[str, int] = {}
    offset = None
    flt = Filter(must=(MatchValue(keys.SOURCE_ROOT, root),))
    while True:
        page, offset = store.scroll(flt, limit=256, offset=offset)
        for point in page:
            name = str(point.payload.get(keys.SOURCE))
            found[name] = found.get(name, 0) + 1
        if offset is None:
            return found
