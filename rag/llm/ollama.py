"""The Ollama backend: the official ``ollama`` client with explicit timeouts and mapped errors.

==============================  ==================================================================
what happened                   raised
==============================  ==================================================================
nothing listens / connect t/o   ``LLMUnavailableError`` (start Ollama or fix the host)
HTTP 503 or 429                 ``LLMBusyError`` with ``retry_after`` from ``Retry-After``
HTTP 404 (model missing)        ``LLMUnavailableError`` naming ``ollama pull <model>``
read timeout                    ``LLMTimeoutError``
stream cut or ended early       ``LLMUnavailableError`` (the partial answer is not complete)
==============================  ==================================================================

Example::

    model = OllamaChatModel("http://localhost:11434", "llama3.2")
    model.check()
    text = model.generate([ChatMessage("user", "Hi")], GenerationOptions(max_tokens=32))
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from functools import cached_property
from typing import Any, Literal, cast

import httpx
import ollama

from rag.config import LLMSettings
from rag.errors import LLMBusyError, LLMTimeoutError, LLMUnavailableError
from rag.llm.base import BackendInfo, ChatMessage, GenerationOptions, GenerationReport

BACKEND = "ollama"
DEFAULT_MODEL = "llama3.2"
VisionSetting = Literal["auto", "on", "off"]
BUSY_STATUSES = (429, 503)


class OllamaChatModel:
    """A model served by Ollama at ``host``. Cheap to build; nothing is sent until used."""

    def __init__(
        self,
        host: str,
        model: str = DEFAULT_MODEL,
        *,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 120.0,
        keep_alive: str | None = "5m",
        vision: VisionSetting = "auto",
    ) -> None:
        self.host = host.rstrip("/")
        self.model = model or DEFAULT_MODEL
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self.keep_alive = keep_alive
        self.vision = vision
        self._vision_known: bool | None = None
        self._vision_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> OllamaChatModel:
        """The model of ``MMRAG_LLM__*`` (a ``.gguf`` path is llama.cpp's: use the default)."""
        model = "" if settings.model.endswith(".gguf") else settings.model
        return cls(
            settings.ollama_host,
            model or DEFAULT_MODEL,
            connect_timeout_s=settings.connect_timeout_s,
            read_timeout_s=settings.read_timeout_s,
            keep_alive=settings.keep_alive or None,
            vision=settings.vision,
        )

    @property
    def model_name(self) -> str:
        return self.model

    @property
    def backend(self) -> str:
        return BACKEND

    def info(self) -> BackendInfo:
        return BackendInfo(BACKEND, self.model, vision=bool(self._vision_known), detail=self.host)

    def warm_up(self) -> None:
        """Probe the server (it loads the model on the first chat) and learn whether the model
        takes pictures."""
        self.check()
        self.accepts_images()

    def accepts_images(self) -> bool:
        """``MMRAG_LLM__VISION`` on/off, or (auto) whether ``/api/show`` lists ``vision`` among
        the model's capabilities (asked once; a failed ask counts as no)."""
        if self.vision != "auto":
            return self.vision == "on"
        with self._vision_lock:
            if self._vision_known is None:
                try:
                    with self._mapped_errors():
                        shown = self._probe_client.show(self.model)
                    self._vision_known = "vision" in (shown.capabilities or [])
                except (LLMUnavailableError, LLMTimeoutError):
                    return False
            return self._vision_known

    @cached_property
    def _client(self) -> ollama.Client:
        timeout = httpx.Timeout(self.read_timeout_s, connect=self.connect_timeout_s)
        return ollama.Client(self.host, timeout=timeout, event_hooks={"response": [_raise_if_busy]})

    @cached_property
    def _probe_client(self) -> ollama.Client:
        timeout = httpx.Timeout(self.connect_timeout_s)
        return ollama.Client(self.host, timeout=timeout, event_hooks={"response": [_raise_if_busy]})

    def check(self) -> None:
        """Quick probe (connect timeout for everything): Ollama answers and has the model."""
        with self._mapped_errors():
            names = [entry.model or "" for entry in self._probe_client.list().models]
        if not any(_same_model(name, self.model) for name in names):
            raise self._missing_model_error()

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> str:
        """The whole answer (one non-streamed request)."""
        report = _started(report, self.model)
        with self._mapped_errors():
            response = self._client.chat(**self._request(messages, options, report), stream=False)
        if not response.done:
            raise LLMUnavailableError(f"Ollama at {self.host} returned an unfinished answer; retry")
        report.usage(response.prompt_eval_count, response.eval_count)
        return response.message.content or ""

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> Iterator[str]:
        """Answer pieces as Ollama sends them; raises if the stream ends before ``done``."""
        report = _started(report, self.model)
        with self._mapped_errors():
            parts = cast(
                Generator[ollama.ChatResponse, None, None],  # the client returns a generator
                self._client.chat(**self._request(messages, options, report), stream=True),
            )
            try:
                for part in parts:
                    if part.message.content:
                        yield part.message.content
                    if part.done:
                        report.usage(part.prompt_eval_count, part.eval_count)
                        return
            finally:
                parts.close()
        raise LLMUnavailableError(
            f"the answer stream from Ollama at {self.host} ended before it was complete; "
            "the partial answer was discarded, retry"
        )

    def _request(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, report: GenerationReport
    ) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "temperature": options.temperature,
            "num_predict": options.max_tokens,
        }
        if options.stop:
            opts["stop"] = list(options.stop)
        if options.seed is not None:
            opts["seed"] = options.seed
        if options.repeat_penalty is not None:
            opts["repeat_penalty"] = options.repeat_penalty
        vision = any(m.images for m in messages) and self.accepts_images()
        report.images = sum(len(m.images) for m in messages) if vision else 0
        return {
            "model": self.model,
            "messages": [_message(m, vision) for m in messages],
            "options": opts,
            "keep_alive": self.keep_alive,
        }

    @contextlib.contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        try:
            yield
        except ollama.ResponseError as exc:
            raise self._response_error(exc) from exc
        except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise LLMUnavailableError(
                f"cannot reach Ollama at {self.host}: start it (`ollama serve`) or fix "
                "MMRAG_LLM__OLLAMA_HOST"
            ) from exc
        except httpx.TimeoutException as exc:
            raise LLMTimeoutError(
                f"Ollama at {self.host} sent nothing for {self.read_timeout_s:g} s; raise "
                "MMRAG_LLM__READ_TIMEOUT_S or use a smaller model"
            ) from exc
        except (httpx.TransportError, json.JSONDecodeError) as exc:
            raise LLMUnavailableError(
                f"the connection to Ollama at {self.host} broke mid-answer ({exc}); "
                "the partial answer was discarded, retry"
            ) from exc

    def _response_error(self, exc: ollama.ResponseError) -> LLMUnavailableError:
        if exc.status_code == 404:
            return self._missing_model_error()
        if exc.status_code in BUSY_STATUSES:
            return LLMBusyError(f"Ollama at {self.host} is busy ({exc.error}); retry later")
        return LLMUnavailableError(f"Ollama at {self.host} failed: {exc.error}")

    def _missing_model_error(self) -> LLMUnavailableError:
        return LLMUnavailableError(
            f"Ollama at {self.host} has no model {self.model!r}: run `ollama pull {self.model}` "
            "or set MMRAG_LLM__MODEL to a model it has"
        )


def _started(report: GenerationReport | None, model: str) -> GenerationReport:
    report = report if report is not None else GenerationReport()
    report.answered_by(BACKEND, model)
    return report


def _message(message: ChatMessage, vision: bool) -> dict[str, Any]:
    """One message in Ollama's format: pictures as base64 in ``images`` (vision models only)."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if vision and message.images:
        out["images"] = [image.data for image in message.images]  # the client base64-encodes
    return out


def _raise_if_busy(response: httpx.Response) -> None:
    """httpx response hook: a busy Ollama becomes ``LLMBusyError`` with its ``Retry-After``."""
    if response.status_code not in BUSY_STATUSES:
        return
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    hint = f"retry after {retry_after:g} s" if retry_after is not None else "retry later"
    raise LLMBusyError(
        f"Ollama at {response.request.url.host}:{response.request.url.port} is busy "
        f"(HTTP {response.status_code}); {hint}",
        retry_after=retry_after,
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    with contextlib.suppress(ValueError):
        return max(float(value), 0.0)
    with contextlib.suppress(TypeError, ValueError, IndexError):
        when = email.utils.parsedate_to_datetime(value)
        return max(when.timestamp() - time.time(), 0.0)
    return None


def _same_model(listed: str, wanted: str) -> bool:
    def full(name: str) -> str:
        return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"

    return full(listed) == full(wanted)
