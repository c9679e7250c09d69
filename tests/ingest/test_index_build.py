"""A large run builds the store's search index at its end; a small one leaves it to later."""

from __future__ import annotations

from ingest.runner import build_search_index, run_job
from ingest.specs import JobSpec, UploadItem
from rag.config import Settings
from rag.services import Services


class CountingStore:
    """Wraps the real store and counts ``optimize`` calls."""

    def __init__(self, store) -> None:
        self._store = store
        self.optimized = 0

    def optimize(self) -> bool:
        self.optimized += 1
        return self._store.optimize()

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def _texts(n: int, topic: str) -> JobSpec:
    return JobSpec.for_uploads([UploadItem(text=f"{topic} note {i}") for i in range(n)])


def test_index_is_built_after_a_run_that_wrote_enough_points(settings: Settings) -> None:
    settings = settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"optimize_after_points": 3})}
    )
    services = Services(settings)
    store = CountingStore(services.store)
    assert run_job(services, _texts(2, "small"), store=store).points_written == 2
    assert store.optimized == 0
    assert run_job(services, _texts(4, "large"), store=store).points_written == 4
    assert store.optimized == 1
    assert store.count() == 6
    services.close()


class NothingToOptimize:
    calls = 0

    def optimize(self) -> bool:
        self.calls += 1
        return False


def test_optimize_is_part_of_the_store_protocol() -> None:
    store = NothingToOptimize()
    build_search_index(store)  # type: ignore[arg-type]
    assert store.calls == 1
