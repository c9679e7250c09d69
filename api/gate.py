"""The gate every request passes before a route reads a byte of its body.

1. **Host allow-list** (DNS rebinding): a web page on ``evil.example`` whose name its owner
   re-points at this server's address would be same-origin with the API and read it. The
   ``Host`` header must be a name no other site can point here (an IP address, ``localhost``
   or ``*.localhost``, a name without a dot), the bound host, ``MMRAG_API__PUBLIC_URL``'s host,
   or one of ``MMRAG_API__ALLOWED_HOSTS``; else 400.
2. **Keyless writes from other sites** (CSRF): a page elsewhere can make a browser post a form
   here (no preflight). A write (POST, PUT, PATCH, DELETE) that carries no key is refused (403)
   when the browser says it comes from another site (``Sec-Fetch-Site``, else an ``Origin``
   that is not this server's), unless that origin is in ``MMRAG_API__CORS_ORIGINS``. Clients
   that are not browsers send neither header and pass; the project's page is same-origin.
3. **The API key and its role**, for the routes that need one (401/403), so a caller without a
   valid key never costs the server the parsing of its body.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from api.auth import KeyRing
from api.deps import authorize, given_key
from api.errors import CODE_BY_STATUS, error_response
from rag.config import Settings

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that change nothing: never refused as cross-site."""
SAME_SITE = frozenset({"same-origin", "none"})
"""``Sec-Fetch-Site`` values of the server's own pages and of typed URLs and bookmarks."""


@dataclass(frozen=True)
class Origins:
    """Which ``Host`` names and which web origins the server trusts."""

    hosts: frozenset[str]
    any_host: bool
    cors: frozenset[str]

    @classmethod
    def for_settings(cls, settings: Settings) -> Origins:
        api = settings.api
        public = urlsplit(api.public_url)
        hosts = {host_name(name) for name in api.allowed_hosts}
        hosts |= {host_name(api.host), (public.hostname or "").lower()}
        cors = {origin.rstrip("/").lower() for origin in api.cors_origins}
        if api.public_url:
            cors.add(f"{public.scheme}://{public.netloc}".lower())
        return cls(frozenset(hosts - {""}), "*" in api.allowed_hosts, frozenset(cors))

    def allows_host(self, host: str) -> bool:
        """Whether a request for ``host`` (a ``Host`` header, port and all) is served."""
        name = host_name(host)
        return self.any_host or not name or name in self.hosts or cannot_be_rebound(name)

    def cross_site(self, headers: Headers) -> bool:
        """Whether a browser says this request comes from a page of another, untrusted site."""
        origin = headers.get("origin")
        if origin is not None and ("*" in self.cors or origin.rstrip("/").lower() in self.cors):
            return False
        site = headers.get("sec-fetch-site")
        if site is not None:
            return site.lower() not in SAME_SITE
        if origin is None:
            return False  # not a browser, or one too old to say: nothing to tell by
        return (
            origin == "null" or urlsplit(origin).netloc.lower() != headers.get("host", "").lower()
        )


def host_name(host: str) -> str:
    """The name of a ``Host`` header or setting: lower case, without port, brackets or the
    trailing dot (``[::1]:8000`` -> ``::1``, ``Example.COM.:80`` -> ``example.com``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def cannot_be_rebound(name: str) -> bool:
    """Whether no web site can point ``name`` at this server: an IP address (the page's origin
    is then this server's own), ``localhost`` and ``*.localhost`` (browsers resolve them to
    loopback themselves), or a name without a dot (resolved by the local network only)."""
    if "." not in name or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class RequestGate:
    """Pure ASGI middleware: the Host check, the cross-site check of keyless writes, and the
    API key and role of ``protected`` routes (the principal left in ``scope["state"]``)."""

    def __init__(
        self,
        app: ASGIApp,
        keyring: KeyRing,
        origins: Origins,
        protected: Sequence[BaseRoute],
    ) -> None:
        self.app = app
        self.keyring = keyring
        self.origins = origins
        self.protected = protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check(scope)
        except HTTPException as exc:
            code = CODE_BY_STATUS.get(exc.status_code, "http_error")
            response = error_response(exc.status_code, code, str(exc.detail), exc.headers)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not self.origins.allows_host(host):
            raise HTTPException(
                400,
                f"this server does not answer to the host name {host_name(host)!r} (a web page "
                "may have pointed that name here): use its address, or add the name to "
                "MMRAG_API__ALLOWED_HOSTS",
            )
        key = given_key(headers)
        method = scope["method"]
        if not key and method not in SAFE_METHODS and self.origins.cross_site(headers):
            raise HTTPException(
                403,
                f"a {method} from a page of another site ({headers.get('origin') or 'unknown'}) "
                "without an API key is refused: send the key ('X-API-Key' or 'Authorization: "
                "Bearer'), or add that site to MMRAG_API__CORS_ORIGINS",
            )
        route = self._protected_route(scope)
        if route is not None:
            principal = authorize(self.keyring, key, method, getattr(route, "path", ""))
            scope.setdefault("state", {})["principal"] = principal

    def _protected_route(self, scope: Scope) -> BaseRoute | None:
        for route in self.protected:
            match, _ = route.matches(scope)
            if match == Match.FULL:
                return route
        return None
