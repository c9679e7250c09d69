"""A web site as a source: pages from a start URL (links followed to ``max_depth``) or from a
sitemap, only on the hosts the source names, at most ``max_pages``, robots.txt honoured.

Pages are mirrored as ``.html`` files that the document reader reads; each page's pictures
(from the named hosts) are saved beside them in a hidden ``.assets`` folder and the page points
at them, so they become the page's figures. A redirect is followed only to a named host (no
SSRF through redirects); links and pictures on other hosts are never fetched.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser
from xml.etree import ElementTree

import httpx

from ingest.sync.mirror import Fetched, SourceError, remove_object, safe_relative, write_object
from ingest.sync.model import SourceConfig
from ingest.sync.registry import SourceRegistry

USER_AGENT = "mmrag-sync"
MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}
ASSETS = ".assets"
PAGE = "page:"
_IMAGE_TYPES = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
}


class RefusedURL(Exception):
    """A URL (or a redirect) that leaves the source's hosts."""


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.images: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href"):
            self.links.append(str(values["href"]))
        if tag == "img" and values.get("src"):
            self.images.append(str(values["src"]))


@dataclass(frozen=True)
class Fetch:
    """A response read whole (within the byte cap): its final URL, status, type and body."""

    url: str
    status: int
    content_type: str
    content: bytes

    @property
    def text(self) -> str:
        charset = "utf-8"
        for part in self.content_type.split(";")[1:]:
            name, _, value = part.strip().partition("=")
            if name.lower() == "charset" and value:
                charset = value.strip('"')
        return self.content.decode(charset, errors="replace")


class _Site:
    """HTTP under the source's rules: named hosts only, redirects checked, bodies capped."""

    def __init__(self, config: SourceConfig, client: httpx.Client, max_bytes: int) -> None:
        self.hosts = set(config.hosts)
        self.client = client
        self.max_bytes = max_bytes
        self.robots: dict[str, RobotFileParser] = {}

    def allowed(self, url: str) -> bool:
        """Whether ``url`` is http(s) on a named host: ``host:port`` as named, or a bare named
        host on its scheme's default port."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        try:
            port = parts.port
        except ValueError:
            return False
        host = parts.hostname.lower()
        if port is None or port == _DEFAULT_PORTS[parts.scheme]:
            return (
                host in self.hosts or f"{host}:{port or _DEFAULT_PORTS[parts.scheme]}" in self.hosts
            )
        return f"{host}:{port}" in self.hosts

    def get(self, url: str) -> Fetch:
        """``url`` after redirects among the named hosts (``RefusedURL`` otherwise), its body
        read up to the byte cap."""
        for _ in range(MAX_REDIRECTS + 1):
            if not self.allowed(url):
                named = ", ".join(sorted(self.hosts))
                raise RefusedURL(f"{url}: not on the source's hosts ({named})")
            with self.client.stream("GET", url) as response:
                if response.is_redirect:
                    target = urljoin(url, response.headers.get("location", ""))
                    if not self.allowed(target):
                        raise RefusedURL(f"{url}: redirect to another host refused ({target})")
                    url = target
                    continue
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise RefusedURL(f"{url}: over MMRAG_INGEST__MAX_FILE_BYTES")
                kind = response.headers.get("content-type", "")
                return Fetch(url, response.status_code, kind, bytes(body))
        raise RefusedURL(f"{url}: more than {MAX_REDIRECTS} redirects")

    def may_fetch(self, url: str) -> bool:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        robots = self.robots.get(origin)
        if robots is None:
            robots = RobotFileParser()
            try:
                response = self.get(origin + "/robots.txt")
                lines = response.text.splitlines() if response.status == 200 else []
            except (httpx.HTTPError, RefusedURL):
                lines = []
            robots.parse(lines)
            self.robots[origin] = robots
        return robots.can_fetch(USER_AGENT, url)


def fetch_web(
    config: SourceConfig,
    registry: SourceRegistry,
    mirror: Path,
    max_bytes: int,
    should_stop: Callable[[], bool] = lambda: False,
    client: httpx.Client | None = None,
) -> Fetched:
    """Mirror the site's pages (and their pictures) and delete the pages no longer reached.
    A start URL that cannot be fetched raises :class:`SourceError` and changes nothing."""
    own = client is None
    client = client or httpx.Client(
        timeout=30.0, follow_redirects=False, headers={"User-Agent": USER_AGENT}
    )
    try:
        return _crawl(config, registry, mirror, _Site(config, client, max_bytes), should_stop)
    finally:
        if own:
            client.close()


def _crawl(
    config: SourceConfig,
    registry: SourceRegistry,
    mirror: Path,
    site: _Site,
    should_stop: Callable[[], bool],
) -> Fetched:
    result = Fetched()
    start = _start_pages(config, site)
    known = {
        k[len(PAGE) :]: v for k, v in registry.objects(config.name).items() if k.startswith(PAGE)
    }
    queue = deque((url, 0) for url in start)
    seen: set[str] = set(start)
    kept: set[str] = set()
    while queue and len(kept) < config.max_pages and not should_stop():
        url, depth = queue.popleft()
        try:
            links = _page(url, site, mirror, registry, config, known, result, kept)
        except (httpx.HTTPError, RefusedURL, OSError) as exc:
            result.errors.append(f"{url}: {exc}")
            if url in known and not isinstance(exc, RefusedURL):
                kept.add(url)  # unreachable for now: its copy stays until the page is gone
            continue
        if depth >= config.max_depth:
            continue
        for link in links:
            if link not in seen and site.allowed(link):
                seen.add(link)
                queue.append((link, depth + 1))
    if should_stop():
        return result
    for url in sorted(set(known) - kept):
        rel = safe_relative(_page_path(url))
        if rel is not None:
            remove_object(mirror, rel)
        registry.drop_object(config.name, PAGE + url)
        result.deleted += 1
    return result


def _start_pages(config: SourceConfig, site: _Site) -> list[str]:
    url = config.location
    try:
        response = site.get(url)
    except (httpx.HTTPError, RefusedURL) as exc:
        raise SourceError(f"cannot fetch {url}: {exc}") from None
    if response.status != 200:
        raise SourceError(f"cannot fetch {url}: HTTP {response.status}")
    kind = response.content_type
    if "xml" not in kind and not urlsplit(url).path.endswith(".xml"):
        return [_clean(url)]
    try:
        tree = ElementTree.fromstring(response.content)
    except ElementTree.ParseError:
        raise SourceError(f"{url} is not a sitemap (XML that cannot be parsed)") from None
    locs = [el.text.strip() for el in tree.iter() if el.tag.endswith("loc") and el.text]
    return [_clean(loc) for loc in locs if site.allowed(loc)][: config.max_pages]


def _page(
    url: str,
    site: _Site,
    mirror: Path,
    registry: SourceRegistry,
    config: SourceConfig,
    known: dict[str, tuple[str, int, str]],
    result: Fetched,
    kept: set[str],
) -> list[str]:
    if not site.may_fetch(url):
        result.errors.append(f"{url}: disallowed by robots.txt")
        return []
    response = site.get(url)
    if response.status != 200:
        result.errors.append(f"{url}: HTTP {response.status}")
        if url in known and response.status not in (404, 410):
            kept.add(url)  # a server error: the copy stays until the page is gone
        return []
    if "html" not in (response.content_type or "text/html"):
        return []
    parser = _Links()
    text = response.text
    parser.feed(text)
    rel = safe_relative(_page_path(url))
    if rel is None:
        result.errors.append(f"{url}: no file name for it")
        return []
    html = _with_local_pictures(text, url, parser.images, site, mirror, rel, result)
    data = html.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    kept.add(url)
    before = known.get(url)
    if before is not None and before[0] == digest and (mirror / rel).exists():
        result.unchanged += 1
    else:
        write_object(mirror, rel, [data])
        registry.put_object(config.name, PAGE + url, digest, len(data))
        result.fetched += 1
    return [_clean(urljoin(url, link)) for link in parser.links]


def _with_local_pictures(
    html: str,
    page_url: str,
    sources: list[str],
    site: _Site,
    mirror: Path,
    rel: PurePosixPath,
    result: Fetched,
) -> str:
    """``html`` with each picture on the named hosts saved under ``.assets`` and its ``src``
    pointing there (pictures elsewhere keep their remote URL: never fetched)."""
    for src in dict.fromkeys(sources):
        url = urljoin(page_url, src)
        if not site.allowed(url):
            continue
        try:
            response = site.get(url)
        except (httpx.HTTPError, RefusedURL) as exc:
            result.errors.append(f"{url}: {exc}")
            continue
        suffix = _IMAGE_TYPES.get(response.content_type.split(";")[0].strip())
        if response.status != 200 or suffix is None:
            continue
        name = hashlib.sha256(url.encode()).hexdigest()[:24] + suffix
        asset = PurePosixPath(ASSETS) / name
        if not (mirror / asset).exists():
            write_object(mirror, asset, [response.content])
        local = os.path.relpath(mirror / asset, (mirror / rel).parent)
        for quoted in {src, escape(src)}:
            pattern = r"""(src\s*=\s*)(["']?)""" + re.escape(quoted) + r"""\2"""
            html = re.sub(pattern, _pointing_at(local), html)
    return html


def _pointing_at(local: str) -> Callable[[re.Match[str]], str]:
    """A ``re.sub`` replacement: the matched ``src=`` attribute, now naming ``local``."""

    def replace(match: re.Match[str]) -> str:
        return f'{match.group(1)}"{local}"'

    return replace


def _clean(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


def _page_path(url: str) -> str:
    """Where a page lies in the mirror: ``<host>/<path>`` ending in ``.html``."""
    parts = urlsplit(url)
    path = parts.path.lstrip("/")
    if not path or path.endswith("/"):
        path += "index"
    stem, dot, suffix = path.rpartition(".")
    if not dot or suffix.lower() not in ("html", "htm") or "/" in suffix:
        stem, suffix = path, "html"
    if parts.query:
        stem += "_q" + hashlib.sha256(parts.query.encode()).hexdigest()[:12]
    host = (parts.hostname or "host") + (f"_{parts.port}" if parts.port else "")
    return f"{host}/{stem}.{suffix}"
