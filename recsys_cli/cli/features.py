"""`recsys features list`: the ranker's feature registry."""

from __future__ import annotations

import typer

from recsys_cli.cli.application import FormatOption, get_app, handles_errors
from recsys_cli.cli.output import Result, Table

app = typer.Typer(help="The ranker's features: what each one measures and what data it needs.", no_args_is_help=True)


@app.command("list")
@handles_errors
def list_command(ctx: typer.Context, fmt: FormatOption = None) -> None:
    """List the ranker's features in registry order (the feature columns' order).

    For each: its name, level (pair, item or user: what it describes), what
    the data must have for it (ratings, time, genres, sources, or a
    demographics:<attribute> column of the users table) and a one-line
    description. JSON output is a list of objects with name, level,
    requires, description and sql (one SELECT over the views candidates,
    history, items and users; {as_of} is the history's last timestamp).
    """
    from recsys_cli.ranking.features import FEATURES

    records = [feature.to_dict() for feature in FEATURES.values()]
    table = Table(
        ["name", "level", "requires", "description"],
        [[r["name"], r["level"], ", ".join(r["requires"]) or "-", r["description"]] for r in records],
        title="ranker features",
        name="features",
    )
    get_app(ctx).emit(Result(records, [table]), fmt)
