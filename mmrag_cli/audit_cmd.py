"""``mmrag audit bias`` (the bias audit of the loaded models on a labelled set or the collection)
and ``mmrag audit monitor`` (one scheduled-monitoring run: stored, alerts printed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mmrag_cli import common

if TYPE_CHECKING:
    from rag.audit.bias import BiasReport
    from rag.config import Settings

audit_app = typer.Typer(
    help="Bias audit of the models and the collection, and its monitoring.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


@audit_app.command("bias")
def bias(
    labelled: Annotated[
        Path | None,
        typer.Option(
            "--set",
            exists=True,
            dir_okay=False,
            help="Labelled set (.jsonl or .csv: image, text, label, group); "
            "default: a sample of the collection, grouped by MMRAG_AUDIT__GROUP_FIELD.",
        ),
    ] = None,
    group_field: Annotated[
        str | None, typer.Option(help="Column (set) or metadata key (collection) of the group.")
    ] = None,
    label_field: Annotated[
        str | None, typer.Option(help="Metadata key of the label (collection only).")
    ] = None,
    k: Annotated[int, typer.Option(min=1, max=100, help="Top-k of exposure and nDCG.")] = 5,
    word_sets: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="WEAT word sets (JSON); default built in."),
    ] = None,
    collection: Annotated[str | None, typer.Option(help="Collection to sample.")] = None,
    png: Annotated[
        Path | None, typer.Option(help="Where to write the chart (default: data dir).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Per-group zero-shot accuracy, exposure and nDCG, WEAT associations, and group gaps."""
    from rag.audit.chart import plot_bias

    settings = common.settings_from_cli(
        **{
            "store.collection": collection,
            "audit.group_field": group_field,
            "audit.label_field": label_field,
            "audit.word_sets": word_sets,
        }
    )
    with common.cli_errors():
        started = time.perf_counter()
        report = _run(settings, labelled, group_field or "group", k)
        report.seconds = time.perf_counter() - started
        name = labelled.stem if labelled else settings.store.collection
        target = plot_bias(report, png or settings.data_dir / f"audit-bias-{name}.png")
    if json_output:
        common.print_json({**report.to_dict(), "png": str(target)})
        return
    _print_table(f"Bias audit: {report.source}", report.rows())
    typer.echo(f"chart written to {target}")


@audit_app.command("monitor")
def monitor(
    collection: Annotated[str | None, typer.Option(help="Collection to sample.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the record as JSON.")] = False,
    fail_on_alert: Annotated[
        bool, typer.Option(help="Exit with status 1 when the run raised an alert (for cron).")
    ] = False,
) -> None:
    """One monitoring run over a sample of the collection (MMRAG_AUDIT__*): the record is added
    to <data_dir>/audit/monitor-<collection>.jsonl and alerts are printed and logged."""
    from rag.audit.monitor import Monitor
    from rag.services import Services

    settings = common.settings_from_cli(**{"store.collection": collection})
    services = Services(settings)
    with common.cli_errors():
        try:
            runner = Monitor(services, settings.audit)
            record = runner.run_once()
        finally:
            services.close()
    if json_output:
        common.print_json(record)
    else:
        _print_record(record, runner.path)
    if fail_on_alert and record["alerts"]:
        raise typer.Exit(1)


def _print_record(record: dict[str, Any], path: Path) -> None:
    gaps = ", ".join(f"{name} {value:.3f}" for name, value in record["gaps"].items()) or "-"
    typer.echo(f"sampled {record['sampled']} points, {record['items']} with group and label")
    typer.echo(f"gaps: {gaps}")
    for alert in record["alerts"]:
        typer.echo(
            f"ALERT {alert['kind']}: {alert['figure']} = {alert['value']:.3f} "
            f"(threshold {alert['threshold']})"
        )
    typer.echo(f"record added to {path}")


def _run(settings: Settings, labelled: Path | None, group_field: str, k: int) -> BiasReport:
    from rag.audit.bias import bias_audit, embed_labelled_set
    from rag.audit.labelled import load_labelled_set
    from rag.audit.monitor import audit_live, sample_collection, word_sets
    from rag.errors import InvalidInputError
    from rag.services import Services

    services = Services(settings)
    try:
        sets = word_sets(settings.audit)
        if labelled is not None:
            items = load_labelled_set(labelled, group_field)
            vectors = embed_labelled_set(
                items,
                labelled.absolute().parent,
                services.embedder,
                services.passage_encoder,
                str(labelled),
            )
            return bias_audit(
                vectors,
                services.embedder,
                services.passage_encoder,
                sets,
                k,
                settings.classify.templates,
            )
        audit = settings.audit
        if not audit.group_field or not audit.label_field:
            raise InvalidInputError(
                "give --set FILE, or --group-field and --label-field (metadata keys) to audit "
                "the collection (or set MMRAG_AUDIT__GROUP_FIELD and MMRAG_AUDIT__LABEL_FIELD)"
            )
        vectors, _ = sample_collection(
            services.store, audit.group_field, audit.label_field, audit.sample
        )
        return audit_live(vectors, services, sets, k)
    finally:
        services.close()


def _print_table(title: str, rows: list[tuple[str, str]]) -> None:
    """The rows as ``mmrag quality`` prints its own (group names shown as written, never as
    rich markup)."""
    from rich.markup import escape

    from mmrag_cli.quality_cmd import _print_table as quality_table

    quality_table(escape(title), [(escape(name), escape(value)) for name, value in rows])
