"""The OpenAI-compatible backend: any server that speaks ``POST /v1/chat/completions`` (vLLM,
llama.cpp's ``llama-server``, llama-cpp-python's server, LM Studio, TGI, OpenAI itself), over plain
``httpx`` with explicit timeouts and mapped errors.

==============================  ==================================================================
what happened                   raised
==============================  ==================================================================
nothing listens / connect t/o   ``LLMUnavailableError`` (start the server or fix the URL)
HTTP 503 or 429                 ``LLMBusyError`` with ``retry_after`` from ``Retry-After``
HTTP 401/403                    ``LLMUnavailableError`` naming ``MMRAG_LLM__API_KEY``
HTTP 404 (model or path)        ``LLMUnavailableError`` naming ``MMRAG_LLM__MODEL``/``BASE_URL``
HTTP 400/413/422                ``InvalidInputError`` with the server's message (prompt too long)
read timeout                    ``LLMTimeoutError``
stream cut or error event       ``LLMUnavailableError`` (the partial answer is not complete)
==============================  ==================================================================

Pictures (vision models) go as ``image_url`` content parts with data URLs, each after a text part
naming its context block. ``MMRAG_LLM__VISION=auto`` asks llama.cpp's ``GET /props`` for its
``modalities``; other servers need ``on``.

Example::

    model = OpenAIChatModel("http://localhost:8080/v1", "qwen2.5-vl")
    model.check()
    text = model.generate([ChatMessage("user", "Hi")], GenerationOptions(max_tokens=32))
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from rag.config import LLMSettings
from rag.errors import InvalidInputError, LLMBusyError, LLMTimeoutError, LLMUnavailableError
from rag.llm.base import BackendInfo, ChatMessage, GenerationOptions, GenerationReport
from rag.llm.ollama import BUSY_STATUSES, parse_retry_after

BACKEND = "openai"
VisionSetting = Literal["auto", "on", "off"]
BAD_REQUEST_STATUSES = (400, 413, 422)


def api_base(url: str) -> str:
    """``url`` without a trailing slash; a bare ``http://host:port`` gets ``/v1``."""
    url = url.rstrip("/")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


class OpenAIChatModel:
    """A model behind an OpenAI-compatible server at ``base_url``. Cheap to build; nothing is
    sent until used. An empty ``model`` takes the first one the server lists."""

    def __init__(
        self,
        base_url: str,
        model: str = "",
        *,
        api_key: str = "",
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 120.0,
        vision: VisionSetting = "auto",
    ) -> None:
        self.base_url = api_base(base_url)
        self.model = model
        self.api_key = api_key
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.vision = vision
        self._vision_known: bool | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> OpenAIChatModel:
        """The server of ``MMRAG_LLM__BASE_URL`` (``MODEL``, ``API_KEY``, ``VISION`` too)."""
        model = "" if settings.model.endswith(".gguf") else settings.model
        return cls(
            settings.base_url,
            model,
            api_key=settings.api_key,
            connect_timeout_s=settings.connect_timeout_s,
            read_timeout_s=settings.read_timeout_s,
            vision=settings.vision,
        )

    @property
    def model_name(self) -> str:
        return self.model or "default"

    @property
    def backend(self) -> str:
        return BACKEND

    def info(self) -> BackendInfo:
        vision = self.vision == "on" or bool(self._vision_known)
        return BackendInfo(BACKEND, self.model_name, vision=vision, detail=self.base_url)

    @cached_property
    def _client(self) -> httpx.Client:
        timeout = httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s)
        return httpx.Client(timeout=timeout, headers=self._headers())

    @cached_property
    def _probe_client(self) -> httpx.Client:
        return httpx.Client(timeout=httpx.Timeout(self.connect_timeout_s), headers=self._headers())

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    # --- probes ------------------------------------------------------------------------------

    def check(self) -> None:
        """Quick probe (connect timeout for everything): ``GET /models`` answers and lists the
        model (an empty ``model`` takes the first one listed)."""
        with self._mapped_errors():
            response = self._probe_client.get(f"{self.base_url}/models")
            _raise_for_status(response, self.base_url)
        try:
            ids = [str(entry["id"]) for entry in response.json().get("data") or []]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LLMUnavailableError(
                f"{self.base_url}/models did not answer like an OpenAI-compatible server: fix "
                "MMRAG_LLM__BASE_URL"
            ) from exc
        with self._lock:
            if not self.model and ids:
                self.model = ids[0]
        if self.model and ids and self.model not in ids:
            raise LLMUnavailableError(
                f"the server at {self.base_url} has no model {self.model!r} (it lists "
                f"{', '.join(ids[:5])}): set MMRAG_LLM__MODEL to one of them"
            )

    def warm_up(self) -> None:
        """Probe the server and learn whether the model takes pictures."""
        self.check()
        self.accepts_images()

    def accepts_images(self) -> bool:
        """``MMRAG_LLM__VISION`` on/off, or (auto) whether llama.cpp's ``GET /props`` says the
        model has the vision modality (asked once; any other answer counts as no)."""
        if self.vision != "auto":
            return self.vision == "on"
        with self._lock:
            if self._vision_known is None:
                self._vision_known = self._props_say_vision()
            return self._vision_known

    def _props_say_vision(self) -> bool:
        root = self.base_url.removesuffix("/v1")
        try:
            response = self._probe_client.get(f"{root}/props")
            modalities = response.json().get("modalities") or {} if response.is_success else {}
        except (httpx.HTTPError, ValueError, AttributeError):
            return False
        return isinstance(modalities, dict) and modalities.get("vision") is True

    # --- generation --------------------------------------------------------------------------

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> str:
        """The whole answer (one non-streamed request)."""
        report = report if report is not None else GenerationReport()
        body = self._request(messages, options, report, stream=False)
        with self._mapped_errors():
            response = self._client.post(f"{self.base_url}/chat/completions", json=body)
            _raise_for_status(response, self.base_url)
        try:
            data = response.json()
            text = data["choices"][0]["message"].get("content") or ""
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise LLMUnavailableError(
                f"the server at {self.base_url} sent a reply that is not a chat completion; retry"
            ) from exc
        self._record(report, data)
        return str(text)

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> Iterator[str]:
        """Answer pieces as the server sends them (server-sent events); raises if the stream
        ends before ``data: [DONE]`` or a ``finish_reason``."""
        report = report if report is not None else GenerationReport()
        body = self._request(messages, options, report, stream=True)
        finished = False
        with self._mapped_errors():
            url = f"{self.base_url}/chat/completions"
            with self._client.stream("POST", url, json=body) as response:
                if not response.is_success:
                    response.read()
                    _raise_for_status(response, self.base_url)
                for data in _events(response):
                    if data is None:
                        finished = True
                        break
                    self._record(report, data)
                    for choice in data.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            yield piece
                        finished = finished or bool(choice.get("finish_reason"))
        if not finished:
            raise LLMUnavailableError(
                f"the answer stream from {self.base_url} ended before it was complete; the "
                "partial answer was discarded, retry"
            )

    def _request(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport,
        *,
        stream: bool,
    ) -> dict[str, Any]:
        if not self.model:
            with contextlib.suppress(LLMUnavailableError):
                self.check()
        report.answered_by(BACKEND, self.model_name)
        vision = any(m.images for m in messages) and self.accepts_images()
        report.images = sum(len(m.images) for m in messages) if vision else 0
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": [_message(m, vision) for m in messages],
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if options.stop:
            body["stop"] = list(options.stop)
        if options.seed is not None:
            body["seed"] = options.seed
        return body

    def _record(self, report: GenerationReport, data: dict[str, Any]) -> None:
        if data.get("model") and not self.model:
            report.model = str(data["model"])
        usage = data.get("usage")
        if isinstance(usage, dict):
            report.usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))

    @contextlib.contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        try:
            yield
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise LLMUnavailableError(
                f"cannot reach the OpenAI-compatible server at {self.base_url}: start it or fix "
                "MMRAG_LLM__BASE_URL"
            ) from exc
        except httpx.TimeoutException as exc:
            raise LLMTimeoutError(
                f"the server at {self.base_url} sent nothing for {self.read_timeout_s:g} s; raise "
                "MMRAG_LLM__READ_TIMEOUT_S or use a smaller model"
            ) from exc
        except httpx.TransportError as exc:
            raise LLMUnavailableError(
                f"the connection to {self.base_url} broke mid-answer ({exc}); the partial answer "
                "was discarded, retry"
            ) from exc


def _message(message: ChatMessage, vision: bool) -> dict[str, Any]:
    """One message; with pictures, content parts: the text, then per picture a text part naming
    its block and an ``image_url`` part with a data URL."""
    if not (vision and message.images):
        return {"role": message.role, "content": message.content}
    parts: list[dict[str, Any]] = [{"type": "text", "text": message.content}]
    for image in message.images:
        if image.n:
            parts.append({"type": "text", "text": f"Picture of block [{image.n}]:"})
        url = f"data:{image.mime};base64,{base64.b64encode(image.data).decode()}"
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return {"role": message.role, "content": parts}


def _events(response: httpx.Response) -> Iterator[dict[str, Any] | None]:
    """The JSON ``data:`` payloads of a server-sent event stream; ``None`` for ``[DONE]``.
    An ``error`` payload raises ``LLMUnavailableError``."""
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        payload = line[5:].strip()
        if payload == "[DONE]":
            yield None
            return
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise LLMUnavailableError(f"the stream sent a line that is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            continue
        if data.get("error"):
            raise LLMUnavailableError(f"the server failed mid-answer: {_error_text(data)}")
        yield data


def _error_text(data: Any) -> str:
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if error:
        return str(error)
    detail = data.get("detail") if isinstance(data, dict) else None
    return str(detail or data)[:500]


def _raise_for_status(response: httpx.Response, base_url: str) -> None:
    status = response.status_code
    if response.is_success:
        return
    try:
        message = _error_text(response.json())
    except ValueError:
        message = response.text[:500] or response.reason_phrase
    if status in BUSY_STATUSES:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        hint = f"retry after {retry_after:g} s" if retry_after is not None else "retry later"
        raise LLMBusyError(
            f"the server at {base_url} is busy (HTTP {status}: {message}); {hint}",
            retry_after=retry_after,
        )
    if status in (401, 403):
        raise LLMUnavailableError(
            f"the server at {base_url} refused the key (HTTP {status}): set MMRAG_LLM__API_KEY"
        )
    if status == 404:
        raise LLMUnavailableError(
            f"the server at {base_url} answered 404 ({message}): check MMRAG_LLM__MODEL and "
            "MMRAG_LLM__BASE_URL (usually ends in /v1)"
        )
    if status in BAD_REQUEST_STATUSES:
        raise InvalidInputError(
            f"the LLM server at {base_url} rejected the request (HTTP {status}: {message}); a "
            "prompt that does not fit: shorten the question or lower MMRAG_LLM__CONTEXT_TOKENS; "
            "pictures a model cannot read: set MMRAG_LLM__VISION=off"
        )
    raise LLMUnavailableError(f"the server at {base_url} failed (HTTP {status}: {message})")
