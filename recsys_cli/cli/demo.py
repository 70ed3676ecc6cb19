"""`recsys demo`: the offline end-to-end run on synthetic data (no downloads)."""

from __future__ import annotations

from typing import Annotated

import typer

from recsys_cli.cli.application import FormatOption, get_app, handles_errors


@handles_errors
def demo_command(
    ctx: typer.Context,
    users: Annotated[int, typer.Option("--users", min=10, help="Synthetic users.")] = 2000,
    items: Annotated[int, typer.Option("--items", min=10, help="Synthetic items.")] = 1000,
    interactions: Annotated[int, typer.Option("--interactions", min=100, help="Synthetic interactions.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed for the synthetic data.")] = 42,
    force: Annotated[bool, typer.Option("--force", help="Run every stage again, ignoring the stage cache.")] = False,
    fmt: FormatOption = None,
) -> None:
    """Run the demo recipe (recipes/demo.toml) end to end on synthetic data, offline: ingest, split, three
    candidate generators, an Annoy index, a LambdaRank ranker and the two-stage evaluation. Uses the
    dataset 'demo' and the runs 'demo.*'; a second demo reuses every cached stage."""
    from recsys_cli.cli.run_recipe import execute, interval_line
    from recsys_cli.pipeline.demo import DEMO_RUN, demo_recipe

    application = get_app(ctx)
    recipe = demo_recipe(users=users, items=items, interactions=interactions, seed=seed)
    result = execute(ctx, recipe, name=DEMO_RUN, force=force, fmt=fmt)
    line = interval_line(result.metrics)
    if line:
        application.info(line)
    application.success(
        f"demo finished in workspace {application.workspace.root}; try: recsys runs show {DEMO_RUN}, "
        f"recsys recommend {result.plan.primary} --user 1 --explain"
    )
