"""`recsys cache`: the stage cache of recipe runs (list, prune)."""

from __future__ import annotations

from typing import Annotated

import typer

from recsys_cli.cli.application import FormatOption, get_app, handles_errors
from recsys_cli.cli.output import Result, Table

app = typer.Typer(help="The stage cache of recipe runs: list, prune.", no_args_is_help=True)


@app.command("list")
@handles_errors
def list_command(ctx: typer.Context, fmt: FormatOption = None) -> None:
    """List every cached stage: its key, recipe run, outputs, size, and whether it is still complete."""
    from recsys_cli.pipeline.cache import list_entries

    entries = list_entries(get_app(ctx).workspace)
    rows = [
        [
            e.record.key[:12],
            e.record.stage,
            e.record.recipe_run,
            "complete" if e.complete else "stale",
            ", ".join(o.ref for o in e.record.outputs),
            round(e.bytes / 1e6, 2),
            round(e.record.seconds, 2),
            e.record.created_at,
        ]
        for e in entries
    ]
    document = [e.record.to_json() | {"complete": e.complete, "bytes": e.bytes} for e in entries]
    table = Table(
        ["key", "stage", "recipe run", "state", "outputs", "MB", "seconds", "created"],
        rows,
        title=f"stage cache: {sum(e.complete for e in entries)} complete, {sum(not e.complete for e in entries)} stale",
        name="cache",
    )
    get_app(ctx).emit(Result(document, [table]), fmt)


@app.command("prune")
@handles_errors
def prune_command(
    ctx: typer.Context,
    everything: Annotated[bool, typer.Option("--all", help="Forget every cached stage, not only stale ones.")] = False,
    fmt: FormatOption = None,
) -> None:
    """Delete stale stage records (their outputs were replaced or removed); --all forgets every stage, so
    the next recipe run recomputes them. Datasets, splits and runs stay (remove those with their own commands)."""
    from recsys_cli.pipeline.cache import prune
    from recsys_cli.pipeline.runner import pipeline_lock

    application = get_app(ctx)
    workspace = application.workspace
    removed = []
    if workspace.exists():  # nothing to prune, and no workspace to create
        with pipeline_lock(workspace, "cache prune", application.reporter()):
            removed = prune(workspace, everything=everything)
    document = {"removed": [r.to_json() for r in removed]}
    table = Table(
        ["key", "stage", "recipe run"],
        [[r.key[:12], r.stage, r.recipe_run] for r in removed],
        title=f"removed {len(removed)} stage record(s)",
        name="removed",
    )
    application.emit(Result(document, [table]), fmt)
