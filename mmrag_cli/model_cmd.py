"""``mmrag finetune``, ``mmrag classify``, ``mmrag moderate`` and ``mmrag quality``: work on the
CLIP model and its embedding space."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mmrag_cli import common

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.training import FinetuneReport, Pair


def register(app: typer.Typer) -> None:
    app.command("finetune")(finetune)
    app.command("classify")(classify)
    app.command("moderate")(moderate)
    app.command("quality")(quality)


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


def classify(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The picture.")],
    labels: Annotated[str, typer.Option(help="Comma-separated labels: cat,dog,car.")],
    template: Annotated[
        list[str] | None,
        typer.Option(
            help="Prompt template with {} (repeatable); default MMRAG_CLASSIFY__TEMPLATES."
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the ranking as JSON.")] = False,
) -> None:
    """Zero-shot classification: rank LABELS for IMAGE with probabilities."""
    from rag.classify import ZeroShotClassifier

    settings = common.settings_from_cli()
    with common.cli_errors():
        picture = _load_image(image, settings)
        names = [label.strip() for label in labels.split(",") if label.strip()]
        templates = template or settings.classify.templates
        result = _with_embedder(
            settings,
            lambda embedder: ZeroShotClassifier(
                embedder, templates, settings.classify.max_labels
            ).classify(picture, names),
        )
    if json_output:
        common.print_json({"model": result.model, "labels": [s.as_dict() for s in result.labels]})
        return
    for score in result.labels:
        typer.echo(f"{score.probability:7.3f}  {score.label}  (cosine {score.cosine:.3f})")


def moderate(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The picture.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check IMAGE against the unsafe and safe categories of MMRAG_MODERATION__*."""
    from rag.moderation import Moderator

    settings = common.settings_from_cli()
    with common.cli_errors():
        picture = _load_image(image, settings)
        result = _with_embedder(
            settings,
            lambda embedder: Moderator(
                embedder, settings.moderation, settings.classify.templates
            ).check(picture),
        )
    if json_output:
        common.print_json(result.as_dict())
        return
    verdict = "safe" if result.is_safe else "UNSAFE"
    unsafe = result.unsafe_probability
    typer.echo(f"{verdict} (confidence {result.confidence:.3f}, unsafe probability {unsafe:.3f})")
    for flag in result.flagged:
        typer.echo(f"flagged: {flag.category} ({flag.probability:.3f})")


def quality(
    collection: Annotated[str | None, typer.Option(help="Collection to inspect.")] = None,
    png: Annotated[
        Path | None, typer.Option(help="Where to write the 2-D projection (default: data dir).")
    ] = None,
    limit: Annotated[int, typer.Option(min=2, help="Items to read at most.")] = 5000,
    threshold: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Cosine from which two items are near-duplicates."),
    ] = 0.98,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Embedding quality of an ingested collection: a table of figures and a PNG projection."""
    from rag.quality import plot_projection, quality_report

    settings = common.settings_from_cli(**{"store.collection": collection})
    with common.cli_errors():
        items = _collection_vectors(settings, limit)
        report = quality_report(items, duplicate_threshold=threshold)
        target = png or settings.data_dir / f"quality-{settings.store.collection}.png"
        plot_projection(items, target)
    if json_output:
        common.print_json({**report.to_dict(), "png": str(target)})
        return
    _print_table(f"Embedding quality: {settings.store.collection}", report.rows())
    for dup in report.near_duplicates[:5]:
        typer.echo(f"near-duplicate {dup.modality}: {dup.a} ~ {dup.b} (cosine {dup.cosine:.3f})")
    typer.echo(f"projection written to {target}")


def _collection_vectors(settings: Settings, limit: int) -> list[Any]:
    from rag.errors import InvalidInputError, NotFoundError
    from rag.quality import collect_vectors
    from rag.store import open_store

    store = open_store(settings.store, settings.data_dir)
    try:
        if store.collection_dim() is None:
            raise NotFoundError(f"collection {store.collection!r} does not exist; ingest first")
        items = collect_vectors(store, limit)
    finally:
        store.close()
    if len(items) < 2:
        raise InvalidInputError(f"collection {settings.store.collection!r} has fewer than 2 items")
    return items


def _print_table(title: str, rows: list[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


def _load_image(path: Path, settings: Settings) -> Any:
    from ingest.images import decode_image
    from rag.errors import InvalidInputError

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from None
    return decode_image(data, settings.ingest.max_image_pixels).image


def _with_embedder(settings: Settings, run: Any) -> Any:
    from rag.embedding import load_embedder

    return run(load_embedder(settings.clip, settings.model_cache_dir))
