"""kill -9 during a document ingest, then run again: exactly the document's points."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from ingest.runner import ingest_paths
from rag.config import Settings
from rag.embedding.base import Embedder
from tests.ingest.checks import check_invariants
from tests.ingest.documents_draw import PAGE_FACTS, write_docx, write_pdf
from tests.ingest.test_kill import _count_after_kill, _ingest_in_child, _kill_after, _services


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_kill_9_during_documents_then_rerun_ends_exact(
    settings: Settings, tiny_embedder: Embedder, folder: Path
) -> None:
    for n, title in enumerate(("Pump manual", "Valve manual", "Tank manual")):
        facts = {page: f"{fact} ({title})" for page, fact in PAGE_FACTS.items()}
        write_pdf(folder / f"doc{n}.pdf", facts, title)
    write_docx(folder / "handbook.docx")
    ingest = settings.ingest.model_copy(update={"batch_size": 4, "render_pixels": 200_000})
    settings = settings.model_copy(update={"ingest": ingest})
    counts, batches = [], 0
    for seed in (1, 2, 3):
        rng = random.Random(seed)
        batches += rng.randint(1, 3)
        pid, beacon = _ingest_in_child(settings, tiny_embedder, folder)
        _kill_after(pid, beacon, batches, rng.uniform(0.0, 0.03))
        counts.append(_count_after_kill(settings, tiny_embedder))
    write_pdf(folder / "doc0.pdf", {1: PAGE_FACTS[1], 2: PAGE_FACTS[2]}, "Pump manual")
    services = _services(settings, tiny_embedder)
    try:
        report = ingest_paths(services, [folder])
        assert report.failed == 0 and report.documents == 4
        assert report.seen == report.written + report.unchanged
        check_invariants(services.store, report.seen)
        pages = {
            p.payload["page"]
            for p in services.store.scroll(limit=1000)[0]
            if p.payload["source"] == "doc0.pdf"
        }
        assert pages == {1, 2}  # the shortened document lost its old pages 3 and 4
    finally:
        services.close()
    print("points after each kill:", counts)
