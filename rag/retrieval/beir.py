"""Test sets in the BEIR format, and the metrics BEIR reports: nDCG@10, MRR@10, Recall@100.

A set is a folder::

    corpus.jsonl         {"_id": "d1", "title": "...", "text": "..."}   one document a line
    queries.jsonl        {"_id": "q1", "text": "..."}                  one query a line
    qrels/test.tsv       query-id <TAB> corpus-id <TAB> score          a header line, then rows

A pair with a score above 0 is relevant (relevance is binary here: BEIR's graded sets count
every positive grade alike). Queries without a relevant document are left out, as BEIR does.

Example::

    beir = load_beir(Path("sets/pydoc"))
    beir.queries[0].relevant  # frozenset({"d17"})
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import InvalidInputError
from rag.retrieval.evaluate import EvalQuery
from rag.retrieval.metrics import ndcg_at_k, recall_at_k, reciprocal_rank

BEIR_METRICS: tuple[str, ...] = ("ndcg@10", "mrr@10", "recall@100")
BEIR_DEPTH = 100
"""How many hits each query ranks: Recall@100 needs the first 100."""
MAX_LINE_CHARS = 1_000_000


@dataclass(frozen=True)
class BeirDocument:
    id: str
    title: str
    text: str

    @property
    def body(self) -> str:
        """Title and text as one passage (the title first, as BEIR's dense baselines read it)."""
        return f"{self.title}\n\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class BeirSet:
    """A loaded set: its name (the folder's), the corpus and the labelled queries."""

    name: str
    corpus: list[BeirDocument]
    queries: list[EvalQuery]


def beir_metrics(ranked: Sequence[str], relevant: Collection[str]) -> dict[str, float]:
    """nDCG@10, MRR@10 and Recall@100 of one query (binary relevance)."""
    return {
        "ndcg@10": ndcg_at_k(ranked, relevant, 10),
        "mrr@10": reciprocal_rank(list(dict.fromkeys(ranked))[:10], relevant),
        "recall@100": recall_at_k(ranked, relevant, 100),
    }


def is_beir_folder(path: Path) -> bool:
    return path.is_dir() and (path / "corpus.jsonl").is_file()


def load_beir(folder: Path, split: str = "test") -> BeirSet:
    """Read a BEIR folder (see the module docstring); errors name the file and line to fix."""
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for path in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not path.is_file():
            raise InvalidInputError(
                f"{path} is missing: a BEIR set has corpus.jsonl, "
                f"queries.jsonl and qrels/{split}.tsv"
            )
    corpus = [_document(row, where) for row, where in _jsonl(folder / "corpus.jsonl")]
    texts = {
        _text(row, "_id", where): _text(row, "text", where)
        for row, where in _jsonl(folder / "queries.jsonl")
    }
    qrels = _qrels(qrels_path, {doc.id for doc in corpus}, set(texts))
    queries = [EvalQuery(frozenset(qrels[qid]), texts[qid]) for qid in texts if qrels.get(qid)]
    if not queries:
        raise InvalidInputError(f"{qrels_path} labels no query of {folder / 'queries.jsonl'}")
    return BeirSet(folder.name, corpus, queries)


def _document(row: dict[str, object], where: str) -> BeirDocument:
    return BeirDocument(
        _text(row, "_id", where), str(row.get("title") or ""), _text(row, "text", where)
    )


def _jsonl(path: Path) -> Iterator[tuple[dict[str, object], str]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            where = f"{path}:{number}"
            if len(line) > MAX_LINE_CHARS:
                raise InvalidInputError(f"{where}: a line of over {MAX_LINE_CHARS} characters")
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"{where}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise InvalidInputError(f"{where}: write one JSON object a line")
            yield row, where


def _text(row: dict[str, object], key: str, where: str) -> str:
    value = row.get(key)
    if not isinstance(value, str | int) or not str(value).strip():
        raise InvalidInputError(f'{where}: give "{key}" as a non-empty string')
    return str(value)


def _qrels(path: Path, documents: set[str], queries: set[str]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    with path.open(encoding="utf-8", newline="") as lines:
        for number, row in enumerate(csv.reader(lines, delimiter="\t"), start=1):
            if number == 1 and len(row) >= 3 and not _is_number(row[-1]):
                continue  # the header line
            where = f"{path}:{number}"
            if len(row) < 3 or not _is_number(row[-1]):
                raise InvalidInputError(f"{where}: write query-id, corpus-id, score (tabs)")
            query, document, score = row[0], row[-2], float(row[-1])
            if query not in queries or document not in documents:
                raise InvalidInputError(f"{where}: {query!r} or {document!r} is not in the set")
            if score > 0:
                out.setdefault(query, set()).add(document)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
