"""Dynamic batching of query encodings: same vectors, fewer model calls, errors to their caller."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from rag.config import Settings
from rag.embedding.batching import SMALL_CALL, BatchingEmbedder
from rag.errors import InvalidInputError
from rag.services import Services

QUERIES = [f"a photo of {n} red squares" if n % 3 else "dog" for n in range(24)]


def test_concurrent_queries_share_batches_and_get_their_own_vectors(tiny_embedder) -> None:
    batcher = BatchingEmbedder(tiny_embedder, max_batch=32, wait_s=0.05)
    start = threading.Barrier(len(QUERIES))

    def one(text: str) -> np.ndarray:
        start.wait()
        return batcher.embed_texts([text])[0]

    try:
        with ThreadPoolExecutor(len(QUERIES)) as pool:
            vectors = np.stack(list(pool.map(one, QUERIES)))
    finally:
        batcher.close()
    np.testing.assert_allclose(vectors, tiny_embedder.embed_texts(QUERIES), atol=1e-5)
    assert batcher.batches < len(QUERIES)


def test_with_no_wait_the_first_query_runs_alone_and_those_queued_meanwhile_share_a_batch(
    tiny_embedder,
) -> None:
    release, sizes = threading.Event(), []

    class Held:  # the first model call runs until released
        def encode_texts(self, texts: list[str]):  # type: ignore[no-untyped-def]
            sizes.append(len(texts))
            if len(sizes) == 1:
                release.wait(10)
            return tiny_embedder.encode_texts(texts)

    batcher = BatchingEmbedder(Held(), wait_s=0.0)  # type: ignore[arg-type]
    with ThreadPoolExecutor(8) as pool:
        first = pool.submit(batcher.embed_texts, [QUERIES[0]])
        until(lambda: sizes == [1])  # it went to the model alone
        rest = [pool.submit(batcher.embed_texts, [text]) for text in QUERIES[1:8]]
        until(lambda: batcher._queue.qsize() == 7)
        release.set()
        vectors = np.vstack([first.result(), *(future.result() for future in rest)])
    batcher.close()
    assert sizes == [1, 7]
    np.testing.assert_allclose(vectors, tiny_embedder.embed_texts(QUERIES[:8]), atol=1e-5)


def until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_large_calls_and_images_pass_straight_through(tiny_embedder) -> None:
    batcher = BatchingEmbedder(tiny_embedder)
    texts = QUERIES[: SMALL_CALL + 1]
    np.testing.assert_allclose(batcher.embed_texts(texts), tiny_embedder.embed_texts(texts))
    assert batcher.batches == 0
    encoding = batcher.encode_texts(["word " * 100])
    assert encoding.truncated == [True] and batcher.batches == 1
    assert batcher.embed_texts([]).shape == (0, tiny_embedder.dim)
    assert (batcher.dim, batcher.model_id) == (tiny_embedder.dim, tiny_embedder.model_id)
    batcher.close()


def test_a_bad_text_fails_only_its_own_call(tiny_embedder) -> None:
    batcher = BatchingEmbedder(tiny_embedder, wait_s=0.05)
    with pytest.raises(InvalidInputError):
        batcher.embed_texts(["fine", 3])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError):
        batcher.embed_texts("not a list")  # type: ignore[arg-type]
    assert batcher.embed_texts(["still works"]).shape == (1, tiny_embedder.dim)
    batcher.close()


def test_services_batch_queries_unless_turned_off(settings: Settings) -> None:
    services = Services(settings)
    assert isinstance(services.query_embedder, BatchingEmbedder)
    assert services.retriever.embedder is services.query_embedder
    services.close()
    off = settings.model_copy(update={"clip": settings.clip.model_copy(update={"query_batch": 0})})
    assert Services(off).query_embedder is Services(off).embedder
