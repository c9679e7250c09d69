"""``mmrag search`` (text and/or an image, fused and reranked) and ``mmrag eval QUERIES.jsonl``
or ``mmrag eval BEIR_FOLDER``."""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mmrag_cli import common

if TYPE_CHECKING:
    from rag.retrieval.evaluate import EvalRow
    from rag.retrieval.types import SearchResult


class Fusion(StrEnum):
    rrf = "rrf"
    dbsf = "dbsf"
    weighted = "weighted"


class FairTarget(StrEnum):
    proportional = "proportional"
    equal = "equal"


def register(app: typer.Typer) -> None:
    app.command("search")(search)
    app.command("eval")(evaluate)


def search(
    text: Annotated[
        str | None, typer.Argument(help="What to look for (optional with --image).")
    ] = None,
    image: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="A picture to search with (alone or with text)."
        ),
    ] = None,
    signals: Annotated[
        str | None,
        typer.Option(
            help="Signals to search, e.g. passage,lexical (default: all the collection has)."
        ),
    ] = None,
    fusion: Annotated[
        Fusion | None, typer.Option(help="How to fuse the signals' candidates.")
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(help="Weights per signal for rrf/weighted: image=0.2,passage=0.5,lexical=1."),
    ] = None,
    top_k: Annotated[int | None, typer.Option(min=1, help="How many hits to show.")] = None,
    rerank: Annotated[
        bool | None, typer.Option("--rerank/--no-rerank", help="Force the reranker on or off.")
    ] = None,
    filters: Annotated[
        list[str] | None,
        typer.Option(
            "--filter", help="Payload filter, repeatable: key=value, key>=n, key<=n, key=a|b."
        ),
    ] = None,
    diversity: Annotated[
        str | None,
        typer.Option(
            help="Spread the hits: mmr, mmr:0.7 (lambda; 1 is the plain ranking), collapse "
            "(best hit per document), collapse:page, collapse:metadata.camera."
        ),
    ] = None,
    fair_by: Annotated[
        str | None,
        typer.Option(help="Group-fair exposure by this payload field, e.g. metadata.group."),
    ] = None,
    fair_target: Annotated[
        FairTarget, typer.Option(help="--fair-by's target shares.")
    ] = FairTarget.proportional,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print hits, scores and timings as JSON.")
    ] = False,
) -> None:
    """Search the collection with words, a picture, or both; every hit shows its scores."""
    from api.queries import build_query
    from api.schemas.search import QueryIn
    from rag.retrieval.plan import parse_signals, parse_weights

    settings = common.settings_from_cli(**({"rerank.model": "none"} if rerank is False else {}))
    with common.cli_errors():
        options = QueryIn(
            signals=list(parse_signals(signals)) if signals is not None else None,
            fusion=fusion.value if fusion else None,
            weights=parse_weights(weights) if weights else None,
            top_k=top_k,
            filter=filters or None,
            rerank=rerank,
            diversity=diversity,
            fair_by=fair_by,
            fair_target=fair_target.value,
        )
        query = build_query(settings, text, _open_image(image) if image else None, options)
        result = _with_services(settings, lambda services: services.retriever.search(query))
    if json_output:
        common.print_json(result_dict(result))
    else:
        _print_hits(result)


def evaluate(
    queries: Annotated[
        Path,
        typer.Argument(
            exists=True, help="JSON Lines of labelled queries, or a BEIR-format set's folder."
        ),
    ],
    fusion: Annotated[
        list[Fusion] | None, typer.Option(help="Fusion modes to compare (repeatable; default all).")
    ] = None,
    rerank: Annotated[
        bool | None,
        typer.Option(
            "--rerank/--no-rerank", help="Only with, or only without, the reranker (default both)."
        ),
    ] = None,
    signals: Annotated[
        str | None,
        typer.Option(help="Signals to compare, comma-separated (default: every signal on)."),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(help="Weights per signal for rrf/weighted: passage=0.5,lexical=1."),
    ] = None,
    compare: Annotated[
        list[str] | None,
        typer.Option(
            help="BEIR sets: a paired test of two rows on nDCG@10, e.g. rrf,passage or "
            "dbsf,rrf+rerank (repeatable; default: the default fusion against every other row)."
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Recall@1/5/10, MRR, nDCG@10 and latency for each signal alone and each fusion mode over
    all of them, with and without reranking.

    Each line of QUERIES: {"text": "...", "image": "path.jpg", "relevant": ["id", ...]} with
    point ids or external ids. A folder is a BEIR-format set (corpus.jsonl, queries.jsonl,
    qrels/test.tsv): its corpus is ingested into the collection beir_<folder name> (unchanged
    documents are skipped on later runs) and nDCG@10, MRR@10 and Recall@100 are reported, with
    paired significance tests (randomisation and t-test).

    A conversation set (lines with "history", "question" and "relevant") reports the
    follow-ups' Recall@k for each MMRAG_LLM__CONDENSE mode: off, rules and llm.
    """
    from rag.retrieval.evaluate import evaluate as run_eval
    from rag.retrieval.evaluate import load_queries

    settings = common.settings_from_cli(**({"rerank.model": "none"} if rerank is False else {}))
    modes = [mode.value for mode in fusion] if fusion else ["rrf", "dbsf", "weighted"]
    flags = (False, True) if rerank is None else (rerank,)
    chosen = [name.strip() for name in signals.split(",") if name.strip()] if signals else None
    from rag.retrieval.plan import parse_weights

    if queries.is_dir():
        from mmrag_cli import beir_cmd

        with common.cli_errors():
            asked = parse_weights(weights) if weights else None
            report = beir_cmd.run_beir(
                queries, settings, modes, flags, chosen, asked, compare or []
            )
        if json_output:
            common.print_json(report)
        else:
            beir_cmd.print_report(report)
        return
    from rag.retrieval.conversations import is_conversation_set

    if is_conversation_set(queries):
        _evaluate_conversations(queries, settings, chosen, json_output)
        return
    with common.cli_errors():
        asked = parse_weights(weights) if weights else None
        labelled = load_queries(queries)
        rows = _with_services(
            settings,
            lambda services: run_eval(
                services.retriever, labelled, modes, flags, chosen, weights=asked
            ),
        )
    if json_output:
        common.print_json({"queries": len(labelled), "results": [row.as_dict() for row in rows]})
    else:
        _print_metrics(rows, len(labelled), rerank_asked=rerank is not False)


def _with_services(settings: Any, run: Any) -> Any:
    from rag.services import Services

    services = Services(settings)
    try:
        return run(services)
    finally:
        services.close()


def _open_image(path: Path) -> Any:
    from PIL import Image

    from rag.errors import InvalidInputError

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except OSError as exc:
        raise InvalidInputError(f"cannot read image {path}: {exc}") from None


def result_dict(result: SearchResult) -> dict[str, Any]:
    """A search result as plain JSON: hits with id, scores and payload; timings in ms."""
    out = {
        "reranked": result.reranked,
        "timings_ms": {stage: round(s * 1000, 3) for stage, s in result.timings.items()},
        "hits": [
            {"id": hit.id, "scores": hit.scores.as_dict(), "payload": hit.payload}
            | ({"folded": hit.folded} if hit.folded else {})
            for hit in result.hits
        ],
    }
    if result.fairness is not None:
        out["fairness"] = asdict(result.fairness)
    return out


def _fmt(value: float | None) -> str:
    return "    -" if value is None else f"{value:5.3f}"


def _print_hits(result: SearchResult) -> None:
    if not result.hits:
        typer.echo("no hits")
        return
    typer.echo(" #  fused  image   text passage lexical  rerank  id        source / text")
    for rank, hit in enumerate(result.hits, start=1):
        s = hit.scores
        snippet = (hit.passage_text or "").replace("\n", " ")[:60]
        fused = f"{s.fused:6.4f}" if abs(s.fused) < 10 else f"{s.fused:6.2f}"
        lexical = "      -" if s.lexical is None else f"{s.lexical:7.3f}"
        typer.echo(
            f"{rank:2d} {fused} {_fmt(s.image)} {_fmt(s.text)}   {_fmt(s.passage)} {lexical}  "
            f"{_fmt(s.rerank)}  {hit.id[:8]}  {hit.source or '-'}  {snippet}"
            + (f"  (+{hit.folded} folded)" if hit.folded else "")
        )
    if result.fairness is not None:
        fair = result.fairness
        shares = ", ".join(f"{group} {n}" for group, n in fair.shares.items())
        typer.echo(
            f"fair by {fair.field} ({fair.target}): {shares}; fused score loss "
            f"{fair.fused_loss:.4f} ({fair.fused_loss_ratio:.1%})"
        )
    timings = ", ".join(f"{stage} {s * 1000:.1f} ms" for stage, s in result.timings.items())
    typer.echo(f"({'reranked; ' if result.reranked else ''}{timings})")


def _evaluate_conversations(
    path: Path, settings: Any, signals: list[str] | None, json_output: bool
) -> None:
    """``mmrag eval`` of a conversation set: one row per condense mode."""
    from rag.retrieval.conversations import evaluate_conversations, load_conversations
    from rag.retrieval.plan import parse_signals

    with common.cli_errors():
        conversations = load_conversations(path)
        chosen = parse_signals(signals) if signals else None
        rows = _with_services(
            settings,
            lambda services: evaluate_conversations(
                services.retriever, services.chat_model, conversations, signals=chosen
            ),
        )
    if json_output:
        common.print_json(
            {"follow_ups": len(conversations), "results": [row.as_dict() for row in rows]}
        )
        return
    names = list(rows[0].metrics) if rows else []
    typer.echo(f"{len(conversations)} follow-ups; latency: mean ms per follow-up")
    typer.echo(f"{'condense':9} {' '.join(f'{n:>9}' for n in names)} {'ms':>9}  searched with")
    for row in rows:
        values = " ".join(f"{row.metrics[name]:9.3f}" for name in names)
        how = ", ".join(f"{method} {count}" for method, count in row.methods.items())
        typer.echo(f"{row.mode:9} {values} {row.latency_ms:9.1f}  {how}")


def _print_metrics(rows: list[EvalRow], count: int, rerank_asked: bool) -> None:
    names = list(rows[0].metrics) if rows else []
    stages = list(dict.fromkeys(stage for row in rows for stage in row.latency_ms))
    typer.echo(f"{count} queries; latency: mean ms per query and stage")
    header = " ".join(f"{name:>9}" for name in [*names, *stages])
    typer.echo(f"{'signal/fusion':14} {'rerank':6} {header}")
    for row in rows:
        values = [f"{row.metrics[name]:9.3f}" for name in names]
        values += [f"{row.latency_ms.get(stage, 0.0):9.1f}" for stage in stages]
        typer.echo(f"{row.label:14} {'yes' if row.rerank else 'no':6} {' '.join(values)}")
    if rerank_asked and not any(row.rerank for row in rows):
        typer.echo("(no reranker loaded: set MMRAG_RERANK__MODEL to rerank; see the log)")
