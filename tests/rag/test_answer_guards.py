"""What a user reads is an answer: the prompt's context markup never reaches them, a looping
answer is cut with a note (the guards alone, a degenerate stream from the OpenAI wire-format
fake, and the demo's document question answered by the real SmolLM2)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from rag import payload as keys
from rag.answer import ANSWER_STOPS, REPEAT_PENALTY, Answerer, FinalEvent, TokenEvent
from rag.answer_guards import CUT_NOTE, ContextEchoFilter, RepetitionGuard
from rag.config import LLMSettings
from rag.demo.collection import sample_scenes
from rag.demo.document import ANSWER_PAGE, SHELVES, TITLE
from rag.llm import LlamaCppChatModel, OpenAIChatModel
from rag.retrieval.types import Hit, Query, Scores, SearchResult
from tests.fakes.openai_server import FakeOpenAI
from tests.rag.test_answer_e2e import Recording

ECHO = (
    'Shelf C holds them [1].\n‹context n="4">\nsource: shape-warehouse.pdf\n'
    "document: Shape warehouse guide, page 3\npicture: yes, 600x800, image/png\ntext:\n"
    'It is on shelf C.‹/context>\nSources: none.\n<context n="2"> Done.'
)
MARKUP = re.compile(r"[<‹]/?context|^\s*(source|picture|document|text)\s*:", re.I | re.M)


def splits(text: str) -> Iterator[list[str]]:
    """``text`` cut into pieces of 1, 2, 3, 5 and 7 characters, and whole."""
    for size in (1, 2, 3, 5, 7, len(text)):
        yield [text[i : i + size] for i in range(0, len(text), size)]


def echo_filtered(pieces: list[str]) -> str:
    echo = ContextEchoFilter()
    return "".join(echo.feed(p) for p in pieces) + echo.flush()


def test_context_markup_is_dropped_wherever_the_stream_was_split() -> None:
    outputs = {echo_filtered(pieces) for pieces in splits(ECHO)}
    assert outputs == {"Shelf C holds them [1].\nIt is on shelf C.\nSources: none.\n Done."}


def test_ordinary_text_passes_the_echo_filter_unchanged() -> None:
    text = "The text says: shelf C [1].\nA < B and 3 > 2.\n- textile\n"
    assert {echo_filtered(pieces) for pieces in splits(text)} == {text}


def guarded(pieces: list[str]) -> tuple[str, bool]:
    loop = RepetitionGuard()
    out = []
    for piece in pieces:
        out.append(loop.feed(piece))
        if loop.stopped:
            return "".join(out), True
    return "".join(out) + loop.flush(), loop.stopped


def test_a_repeated_line_is_cut_before_it_shows() -> None:
    text = "Shelf C holds them [1].\nShelf C\n" + "Shelf C [2]\n" * 60
    for pieces in splits(text):
        assert guarded(pieces) == ("Shelf C holds them [1].\nShelf C\n", True)


def test_words_running_in_a_loop_are_cut() -> None:
    text = "It is shelf C [1]. " + "The file name is matched against the next file name. " * 5
    for pieces in splits(text):
        shown, stopped = guarded(pieces)
        assert stopped
        assert shown.count("The file name is matched") <= 2


def test_an_ordinary_answer_is_not_cut() -> None:
    text = "Shelf C [1].\n- a red square\n- a blue square\n- yes\n- yes\nThe end, the end."
    for pieces in splits(text):
        assert guarded(pieces) == (text, False)


class OneHit:
    """A retriever with one fixed hit (the wire-format fake is what is tested)."""

    def search(self, query: Query) -> SearchResult:
        hit = Hit("1", {keys.TEXT: "Shelf C holds squares."}, Scores(None, 1.0, 1.0, None))
        return SearchResult([hit], {})


def test_a_degenerate_stream_from_an_openai_server_is_cut_with_its_note() -> None:
    reply = "Shelf C [1].\n" + "Shelf C\n" * 60
    with FakeOpenAI(reply=reply) as server:
        model = OpenAIChatModel(server.url, "m")
        settings = LLMSettings(backend="openai", max_tokens=64)
        events = list(Answerer(OneHit(), model, settings).stream(Query(text="Which shelf?")))
        sent = server.requests[-1]
    answer = events[-1].answer
    assert isinstance(events[-1], FinalEvent)
    assert answer.text == "Shelf C [1].\n" + CUT_NOTE  # its second line repeats the first
    assert answer.cut and answer.generation()["cut"] is True
    assert "".join(e.text for e in events if isinstance(e, TokenEvent)) == answer.text
    assert sent["stop"] == list(ANSWER_STOPS)
    assert "repeat_penalty" not in sent  # not an OpenAI parameter


def test_the_llamacpp_request_carries_the_stops_and_the_repetition_penalty() -> None:
    from rag.answer import guarded as with_guards
    from rag.llm import GenerationOptions
    from rag.llm.llamacpp import _request

    request = _request([], with_guards(GenerationOptions()))
    assert request["stop"] == list(ANSWER_STOPS)
    assert request["repeat_penalty"] == REPEAT_PENALTY


# --- the demo's document question with the real SmolLM2 ----------------------------------------

TOP_K = 3
"""As ``mmrag demo`` asks its document question."""
DEMO_LLM = LLMSettings(backend="llamacpp", max_tokens=96, temperature=0.0, n_ctx=2048)


class DemoPages:
    """The sample PDF's four pages (their text, document and picture) as the demo's search ranks
    them for its question: the page that answers first, then the others."""

    def __init__(self) -> None:
        scenes = sample_scenes(len(SHELVES), 7)
        self.question = f"Which shelf holds {scenes[ANSWER_PAGE - 1].caption()}?"
        order = [ANSWER_PAGE, *(n for n in range(1, len(SHELVES) + 1) if n != ANSWER_PAGE)]
        hits = [self._page(n, SHELVES[n - 1], scenes[n - 1].caption()) for n in order]
        self.hits = hits[:TOP_K]

    @staticmethod
    def _page(n: int, shelf: str, caption: str) -> Hit:
        text = (
            f"Shelf {shelf}\nShelf {shelf} of the shape warehouse holds {caption}.\n"
            f"Everything on shelf {shelf} is counted every Monday morning.\n"
            f"Figure {n}: shelf {shelf} holds {caption}"
        )
        payload = {
            keys.TEXT: text, keys.SOURCE: "shape-warehouse.pdf", keys.HAS_IMAGE: True,
            keys.MIME: "image/png", keys.WIDTH: 600, keys.HEIGHT: 800, keys.KIND: "page",
            keys.PAGE: n, keys.DOCUMENT: {"id": "d", "title": TITLE, "source": "x.pdf"},
        }  # fmt: skip
        return Hit(f"page-{n}", payload, Scores(None, 0.5, 0.5, None))

    def search(self, query: Query) -> SearchResult:
        return SearchResult(list(self.hits), {})


class RawPieces(Recording):
    """Keeps the model's own pieces, before the answer's guards."""

    def __init__(self, model: LlamaCppChatModel) -> None:
        super().__init__(model)
        self.raw: list[str] = []

    def stream(self, messages, options, report=None):  # type: ignore[no-untyped-def]
        for piece in super().stream(messages, options, report):
            self.raw.append(piece)
            yield piece


@pytest.mark.llm
def test_smollm2_answers_the_demo_document_question_without_markup_or_repeated_lines() -> None:
    pages = DemoPages()
    shipped = LlamaCppChatModel.from_settings(DEMO_LLM)
    shipped.fast = False  # the GGUF's own Q4_1 weights echo the markup (the Q8_0 copy does not)
    model = RawPieces(shipped)
    answer = Answerer(pages, model, DEMO_LLM).answer(Query(text=pages.question))
    assert answer.context_size == TOP_K and answer.backend == "llamacpp"
    assert re.search(r"[<‹]context n=", "".join(model.raw))  # what the guards are for
    assert not MARKUP.search(answer.text), answer.text
    lines = [line.strip() for line in answer.text.removesuffix(CUT_NOTE).splitlines()]
    lines = [line for line in lines if line]
    assert lines and len(lines) == len(set(lines)), answer.text
