"""Pictures described at ingest (``MMRAG_INGEST__DESCRIBE=vision-llm``) through real ingest
(tiny CLIP, BM25, embedded Qdrant Edge) against the fake Ollama server speaking ``/api/chat``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from api.schemas.items import ItemOut
from ingest.runner import ingest_paths
from rag import payload as keys
from rag.config import Settings, load_settings
from rag.embedding.base import Embedder
from rag.errors import ConfigError
from rag.prompting import build_context
from rag.retrieval.types import Query
from rag.services import Services
from tests.fakes.ollama_server import FakeOllama, chat_requests
from tests.ingest.checks import all_points
from tests.ocr_draw import scanned_pdf

DESCRIPTION = "A red lighthouse named Quillhaven stands on black rocks under a grey sky."
LONG_CAPTION = "The harbour at dawn, with fishing boats tied along the stone pier and gulls."


@pytest.fixture
def ollama() -> Iterator[FakeOllama]:
    with FakeOllama(capabilities=("completion", "vision"), picture_reply=DESCRIPTION) as server:
        yield server


@pytest.fixture
def make(settings: Settings, tiny_embedder: Embedder) -> Iterator:
    """``make(url, describe)``: Services on the tiny CLIP with the LLM on the fake Ollama."""
    made: list[Services] = []

    def build(url: str, describe: str = "vision-llm", timeout_s: float = 10.0) -> Services:
        ingest = {"describe": describe, "describe_timeout_s": timeout_s}
        llm = {"backend": "ollama", "ollama_host": url, "model": "llama3.2"}
        update = {
            "ingest": settings.ingest.model_copy(update=ingest),
            "llm": settings.llm.model_copy(update=llm),
        }
        services = Services(settings.model_copy(update=update))
        services.__dict__["embedder"] = tiny_embedder
        made.append(services)
        return services

    yield build
    for services in made:
        services.close()


def _pictures(folder: Path) -> Path:
    folder.mkdir()
    Image.new("RGB", (96, 64), (200, 30, 30)).save(folder / "red.png")
    Image.new("RGB", (96, 64), (20, 30, 200)).save(folder / "harbour.png")
    (folder / "harbour.txt").write_text(LONG_CAPTION)
    return folder


def test_a_picture_without_caption_is_found_by_a_word_only_its_description_has(
    make, ollama: FakeOllama, tmp_path: Path
) -> None:
    services = make(ollama.url)
    report = ingest_paths(services, [_pictures(tmp_path / "pics")])
    assert report.written == 2 and not report.failures and not report.notes
    hits = services.retriever.search(Query(text="Quillhaven", signals=("lexical",), top_k=3)).hits
    top = hits[0]
    assert top.payload[keys.SOURCE] == "red.png"
    assert top.payload[keys.DESCRIPTION] == DESCRIPTION
    assert top.payload[keys.DESCRIPTION_BY] == "llama3.2"
    assert top.payload[keys.TEXT] == "" and keys.OCR_TEXT not in top.payload  # kept apart
    out = ItemOut.from_payload(top.id, top.payload)
    assert (out.description, out.description_by) == (DESCRIPTION, "llama3.2")
    block = build_context([top], 2000)[0]
    assert f"Description (machine-written): {DESCRIPTION}" in block.text
    assert block.text.count("Quillhaven") == 1  # shown once, marked
    sent = list(chat_requests(ollama))
    assert len(sent) == 1 and sent[0]["messages"][0]["images"]  # the captioned one not asked
    assert sent[0]["options"]["num_predict"] <= 200


def test_a_picture_with_a_long_caption_is_not_described(
    make, ollama: FakeOllama, tmp_path: Path
) -> None:
    services = make(ollama.url)
    ingest_paths(services, [_pictures(tmp_path / "pics")])
    harbour = next(p for p in all_points(services.store) if p.payload[keys.SOURCE] == "harbour.png")
    assert keys.DESCRIPTION not in harbour.payload and harbour.payload[keys.TEXT] == LONG_CAPTION


def test_the_llm_down_is_a_note_and_the_picture_still_goes_in(
    make, ollama: FakeOllama, tmp_path: Path
) -> None:
    ollama.stop()
    services = make(ollama.url)
    report = ingest_paths(services, [_pictures(tmp_path / "pics")])
    assert report.written == 2 and not report.failures
    assert [(Path(n.source).name, n.reason.split(":")[0]) for n in report.notes] == [
        ("red.png", "the picture")
    ]
    assert "not described" in report.notes[0].reason
    assert not any(keys.DESCRIPTION in p.payload for p in all_points(services.store))


def test_a_slow_llm_is_a_time_out_note(make, ollama: FakeOllama, tmp_path: Path) -> None:
    ollama.mode = "slow"
    ollama.slow_s = 3.0
    services = make(ollama.url, timeout_s=0.3)
    report = ingest_paths(services, [_pictures(tmp_path / "pics")])
    assert report.written == 2 and not report.failures
    assert len(report.notes) == 1 and "no answer in 0.3 s" in report.notes[0].reason


def test_off_by_default_no_llm_calls(make, ollama: FakeOllama, tmp_path: Path) -> None:
    assert Settings().ingest.describe == "off"
    services = make(ollama.url, describe="off")
    report = ingest_paths(services, [_pictures(tmp_path / "pics")])
    assert report.written == 2 and not report.notes
    assert not ollama.requests
    assert not any(keys.DESCRIPTION in p.payload for p in all_points(services.store))


@pytest.mark.parametrize(
    "llm",
    [{"backend": "extractive"}, {"backend": "llamacpp"}, {"backend": "ollama", "vision": "off"}],
)
def test_describe_without_a_vision_llm_is_refused_at_startup(llm: dict) -> None:
    with pytest.raises(ConfigError, match="MMRAG_INGEST__DESCRIBE=vision-llm needs a vision LLM"):
        load_settings(ingest={"describe": "vision-llm"}, llm=llm)


def test_a_scanned_page_without_text_and_its_figure_are_described(
    make, ollama: FakeOllama, tmp_path: Path
) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    scanned_pdf(folder / "scan.pdf", [["Harbour pump manual", "Chapter one."]])
    services = make(ollama.url)  # OCR off: the page has no text at all
    report = ingest_paths(services, [folder])
    assert not report.failures and not report.notes
    described = {
        p.payload[keys.KIND]
        for p in all_points(services.store)
        if p.payload.get(keys.DESCRIPTION) == DESCRIPTION
    }
    assert described == {"page", "figure"}
    hits = services.retriever.search(Query(text="Quillhaven", signals=("lexical",), top_k=3)).hits
    assert hits and hits[0].payload[keys.PAGE] == 1
