"""A small JSON client of the mmrag HTTP API (httpx, sync and async), with errors mapped to
mmrag exceptions. Used by :class:`~rag.integrations.langchain.MmragRemoteRetriever`."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from rag import errors
from rag.errors import MmragError


class RemoteAPIError(MmragError):
    """The mmrag API answered with an error this client has no more specific class for."""

    code = "remote_error"

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RemoteUnavailableError(RemoteAPIError):
    """The mmrag API could not be reached or did not answer in time."""

    code = "remote_unavailable"


class RemoteAuthError(RemoteAPIError):
    """The mmrag API refused the API key (401/403)."""

    code = "unauthorized"


def _error_classes() -> dict[str, type[MmragError]]:
    found: dict[str, type[MmragError]] = {}
    pending: list[type[MmragError]] = [MmragError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.code, cls)
        pending.extend(cls.__subclasses__())
    return {code: cls for code, cls in found.items() if cls.__module__ == errors.__name__}


class MmragHttp:
    """POSTs JSON to one mmrag API and returns the decoded answer.

    Example::

        http = MmragHttp("http://localhost:8000", api_key="secret")
        http.post_json("/v1/search", {"text": "a red square", "top_k": 3})["hits"]
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def post_json(self, path: str, body: dict[str, Any]) -> Any:
        """``POST base_url + path`` with ``body``; the decoded JSON answer, or an mmrag error."""
        try:
            response = self._sync_client().post(path, json=body)
        except httpx.HTTPError as exc:
            raise self._transport_error(path, exc) from exc
        return self._decode(path, response)

    async def apost_json(self, path: str, body: dict[str, Any]) -> Any:
        """The async :meth:`post_json` (a client per call, so any event loop may call it)."""
        try:
            async with httpx.AsyncClient(**self._client_options()) as client:
                response = await client.post(path, json=body)
        except httpx.HTTPError as exc:
            raise self._transport_error(path, exc) from exc
        return self._decode(path, response)

    def close(self) -> None:
        """Close the pooled sync connection (the next call opens a new one)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _client_options(self) -> dict[str, Any]:
        return {"base_url": self.base_url, "headers": self._headers, "timeout": self._timeout}

    def _sync_client(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(**self._client_options())
            return self._client

    def _transport_error(self, path: str, exc: httpx.HTTPError) -> RemoteAPIError:
        url = self.base_url + path
        if isinstance(exc, httpx.TimeoutException):
            return RemoteUnavailableError(
                f"mmrag at {url} did not answer in time ({type(exc).__name__}): "
                "raise timeout_s, or check the server's load"
            )
        if isinstance(exc, httpx.TransportError):
            return RemoteUnavailableError(
                f"cannot reach mmrag at {url} ({exc or type(exc).__name__}): "
                "is `mmrag serve` running there?"
            )
        return RemoteAPIError(f"request to {url} failed: {exc}")

    def _decode(self, path: str, response: httpx.Response) -> Any:
        if response.is_success:
            try:
                return response.json()
            except ValueError:
                raise RemoteAPIError(
                    f"{self.base_url}{path} answered {response.status_code} with non-JSON: "
                    "is this an mmrag API?",
                    response.status_code,
                ) from None
        raise error_from_response(response, self.base_url + path)


def error_from_response(response: httpx.Response, url: str) -> MmragError:
    """The mmrag exception for an error answer ``{"error": code, "message": ...}``."""
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    code = str(body.get("error") or "")
    message = f"mmrag at {url} answered {status}: {body.get('message') or response.text[:200]}"
    if status in (401, 403):
        return RemoteAuthError(message + " (set api_key)", status)
    cls = _error_classes().get(code)
    if cls is errors.LLMBusyError:
        return errors.LLMBusyError(message, _retry_after(response))
    if cls is not None and cls is not MmragError:
        return cls(message)
    if status in (502, 503, 504):
        return RemoteUnavailableError(message, status)
    if status == 404:
        return errors.NotFoundError(message)
    if status in (400, 413, 415, 422):
        return errors.InvalidInputError(message)
    return RemoteAPIError(message, status)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return float(response.headers["Retry-After"])
    except (KeyError, ValueError):
        return None
