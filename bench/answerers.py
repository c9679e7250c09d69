"""Which offline answerer writes better grounded answers: the extractive backend or the embedded
model (SmolLM2-135M through llama.cpp), on a small grounded question set with expected answers.

The set: the demo's document question and its siblings (which shelf holds what, from the pages
of ``mmrag demo``'s shape-warehouse PDF) and questions about a real document (the paragraphs of
``docs/ingest.md``). Retrieval is held fixed: each question's context is its answering passage
among three others, in a fixed order, so only the answerer differs. Reports, per backend:

- correct: the answer holds every expected word and none of the wrong ones (another shelf);
  an answer that cites nothing is wrong;
- cited: the answer cites the answering block ``[n]``;
- clean: no context markup and no cut for repetition;
- p50 seconds per answer.

    python -m bench.answerers            # both backends
    python -m bench.answerers --backends extractive
"""

from __future__ import annotations

import argparse
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag import payload as keys
from rag.answer import Answerer
from rag.citations import cited_numbers
from rag.config import LLMSettings
from rag.demo.collection import sample_scenes
from rag.demo.document import SHELVES
from rag.llm import ExtractiveChatModel, LlamaCppChatModel
from rag.llm.base import ChatModel
from rag.retrieval.types import Hit, Query, Scores, SearchResult

DOCS = Path(__file__).resolve().parents[1] / "docs" / "ingest.md"
PRUNE_QUESTION = (
    "What happens to an old point when a manifest line without an id changes its text and "
    "--prune is given?"
)
MARKUP = re.compile(r"‹/?context|<context|^source:|^picture:", re.M)


@dataclass(frozen=True)
class Grounded:
    """A question, its context passages (``answer`` is the 1-based block that answers it) and
    the words a correct answer holds (lowercase)."""

    question: str
    passages: tuple[str, ...]
    answer: int
    expected: tuple[str, ...]
    unexpected: tuple[str, ...] = ()
    """Words a correct answer does not hold (another shelf)."""


def demo_questions() -> list[Grounded]:
    """Which shelf holds what: the pages of the demo's shape-warehouse PDF (as its text)."""
    scenes = sample_scenes(len(SHELVES), 7)
    pages = tuple(
        f"Shelf {shelf} of the shape warehouse holds {scene.caption()}. Everything on shelf "
        f"{shelf} is counted every Monday morning."
        for shelf, scene in zip(SHELVES, scenes, strict=True)
    )
    return [
        Grounded(
            f"Which shelf holds {scene.caption()}?",
            pages,
            n,
            (f"shelf {shelf.lower()}",),
            tuple(f"shelf {other.lower()}" for other in SHELVES if other != shelf),
        )
        for n, (shelf, scene) in enumerate(zip(SHELVES, scenes, strict=True), start=1)
    ]


def document_questions() -> list[Grounded]:
    """Questions about ``docs/ingest.md``, each over its answering paragraph and three others."""
    paragraphs = [p for p in DOCS.read_text(encoding="utf-8").split("\n\n") if len(p) > 80]

    def find(start: str) -> str:
        return next(p for p in paragraphs if p.lstrip().startswith(start))

    asked = [
        ("Which image file types does a folder ingest read?", "**Folder.**", ("jpg", "png")),
        ("What is the default ingest policy?", "The payload stores", ("skip",)),
        ("How is a point id derived?", "Identity has one home", ("uuidv5",)),
        (PRUNE_QUESTION, "So a folder item keeps", ("remov",)),
        ("Which file is a manifest?", "`PATH` is a folder", ("jsonl", "csv")),
    ]
    out = []
    for n, (question, start, expected) in enumerate(asked):
        answer = find(start)
        others = [p for p in paragraphs if p is not answer][n : n + 3]
        position = n % 4
        passages = (*others[:position], answer, *others[position:])
        out.append(Grounded(question, tuple(passages), position + 1, expected))
    return out


class FixedContext:
    """A searcher that finds the question's passages, in order (retrieval held fixed)."""

    def __init__(self) -> None:
        self.passages: Sequence[str] = ()

    def search(self, query: Query) -> SearchResult:
        hits = [
            Hit(str(uuid.uuid5(uuid.NAMESPACE_URL, text)),
                {keys.TEXT: text, keys.SOURCE: f"passage-{n}.txt", keys.HAS_TEXT: True,
                 keys.HAS_IMAGE: False},
                Scores(None, 1.0 - n / 10, 1.0 - n / 10))
            for n, text in enumerate(self.passages)
        ]  # fmt: skip
        return SearchResult(hits)


def score(answerer: Answerer, context: FixedContext, item: Grounded) -> dict[str, float]:
    context.passages = item.passages
    began = time.perf_counter()
    answer = answerer.answer(Query(text=item.question, top_k=len(item.passages)))
    seconds = time.perf_counter() - began
    text = answer.text.lower()
    correct = (
        all(word in text for word in item.expected)
        and not any(word in text for word in item.unexpected)
        and answer.grounded
    )
    cited = item.answer in cited_numbers(answer.text, len(item.passages))
    clean = not answer.cut and not MARKUP.search(answer.text)
    return {"correct": float(correct), "cited": float(cited), "clean": float(clean),
            "seconds": seconds}  # fmt: skip


def models(names: Sequence[str], settings: LLMSettings) -> dict[str, ChatModel]:
    out: dict[str, ChatModel] = {}
    for name in names:
        if name == "extractive":
            out[name] = ExtractiveChatModel()
        elif name == "llamacpp":
            out[name] = LlamaCppChatModel.from_settings(settings)
        else:
            raise SystemExit(f"unknown backend {name!r}: use extractive, llamacpp")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default="extractive,llamacpp", help="comma-separated")
    parser.add_argument("--max-tokens", type=int, default=96)
    args = parser.parse_args()
    settings = LLMSettings(backend="llamacpp", max_tokens=args.max_tokens, temperature=0.0)
    questions = demo_questions() + document_questions()
    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    context = FixedContext()
    print(f"{len(questions)} grounded questions ({len(demo_questions())} demo, "
          f"{len(document_questions())} about docs/ingest.md), 4 passages each")  # fmt: skip
    print(f"{'backend':12} {'correct':>8} {'cited':>8} {'clean':>8} {'p50 s':>8}")
    for name, model in models(names, settings).items():
        answerer = Answerer(context, model, settings)
        rows = [score(answerer, context, item) for item in questions]
        mean = {k: float(np.mean([r[k] for r in rows])) for k in ("correct", "cited", "clean")}
        p50 = float(np.median([r["seconds"] for r in rows]))
        print(f"{name:12} {mean['correct']:8.2f} {mean['cited']:8.2f} {mean['clean']:8.2f} "
              f"{p50:8.2f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
