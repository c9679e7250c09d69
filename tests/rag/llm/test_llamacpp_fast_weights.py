"""Fast weights for the embedded llama.cpp backend: a small Q4_1 GGUF (the bundled SmolLM2) is
loaded from a Q8_0 copy made once in a private cache folder; any other file is loaded as it is."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from rag.llm import ChatMessage, GenerationOptions, LlamaCppChatModel, llamacpp
from rag.llm.llamacpp import default_model_path, fast_weights, weights_cache_dir

Q4_1, Q8_0 = 3, 7


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "mmrag" / "llm"


@pytest.mark.llm
def test_the_bundled_q4_1_model_gets_a_q8_0_copy_made_once(cache_home: Path) -> None:
    source = default_model_path()
    assert llamacpp._file_type(source) == Q4_1
    copy = fast_weights(source)
    assert copy is not None and copy.parent == cache_home
    assert llamacpp._file_type(copy) == Q8_0
    made = copy.stat().st_mtime_ns
    assert fast_weights(source) == copy
    assert copy.stat().st_mtime_ns == made  # found, not made again
    assert stat.S_IMODE(cache_home.stat().st_mode) & 0o077 == 0


@pytest.mark.llm
def test_a_file_that_is_not_q4_1_is_loaded_as_it_is(cache_home: Path) -> None:
    copy = fast_weights(default_model_path())
    assert copy is not None
    assert fast_weights(copy) is None  # Q8_0 already


def test_a_large_file_is_loaded_as_it_is(
    cache_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.gguf"
    big.write_bytes(b"x" * 2048)
    monkeypatch.setattr(llamacpp, "FAST_WEIGHTS_MAX_BYTES", 1024)
    assert fast_weights(big) is None
    assert not cache_home.exists() or not any(cache_home.iterdir())


@pytest.mark.llm
def test_a_file_llama_cpp_cannot_read_gets_no_copy(cache_home: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF not really")
    assert fast_weights(broken) is None


def test_a_cache_folder_others_can_write_is_refused_for_the_temporary_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "cache" / "mmrag" / "llm"
    shared.mkdir(parents=True)
    shared.chmod(0o777)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    assert weights_cache_dir() == tmp_path / "tmp" / f"mmrag-llm-{os.getuid()}"


@pytest.mark.llm
def test_the_model_loads_the_copy_and_answers(cache_home: Path) -> None:
    model = LlamaCppChatModel(default_model_path(), n_ctx=640)  # a key no other test loads
    messages = [ChatMessage("user", "Name a colour.")]
    answer = model.generate(messages, GenerationOptions(max_tokens=4, temperature=0.0))
    assert answer.strip()
    assert Path(model.loaded_llm().model_path).parent == cache_home
    shipped = LlamaCppChatModel(default_model_path(), n_ctx=640, fast=False)
    assert Path(shipped.loaded_llm().model_path) == default_model_path()
