"""``mmrag finetune``: fine-tune the configured CLIP on image-text pairs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mmrag_cli import common

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.training import FinetuneReport, Pair


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)


def finetune(
    output: Annotated[Path, typer.Argument(help="Folder to write the fine-tuned model to.")],
    sources: Annotated[
        list[Path] | None,
        typer.Option(
            "--from",
            help="Folder or manifest of pairs (repeatable); default: the ingested collection.",
        ),
    ] = None,
    collection: Annotated[str | None, typer.Option(help="Collection to read pairs from.")] = None,
    steps: Annotated[
        int | None, typer.Option(min=1, help="Optimiser steps (overrides --epochs).")
    ] = None,
    epochs: Annotated[float, typer.Option(min=0.01, help="Passes over the training pairs.")] = 3.0,
    batch_size: Annotated[int, typer.Option(min=2, help="Pairs per micro-batch.")] = 32,
    accumulation: Annotated[
        int, typer.Option(min=1, help="Micro-batches per step (one contrastive batch).")
    ] = 1,
    lr: Annotated[float, typer.Option(min=0.0, help="Peak learning rate (AdamW).")] = 1e-5,
    weight_decay: Annotated[float, typer.Option(min=0.0)] = 0.1,
    warmup: Annotated[int, typer.Option(min=0, help="Linear warm-up steps.")] = 20,
    temperature: Annotated[
        float | None, typer.Option(min=0.001, help="Fixed temperature; default: learned.")
    ] = None,
    freeze: Annotated[
        list[str] | None,
        typer.Option(
            help="Parameter-name prefix to keep fixed (repeatable), "
            "e.g. visual. or token_embedding."
        ),
    ] = None,
    holdout: Annotated[
        float, typer.Option(min=0.0, help="Held-out share (<1) or count (>=1).")
    ] = 0.1,
    seed: Annotated[int, typer.Option()] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Fine-tune the configured CLIP on image-text pairs; print Recall@k before and after.

    Use the result with MMRAG_CLIP__PRETRAINED=OUTPUT (then re-ingest: the vectors change).
    """
    from rag.training import TrainConfig
    from rag.training import finetune as run_finetune

    settings = common.settings_from_cli(**{"store.collection": collection})
    with common.cli_errors():
        pairs = _pairs_from_paths(sources, settings) if sources else _pairs_from_store(settings)
        train_count = len(pairs) - _holdout_count(len(pairs), holdout)
        per_step = batch_size * accumulation
        config = TrainConfig(
            steps=steps or max(1, round(epochs * train_count / per_step)),
            batch_size=batch_size,
            accumulation=accumulation,
            lr=lr,
            weight_decay=weight_decay,
            warmup_steps=warmup,
            temperature=temperature,
            frozen=tuple(freeze or ()),
            seed=seed,
            device=settings.clip.device,
            progress=not json_output,
        )
        report = run_finetune(
            settings.clip, settings.model_cache_dir, pairs, output, config, holdout
        )
    if json_output:
        common.print_json(report.to_dict())
    else:
        _print_finetune(report)


def _holdout_count(total: int, holdout: float) -> int:
    count = int(holdout) if holdout >= 1 else round(total * holdout)
    return min(max(count, 2), max(total - 2, 0))


def _pairs_from_store(settings: Settings) -> list[Pair]:
    from rag.errors import NotFoundError
    from rag.store import open_store
    from rag.training import pairs_from_store

    store = open_store(settings.store, settings.data_dir)
    try:
        if store.collection_dim() is None:
            raise NotFoundError(
                f"collection {store.collection!r} does not exist: ingest pairs first "
                "(mmrag ingest PATH) or give --from PATH"
            )
        return pairs_from_store(store)
    finally:
        store.close()


def _pairs_from_paths(paths: list[Path], settings: Settings) -> list[Pair]:
    """Pairs from folders and manifests, read by the ingest sources (bad items are skipped)."""
    from ingest.items import SourceItem
    from ingest.reading import ItemReader
    from ingest.sources import open_source
    from rag.errors import InvalidInputError
    from rag.training import Pair

    reader = ItemReader(settings.store.collection, settings.ingest, lambda text: [text])
    pairs: list[Pair] = []
    for path in paths:
        for item in open_source(path).items:
            if not isinstance(item, SourceItem):
                continue
            try:
                read = reader.read(item)
            except InvalidInputError:
                continue
            if read.image_path is not None and read.text:
                pairs.append(Pair(read.image_path, read.text))
    return pairs


def _print_finetune(report: FinetuneReport) -> None:
    typer.echo(
        f"trained {report.steps} steps on {report.train_pairs} pairs in {report.seconds:.1f} s "
        f"(loss {report.first_loss:.3f} -> {report.last_loss:.3f}); "
        f"held-out pairs: {report.held_out_pairs}"
    )
    typer.echo(f"{'metric':10} {'before':>8} {'after':>8}")
    for name, before in report.before.items():
        typer.echo(f"{name:10} {before:8.3f} {report.after[name]:8.3f}")
    typer.echo(f"saved to {report.output}; use it with MMRAG_CLIP__PRETRAINED={report.output}")
