"""An S3-compatible bucket and prefix, mirrored incrementally by ETag and size.

Credentials come from the environment (boto3's chain: ``AWS_ACCESS_KEY_ID`` …) or from the
source's ``secrets_file`` on the server (a JSON object with ``aws_access_key_id`` and
``aws_secret_access_key``); they are never stored with the source nor shown by the API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ingest.sync.mirror import (
    MAX_OBJECTS,
    Fetched,
    SourceError,
    remove_object,
    safe_relative,
    write_object,
)
from ingest.sync.model import SourceConfig
from ingest.sync.registry import SourceRegistry

_SECRET_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")
_CHUNK = 1 << 20
OBJ = "obj:"


def s3_client(config: SourceConfig) -> Any:
    """A boto3 S3 client for the source (path-style addressing when an endpoint is given)."""
    import boto3
    from botocore.config import Config

    kwargs: dict[str, Any] = {
        "endpoint_url": config.endpoint_url or None,
        "region_name": config.region or None,
        "config": Config(
            retries={"max_attempts": 2},
            connect_timeout=10,
            read_timeout=60,
            s3={"addressing_style": "path"} if config.endpoint_url else None,
        ),
    }
    if config.secrets_file:
        kwargs.update(read_secrets(Path(config.secrets_file)))
    return boto3.client("s3", **kwargs)


def read_secrets(path: Path) -> dict[str, str]:
    """The credentials in a secrets file (never echoed in an error)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise SourceError(
            f"cannot read the secrets file {path}: it must be a readable JSON object"
        ) from None
    if not isinstance(data, dict) or not all(
        isinstance(data.get(k), str) for k in _SECRET_KEYS[:2]
    ):
        raise SourceError(
            f"the secrets file {path} needs aws_access_key_id and aws_secret_access_key strings"
        )
    return {k: data[k] for k in _SECRET_KEYS if isinstance(data.get(k), str)}


def fetch_s3(
    config: SourceConfig,
    registry: SourceRegistry,
    mirror: Path,
    max_bytes: int,
    should_stop: Callable[[], bool] = lambda: False,
    client: Any = None,
) -> Fetched:
    """Bring ``mirror`` to the bucket's objects under the prefix: download what is new or whose
    ETag or size changed (objects over ``max_bytes`` are reported, not fetched), delete what the
    bucket no longer has. A listing that fails (bad credentials, no such bucket, endpoint down)
    raises :class:`SourceError` and changes nothing."""
    client = client or s3_client(config)
    listed, complete = _listing(client, config)
    known = {
        k[len(OBJ) :]: v for k, v in registry.objects(config.name).items() if k.startswith(OBJ)
    }
    result = Fetched()
    if not complete:
        result.errors.append(f"over {MAX_OBJECTS} objects: the first synced, none deleted")
    for key, (etag, size) in sorted(listed.items()):
        if should_stop():
            return result
        _fetch_one(client, config, registry, mirror, key, etag, size, known, max_bytes, result)
    for key in sorted(set(known) - set(listed)) if complete else []:
        rel = _rel(key, config.prefix)
        if rel is not None:
            remove_object(mirror, rel)
        registry.drop_object(config.name, OBJ + key)
        result.deleted += 1
    return result


def _fetch_one(
    client: Any,
    config: SourceConfig,
    registry: SourceRegistry,
    mirror: Path,
    key: str,
    etag: str,
    size: int,
    known: dict[str, tuple[str, int, str]],
    max_bytes: int,
    result: Fetched,
) -> None:
    rel = _rel(key, config.prefix)
    if rel is None:
        result.errors.append(f"{key}: not a path mmrag can mirror; skipped")
        return
    if size > max_bytes:
        result.errors.append(f"{key}: {size} bytes, over MMRAG_INGEST__MAX_FILE_BYTES; skipped")
        return
    before = known.get(key)
    if before is not None and before[:2] == (etag, size) and (mirror / rel).exists():
        result.unchanged += 1
        return
    try:
        body = client.get_object(Bucket=config.bucket, Key=key)["Body"]
        write_object(mirror, rel, body.iter_chunks(_CHUNK))
    except Exception as exc:  # one object failing is reported, the rest go on
        result.errors.append(f"{key}: {_reason(exc)}")
        return
    registry.put_object(config.name, OBJ + key, etag, size)
    result.fetched += 1


def _listing(client: Any, config: SourceConfig) -> tuple[dict[str, tuple[str, int]], bool]:
    """The objects under the prefix (key -> ETag, size), and whether that is all of them."""
    found: dict[str, tuple[str, int]] = {}
    try:
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=config.bucket, Prefix=config.prefix
        )
        for page in pages:
            for entry in page.get("Contents", []):
                if entry["Key"].endswith("/"):
                    continue
                found[entry["Key"]] = (str(entry.get("ETag", "")).strip('"'), int(entry["Size"]))
                if len(found) >= MAX_OBJECTS:
                    return found, False
    except Exception as exc:
        raise SourceError(
            f"cannot list s3://{config.bucket}/{config.prefix}: {_reason(exc)}"
        ) from None
    return found, True


def _rel(key: str, prefix: str) -> Any:
    rest = key[len(prefix) :] if key.startswith(prefix) else key
    return safe_relative(rest.lstrip("/"))


def _reason(exc: Exception) -> str:
    """A short, credential-free reason (botocore's error code and message)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        code = error.get("Code", "")
        hints = {
            "InvalidAccessKeyId": "the access key is not known: check the credentials",
            "SignatureDoesNotMatch": "the secret key is wrong: check the credentials",
            "AccessDenied": "access denied: the credentials may not read this bucket",
            "NoSuchBucket": "no such bucket",
        }
        return hints.get(code) or f"{code}: {error.get('Message', '')}".strip(": ")
    name = type(exc).__name__
    if name == "NoCredentialsError":
        return "no credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a secrets_file"
    if name in ("EndpointConnectionError", "ConnectTimeoutError"):
        return f"the endpoint cannot be reached ({exc})"
    return f"{name}: {exc}"
