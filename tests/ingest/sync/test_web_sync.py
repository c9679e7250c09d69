"""A web source against a small site on a loopback HTTP server: only the named host is
fetched (links and redirects to another host are not), robots.txt is honoured, pictures
become figures, and a page that goes is removed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ingest.specs import JobSpec
from ingest.sync.manage import source_root
from ingest.sync.model import SourceConfig
from ingest.sync.registry import SourceRegistry
from ingest.sync.run import run_sync
from rag import payload as keys
from rag.services import Services
from tests.ingest.documents_draw import png_bytes
from tests.ingest.sync.conftest import sources_of


class Site:
    """Pages by path, and every request the server got as ``(host header, path)``."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.requests: list[tuple[str, str]] = []
        self.port = 0


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append((self.headers.get("Host", ""), self.path))
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", f"http://localhost:{state.port}/secret.html")
                self.end_headers()
                return
            page = state.pages.get(self.path)
            if page is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", page[0])
            self.send_header("Content-Length", str(len(page[1])))
            self.end_headers()
            self.wfile.write(page[1])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    other = f"http://localhost:{state.port}"
    html = "text/html; charset=utf-8"
    state.pages = {
        "/robots.txt": ("text/plain", b"User-agent: *\nDisallow: /private/\n"),
        "/sitemap.xml": (
            "application/xml",
            (
                '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                f"<url><loc>http://127.0.0.1:{state.port}/index.html</loc></url>"
                f"<url><loc>{other}/elsewhere.html</loc></url></urlset>"
            ).encode(),
        ),
        "/index.html": (
            html,
            (
                "<html><head><title>Garden</title></head><body><h1>Garden</h1>"
                "<p>Tomatoes need sun and water every morning.</p>"
                '<figure><img src="/pictures/tomato.png" alt="A ripe tomato">'
                "<figcaption>A ripe tomato</figcaption></figure>"
                '<a href="/care.html">care</a> <a href="/redirect">more</a> '
                f'<a href="{other}/other.html">elsewhere</a> '
                '<a href="/private/diary.html">diary</a></body></html>'
            ).encode(),
        ),
        "/care.html": (html, b"<html><body><p>Prune the basil weekly.</p></body></html>"),
        "/private/diary.html": (html, b"<html><body><p>secret diary</p></body></html>"),
        "/pictures/tomato.png": ("image/png", png_bytes(7, (120, 100))),
    }
    yield state
    server.shutdown()


def _sync(services: Services):
    return run_sync(services, JobSpec.for_source("garden", None, None))


def test_a_site_syncs_from_its_sitemap_on_its_own_host_only(
    synced: Services, registry: SourceRegistry, site: Site
) -> None:
    url = f"http://127.0.0.1:{site.port}"
    config = SourceConfig(name="garden", kind="web", location=f"{url}/sitemap.xml", max_depth=2)
    registry.add(config)
    root = source_root(synced.settings, config)
    first = _sync(synced)
    host = f"127.0.0.1_{site.port}"
    assert set(sources_of(synced, root)) == {f"{host}/index.html", f"{host}/care.html"}
    assert all(h == f"127.0.0.1:{site.port}" for h, _ in site.requests)  # never localhost
    assert "/private/diary.html" not in {path for _, path in site.requests}  # robots.txt
    errors = registry.get("garden").state.errors
    assert any("redirect to another host refused" in e for e in errors), errors
    kinds = _kinds(synced, root)
    assert "figure" in kinds and first.failed == 0

    again = _sync(synced)
    assert again.points_written == 0

    site.pages.pop("/care.html")
    _sync(synced)
    assert set(sources_of(synced, root)) == {f"{host}/index.html"}
    assert registry.get("garden").state.deleted > 0


def _kinds(services: Services, root: str) -> set[str]:
    page, _ = services.store_for(None).scroll(limit=256)
    return {str(p.payload.get(keys.KIND)) for p in page if p.payload.get(keys.SOURCE_ROOT) == root}


def test_a_named_host_allows_its_port_only() -> None:
    import httpx

    from ingest.sync.web import _Site

    config = SourceConfig(
        name="w", kind="web", location="https://docs.example/", hosts=["docs.example", "a:8080"]
    )
    site = _Site(config, httpx.Client(), max_bytes=1000)
    assert site.allowed("https://docs.example/x") and site.allowed("http://docs.example/x")
    assert site.allowed("http://a:8080/") and not site.allowed("http://a/")
    assert not site.allowed("https://docs.example:2375/") and not site.allowed(
        "ftp://docs.example/"
    )
    assert not site.allowed("http://evil.example/") and not site.allowed(
        "http://docs.example.evil/"
    )
    default = SourceConfig(name="d", kind="web", location="http://127.0.0.1:8000/sitemap.xml")
    assert default.hosts == ["127.0.0.1:8000"]
