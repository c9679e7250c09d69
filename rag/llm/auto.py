"""``MMRAG_LLM__BACKEND=auto``: the first backend that answers a probe, in order of preference,
and no silent downgrade.

Preference: the OpenAI-compatible server (when ``MMRAG_LLM__BASE_URL`` is set), Ollama (when
``MMRAG_LLM__OLLAMA_HOST`` is set), embedded llama.cpp (when installed with its GGUF), extractive.
While a fallback answers, the backends it stands in for are probed again every
``MMRAG_LLM__REPROBE_S`` seconds (in a background thread, started by the next call) and the best
one that answers takes over. A preferred backend that fails before the first piece of an answer
hands that answer to the next one that answers a probe. Every answer's
:class:`GenerationReport` names the backend that wrote it and, on a fallback, the one it stood in
for; :meth:`AutoChatModel.info` says the same for ``/ready``.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from rag.errors import LLMBusyError, LLMUnavailableError
from rag.llm.base import (
    BackendInfo,
    ChatMessage,
    ChatModel,
    GenerationOptions,
    GenerationReport,
    TokenCounter,
)

log = logging.getLogger(__name__)

Builder = Callable[[], ChatModel]


@dataclass
class Candidate:
    """One backend ``auto`` may use: its name and how to build it (cheap, no request)."""

    name: str
    build: Builder
    model: ChatModel | None = None
    problem: str = ""

    def probed(self) -> ChatModel | None:
        """The model when it answers a probe (a busy one counts: it is there), else ``None``."""
        try:
            if self.model is None:
                self.model = self.build()
            self.model.check()
        except LLMBusyError:
            pass
        except LLMUnavailableError as exc:
            self.problem = str(exc)
            return None
        self.problem = ""
        return self.model


class AutoChatModel:
    """The best backend of ``candidates`` (best first) that answers, re-probing the better ones
    every ``reprobe_s`` seconds while a fallback answers (0: never)."""

    def __init__(
        self,
        candidates: Sequence[Candidate],
        reprobe_s: float = 30.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not candidates:
            raise ValueError("auto needs at least one candidate backend")
        self._candidates = list(candidates)
        self._reprobe_s = reprobe_s
        self._clock = clock
        self._lock = threading.Lock()
        self._probing: threading.Thread | None = None
        self._active = self._first_answering(len(self._candidates))
        self._next_probe = self._clock() + self._reprobe_s

    # --- who answers -------------------------------------------------------------------------

    @property
    def active(self) -> ChatModel:
        """The backend answering now (starts a due re-probe in the background)."""
        self._maybe_reprobe()
        return self._candidates[self._active].model  # type: ignore[return-value]

    @property
    def preferred(self) -> str:
        return self._candidates[0].name

    @property
    def on_fallback(self) -> bool:
        return self._active > 0

    def reprobe(self) -> bool:
        """Probe the backends better than the active one now; switch to the best that answers.
        Whether the active backend changed."""
        with self._lock:
            active = self._active
        better = self._first_answering(active, quiet=True)
        with self._lock:
            self._next_probe = self._clock() + self._reprobe_s
            if better < self._active:
                log.warning(
                    "LLM auto: %s answers again; it replaces %s",
                    self._candidates[better].name,
                    self._candidates[self._active].name,
                )
                self._active = better
                return True
        return False

    def _first_answering(self, limit: int, quiet: bool = False) -> int:
        """The index of the first candidate before ``limit`` that answers, else ``limit`` (or
        the last candidate when nothing answers). ``quiet``: failed re-probes log at debug."""
        for i, candidate in enumerate(self._candidates[:limit]):
            if candidate.probed() is not None:
                log.info("LLM auto: %s answers", candidate.name)
                return i
            level = logging.DEBUG if quiet else logging.WARNING
            log.log(level, "LLM auto: %s not usable: %s", candidate.name, candidate.problem)
        if limit < len(self._candidates):
            return limit
        last = self._candidates[-1]
        if last.model is None:
            last.model = last.build()
        return len(self._candidates) - 1

    def _maybe_reprobe(self) -> None:
        if not self._reprobe_s or not self.on_fallback:
            return
        with self._lock:
            due = self._clock() >= self._next_probe
            running = self._probing is not None and self._probing.is_alive()
            if not due or running:
                return
            self._next_probe = self._clock() + self._reprobe_s
            self._probing = threading.Thread(target=self.reprobe, name="llm-reprobe", daemon=True)
            self._probing.start()

    def wait_for_probe(self, timeout_s: float) -> None:
        """Wait for a background re-probe that is running (tests, shut-down)."""
        probing = self._probing
        if probing is not None:
            probing.join(timeout_s)

    # --- ChatModel ---------------------------------------------------------------------------

    @property
    def model_name(self) -> str:
        return self.active.model_name

    @property
    def backend(self) -> str:
        return self.active.backend

    def info(self) -> BackendInfo:
        active = self.active
        base = active.info()
        detail = base.detail
        if self.on_fallback:
            problem = self._candidates[0].problem or "not answering"
            detail = f"fallback for {self.preferred} ({problem}); {detail}".rstrip("; ")
        return BackendInfo(
            base.backend, base.model, base.vision, self.preferred, self.on_fallback, detail
        )

    def accepts_images(self) -> bool:
        return self.active.accepts_images()

    def check(self) -> None:
        self.active.check()

    def warm_up(self) -> None:
        self.active.warm_up()

    def count_tokens(self, text: str) -> int:
        """The active model's own count where it has one, else about 3 characters a token."""
        active = self.active
        if isinstance(active, TokenCounter):
            return active.count_tokens(text)
        return math.ceil(len(text) / 3) if text else 0

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> str:
        return "".join(self.stream(messages, options, report))

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> Iterator[str]:
        """The active backend's answer; one that fails before its first piece (down, not busy)
        passes the answer to the next backend that answers a probe."""
        report = report if report is not None else GenerationReport()
        active = self.active
        started = False
        try:
            for piece in active.stream(messages, options, report):
                started = True
                yield piece
        except LLMBusyError:
            raise
        except LLMUnavailableError as exc:
            if started or self._active == len(self._candidates) - 1:
                raise
            self._step_down(active, exc)
            report.prompt_tokens = report.completion_tokens = None
            yield from self.active.stream(messages, options, report)
        if self.on_fallback:
            report.fallback_from = self.preferred

    def _step_down(self, failed: ChatModel, exc: LLMUnavailableError) -> None:
        with self._lock:
            index = self._active
            if self._candidates[index].model is not failed:
                return
            self._candidates[index].problem = str(exc)
        log.warning("LLM auto: %s failed (%s); falling back", self._candidates[index].name, exc)
        following = self._candidates[index + 1 :]
        chosen = next((i for i, c in enumerate(following) if c.probed() is not None), None)
        with self._lock:
            if chosen is None:
                self._active = len(self._candidates) - 1
                last = self._candidates[-1]
                if last.model is None:
                    last.model = last.build()
            else:
                self._active = index + 1 + chosen
            self._next_probe = self._clock() + self._reprobe_s
