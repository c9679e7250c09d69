"""Passage vectors from an embedding server: Ollama's ``POST /api/embed`` or an OpenAI-compatible
``POST /v1/embeddings`` (vLLM, llama.cpp's server, text-embeddings-inference, LM Studio, OpenAI),
over plain ``httpx`` with explicit time-outs, retries and mapped errors.

Texts go in requests of ``batch_size``, each with the model's query or document prompt
(the settings', else :func:`~rag.embedding.passage_prompts.known_prompts`); vectors come back
L2-normalised float32. The dimension is probed once (one short text) and then kept.

==============================  ==================================================================
what happened                   raised (after ``retries`` more tries where marked *)
==============================  ==================================================================
nothing listens / connect t/o   ``EmbeddingUnavailableError`` with ``retry_after`` *
HTTP 429 or 503                 ``EmbeddingBusyError`` with the server's ``Retry-After`` *
HTTP 502 or 504 (a proxy)       ``EmbeddingUnavailableError`` with ``retry_after`` *
read time-out                   ``EmbeddingTimeoutError`` *
HTTP 401/403                    ``EmbeddingUnavailableError`` naming ``MMRAG_PASSAGE__API_KEY``
HTTP 404 (model or path)        ``EmbeddingUnavailableError`` naming ``MMRAG_PASSAGE__MODEL``
other HTTP errors, bad replies  ``EmbeddingUnavailableError`` with the server's message
==============================  ==================================================================

The API answers the first three with 503 and ``Retry-After``, a time-out with 504.

Example::

    encoder = ServerPassageEncoder(PassageSettings(backend="ollama", model="qwen3-embedding:0.6b"))
    encoder.dim  # asked once: 1024
    encoder.encode_queries(["what voltage does the pump need"])  # (1, 1024) float32 unit rows
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np

from rag.config import PassageSettings
from rag.embedding.passage_prompts import known_prompts
from rag.errors import (
    ConfigError,
    EmbeddingBusyError,
    EmbeddingTimeoutError,
    EmbeddingUnavailableError,
    MmragError,
)
from rag.llm.ollama import parse_retry_after
from rag.llm.openai import api_base

DEFAULT_OLLAMA_URL = "http://localhost:11434"
DEFAULT_OLLAMA_MODEL = "qwen3-embedding:0.6b"
DEFAULT_MAX_TOKENS = 512
"""Where passages are cut when ``MMRAG_PASSAGE__MAX_TOKENS`` is 0 (a server does not say)."""
DOWN_RETRY_AFTER_S = 5.0
"""The ``Retry-After`` a client gets while the server is down."""
MAX_WAIT_S = 10.0
"""The longest wait between two tries, whatever the server's ``Retry-After`` says."""
BUSY_STATUSES = (429, 503)
GATEWAY_STATUSES = (502, 504)
PROBE_TEXT = "mmrag"


class _Retry(Exception):
    """A failure worth another try: ``error`` if none is left, after ``wait`` seconds."""

    def __init__(self, error: MmragError, wait: float | None = None) -> None:
        self.error = error
        self.wait = wait


@dataclass(frozen=True)
class _Wire:
    """One server kind: where to post, the request body, the vectors of a reply."""

    name: str
    path: str
    body: Callable[[str, list[str]], dict[str, Any]]
    vectors: Callable[[Any], list[Any]]


def _ollama_vectors(data: Any) -> list[Any]:
    return list(data["embeddings"])


def _openai_vectors(data: Any) -> list[Any]:
    rows = sorted(data["data"], key=lambda row: int(row.get("index", 0)))
    return [row["embedding"] for row in rows]


WIRES = {
    "ollama": _Wire(
        "Ollama",
        "/api/embed",
        lambda model, texts: {"model": model, "input": texts, "truncate": True},
        _ollama_vectors,
    ),
    "openai": _Wire(
        "the OpenAI-compatible server",
        "/embeddings",
        lambda model, texts: {"model": model, "input": texts},
        _openai_vectors,
    ),
}


class ServerPassageEncoder:
    """A :class:`~rag.embedding.base.PassageEncoder` whose model runs on an embedding server.

    Cheap to build; nothing is sent until used. Token counts are an estimate that errs long
    (UTF-8 bytes / 3): a server does not say how it tokenizes, and passages are cut by it."""

    def __init__(self, settings: PassageSettings) -> None:
        if settings.backend not in WIRES:
            raise ValueError(f"not a server backend: {settings.backend!r}")
        self.settings = settings
        self.wire = WIRES[settings.backend]
        self.base_url = _base_url(settings)
        self.model = _model(settings)
        self._dim: int | None = None
        self._lock = threading.RLock()  # dim asks served_model
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        timeout = httpx.Timeout(settings.timeout_s, connect=settings.connect_timeout_s)
        self._client = httpx.Client(timeout=timeout, headers=headers)

    @property
    def where(self) -> str:
        return f"{self.wire.name} at {self.base_url}"

    @property
    def model_id(self) -> str:
        """``<backend>:<model>`` (``ollama:qwen3-embedding:0.6b``), stored with every point."""
        return f"{self.settings.backend}:{self.served_model}"

    @property
    def served_model(self) -> str:
        """The model the server is asked for (``auto`` on an OpenAI-compatible server: the
        first one it lists, asked once)."""
        if not self.model:
            with self._lock:
                if not self.model:
                    self.model = self._first_listed_model()
        return self.model

    @property
    def dim(self) -> int:
        """The size of the server's vectors, asked once (one short text) and then kept."""
        if self._dim is None:
            with self._lock:
                if self._dim is None:
                    self._dim = int(self._embed([PROBE_TEXT], check_dim=False).shape[1])
        return self._dim

    @property
    def max_tokens(self) -> int:
        return self.settings.max_tokens or DEFAULT_MAX_TOKENS

    def warm_up(self) -> None:
        """Reach the server now and learn the dimension."""
        _ = self.dim

    def prompts(self) -> tuple[str, str]:
        """(query, document) prompts: the settings', else the model card's, else none."""
        query, document = known_prompts(self.served_model) or ("", "")
        if self.settings.query_prompt is not None:
            query = self.settings.query_prompt
        if self.settings.document_prompt is not None:
            document = self.settings.document_prompt
        return query, document

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """An estimate of each passage's tokens, document prompt included, that errs long."""
        prompt = self.prompts()[1]
        return [len((prompt + text).encode("utf-8")) // 3 + 2 for text in texts]

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed([self.prompts()[0] + t for t in texts])

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed([self.prompts()[1] + t for t in texts])

    def close(self) -> None:
        self._client.close()

    # --- requests ----------------------------------------------------------------------------

    def _embed(self, texts: list[str], check_dim: bool = True) -> np.ndarray:
        dim = self.dim if check_dim else None
        if not texts:
            return np.zeros((0, dim or 0), dtype=np.float32)
        size = self.settings.batch_size
        parts = [self._batch(texts[i : i + size], dim) for i in range(0, len(texts), size)]
        out = np.concatenate(parts).astype(np.float32, copy=False)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def _batch(self, texts: list[str], dim: int | None) -> np.ndarray:
        data = self._post(self.wire.path, self.wire.body(self.served_model, texts))
        try:
            rows = self.wire.vectors(data)
            vectors = np.asarray(rows, dtype=np.float64)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            why = f"{type(exc).__name__}: {exc}"
            raise self._bad_reply(f"no vectors in its reply ({why})") from None
        if vectors.ndim != 2:
            raise self._bad_reply(
                "one vector per token, not one per text: start it with pooling "
                "(llama.cpp: --pooling mean)"
                if vectors.ndim == 3
                else f"vectors of shape {vectors.shape}"
            )
        if vectors.shape[0] != len(texts) or not np.all(np.isfinite(vectors)):
            raise self._bad_reply(f"{vectors.shape[0]} vectors for {len(texts)} texts, or NaNs")
        if dim is not None and vectors.shape[1] != dim:
            raise self._bad_reply(
                f"vectors of size {vectors.shape[1]} after {dim} at first: did the model behind "
                "MMRAG_PASSAGE__MODEL change? Restart mmrag"
            )
        return vectors

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        return self._with_retries(lambda client: client.post(self.base_url + path, json=body))

    def _with_retries(self, send: Callable[[httpx.Client], httpx.Response]) -> Any:
        tries = self.settings.retries + 1
        for attempt in range(tries):
            try:
                return self._once(send)
            except _Retry as retry:
                if attempt == tries - 1:
                    raise retry.error from None
                wait = retry.wait if retry.wait is not None else 0.5 * 2**attempt
                time.sleep(min(wait, MAX_WAIT_S))
        raise AssertionError("unreachable")  # pragma: no cover

    def _once(self, send: Callable[[httpx.Client], httpx.Response]) -> Any:
        try:
            response = send(self._client)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise _Retry(self._down(f"cannot reach it ({type(exc).__name__})")) from None
        except httpx.TimeoutException:
            raise _Retry(
                EmbeddingTimeoutError(
                    f"{self.where} sent no vectors for {self.settings.timeout_s:g} s: raise "
                    "MMRAG_PASSAGE__TIMEOUT_S or lower MMRAG_PASSAGE__BATCH_SIZE"
                )
            ) from None
        except httpx.TransportError as exc:
            raise _Retry(self._down(f"the connection broke ({exc})")) from None
        self._raise_for_status(response)
        try:
            return response.json()
        except ValueError:
            raise self._bad_reply("a reply that is not JSON") from None

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if response.is_success:
            return
        message = _error_text(response)
        if status in BUSY_STATUSES:
            wait = parse_retry_after(response.headers.get("retry-after"))
            hint = f"retry after {wait:g} s" if wait is not None else "retry later"
            busy = EmbeddingBusyError(
                f"{self.where} is busy (HTTP {status}: {message}); {hint}", retry_after=wait or 1.0
            )
            raise _Retry(busy, wait)
        if status in GATEWAY_STATUSES:
            raise _Retry(self._down(f"HTTP {status}: {message}"))
        if status in (401, 403):
            raise EmbeddingUnavailableError(
                f"{self.where} refused the key (HTTP {status}): set MMRAG_PASSAGE__API_KEY"
            )
        if status == 404:
            ollama = self.settings.backend == "ollama"
            pull = f"run `ollama pull {self.model}` or " if ollama else ""
            raise EmbeddingUnavailableError(
                f"{self.where} answered 404 ({message}): {pull}set MMRAG_PASSAGE__MODEL to an "
                "embedding model it serves (and MMRAG_PASSAGE__BASE_URL to its URL)"
            )
        raise EmbeddingUnavailableError(
            f"{self.where} failed (HTTP {status}: {message}): check that MMRAG_PASSAGE__MODEL "
            "is an embedding model"
        )

    def _first_listed_model(self) -> str:
        """The first model ``GET /models`` lists (``model=auto`` on an OpenAI-compatible server)."""
        data = self._with_retries(lambda client: client.get(self.base_url + "/models"))
        try:
            return str(data["data"][0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise EmbeddingUnavailableError(
                f"{self.where} lists no model at /models ({type(exc).__name__}): set "
                "MMRAG_PASSAGE__MODEL"
            ) from None

    def _down(self, why: str) -> EmbeddingUnavailableError:
        return EmbeddingUnavailableError(
            f"{self.where} is unavailable: {why}. Start it, fix MMRAG_PASSAGE__BASE_URL, or set "
            "MMRAG_PASSAGE__BACKEND=local",
            retry_after=DOWN_RETRY_AFTER_S,
        )

    def _bad_reply(self, what: str) -> EmbeddingUnavailableError:
        return EmbeddingUnavailableError(
            f"{self.where} sent {what}; check MMRAG_PASSAGE__MODEL and MMRAG_PASSAGE__BACKEND"
        )


def _base_url(settings: PassageSettings) -> str:
    url = settings.base_url.strip().rstrip("/")
    if settings.backend == "ollama":
        return url or DEFAULT_OLLAMA_URL
    if not url:
        raise ConfigError(
            "MMRAG_PASSAGE__BACKEND=openai needs MMRAG_PASSAGE__BASE_URL, the server's URL "
            "(http://localhost:8080/v1)"
        )
    return api_base(url)


def _model(settings: PassageSettings) -> str:
    """The server's model name; empty: the first one an OpenAI-compatible server lists."""
    name = settings.model.strip()
    if name.lower() != "auto":
        return name
    return DEFAULT_OLLAMA_MODEL if settings.backend == "ollama" else ""


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        error = error.get("message")
    return str(error or data)[:300]
