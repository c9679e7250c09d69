"""The ingest loop: read and decode in a thread pool, embed on this thread, upsert per batch.

Stages, per batch of ``batch_size`` items::

    pool:  read files + hash ──► main: skip unchanged ──► pool: decode + preprocess
                                                                   │
    main:  embed pixels + texts ──► one upsert (all vectors of a point together) ◄─┘

Texts get CLIP's ``text`` vector and, when their encoders are on (:class:`TextEncoders`), a
``passage`` vector and ``lexical`` terms.

On the GPU path (``jpegs_on_device``) the pool checks a JPEG's header only and the embedder
decodes the batch's JPEGs on its device; other formats are decoded by the pool as above.

At most about three batches are in flight, so memory stays flat however large the source.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from itertools import islice
from typing import Any, TypeVar

import numpy as np

from ingest.chunking import chunk_text
from ingest.describe import MAX_SIDE as DESCRIBE_SIDE
from ingest.describe import PictureDescriber, description_payload, marked
from ingest.documents.passages import split_passages
from ingest.documents.pictures import PictureStore
from ingest.documents.reader import DocumentReader
from ingest.duplicates import Link, near_duplicates
from ingest.images import decode_image, probe_image
from ingest.items import (
    DecodedItem,
    DocumentRead,
    Ignored,
    ImageInfo,
    ReadItem,
    Source,
    SourceItem,
    Unreadable,
)
from ingest.ocr import PictureText, ocr_payload
from ingest.points import base_payload, fingerprint, is_unchanged, item_points, stale_chunk_ids
from ingest.prune import prune_source
from ingest.reading import ItemReader
from ingest.report import IngestReport, ItemError, ProgressSink
from ingest.retries import GaveUp, Retrier
from ingest.text_signals import TextEncoders
from rag import payload as keys
from rag import tracing
from rag.config import IngestSettings
from rag.embedding.base import Embedder, PassageEncoder
from rag.errors import InvalidInputError, UndecodableImagesError
from rag.identity import delete_stale
from rag.store.base import TEXT, VectorStore

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")

_JPEG_MAGIC = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"
_DEVICE_JPEG = frozenset({("JPEG", "RGB"), ("JPEG", "L"), ("MPO", "RGB"), ("MPO", "L")})
"""(format, mode) of the JPEGs the GPU path decodes on the device; CMYK ones go through PIL."""


@dataclass(frozen=True)
class Rejected:
    """An item that failed after its source was known (its old point survives ``--prune``)."""

    item: SourceItem
    error: ItemError


@dataclass
class _Batch:
    futures: list[Future[DecodedItem | Rejected]]
    stored: dict[str, dict[str, Any]]


@dataclass
class _DocumentRun:
    source: str
    ids: set[str] = field(default_factory=set)
    failed_pages: list[int] = field(default_factory=list)


@dataclass
class _SourceRun:
    root: str
    ids: set[str] = field(default_factory=set)
    failed_sources: set[str] = field(default_factory=set)
    documents: dict[str, _DocumentRun] = field(default_factory=dict)
    unread_folders: set[str] = field(default_factory=set)


Read = ReadItem | DocumentRead | Rejected | ItemError | Ignored | Unreadable


class Ingestor:
    """Ingests sources into one store with one embedder (and the text encoders, when given);
    the report adds up over sources.

    Example::

        ingestor = Ingestor(services.embedder, services.store, settings.ingest,
                            text=TextEncoders.from_services(services))
        report = ingestor.ingest(open_source(Path("photos")), prune=True)
    """

    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        settings: IngestSettings,
        progress: ProgressSink | None = None,
        should_stop: Callable[[], bool] | None = None,
        text: TextEncoders | None = None,
        pictures: PictureStore | None = None,
        jpegs_on_device: bool = False,
        ocr: PictureText | None = None,
        describer: PictureDescriber | None = None,
    ) -> None:
        """``text`` holds the passage model and the lexical encoder (their signals are written
        for every point with text; the passage model also bounds document passages, else CLIP's
        context does); ``pictures`` stores page renders and figure crops (documents are refused
        without it); ``jpegs_on_device``: JPEG bytes go to ``embedder.embed_jpegs`` (decoded in
        batches on the model's device) instead of being decoded by PIL in the pool; ``ocr``
        reads the text in pictures, pages and figures (:mod:`ingest.ocr`; default: none);
        ``describer`` describes those with little text (:mod:`ingest.describe`; default: none)."""
        self.ocr = ocr or PictureText()
        self.describer = describer or PictureDescriber()
        self.jpegs_on_device = jpegs_on_device
        self.embedder = embedder
        self.text = text or TextEncoders()
        self._text_models = self.text.model_ids()
        self.store = store
        self.settings = settings
        self.progress = progress
        self.should_stop = should_stop or (lambda: False)
        self.retry = Retrier(settings.retries, self.should_stop)
        self.report = IngestReport()
        self._input_side: int | None = None  # the model's input size, learnt from its pixels
        chunker = partial(
            chunk_text, count_tokens=embedder.count_tokens, context_length=embedder.context_length
        )
        self.reader = ItemReader(store.collection, settings, chunker)
        self._split = _passage_splitter(embedder, self.text.passage, settings)
        self.documents = (
            None
            if pictures is None
            else DocumentReader(
                store.collection,
                settings,
                pictures,
                self._split,
                self.ocr,
            )
        )

    def ingest(self, source: Source, prune: bool = False) -> IngestReport:
        """Ingest every item of ``source``; with ``prune``, then delete the points of
        ``source.root`` that this run did not see (skipped when the run was stopped)."""
        started = time.perf_counter()
        run = _SourceRun(source.root)
        pool = ThreadPoolExecutor(
            self.settings.decode_workers,
            thread_name_prefix="mmrag-ingest",
            initializer=_one_torch_thread,
        )
        try:
            self._run(pool, source, run)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if not self.report.stopped:
            self._replace_documents(run)
        if prune and source.prunable and not self.report.stopped:
            self.report.pruned += prune_source(
                self.store, run.root, run.ids, run.failed_sources, run.unread_folders
            )
        self.store.flush()
        self.report.retries = self.retry.retried
        self.report.elapsed_s += time.perf_counter() - started
        return self.report

    def _run(self, pool: ThreadPoolExecutor, source: Source, run: _SourceRun) -> None:
        size = self.settings.batch_size
        reads = _ordered_map(pool, self._read, source.items, ahead=2 * size)
        pending: deque[_Batch] = deque()
        for window in _batched(reads, size):
            if self.should_stop():
                self.report.stopped = True
                break
            todo, stored = self._select(window, run)
            window.clear()  # from here, only its decode holds a read item (and its file's bytes)
            for part in _taken(todo, size):  # a document may bring many items
                pending.append(_Batch([pool.submit(self._decode, r) for r in part], stored))
                part.clear()
                if len(pending) > 1:
                    self._write(pending.popleft(), run)
        while pending:
            self._write(pending.popleft(), run)

    # --- stage one (pool): read, hash, name ------------------------------------------------

    def _read(self, entry: SourceItem | ItemError | Ignored | Unreadable) -> Read:
        if not isinstance(entry, SourceItem):
            return entry
        if entry.document_file is not None:
            return _guarded(entry, self._read_document, self.retry)
        return _guarded(entry, self.reader.read, self.retry)

    def _read_document(self, item: SourceItem) -> DocumentRead:
        if self.documents is None:
            raise InvalidInputError("documents need a picture folder (give Ingestor pictures=)")
        return self.documents.read(item)

    # --- main thread: duplicates and unchanged items ---------------------------------------

    def _select(
        self, window: list[Read], run: _SourceRun
    ) -> tuple[list[ReadItem], dict[str, dict[str, Any]]]:
        fresh: list[ReadItem] = []
        for entry in window:
            if isinstance(entry, Ignored):
                self.report.ignored += 1
            elif isinstance(entry, DocumentRead):
                document = self._document(entry, run)
                for read in entry.items:
                    if self._take(read, run, fresh):
                        document.ids.add(read.point_id)
            elif isinstance(entry, Unreadable):
                run.unread_folders.add(entry.path)
                self._take(entry.error, run, fresh)
            else:
                self._take(entry, run, fresh)
        return self._changed(fresh, run.root)

    def _take(
        self, entry: ReadItem | Rejected | ItemError, run: _SourceRun, fresh: list[ReadItem]
    ) -> bool:
        self.report.seen += 1
        if isinstance(entry, ReadItem) and entry.point_id in run.ids:
            entry = _duplicate(entry)
        if not isinstance(entry, ReadItem):
            self._fail(entry, run)
            return False
        run.ids.add(entry.point_id)
        fresh.append(entry)
        return True

    def _document(self, read: DocumentRead, run: _SourceRun) -> _DocumentRun:
        self.report.documents += 1
        self.report.remote_images += read.remote_images
        self.report.notes += [ItemError(read.item.display, note) for note in read.notes]
        return run.documents.setdefault(
            read.document_id, _DocumentRun(read.item.source, failed_pages=read.failed_pages)
        )

    def _replace_documents(self, run: _SourceRun) -> None:
        """Delete the points the documents of this run no longer have (after the new ones are
        written: a crash in between leaves extra points that the next run deletes)."""
        for doc_id, document in run.documents.items():
            if document.source not in run.failed_sources:
                self.report.replaced += delete_stale(
                    self.store, doc_id, document.ids, document.failed_pages
                )

    def _changed(
        self, fresh: list[ReadItem], root: str
    ) -> tuple[list[ReadItem], dict[str, dict[str, Any]]]:
        stored = (
            {p.id: p.payload for p in self.store.get([r.point_id for r in fresh])} if fresh else {}
        )
        if self.settings.policy == "overwrite":
            return fresh, stored
        todo = []
        for read in fresh:
            expected = fingerprint(read, root, self.embedder.model_id, self._text_models)
            if self._reads_picture(read):  # its text and chunks are known after OCR
                expected[keys.OCR_MODEL] = self.ocr.model_id
                del expected[keys.CHUNK_COUNT]
            if is_unchanged(stored.get(read.point_id), expected):
                self.report.unchanged += 1
            else:
                todo.append(read)
        return todo, stored

    # --- stage two (pool): decode and preprocess ------------------------------------------

    def _decode(self, read: ReadItem) -> DecodedItem | Rejected:
        return _guarded(read.item, lambda _: self._decode_read(read), self.retry)

    def _reads_picture(self, read: ReadItem) -> bool:
        """A standalone picture that OCR reads (after the unchanged check: at decode)."""
        return read.image_bytes is not None and self.ocr.reads_pictures

    def _decode_read(self, read: ReadItem) -> DecodedItem:
        data = read.image_bytes
        if data is None and read.picture_file is not None:
            data = read.picture_file.read_bytes()
        if data is None:
            return DecodedItem(read)
        notes: list[str] = []
        if self._reads_picture(read):
            read = self._read_picture_text(read, data, notes)
        if self.describer.wants(len(read.text or "") + len(read.extra.get(keys.OCR_TEXT) or "")):
            read = self._describe_picture(read, data, notes)
        decoded = self._decode_pixels(replace(read, image_bytes=None), data)
        decoded.notes = notes
        return decoded

    def _read_picture_text(self, read: ReadItem, data: bytes, notes: list[str]) -> ReadItem:
        """``read`` with the text OCR finds in its picture as more chunks (and in its payload);
        the picture is decoded here on its own (the GPU path decodes it again on the device)."""
        image = decode_image(data, self.settings.max_image_pixels).image
        result = self.ocr.read(image, "text in the picture not read", notes)
        if result is None:  # failed: without the engine's id, the next run reads it again
            return read
        extra = {**read.extra, keys.OCR_MODEL: self.ocr.model_id}
        if not result.lines:
            return replace(read, extra=extra)
        extra.update(ocr_payload(result, self.ocr.model_id))
        return replace(read, chunks=[*read.chunks, *self._split(result.text)], extra=extra)

    def _describe_picture(self, read: ReadItem, data: bytes, notes: list[str]) -> ReadItem:
        """``read`` with the vision LLM's description of its picture as one more chunk (marked
        machine-written) and in its payload; unchanged (with a note) when that failed."""
        image = decode_image(data, self.settings.max_image_pixels, DESCRIBE_SIDE).image
        page, figure = read.extra.get(keys.PAGE), read.extra.get(keys.FIGURE)
        where = "the picture" if page is None else f"page {page}"
        if figure is not None:
            where = f"figure {figure + 1} on {where}"
        text = self.describer.describe(image, where, notes)
        if text is None or self.describer.model is None:
            return read
        extra = {**read.extra, **description_payload(text, self.describer.model.model_name)}
        return replace(read, chunks=[*read.chunks, marked(text)], extra=extra)

    def _decode_pixels(self, read: ReadItem, data: bytes) -> DecodedItem:
        if self.jpegs_on_device and _whole_jpeg(data):
            header = probe_image(data, self.settings.max_image_pixels)
            if (header.format, header.mode) in _DEVICE_JPEG:
                info = ImageInfo(header.mime, header.width, header.height)
                return DecodedItem(read, image=info, jpeg=data)
        return self._decode_on_host(read, data)

    def _decode_on_host(self, read: ReadItem, data: bytes) -> DecodedItem:
        image = decode_image(data, self.settings.max_image_pixels, self._input_side)
        pixels = self.embedder.preprocess_images([image.image])
        self._input_side = pixels.shape[-1]
        return DecodedItem(read, pixels, ImageInfo(image.mime, image.width, image.height))

    # --- main thread: embed and write -----------------------------------------------------

    def _write(self, batch: _Batch, run: _SourceRun) -> None:
        began, failed = time.perf_counter(), len(self.report.failures)
        items: list[DecodedItem] = []
        for future in batch.futures:
            result = future.result()
            if isinstance(result, Rejected):
                self._fail(result, run)
            else:
                self.report.notes += [ItemError(result.read.item.display, n) for n in result.notes]
                items.append(result)
        if items:
            self._embed_and_upsert(items, batch.stored, run)
        self.report.retries = self.retry.retried
        if self.progress is not None:
            self.progress.update(self.report)
        counts = {
            "mmrag.items": len(batch.futures),
            "mmrag.items.failed": len(self.report.failures) - failed,
        }
        tracing.finished("ingest.batch", time.perf_counter() - began, counts)

    def _embed_and_upsert(
        self, items: list[DecodedItem], stored: dict[str, dict[str, Any]], run: _SourceRun
    ) -> None:
        items, image_vectors = self._embed_images(items, run)
        if not items:
            return
        links = self._near_duplicates(items, image_vectors)  # reported once, not per retry
        try:
            self.retry.attempt(
                lambda: self._encode_and_upsert(items, image_vectors, stored, run, links)
            )
        except GaveUp as failed:
            if not failed.transient:  # a full disk, a bug: the job fails as a whole
                raise failed.error from None
            for item in items:  # the server stayed away: these items wait in the dead letters
                self._fail(Rejected(item.read.item, _item_error(item.read.item, failed)), run)

    def _encode_and_upsert(
        self,
        items: list[DecodedItem],
        image_vectors: list[np.ndarray | None],
        stored: dict[str, dict[str, Any]],
        run: _SourceRun,
        links: dict[int, Link],
    ) -> None:
        """Text signals, then one upsert (``links``: the near-duplicate pictures); the counters
        change only once it is written (a transient failure runs this again)."""
        root = run.root
        texts = [chunk for item in items for chunk in item.read.chunks]
        encoding = self.embedder.encode_texts(texts)
        signals = self.text.encode(texts)
        for row, vector in zip(signals.vectors, encoding.vectors, strict=True):
            row[TEXT] = vector
        now = datetime.now(UTC).isoformat(timespec="seconds")
        points, stale, offset, truncated, passage_truncated = [], [], 0, 0, 0
        for index, (item, image_vector) in enumerate(zip(items, image_vectors, strict=True)):
            count = len(item.read.chunks)
            chunk_vectors = list(signals.vectors[offset : offset + count])
            truncated += any(encoding.truncated[offset : offset + count])
            passage_truncated += any(signals.truncated[offset : offset + count])
            offset += count
            base = base_payload(item, root, self.embedder.model_id, now, self._text_models)
            if index in links:
                base[keys.DUPLICATE_OF] = links[index].of
            points += item_points(item, image_vector, chunk_vectors, base, self.store.collection)
            previous = stored.get(item.read.point_id, {}).get(keys.CHUNK_COUNT)
            stale += stale_chunk_ids(self.store.collection, item.read.key, previous, max(1, count))
        if stale:  # first: after a kill in between, the next run still sees the old chunk count
            self.store.delete(stale)
        self.store.upsert(points)
        self.report.truncated += truncated
        self.report.passage_truncated += passage_truncated
        self.report.written += len(items)
        self.report.points_written += len(points)

    def _near_duplicates(
        self, items: list[DecodedItem], vectors: list[np.ndarray | None]
    ) -> dict[int, Link]:
        """The batch's pictures that nearly copy an earlier one (``MMRAG_INGEST__DUPLICATE_
        THRESHOLD``; off when unset), each reported."""
        threshold = self.settings.duplicate_threshold
        if threshold is None:
            return {}
        item_keys = [item.read.key for item in items]
        ids = [item.read.point_id for item in items]
        links = near_duplicates(self.store, item_keys, ids, vectors, threshold)
        for index, link in links.items():
            why = f"near-duplicate of point {link.of} (image cosine {link.cosine:.3f}): kept"
            self.report.near_duplicates.append(ItemError(items[index].read.item.display, why))
        return links

    def _embed_images(
        self, items: list[DecodedItem], run: _SourceRun
    ) -> tuple[list[DecodedItem], list[np.ndarray | None]]:
        """The items that still stand and their image vectors (``None``: no picture). A JPEG
        the device cannot decode is decoded by PIL here; when PIL cannot either, it fails alone."""
        vectors: dict[int, np.ndarray] = {}
        failed = self._embed_jpegs(items, vectors, run)
        pixels = {i: item.pixels for i, item in enumerate(items) if item.pixels is not None}
        if pixels:
            embedded = self.embedder.embed_pixels(np.concatenate(list(pixels.values())))
            vectors.update(zip(pixels, embedded, strict=True))
        kept = [i for i in range(len(items)) if i not in failed]
        return [items[i] for i in kept], [vectors.get(i) for i in kept]

    def _embed_jpegs(
        self, items: list[DecodedItem], vectors: dict[int, np.ndarray], run: _SourceRun
    ) -> set[int]:
        """Embed the items' JPEG bytes on the device into ``vectors``; the indices that failed."""
        jpegs = {i: item.jpeg for i, item in enumerate(items) if item.jpeg is not None}
        todo, failed = list(jpegs), set[int]()
        while todo:
            try:
                done = self.embedder.embed_jpegs([jpegs[i] for i in todo])
            except UndecodableImagesError as exc:
                undecodable = {todo[j] for j in exc.reasons if 0 <= j < len(todo)}
                if not undecodable:
                    raise
                for i in undecodable:
                    if not self._decode_jpeg_on_host(items[i], run):
                        failed.add(i)
                todo = [i for i in todo if i not in undecodable]
                continue
            vectors.update(zip(todo, done, strict=True))
            break
        return failed

    def _decode_jpeg_on_host(self, item: DecodedItem, run: _SourceRun) -> bool:
        """PIL's turn at a JPEG the device could not decode: its pixels, or its failure."""
        data, item.jpeg = item.jpeg, None
        result = _guarded(item.read.item, lambda _: self._decode_on_host(item.read, data or b""))
        if isinstance(result, Rejected):
            self._fail(result, run)
            return False
        item.pixels = result.pixels
        return True

    def _fail(self, entry: Rejected | ItemError, run: _SourceRun) -> None:
        if isinstance(entry, Rejected):
            run.failed_sources.add(entry.item.source)
            entry = entry.error
        self.report.failures.append(entry)


def _whole_jpeg(data: bytes) -> bool:
    """JPEG bytes whose end-of-image marker is at their end: a truncated file (the usual damage)
    goes to PIL, whose error names it, however lenient the device's decoder would be."""
    return data.startswith(_JPEG_MAGIC) and _JPEG_END in data[-64:]


def _passage_splitter(
    embedder: Embedder, encoder: PassageEncoder | None, settings: IngestSettings
) -> Callable[[str], list[str]]:
    if encoder is not None:
        return partial(
            split_passages,
            count_tokens=encoder.count_tokens,
            max_tokens=encoder.max_tokens,
            overlap=settings.passage_overlap,
        )
    return partial(
        split_passages,
        count_tokens=embedder.count_tokens,
        max_tokens=embedder.context_length,
        overlap=settings.passage_overlap,
    )


def _one_torch_thread() -> None:
    """Pool threads run torch ops (preprocessing) on one thread each: otherwise every pool
    thread starts its own OpenMP team and they all compete with the model on the main thread.
    Only with OpenMP, where the setting is per thread; elsewhere it would reach the model."""
    try:
        import torch
    except ImportError:  # pragma: no cover - an embedder without torch
        return
    if "parallel backend: OpenMP" in torch.__config__.parallel_info():
        torch.set_num_threads(1)


def _guarded(
    item: SourceItem, step: Callable[[SourceItem], T], retry: Retrier | None = None
) -> T | Rejected:
    """Run one item's step (tried again after transient errors, with ``retry``); any error
    rejects that item alone."""
    try:
        return (retry or Retrier()).attempt(lambda: step(item))
    except GaveUp as failed:
        return Rejected(item, _item_error(item, failed))


def _item_error(item: SourceItem, failed: GaveUp) -> ItemError:
    """The failure of ``item`` (its reason, its tries, whether the last error was transient)."""
    exc = failed.error
    if isinstance(exc, InvalidInputError):
        reason = str(exc)
    elif failed.transient:
        reason = f"{type(exc).__name__}: {exc}"
    else:
        log.error("unexpected error on %s", item.display, exc_info=exc)
        reason = f"unexpected error: {type(exc).__name__}: {exc}"
    return ItemError(item.display, reason, attempts=failed.attempts, transient=failed.transient)


def _duplicate(read: ReadItem) -> Rejected:
    reason = f"duplicate: an earlier item of this run has the same source key ({read.key})"
    return Rejected(read.item, ItemError(read.item.display, reason))


def _ordered_map(
    pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T], ahead: int
) -> Iterator[R]:
    """``map(fn, items)`` in the pool, in order, with at most ``ahead`` calls in flight."""
    pending: deque[Future[R]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= ahead:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _taken(items: list[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (one empty list when there are none), each removed from
    ``items`` as it is handed out: ``items`` keeps no reference to what was handed out."""
    while True:
        part = items[:size]
        del items[:size]
        yield part
        if not items:
            return
