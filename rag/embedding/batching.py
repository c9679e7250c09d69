"""Dynamic batching of query encodings: concurrent single-text calls run as one model batch.

Requests that each embed one short text (search queries) arrive on many threads at once. Each
running its own forward pass makes them compete for the same cores; :class:`BatchingEmbedder`
queues them instead, and one worker thread embeds whatever has queued (up to ``max_batch``
texts) in a single call, as model servers do. With ``wait_s`` 0 (the default) a query that finds
the worker idle runs at once and those arriving meanwhile make up the next batch; a positive
``wait_s`` holds the first of a batch that long for more to join. Larger calls (ingest
batches, ``/v1/embed/text`` lists) and images go straight to the wrapped embedder.

Example::

    queries = BatchingEmbedder(embedder, max_batch=32)
    queries.embed_texts(["a red square"])  # batched with whatever other threads ask meanwhile
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from rag.embedding.base import Embedder, TextEncoding

SMALL_CALL = 4
"""Calls with at most this many texts are batched; larger ones are batches already."""


@dataclass
class _Request:
    texts: list[str]
    future: Future[TextEncoding] = field(default_factory=Future)


class BatchingEmbedder:
    """An :class:`~rag.embedding.base.Embedder` that batches concurrent small text calls.

    Results are the wrapped embedder's vectors for the same texts (a batch pads to its longest
    text; CLIP's causal text tower ignores the padding). One worker thread, started on first
    use, runs the batches; :meth:`close` stops it.
    """

    def __init__(self, embedder: Embedder, max_batch: int = 32, wait_s: float = 0.0) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self.embedder = embedder
        self.max_batch = max_batch
        self.wait_s = wait_s
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.batches = 0
        """Batches run so far (for tests and benchmarks)."""

    @property
    def model_id(self) -> str:
        return self.embedder.model_id

    @property
    def dim(self) -> int:
        return self.embedder.dim

    @property
    def logit_scale(self) -> float:
        return self.embedder.logit_scale

    @property
    def context_length(self) -> int:
        return self.embedder.context_length

    def warm_up(self) -> None:
        self.embedder.warm_up()

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_texts(texts).vectors

    def encode_texts(self, texts: Sequence[str]) -> TextEncoding:
        """Small calls join a batch (and wait for it); larger ones run at once."""
        if not isinstance(texts, list | tuple) or not 0 < len(texts) <= SMALL_CALL:
            return self.embedder.encode_texts(texts)
        if not all(isinstance(text, str) for text in texts):
            return self.embedder.encode_texts(texts)  # its error names the bad item
        request = _Request(list(texts))
        self._start()
        self._queue.put(request)
        return request.future.result()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.embedder.count_tokens(texts)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.embedder.embed_images(images)

    def preprocess_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.embedder.preprocess_images(images)

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        return self.embedder.embed_pixels(pixels)

    def embed_jpegs(self, datas: Sequence[bytes]) -> np.ndarray:
        return self.embedder.embed_jpegs(datas)

    def close(self) -> None:
        """Stop the worker after the batches already queued."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            self._queue.put(None)
            worker.join(timeout=10)

    def _start(self) -> None:
        if self._worker is None:
            with self._lock:
                if self._worker is None:
                    self._worker = threading.Thread(
                        target=self._run, name="query-batcher", daemon=True
                    )
                    self._worker.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch, stop = self._gather(first)
            self._embed(batch)
            if stop:
                return

    def _gather(self, first: _Request) -> tuple[list[_Request], bool]:
        """``first`` plus whatever joins within ``wait_s`` (at most ``max_batch`` texts)."""
        batch, size = [first], len(first.texts)
        deadline = time.perf_counter() + self.wait_s
        while size < self.max_batch:
            remaining = deadline - time.perf_counter()
            try:
                item = self._queue.get(remaining > 0, max(remaining, 0.0))
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
            size += len(item.texts)
        return batch, False

    def _embed(self, batch: list[_Request]) -> None:
        texts = [text for request in batch for text in request.texts]
        try:
            encoding = self.embedder.encode_texts(texts)
        except BaseException as exc:  # every waiting caller gets the error (and only its own)
            self._fail_one_by_one(batch, exc)
            return
        self.batches += 1
        offset = 0
        for request in batch:
            n = len(request.texts)
            part = TextEncoding(
                encoding.vectors[offset : offset + n], encoding.truncated[offset : offset + n]
            )
            request.future.set_result(part)
            offset += n

    def _fail_one_by_one(self, batch: list[_Request], exc: BaseException) -> None:
        """A failed batch: run each request alone, so one bad text fails only its caller."""
        if len(batch) == 1:
            batch[0].future.set_exception(exc)
            return
        for request in batch:
            try:
                request.future.set_result(self.embedder.encode_texts(request.texts))
            except BaseException as own:
                request.future.set_exception(own)
