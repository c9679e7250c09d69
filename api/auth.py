"""Who is calling: API keys mapped to a :class:`Principal` (a tenant and a role).

Keys come from ``MMRAG_API_KEYS`` (``KEY`` or ``KEY:TENANT:ROLE``) and ``MMRAG_API_KEYS_FILE``
(``KEY TENANT ROLE`` a line, re-read when the file changes). A key is compared with every known
key in constant time (of their SHA-256 digests). No keys at all turns authentication off: every
caller is :data:`EVERYONE` (every tenant, every role), as in a single-user setup.

=========  ==================================================================================
role       may
=========  ==================================================================================
``read``   search, chat, embed, classify, read items and its own jobs
``write``  the above, and ingest and delete
``admin``  the above, and ``/v1/stats`` and ``/ready``'s details
=========  ==================================================================================

Jobs follow the tenant, not the role: a key of every tenant (``*``) sees every tenant's jobs.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import threading
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from rag.config import Settings

log = logging.getLogger(__name__)


class Role(IntEnum):
    """What a key may do; each role includes the ones below it."""

    READ = 1
    WRITE = 2
    ADMIN = 3

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: use read, write or admin") from None


@dataclass(frozen=True)
class Principal:
    """The caller: ``tenant`` ``None`` sees every tenant's points (and writes untenanted ones)."""

    tenant: str | None
    role: Role

    def may(self, role: Role) -> bool:
        return self.role >= role


def sees_job(principal: Principal, job_tenant: str | None) -> bool:
    """Whether ``principal`` may see a job of ``job_tenant``: its own tenant's, every job for a
    key of every tenant (``*``); a tenant-bound admin key sees its tenant's only."""
    return principal.tenant is None or job_tenant == principal.tenant


EVERYONE = Principal(tenant=None, role=Role.ADMIN)
"""The caller when no keys are configured."""

NOBODY = Principal(tenant="\x00no tenant", role=Role.READ)
"""An unauthenticated caller of a public route while keys are on: a tenant no point has."""

ALL_TENANTS = "*"


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


class KeyRing:
    """The configured keys; :meth:`lookup` re-reads the keys file when it changed."""

    def __init__(self, env_keys: list[str], key_file: Path | None = None) -> None:
        self._env = [(_digest(key), principal) for key, principal in map(parse_entry, env_keys)]
        self._file = key_file
        self._file_keys: list[tuple[bytes, Principal]] = []
        self._stamp: tuple[int, int, int] | None = None
        self._lock = threading.Lock()
        self._refresh()

    @classmethod
    def for_settings(cls, settings: Settings) -> KeyRing:
        return cls(settings.api_keys, settings.api_keys_file)

    @property
    def enabled(self) -> bool:
        """Whether authentication is on (a key list or a keys file is configured)."""
        return bool(self._env) or self._file is not None

    def lookup(self, given: str) -> Principal | None:
        """The principal of key ``given``, or ``None``; every key is compared, in constant time."""
        self._refresh()
        wanted = _digest(given)
        found: Principal | None = None
        for digest, principal in [*self._env, *self._file_keys]:
            if hmac.compare_digest(wanted, digest) and found is None:
                found = principal
        return found if given else None

    def _refresh(self) -> None:
        if self._file is None:
            return
        try:
            info = os.stat(self._file)
        except OSError as exc:
            with self._lock:
                if self._stamp is not None or not self._file_keys:
                    log.error(
                        "API keys file %s unreadable (%s): no key of it is valid", self._file, exc
                    )
                self._file_keys, self._stamp = [], None
            return
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        if stamp == self._stamp:
            return
        with self._lock:
            if stamp != self._stamp:
                self._file_keys = [(_digest(k), p) for k, p in read_key_file(self._file)]
                self._stamp = stamp
                log.info("API keys file %s read: %d keys", self._file, len(self._file_keys))


def exposure_warning(host: str, keyring: KeyRing) -> str | None:
    """A warning when ``host`` is reachable from other machines and no API key is required."""
    if keyring.enabled or _is_loopback(host):
        return None
    return (
        f"SERVING ON {host} WITH API KEYS OFF: anyone who reaches this address can read, "
        "ingest and delete every item. Set MMRAG_API_KEYS (or MMRAG_API_KEYS_FILE), or serve on "
        "127.0.0.1 (MMRAG_API__HOST) behind a proxy that authenticates."
    )


def _is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_entry(entry: str) -> tuple[str, Principal]:
    """The key and principal of an ``MMRAG_API_KEYS`` entry: ``KEY:TENANT:ROLE``, or a plain
    ``KEY`` (every tenant, every role)."""
    parts = entry.split(":")
    if len(parts) == 3 and parts[1] and parts[2].strip().upper() in Role.__members__:
        return parts[0], Principal(_tenant(parts[1]), Role.parse(parts[2]))
    return entry, EVERYONE


def read_key_file(path: Path) -> list[tuple[str, Principal]]:
    """The keys of a keys file (``KEY TENANT ROLE`` a line); bad lines are logged and skipped."""
    keys: list[tuple[str, Principal]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        try:
            key, tenant, role = words
            keys.append((key, Principal(_tenant(tenant), Role.parse(role))))
        except ValueError as exc:
            log.error("%s:%d skipped: want 'KEY TENANT ROLE' (%s)", path, number, exc)
    return keys


def client_key(settings: Settings, role: Role = Role.WRITE) -> str | None:
    """A key of ``settings`` for mmrag's own clients (``mmrag ingest`` through a server): the
    first that may act on every tenant with ``role``, else the first with ``role``; ``None``
    when no configured key has it. Keys come from ``MMRAG_API_KEYS`` and the keys file."""
    keys = [parse_entry(entry) for entry in settings.api_keys]
    if settings.api_keys_file is not None:
        try:
            keys += read_key_file(settings.api_keys_file)
        except OSError as exc:
            log.warning("API keys file %s unreadable (%s)", settings.api_keys_file, exc)
    able = [(key, principal) for key, principal in keys if principal.may(role)]
    everywhere = [key for key, principal in able if principal.tenant is None]
    return (everywhere or [key for key, _ in able] or [None])[0]


def _tenant(text: str) -> str | None:
    text = text.strip()
    return None if text == ALL_TENANTS else text
