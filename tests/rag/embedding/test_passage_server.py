"""The passage signal from an embedding server: Ollama's wire format (the fake server) and a real
OpenAI-compatible server (llama-cpp-python's, serving SmolLM2 in embedding mode on loopback)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from ingest.runner import ingest_paths
from rag.config import PassageSettings, Settings
from rag.embedding.passage import load_passage_encoder
from rag.embedding.passage_prompts import INSTRUCT_QUERY
from rag.embedding.passage_server import DOWN_RETRY_AFTER_S, PROBE_TEXT, ServerPassageEncoder
from rag.embedding.tiny import tiny_clip_settings
from rag.errors import (
    CollectionMismatchError,
    ConfigError,
    EmbeddingBusyError,
    EmbeddingTimeoutError,
    EmbeddingUnavailableError,
)
from rag.services import Services
from rag.testing.llama_cpp_server import LlamaCppServer
from tests.fakes.ollama_server import FakeOllama, embed_requests, unused_port_url

TEXTS = ["The pump needs 230 volts.", "A cat sleeps on the sofa.", "Error E-1042 on start."]


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(models=["bge-m3:latest", "qwen3-embedding:0.6b"], retry_after="0") as server:
        yield server


def ollama_encoder(server: FakeOllama, **settings: Any) -> ServerPassageEncoder:
    values = {"backend": "ollama", "base_url": server.url, "model": "bge-m3", **settings}
    encoder = load_passage_encoder(PassageSettings(**values), Path("unused"))
    assert isinstance(encoder, ServerPassageEncoder)
    return encoder


def inputs(server: FakeOllama) -> list[list[str]]:
    return [list(body["input"]) for body in embed_requests(server)]


# --- Ollama's wire format ----------------------------------------------------------------------


def test_ollama_vectors_are_the_servers(ollama: FakeOllama) -> None:
    encoder = ollama_encoder(ollama)
    vectors = encoder.encode_documents(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (3, ollama.embed_dim)
    np.testing.assert_allclose(vectors, [ollama.vector(t) for t in TEXTS], atol=1e-6)
    assert encoder.model_id == "ollama:bge-m3"


def test_the_dimension_is_probed_once(ollama: FakeOllama) -> None:
    encoder = ollama_encoder(ollama)
    assert encoder.dim == encoder.dim == ollama.embed_dim
    encoder.encode_queries(["pump"])
    encoder.encode_documents(TEXTS)
    assert [batch for batch in inputs(ollama) if batch == [PROBE_TEXT]] == [[PROBE_TEXT]]


def test_texts_go_in_requests_of_batch_size(ollama: FakeOllama) -> None:
    encoder = ollama_encoder(ollama, batch_size=2)
    encoder.warm_up()
    encoder.encode_documents([*TEXTS, "four", "five"])
    assert [len(batch) for batch in inputs(ollama)] == [1, 2, 2, 1]


def test_instruction_models_get_their_card_prompts(ollama: FakeOllama) -> None:
    encoder = ollama_encoder(ollama, model="qwen3-embedding:0.6b")
    encoder.encode_queries(["pump voltage"])
    encoder.encode_documents(["The pump needs 230 volts."])
    query, document = inputs(ollama)[-2:]
    assert query == [INSTRUCT_QUERY + "pump voltage"]
    assert document == ["The pump needs 230 volts."]


def test_e5_prompts_and_prompts_set_by_the_settings(ollama: FakeOllama) -> None:
    e5 = ollama_encoder(ollama, model="jeffh/intfloat-multilingual-e5-large:f16")
    assert e5.prompts() == ("query: ", "passage: ")
    own = ollama_encoder(ollama, query_prompt="q: ", document_prompt="")
    assert own.prompts() == ("q: ", "")
    np.testing.assert_allclose(own.encode_queries(["pump"])[0], ollama.vector("q: pump"), atol=1e-6)


def test_a_missing_model_says_to_pull_it(ollama: FakeOllama) -> None:
    with pytest.raises(EmbeddingUnavailableError, match="ollama pull nomic-embed-text"):
        _ = ollama_encoder(ollama, model="nomic-embed-text").dim


def test_a_busy_server_is_tried_again(ollama: FakeOllama) -> None:
    ollama.mode, ollama.busy_times = "busy", 2
    assert ollama_encoder(ollama, retries=2).dim == ollama.embed_dim
    assert len(inputs(ollama)) == 3


def test_busy_past_the_retries_raises_busy(ollama: FakeOllama) -> None:
    ollama.mode = "busy"
    with pytest.raises(EmbeddingBusyError, match="busy") as raised:
        _ = ollama_encoder(ollama, retries=1).dim
    assert raised.value.retry_after is not None and len(inputs(ollama)) == 2


@pytest.mark.parametrize("backend", ["ollama", "openai"])
def test_a_server_down_raises_unavailable_with_a_retry_after(backend: str) -> None:
    settings = PassageSettings(backend=backend, base_url=unused_port_url(), retries=0)
    with pytest.raises(EmbeddingUnavailableError, match="MMRAG_PASSAGE__BASE_URL") as raised:
        ServerPassageEncoder(settings).encode_queries(["pump"])
    assert raised.value.retry_after == DOWN_RETRY_AFTER_S


def test_a_slow_server_times_out(ollama: FakeOllama) -> None:
    ollama.mode, ollama.slow_s = "slow", 2.0
    with pytest.raises(EmbeddingTimeoutError, match="MMRAG_PASSAGE__TIMEOUT_S"):
        _ = ollama_encoder(ollama, timeout_s=0.2, retries=0).dim


def test_openai_backend_needs_a_base_url() -> None:
    with pytest.raises(ConfigError, match="MMRAG_PASSAGE__BASE_URL"):
        load_passage_encoder(PassageSettings(backend="openai"), Path("unused"))


# --- the collection's passage size ---------------------------------------------------------


def ollama_services(folder: Path, server: FakeOllama) -> Services:
    passage = {"backend": "ollama", "base_url": server.url, "model": "bge-m3", "retries": 0}
    return Services(
        Settings(
            _env_file=None,  # type: ignore[call-arg]
            data_dir=folder / "data",
            clip=tiny_clip_settings(),
            passage=passage,
            rerank={"model": "none"},
            llm={"backend": "extractive"},
            ocr={"mode": "off"},
        )
    )


def test_a_collection_of_another_passage_size_is_refused_naming_both(tmp_path: Path) -> None:
    manifest = tmp_path / "texts.jsonl"
    manifest.write_text(
        "\n".join(json.dumps({"id": str(i), "text": t}) for i, t in enumerate(TEXTS))
    )
    with FakeOllama(models=["bge-m3"], embed_dim=16) as first:
        services = ollama_services(tmp_path, first)
        assert ingest_paths(services, [manifest]).written == 3
        services.close()
    with FakeOllama(models=["bge-m3"], embed_dim=24) as second:
        services = ollama_services(tmp_path, second)
        with pytest.raises(CollectionMismatchError) as raised:
            _ = services.store
    message = str(raised.value)
    assert "passage vectors of size 16" in message and "ollama:bge-m3" in message
    assert "gives vectors of size 24" in message and "MMRAG_PASSAGE__MODEL" in message


# --- a real OpenAI-compatible server -------------------------------------------------------


@pytest.fixture(scope="module")
def llama_embeddings() -> Iterator[LlamaCppServer]:
    with LlamaCppServer(n_ctx=512, embedding=True) as server:
        yield server


def server_vectors(server: LlamaCppServer, texts: list[str]) -> np.ndarray:
    body = {"model": server.model, "input": texts}
    data = httpx.post(f"{server.url}/embeddings", json=body, timeout=60).json()["data"]
    vectors = np.asarray([row["embedding"] for row in data], dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_openai_backend_gives_the_vectors_llama_cpp_server_gives(
    llama_embeddings: LlamaCppServer,
) -> None:
    settings = PassageSettings(backend="openai", base_url=llama_embeddings.url, batch_size=2)
    encoder = load_passage_encoder(settings, Path("unused"))
    assert encoder is not None
    assert encoder.dim == 576  # first use: asks for the model, then the size
    assert encoder.model_id == "openai:smollm2"  # model=auto: the first one the server lists
    vectors = encoder.encode_documents(TEXTS)
    np.testing.assert_allclose(vectors, server_vectors(llama_embeddings, TEXTS), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_openai_backend_puts_the_query_prompt_before_queries(
    llama_embeddings: LlamaCppServer,
) -> None:
    settings = PassageSettings(
        backend="openai", base_url=llama_embeddings.url, model="smollm2", query_prompt="query: "
    )
    encoder = ServerPassageEncoder(settings)
    query = encoder.encode_queries(["pump voltage"])
    np.testing.assert_allclose(
        query, server_vectors(llama_embeddings, ["query: pump voltage"]), atol=1e-5
    )
