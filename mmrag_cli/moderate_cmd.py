"""``mmrag moderate``: is a picture safe? Zero-shot over the configured categories."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmrag_cli import common
from mmrag_cli.images import load_image


def register(app: typer.Typer) -> None:
    app.command("moderate")(moderate)


def moderate(
    image: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The picture.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the verdict as JSON.")] = False,
) -> None:
    """Check IMAGE against the unsafe and safe categories of MMRAG_MODERATION__*."""
    from rag.embedding import load_embedder
    from rag.moderation import Moderator

    settings = common.settings_from_cli()
    with common.cli_errors():
        picture = load_image(image, settings)
        embedder = load_embedder(settings.clip, settings.model_cache_dir)
        moderator = Moderator(embedder, settings.moderation, settings.classify.templates)
        result = moderator.check(picture)
    if json_output:
        common.print_json(result.as_dict())
        return
    verdict = "safe" if result.is_safe else "UNSAFE"
    unsafe = result.unsafe_probability
    typer.echo(f"{verdict} (confidence {result.confidence:.3f}, unsafe probability {unsafe:.3f})")
    for flag in result.flagged:
        typer.echo(f"flagged: {flag.category} ({flag.probability:.3f})")
