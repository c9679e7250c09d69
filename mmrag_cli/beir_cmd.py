"""``mmrag eval FOLDER``: a BEIR-format set (corpus.jsonl, queries.jsonl, qrels/test.tsv) ingested
into its own collection, then nDCG@10, MRR@10 and Recall@100 of every signal alone and every fusion
mode, and paired significance tests between configurations."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

from rag.config import Settings
from rag.retrieval.beir import BEIR_DEPTH, BEIR_METRICS, BeirSet, beir_metrics, load_beir
from rag.retrieval.evaluate import EvalRow, evaluate
from rag.retrieval.significance import paired_test

PRIMARY = "ndcg@10"


def collection_for(name: str) -> str:
    """The collection a set is ingested into: ``beir_<name>``, cut to the name pattern."""
    return ("beir_" + re.sub(r"[^A-Za-z0-9_\-]", "_", name))[:64]


def beir_settings(settings: Settings, name: str) -> Settings:
    """``settings`` with the set's own collection and room for 100 hits a query."""
    data = settings.model_dump()
    data["store"]["collection"] = collection_for(name)
    data["retrieval"]["max_top_k"] = max(BEIR_DEPTH, settings.retrieval.max_top_k)
    return Settings(**data)


def ingest_set(services: Any, beir: BeirSet) -> int:
    """Write the corpus as a manifest beside the data (a stable path, so a second run finds every
    document unchanged) and ingest it; the number of documents written."""
    from ingest.runner import ingest_paths

    folder = Path(services.settings.data_dir) / "beir"
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / f"{collection_for(beir.name)}.jsonl"
    rows = (json.dumps({"id": doc.id, "text": doc.body}, ensure_ascii=False) for doc in beir.corpus)
    text = "\n".join(rows) + "\n"
    if not manifest.is_file() or manifest.read_text(encoding="utf-8") != text:
        manifest.write_text(text, encoding="utf-8")
    report = ingest_paths(services, [manifest])
    if report.failures:
        raise typer.BadParameter(
            f"{len(report.failures)} documents failed to ingest: {report.failures[0]}"
        )
    return int(report.written)


def run_beir(
    folder: Path,
    settings: Settings,
    modes: Sequence[str],
    flags: Sequence[bool],
    signals: Sequence[str] | None,
    weights: dict[str, float] | None,
    compare: Sequence[str],
) -> dict[str, Any]:
    """Ingest the set at ``folder``, evaluate, and test each ``A,B`` of ``compare``."""
    from rag.services import Services

    beir = load_beir(folder)
    services = Services(beir_settings(settings, beir.name))
    try:
        written = ingest_set(services, beir)
        rows = evaluate(
            services.retriever,
            beir.queries,
            modes,
            flags,
            signals,  # type: ignore[arg-type]
            metrics_of=beir_metrics,
            top_k=BEIR_DEPTH,
            weights=weights,
        )
    finally:
        services.close()
    pairs = [tuple(p.split(",", 1)) for p in compare] or default_pairs(rows, settings)
    return {
        "set": beir.name,
        "documents": len(beir.corpus),
        "written": written,
        "queries": len(beir.queries),
        "results": [row.as_dict() for row in rows],
        "paired": [compare_rows(rows, a.strip(), b.strip()) for a, b in pairs],
    }


def row_label(row: EvalRow) -> str:
    return row.label + ("+rerank" if row.rerank else "")


def default_pairs(rows: Sequence[EvalRow], settings: Settings) -> list[tuple[str, str]]:
    """The default fusion mode against each signal alone and each other mode (without rerank)."""
    labels = [row_label(row) for row in rows if not row.rerank]
    default = settings.retrieval.fusion
    if default not in labels:
        return []
    return [(default, other) for other in labels if other != default]


def compare_rows(rows: Sequence[EvalRow], a: str, b: str) -> dict[str, Any]:
    """A paired test of ``a`` against ``b`` (row labels, ``+rerank`` for reranked) on nDCG@10."""
    by_label = {row_label(row): row for row in rows}
    for label in (a, b):
        if label not in by_label:
            raise typer.BadParameter(
                f"--compare {a},{b}: no row {label!r}; rows: {', '.join(by_label)}"
            )
    first, second = by_label[a], by_label[b]
    result = paired_test(
        [m[PRIMARY] for m in first.per_query], [m[PRIMARY] for m in second.per_query]
    )
    return {"a": a, "b": b, "metric": PRIMARY, **result.as_dict()}


def print_report(report: dict[str, Any]) -> None:
    typer.echo(
        f"set {report['set']}: {report['documents']} documents ({report['written']} written now), "
        f"{report['queries']} queries"
    )
    typer.echo(f"{'signal/fusion':18} " + " ".join(f"{name:>10}" for name in BEIR_METRICS))
    for row in report["results"]:
        label = row["label"] + ("+rerank" if row["rerank"] else "")
        typer.echo(f"{label:18} " + " ".join(f"{row[name]:10.4f}" for name in BEIR_METRICS))
    for pair in report["paired"]:
        p_t = "-" if pair["p_t"] is None else f"{pair['p_t']:.4f}"
        typer.echo(
            f"{pair['a']} vs {pair['b']}: {pair['metric']} {pair['mean_difference']:+.4f}, "
            f"p (randomisation) {pair['p_randomisation']:.4f}, p (t-test) {p_t}"
        )
