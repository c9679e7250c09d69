"""``mmrag classify``: zero-shot classification of a picture over free-text labels."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmrag_cli import common
from mmrag_cli.images import load_image


def register(app: typer.Typer) -> None:
    app.command("classify")(classify)


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
    from rag.embedding import load_embedder

    settings = common.settings_from_cli()
    with common.cli_errors():
        picture = load_image(image, settings)
        names = [label.strip() for label in labels.split(",") if label.strip()]
        templates = template or settings.classify.templates
        embedder = load_embedder(settings.clip, settings.model_cache_dir)
        classifier = ZeroShotClassifier(embedder, templates, settings.classify.max_labels)
        result = classifier.classify(picture, names)
    if json_output:
        common.print_json({"model": result.model, "labels": [s.as_dict() for s in result.labels]})
        return
    for score in result.labels:
        typer.echo(f"{score.probability:7.3f}  {score.label}  (cosine {score.cosine:.3f})")
