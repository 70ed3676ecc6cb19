"""`recsys sql`: read-only SQL over the workspace's registered tables."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from recsys_cli.cli.application import FormatOption, get_app, handles_errors
from recsys_cli.cli.output import Result, Table


@handles_errors
def sql_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="One SELECT statement.")],
    dataset: Annotated[
        Optional[str],
        typer.Option(
            "--dataset", "-d", help="Dataset whose views are the default schema (automatic with one dataset)."
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Print at most this many rows; 0: every row (for export).")
    ] = 1000,
    fmt: FormatOption = None,
) -> None:
    """Run read-only SQL over every dataset and split (views: interactions, items, users,
    user_vocab, item_vocab, splits; catalog.datasets, catalog.splits). Dataset views live in a
    schema named after the dataset, e.g. SELECT count(*) FROM "ml-100k".interactions."""
    from recsys_cli.data.query import run_query

    application = get_app(ctx)
    result = run_query(application.workspace, query, dataset=dataset, limit=limit or None)
    if result.truncated:
        application.warn(f"showing the first {limit:,} rows; pass --limit 0 for all (or a larger --limit)")
    rows = [list(r) for r in result.rows]
    document = [dict(zip(result.columns, r)) for r in rows]
    application.emit(Result(document, [Table(result.columns, rows, name="result")]), fmt)
