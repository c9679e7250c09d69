"""Adding and removing sources, shared by the API and the CLI (checks before anything is kept)."""

from __future__ import annotations

import os
from pathlib import Path

from ingest.sync.mirror import drop_mirror, mirror_dir
from ingest.sync.model import SourceConfig, SourceRecord
from ingest.sync.registry import SourceRegistry
from ingest.sync.run import folder_anchor, source_root_of
from rag import payload as keys
from rag.config import Settings
from rag.errors import InvalidInputError
from rag.services import Services
from rag.store.base import Filter, MatchValue


def add_source(registry: SourceRegistry, settings: Settings, config: SourceConfig) -> SourceRecord:
    """Check ``config`` against the server (a folder under the ingest roots, a readable secrets
    file) and keep it."""
    if config.kind == "folder":
        folder_anchor(Path(os.path.normpath(config.location)), settings.ingest.roots)
        if not Path(config.location).is_dir():
            raise InvalidInputError(f"{config.location} is not a folder on the server")
    if config.secrets_file is not None:
        if config.kind != "s3":
            raise InvalidInputError("secrets_file is for s3 sources only")
        from ingest.sync.s3 import read_secrets

        read_secrets(Path(config.secrets_file))
    return registry.add(config)


def source_root(settings: Settings, config: SourceConfig) -> str:
    """The ``source_root`` payload value of the source's points."""
    return source_root_of(settings, config)


def remove_source(registry: SourceRegistry, services: Services, name: str, purge: bool) -> int:
    """Forget the source (and its mirror); with ``purge``, delete its points too. Returns how
    many points went."""
    config = registry.get(name).config
    deleted = 0
    if purge:
        store = services.for_tenant(config.tenant).store_for(config.collection)
        flt = Filter(must=(MatchValue(keys.SOURCE_ROOT, source_root(services.settings, config)),))
        deleted = store.count(flt)
        store.delete_by_filter(flt)
    registry.remove(name)
    if config.kind != "folder" and mirror_dir(services.settings, name).exists():
        drop_mirror(services.settings, name)
    return deleted
