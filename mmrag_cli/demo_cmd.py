"""``mmrag demo`` (what ``make run`` runs): a model, a sample collection, a search, an answer,
then the API, with no download needed.

1. The CLIP model: the configured pretrained one when its weights load, else the offline demo
   model (trained on first use, cached under the data folder), said plainly.
2. The sample collection: synthetic pictures with descriptions in ``<data_dir>/sample``.
3. Ingest it (``ingest`` package) into the collection ``demo`` (``demo_offline`` with the
   offline model, whose vectors have another size).
4. A sample search and a sample answer, printed.
5. Serve the API (``--no-serve`` stops after 4).
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from mmrag_cli import common

if TYPE_CHECKING:
    from rag.config import Settings
    from rag.demo.collection import SampleItem
    from rag.demo.model import Budget as DemoBudget
    from rag.services import Services

COLLECTION = "demo"
OFFLINE_COLLECTION = "demo_offline"


class ModelChoice(StrEnum):
    auto = "auto"
    pretrained = "pretrained"
    offline = "offline"


class Budget(StrEnum):
    full = "full"
    test = "test"


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    serve: Annotated[
        bool, typer.Option("--serve/--no-serve", help="Serve the API after the sample answer.")
    ] = True,
    model: Annotated[
        ModelChoice | None,
        typer.Option(help="auto: pretrained CLIP if it loads, else the offline demo model."),
    ] = None,
    items: Annotated[
        int | None, typer.Option(min=10, help="Pictures in the sample collection.")
    ] = None,
    budget: Annotated[
        Budget, typer.Option(hidden=True, help="Training budget of the offline model.")
    ] = Budget.full,
) -> None:
    """Try mmrag without any download: sample collection, search, answer, then the API."""
    settings = common.settings_from_cli(
        **{"demo.model": model.value if model else None, "demo.items": items}
    )
    if settings.log_level != "DEBUG":
        logging.getLogger().addFilter(_only_root_errors)
    with common.cli_errors():
        settings = _with_model(settings, budget.value)
        services = _prepare(settings)
    try:
        if serve:
            _serve(services)
    finally:
        services.close()


def _only_root_errors(record: logging.LogRecord) -> bool:
    """open_clip logs its steps on the root logger (and a misleading "no pretrained weights"
    warning, weights load right after); keep the demo's output readable."""
    return record.levelno >= logging.ERROR


def _with_model(settings: Settings, budget: str) -> Settings:
    from rag.demo.choice import choose_demo_model

    typer.echo("[1/5] choosing the CLIP model ...")
    choice = choose_demo_model(settings, cast("DemoBudget", budget), notify=_say_offline)
    if not choice.offline:
        typer.echo(
            f"      using the pretrained CLIP {settings.clip.model}/{settings.clip.pretrained}"
        )
    collection = OFFLINE_COLLECTION if choice.offline else COLLECTION
    store = settings.store.model_copy(update={"collection": collection})
    return settings.model_copy(update={"clip": choice.clip, "store": store})


def _say_offline(reason: str, folder: Path, will_train: bool) -> None:
    typer.echo(
        "      Pretrained CLIP weights are not available, so this demo uses the OFFLINE DEMO "
        "MODEL:\n      a small CLIP trained from scratch on synthetic pictures of coloured "
        "shapes.\n      It understands colours, shapes, sizes, counts and positions, nothing "
        "else."
    )
    if reason:
        typer.echo(f"      (why: {reason.splitlines()[0][:300]})")
    if will_train:
        typer.echo(
            f"      Training it now, once (about 2-3 minutes on 2 CPU cores); cached in {folder}"
        )
    else:
        typer.echo(f"      Loading it from {folder}")


def _prepare(settings: Settings) -> Services:
    from rag.demo.collection import write_sample_collection
    from rag.services import Services

    folder = settings.data_dir / "sample"
    typer.echo(f"[2/5] writing {settings.demo.items} sample pictures to {folder} ...")
    items = write_sample_collection(folder, settings.demo.items, settings.demo.seed)
    services = Services(settings)
    try:
        _ingest(services, folder)
        example = _example(items)
        _sample_search(services, example)
        _sample_answer(services, example)
        _how_to_reuse(settings)
    except BaseException:
        services.close()
        raise
    return services


def _ingest(services: Services, folder: Path) -> None:
    from ingest.progress import terminal_progress
    from ingest.runner import ingest_paths

    typer.echo(f"[3/5] ingesting into the collection {services.settings.store.collection!r} ...")
    with terminal_progress() as progress:
        report = ingest_paths(services, [folder], prune=True, progress=progress)
    typer.echo(
        f"      written {report.written}, unchanged {report.unchanged}, failed {report.failed} "
        f"({report.elapsed_s:.1f} s)"
    )


def _example(items: list[SampleItem]) -> SampleItem:
    """A picture with a relation and several shapes: the most telling query."""
    for item in items:
        if item.scene.second is not None and item.scene.first.count > 1:
            return item
    return items[0]


def _sample_search(services: Services, example: SampleItem) -> None:
    from rag.retrieval.types import Query

    query = example.scene.caption()
    typer.echo(f"[4/5] sample search: {query!r}")
    result = services.retriever.search(Query(text=query, top_k=3))
    for rank, hit in enumerate(result.hits, start=1):
        mark = "  <- the picture described" if hit.payload.get("external_id") == example.id else ""
        caption = (hit.payload.get("metadata") or {}).get("caption", hit.text[:60])
        typer.echo(f"      {rank}. {hit.source}  fused {hit.scores.fused:.4f}  {caption}{mark}")


def _sample_answer(services: Services, example: SampleItem) -> None:
    from rag.retrieval.types import Query

    question = example.scene.questions()[1].capitalize()
    typer.echo(f"      sample question: {question!r}")
    answer = services.answerer.answer(Query(text=question, top_k=3))
    typer.echo(f"      answer ({answer.model}): {answer.text.strip()}")
    for citation in answer.citations[:3]:
        typer.echo(f"        [{citation.n}] {citation.source}")


def _how_to_reuse(settings: Settings) -> None:
    clip = settings.clip
    typer.echo(
        "      to search this collection later: "
        f"MMRAG_CLIP__MODEL={clip.model} MMRAG_CLIP__PRETRAINED={clip.pretrained} "
        f"MMRAG_STORE__COLLECTION={settings.store.collection} mmrag search 'a red circle'"
    )


def _serve(services: Services) -> None:
    import uvicorn

    from api.main import create_app

    api = services.settings.api
    typer.echo(
        f"[5/5] serving the API on http://{api.host}:{api.port} (docs at /docs; Ctrl+C stops)"
    )
    app = create_app(services.settings, services=services)
    uvicorn.run(app, host=api.host, port=api.port, log_level=services.settings.log_level.lower())
