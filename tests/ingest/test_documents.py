"""Documents into pages, figures and passages: PDF, DOCX, PPTX, HTML and Markdown made here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.documents import office_pages
from ingest.runner import ingest_paths
from rag import payload as keys
from rag.identity import document_points
from rag.retrieval.types import Query
from rag.services import Services
from tests.ingest.checks import all_points
from tests.ingest.conftest import ServicesFactory
from tests.ingest.documents_draw import (
    FIGURE_CAPTIONS,
    PAGE_FACTS,
    png_bytes,
    write_docx,
    write_pdf,
    write_pptx,
)

TEXT_ONLY = {"text": 1.0, "image": 0.0}


@pytest.fixture
def services(make_services: ServicesFactory) -> Services:
    """Small page renders keep these tests quick."""
    return make_services(render_pixels=200_000)


def _by_kind(services: Services) -> dict[str, list]:
    found: dict[str, list] = {}
    for point in all_points(services.store):
        found.setdefault(point.payload[keys.KIND], []).append(point)
    return found


def test_pdf_becomes_pages_figures_and_passages(services: Services, folder: Path) -> None:
    write_pdf(folder / "manual.pdf")
    report = ingest_paths(services, [folder])
    assert (report.documents, report.failed, report.notes) == (1, 0, [])
    kinds = _by_kind(services)
    assert sorted(p.payload[keys.PAGE] for p in kinds["page"]) == [1, 2, 3, 4]
    assert sorted(p.payload[keys.PAGE] for p in kinds["figure"]) == sorted(FIGURE_CAPTIONS)
    for page in kinds["page"]:
        number = page.payload[keys.PAGE]
        assert PAGE_FACTS[number] in page.payload[keys.TEXT]
        assert set(page.vectors) == {"image"} and Path(page.payload[keys.IMAGE_PATH]).is_file()
        assert page.payload[keys.DOCUMENT]["title"] == "Aurora manual"
        assert page.payload[keys.DOCUMENT]["pages"] == 4
    for figure in kinds["figure"]:
        caption = FIGURE_CAPTIONS[figure.payload[keys.PAGE]]
        assert figure.payload[keys.TEXT].startswith(caption)
        assert "Aurora manual" in figure.payload[keys.TEXT]
        assert {"image", "text"} <= set(figure.vectors)  # (+ the text signals, where configured)
        assert figure.payload[keys.FIGURE] == 0 and len(figure.payload[keys.BBOX]) == 4
    renders = {p.payload[keys.PAGE]: p.payload[keys.IMAGE_PATH] for p in kinds["page"]}
    for passage in kinds["passage"]:
        assert "text" in passage.vectors and "image" not in passage.vectors
        assert not passage.payload[keys.HAS_IMAGE]
        assert passage.payload[keys.IMAGE_PATH] == renders[passage.payload[keys.PAGE]]
    ids = {p.payload[keys.DOCUMENT]["id"] for kind in kinds.values() for p in kind}
    assert len(ids) == 1
    assert len(list(document_points(services.store, ids.pop()))) == report.points_written


def test_a_sentence_from_page_3_is_answered_citing_page_3(services: Services, folder: Path) -> None:
    write_pdf(folder / "manual.pdf")
    ingest_paths(services, [folder])
    question = f"Section 3: Aurora manual {PAGE_FACTS[3]}"
    answer = services.answerer.answer(Query(text=question, weights=TEXT_ONLY, fusion="weighted"))
    top = answer.citations[0]
    assert (top.page, top.document["title"], top.has_picture) == (3, "Aurora manual", True)
    assert "230 volts" in answer.text
    render = services.store.get([top.id])[0].payload[keys.IMAGE_PATH]
    assert "page 3" in answer.hits[0].payload[keys.TEXT] or render


def test_a_figure_caption_finds_the_figure(services: Services, folder: Path) -> None:
    write_pdf(folder / "manual.pdf")
    ingest_paths(services, [folder])
    for page, caption in FIGURE_CAPTIONS.items():
        query = Query(text=caption, weights=TEXT_ONLY, fusion="weighted", top_k=3)
        hits = services.retriever.search(query).hits
        figures = [h for h in hits if h.payload[keys.KIND] == "figure"]
        assert figures and figures[0].payload[keys.PAGE] == page


def test_second_run_writes_nothing(services: Services, folder: Path) -> None:
    write_pdf(folder / "manual.pdf")
    first = ingest_paths(services, [folder])
    second = ingest_paths(services, [folder])
    assert first.written == first.seen > 0
    assert (second.written, second.unchanged, second.replaced) == (0, first.seen, 0)


def test_an_edited_page_rewrites_only_that_page(services: Services, folder: Path) -> None:
    write_pdf(folder / "manual.pdf")
    ingest_paths(services, [folder])
    before = {p.id: p.payload for p in all_points(services.store, with_vectors=False)}
    edited = {**PAGE_FACTS, 3: "The main pump now needs 400 volts after the 2024 refit."}
    write_pdf(folder / "manual.pdf", edited)
    report = ingest_paths(services, [folder])
    after = {p.id: p.payload for p in all_points(services.store, with_vectors=False)}
    changed = {i for i in after if after[i][keys.INGESTED_AT] != before.get(i, {}).get("x")}
    rewritten = {i for i in after if after[i][keys.CONTENT_HASH] != before[i][keys.CONTENT_HASH]}
    assert set(after) == set(before) and changed
    assert {after[i][keys.PAGE] for i in rewritten} == {3}
    assert report.written == len(rewritten) == 2  # the page and its passage
    assert report.unchanged == len(after) - 2


def test_a_shorter_version_deletes_the_points_it_no_longer_has(
    services: Services, folder: Path
) -> None:
    write_pdf(folder / "manual.pdf")
    ingest_paths(services, [folder])
    write_pdf(folder / "manual.pdf", {n: PAGE_FACTS[n] for n in (1, 2, 3)})
    report = ingest_paths(services, [folder])
    pages = {p.payload[keys.PAGE] for p in all_points(services.store, with_vectors=False)}
    assert pages == {1, 2, 3}
    assert report.replaced == 3  # page 4, its figure and its passage
    assert services.store.count() == report.seen


def test_prune_removes_a_document_that_is_gone(services: Services, folder: Path) -> None:
    write_pdf(folder / "manual.pdf")
    (folder / "notes.md").write_text("# Notes\n\nThe valve key hangs by the door.\n")
    ingest_paths(services, [folder])
    (folder / "manual.pdf").unlink()
    report = ingest_paths(services, [folder], prune=True)
    sources = {p.payload[keys.SOURCE] for p in all_points(services.store, with_vectors=False)}
    assert sources == {"notes.md"} and report.pruned > 0


def test_docx_headings_tables_pages_and_captioned_picture(services: Services, folder: Path) -> None:
    write_docx(folder / "handbook.docx")
    report = ingest_paths(services, [folder])
    assert report.failed == 0
    kinds = _by_kind(services)
    # Word pages are rendered only through LibreOffice (tests/ingest/test_office_pages.py)
    assert ("page" in kinds) == (office_pages.which("soffice") is not None)
    texts = {p.payload[keys.PAGE]: p.payload[keys.TEXT] for p in kinds["passage"]}
    assert "gas valve" in texts[1] and "burner assembly" in texts[2]
    (table,) = kinds["table"]
    assert table.payload[keys.PAGE] == 1
    assert table.payload[keys.TEXT].endswith("| Flange bolt | 45 Nm |")
    (figure,) = kinds["figure"]
    assert figure.payload[keys.PAGE] == 2
    assert figure.payload[keys.TEXT].startswith("Figure 3: Burner assembly seen from the left")
    assert figure.payload[keys.DOCUMENT]["title"] == "Boiler handbook"


def test_pptx_slides_notes_and_pictures(services: Services, folder: Path) -> None:
    write_pptx(folder / "results.pptx")
    ingest_paths(services, [folder])
    kinds = _by_kind(services)
    slide_one = " ".join(
        p.payload[keys.TEXT] for p in kinds["passage"] if p.payload[keys.PAGE] == 1
    )
    assert "14 percent" in slide_one and "Oslo office" in slide_one
    (figure,) = kinds["figure"]
    assert figure.payload[keys.PAGE] == 2
    assert figure.payload[keys.TEXT].startswith("Bar chart of sales by region")


def test_html_and_markdown_pictures_inside_the_root(services: Services, folder: Path) -> None:
    (folder / "pics").mkdir()
    (folder / "pics" / "press.png").write_bytes(png_bytes(3))
    (folder / "tour.html").write_text(
        "<html><head><title>Plant tour</title><script>var hidden = 1</script></head><body>"
        "<main><p>The press runs at 80 bar.</p><figure><img src='pics/press.png' alt='Press'>"
        "<figcaption>Figure 5: The hydraulic press</figcaption></figure>"
        "<img src='https://example.com/remote.png'></main></body></html>"
    )
    (folder / "notes.md").write_text(
        "# Field notes\n\nDeep well.\n\n![A dry well](pics/press.png)\n"
    )
    report = ingest_paths(services, [folder])
    assert (report.documents, report.failed, report.remote_images) == (2, 0, 1)
    figures = {p.payload[keys.SOURCE]: p.payload[keys.TEXT] for p in _by_kind(services)["figure"]}
    assert figures["tour.html"].startswith("Press — Figure 5: The hydraulic press")
    assert figures["notes.md"].startswith("A dry well")
    texts = " ".join(p.payload[keys.TEXT] for p in _by_kind(services)["passage"])
    assert "80 bar" in texts and "hidden" not in texts


def test_manifest_document_field(services: Services, folder: Path) -> None:
    write_docx(folder / "handbook.docx")
    manifest = folder / "list.jsonl"
    line = {"document": "handbook.docx", "id": "hb-1", "metadata": {"site": "north"}}
    manifest.write_text(json.dumps(line) + "\n")
    report = ingest_paths(services, [manifest])
    assert report.documents == 1 and report.failed == 0
    for point in all_points(services.store, with_vectors=False):
        assert point.payload[keys.EXTERNAL_ID] == "hb-1"
        assert point.payload[keys.METADATA] == {"site": "north"}


def test_long_pages_split_into_bounded_overlapping_passages(
    make_services: ServicesFactory, folder: Path
) -> None:
    services = make_services(passage_overlap=4, render_pixels=200_000)
    words = " ".join(f"word{i}" for i in range(400))
    (folder / "long.md").write_text(f"# Long\n\n{words}\n")
    ingest_paths(services, [folder])
    passages = sorted(
        (p.payload[keys.TEXT] for p in _by_kind(services)["passage"]),
        key=lambda t: int(t.split()[1][4:]) if t.startswith("Long") else int(t.split()[0][4:]),
    )
    model = getattr(services, "passage_encoder", None)  # the passage model bounds them, if any
    count, limit = (
        (model.count_tokens, model.max_tokens)
        if model is not None
        else (services.embedder.count_tokens, services.embedder.context_length)
    )
    assert len(passages) > 1 and max(count(passages)) <= limit
    assert passages[0].split()[-1] in passages[1].split()  # overlap
    assert "word399" in passages[-1]


class _WordEncoder:
    """Just what passage splitting asks of a passage model: a token limit and a counter."""

    model_id, dim, max_tokens = "words", 4, 12

    def count_tokens(self, texts: list[str]) -> list[int]:
        return [len(text.split()) + 2 for text in texts]


def test_a_passage_model_bounds_the_passages(services: Services, folder: Path) -> None:
    from ingest.documents.pictures import PictureStore
    from ingest.documents.reader import DocumentReader
    from ingest.items import SourceItem
    from ingest.pipeline import _passage_splitter

    path = folder / "notes.md"
    path.write_text("# Notes\n\n" + " ".join(f"w{i}" for i in range(50)))
    settings = services.settings.ingest.model_copy(update={"passage_overlap": 0})
    split = _passage_splitter(services.embedder, _WordEncoder(), settings)  # type: ignore[arg-type]
    reader = DocumentReader("c", settings, PictureStore(folder.parent / "pictures"), split)
    root = folder.resolve()
    item = SourceItem("notes.md", str(path), root=root, key_file=path, document_file=path)
    passages = [r.text or "" for r in reader.read(item).items if r.extra[keys.KIND] == "passage"]
    assert max(len(p.split()) for p in passages) == 10  # 12 tokens less start and end
    assert sum(len(p.split()) for p in passages) == 51  # "Notes", "w0".."w49", no overlap
