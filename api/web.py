"""The web page at ``/`` and the API docs at ``/docs`` and ``/redoc``, all from local files.

Nothing is fetched from a CDN, so both work on an air-gapped machine. The page's files carry no
data; every call the page makes for data goes through the API and its keys.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

UI_DIR = Path(__file__).resolve().parent / "ui"
"""The page: ``index.html``, ``app.css``, ES modules under ``js/``, vendored docs assets."""
UI_PREFIX = "/ui"
VENDOR = f"{UI_PREFIX}/vendor"
OAUTH2_REDIRECT = "/docs/oauth2-redirect"

router = APIRouter(include_in_schema=False)


class PageConfigOut(BaseModel):
    """What the page must know before it has a key: whether the API asks for one."""

    api_keys: bool


@router.get("/")
def page() -> FileResponse:
    """The web page (search, chat, ingest, library, status)."""
    return FileResponse(UI_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return FileResponse(UI_DIR / "vendor/swagger-ui/favicon-32x32.png", media_type="image/png")


@router.get(f"{UI_PREFIX}/config.json")
def page_config(request: Request) -> PageConfigOut:
    """Whether API keys are on, from ``MMRAG_API_KEYS`` or a keys file (no data: the page asks
    for a key before its first call)."""
    return PageConfigOut(api_keys=request.app.state.keyring.enabled)


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    """Swagger UI over the app's OpenAPI document, from local assets."""
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="mmrag API",
        swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
        swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
        swagger_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        oauth2_redirect_url=OAUTH2_REDIRECT,
        swagger_ui_parameters={"validatorUrl": None},
    )


@router.get(OAUTH2_REDIRECT)
def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
def redoc() -> HTMLResponse:
    """ReDoc over the app's OpenAPI document, from local assets and system fonts."""
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="mmrag API",
        redoc_js_url=f"{VENDOR}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{VENDOR}/swagger-ui/favicon-32x32.png",
        with_google_fonts=False,
    )


def install_web(app: FastAPI) -> None:
    """Serve the page, its static files and the docs on ``app`` (built with ``docs_url=None``
    and ``redoc_url=None``, so these routes replace FastAPI's CDN ones)."""
    app.include_router(router)
    app.mount(UI_PREFIX, StaticFiles(directory=UI_DIR), name="ui")
