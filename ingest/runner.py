"""Run a job spec (or CLI paths) against a :class:`rag.services.Services`: sources in order,
one report for all of them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ingest.cleanup import discard_files, store_scope
from ingest.dead_letters import narrowed
from ingest.describe import PictureDescriber
from ingest.documents.pictures import PictureStore, pictures_dir
from ingest.items import Source
from ingest.ocr import OcrCache, PictureText
from ingest.pipeline import Ingestor
from ingest.report import IngestReport, ProgressSink
from ingest.sources import open_source
from ingest.specs import JobSpec
from ingest.stored_files import scope_dir
from ingest.text_signals import TextEncoders
from ingest.uploads import upload_source
from rag.config import ClipSettings, IngestSettings
from rag.embedding.gpu import batch_size_of, decodes_on_device
from rag.services import Services
from rag.store.base import VectorStore
from rag.tenancy import TenantStore

log = logging.getLogger(__name__)


def run_job(
    services: Services,
    spec: JobSpec,
    progress: ProgressSink | None = None,
    should_stop: Callable[[], bool] | None = None,
    store: VectorStore | None = None,
) -> IngestReport:
    """Ingest everything ``spec`` names into its collection as its tenant sees it
    (``services.for_tenant(spec.tenant).store_for(spec.collection)``); ``store``: write there
    instead (still as the spec's tenant).

    A path that is neither a folder nor a manifest (or, for server paths, that left the roots)
    raises ``InvalidInputError`` before anything is written.
    """
    sources = sources_of(spec)
    settings = services.settings.ingest.model_copy(
        update={k: v for k, v in (("policy", spec.policy), ("batch_size", spec.batch_size)) if v}
    )
    if store is None:
        target = services.for_tenant(spec.tenant).store_for(spec.collection)
    else:
        target = (
            store if spec.tenant is None else TenantStore(store, spec.tenant, services.terms_key)
        )
    ingestor = make_ingestor(services, target, settings, progress, should_stop)
    try:
        for source in sources:
            ingestor.ingest(source, prune=spec.prune)
            if ingestor.report.stopped:
                break
    finally:
        discard_unused_pictures(ingestor, target, services.settings.files_dir)
    if 0 < settings.optimize_after_points <= ingestor.report.points_written:
        build_search_index(target)
    return ingestor.report


def make_ingestor(
    services: Services,
    store: VectorStore,
    settings: IngestSettings | None = None,
    progress: ProgressSink | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Ingestor:
    """The one way jobs and tasks build an ``Ingestor``: CLIP, the text signals, OCR and the
    picture folder of ``store``'s collection and tenant; JPEGs are decoded on CLIP's device when
    its settings say so (``MMRAG_CLIP__DECODE``: ``device``, or ``auto`` on CUDA)."""
    clip = services.settings.clip
    on_device = decodes_on_device(clip)
    settings = settings or services.settings.ingest
    folder = picture_folder(services.settings.files_dir, store)
    return Ingestor(
        services.embedder,
        store,
        device_batch(settings, clip) if on_device else settings,
        progress,
        should_stop,
        TextEncoders.from_services(services),
        pictures=PictureStore(folder),
        jpegs_on_device=on_device,
        ocr=PictureText.of(services.ocr_reader, services.settings.ocr, OcrCache(folder)),
        describer=describer_of(services, settings),
    )


def describer_of(services: Services, settings: IngestSettings) -> PictureDescriber:
    """The picture describer ``MMRAG_INGEST__DESCRIBE`` asks for (the answers' chat model,
    built only when on)."""
    if settings.describe != "vision-llm":
        return PictureDescriber()
    return PictureDescriber.of(services.chat_model, settings)


def picture_folder(files_dir: Path, store: VectorStore) -> Path:
    """Where the page renders of ``store``'s collection and tenant lie."""
    return scope_dir(pictures_dir(files_dir), *store_scope(store))


def discard_unused_pictures(ingestor: Ingestor, store: VectorStore, files_dir: Path) -> int:
    """Delete the page renders and crops this run wrote that no point names: a document that
    failed, a job that failed or stopped."""
    created = ingestor.documents.pictures.created if ingestor.documents is not None else []
    try:
        return discard_files(created, store, files_dir)
    except Exception:  # never hide the run's own error
        log.exception("could not delete the unused page renders of an ingest run")
        return 0


def device_batch(settings: IngestSettings, clip: ClipSettings) -> IngestSettings:
    """The GPU path's ingest settings: a batch size left at its default grows to CLIP's batch
    on its device (``gpu_batch_size`` on CUDA), so each forward pass gets a full batch."""
    if "batch_size" in settings.model_fields_set:
        return settings
    return settings.model_copy(update={"batch_size": max(settings.batch_size, batch_size_of(clip))})


def build_search_index(store: VectorStore) -> None:
    """Let an engine without a background optimizer (Qdrant Edge) build its index now."""
    started = time.perf_counter()
    store.optimize()
    log.info("search index built in %.1f s", time.perf_counter() - started)


def ingest_paths(
    services: Services,
    paths: Sequence[Path],
    prune: bool = False,
    progress: ProgressSink | None = None,
) -> IngestReport:
    """What ``mmrag ingest PATH...`` runs (collection, policy, batch size come from settings)."""
    spec = JobSpec(kind="paths", paths=[str(p) for p in paths], prune=prune)
    return run_job(services, spec, progress)


def sources_of(spec: JobSpec) -> list[Source]:
    """The sources of a spec, each path checked up front (against ``spec.roots`` when set)."""
    if spec.kind == "upload":
        return [narrowed(upload_source(spec.items), spec.only)]
    return [narrowed(open_source(Path(path), spec.roots), spec.only) for path in spec.paths]
