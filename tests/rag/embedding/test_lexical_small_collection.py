"""The lexical signal on a small collection, as a new user meets it: 40 fault-code texts and 4
plain passages in embedded Qdrant Edge, the real all-MiniLM-L6-v2 passage model, the default
fusion. Questions in plain words must find their plain passage first with ``passage,lexical``:
a match on stop words alone, or on a word born from splitting a code, must not carry a hit."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest

from ingest.runner import ingest_paths
from rag import payload as keys
from rag.config import Settings
from rag.embedding.tiny import tiny_clip_settings
from rag.retrieval.types import Hit, Query
from rag.services import Services

pytestmark = pytest.mark.slow

_COMPONENTS = ["pressure sensor", "coolant pump", "door latch", "fan motor", "heating element"]
_STATES = ["reads out of range", "draws too much current", "does not respond", "stays open"]


def _codes() -> list[str]:
    rng = random.Random(29)
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    codes = [
        f"{rng.choice(letters)}{rng.choice(letters)}-{rng.randrange(1000, 9999)}" for _ in range(40)
    ]
    codes[17] = "GO-4471"  # as a random code may come out: its first part reads as a word
    return codes


CODES = _codes()
FAULTS = [
    (
        f"fault-{i}",
        f"Fault {code}: the {_COMPONENTS[i % 5]} {_STATES[i % 4]}. "
        "Switch off the unit and call service.",
    )
    for i, code in enumerate(CODES)
]
PLAIN = [
    ("arctic", "Polar bears, walruses and snowy owls survive long polar winters on sea ice."),
    ("weather", "Forecasters expect heavy showers and cold wind over the hills by Saturday."),
    ("bread", "Knead dough for ten minutes, let the dough rise, then bake at high heat."),
    ("bridge", "Engineers opened a suspension bridge across a wide river during 1937."),
]


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    folder = tmp_path_factory.mktemp("small-collection")
    manifest = folder / "texts.jsonl"
    rows = [{"id": key, "text": text} for key, text in FAULTS + PLAIN]
    manifest.write_text("\n".join(json.dumps(row) for row in rows))
    settings = Settings(
        data_dir=folder / "data",
        clip=tiny_clip_settings(),
        rerank={"model": "none"},
        llm={"backend": "extractive"},
    )
    services = Services(settings)
    report = ingest_paths(services, [manifest])
    assert report.written == len(rows) and not report.failures
    yield services
    services.close()


def search(services: Services, text: str, signals: tuple[str, ...]) -> list[Hit]:
    query = Query(text=text, signals=signals, top_k=5)  # type: ignore[arg-type]
    return services.retriever.search(query).hits


def first_id(hits: list[Hit]) -> str:
    return str(hits[0].payload.get(keys.EXTERNAL_ID))


def test_no_text_shares_a_word_of_the_questions_but_the() -> None:
    assert len(FAULTS) == 40 and len(set(CODES)) == 40
    for key, text in FAULTS + PLAIN:
        words = {word.strip(".:,").lower() for word in text.split()}
        assert words & {"which", "animals", "live", "in", "arctic"} == set(), key
        assert words & {"is", "it", "going", "to", "rain", "tomorrow"} == set(), key


def test_a_stop_word_shared_with_fault_texts_does_not_carry_them(services: Services) -> None:
    question = "Which animals live in the Arctic?"
    assert first_id(search(services, question, ("passage",))) == "arctic"
    hits = search(services, question, ("passage", "lexical"))
    assert first_id(hits) == "arctic", [h.payload[keys.EXTERNAL_ID] for h in hits]


def test_a_word_born_from_splitting_a_code_does_not_carry_a_fault_text(
    services: Services,
) -> None:
    question = "Is it going to rain tomorrow?"
    assert first_id(search(services, question, ("passage",))) == "weather"
    hits = search(services, question, ("passage", "lexical"))
    assert first_id(hits) == "weather", [
        (h.payload[keys.EXTERNAL_ID], h.scores.lexical) for h in hits
    ]


def test_stop_word_only_matches_score_zero(services: Services) -> None:
    hits = search(services, "Which animals live in the Arctic?", ("lexical", "passage"))
    faults = [h for h in hits if str(h.payload[keys.EXTERNAL_ID]).startswith("fault-")]
    assert faults and all(not h.scores.lexical for h in faults)


def test_a_question_of_stop_words_alone_matches_nothing_lexically(services: Services) -> None:
    assert search(services, "To be or not to be?", ("lexical",)) == []
    hits = search(services, "To be or not to be?", ("passage", "lexical"))
    assert hits and all(not h.scores.lexical for h in hits)
