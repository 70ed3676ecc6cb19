"""`recsys recommend` (one user) and `recsys candidates` (every evaluated user, to Parquet)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from recsys_cli.cli.application import FormatOption, choices, get_app, handles_errors, k_option
from recsys_cli.cli.evaluate import Part, warn_replaced
from recsys_cli.cli.output import Result, Table
from recsys_cli.vocabulary import RETRIEVALS

Retrieval = choices("Retrieval", RETRIEVALS)


@handles_errors
def recommend_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="A trained run (recsys runs list).")],
    user: Annotated[str, typer.Option("--user", help="The user's original id (as in the dataset).")],
    k: Annotated[int, k_option("How many items.")] = 10,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Show which of the user's past items contributed most (als, item-knn, ease), "
            "or which metadata terms matched (content).",
        ),
    ] = False,
    fmt: FormatOption = None,
) -> None:
    """Top items for one user, with titles and genres; unknown users get the most popular items."""
    from recsys_cli.runs.recommendations import recommend

    application = get_app(ctx)
    result = recommend(application.workspace, run, user, k=k, explain=explain, reporter=application.reporter())
    if not result.personalised:
        application.warn(f"{result.fallback_reason}: showing the most popular train items instead")
    columns = ["rank", "item_id", "title", "year", "genres", "score"]
    # a year is a label, not a quantity: no thousands separator
    rows = [
        [str(entry[c]) if c == "year" and entry.get(c) is not None else entry.get(c) for c in columns]
        for entry in result.items
    ]
    if explain and result.personalised:
        by_terms = result.explained_with == "terms"
        columns.append("matching terms" if by_terms else "because you interacted with")
        for row, entry in zip(rows, result.items):
            row.append(
                "; ".join(
                    f"{b['term'] if by_terms else b['title'] or b['item_id']} ({b['contribution']:.3g})"
                    for b in entry["because"]
                )
            )
    kind = "recommendations" if result.personalised else "most popular (fallback)"
    table = Table(
        columns,
        rows,
        title=f"{kind} for user {user} ({result.history_size} train interactions)",
        name="recommendations",
    )
    document = {
        "run": run,
        "user_id": result.user_id,
        "personalised": result.personalised,
        "fallback_reason": result.fallback_reason,
        "history_size": result.history_size,
        "items": result.items,
    }
    application.emit(Result(document, [table]), fmt)


@handles_errors
def candidates_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="A trained run.")],
    k: Annotated[
        Optional[int],
        k_option("Candidates per user (default 200, or the whole catalogue when it is smaller).", show_default=False),
    ] = None,
    on: Annotated[
        Part, typer.Option("--on", help="Whose candidates: the users of this part of the split.")
    ] = Part.test,
    retrieval: Annotated[
        Retrieval,
        typer.Option("--retrieval", help="exact: score every item; annoy: the run's index (recsys index build)."),
    ] = Retrieval.exact,
    search_k: Annotated[
        Optional[int],
        typer.Option("--search-k", help="annoy: nodes inspected per query (default: the bench's choice)."),
    ] = None,
    fmt: FormatOption = None,
) -> None:
    """Write top-K candidates for every user of the split's evaluation part to Parquet (the ranker's input)."""
    from recsys_cli.runs.recommendations import DEFAULT_CANDIDATES, generate_candidates

    application = get_app(ctx)
    result = generate_candidates(
        application.workspace,
        run,
        k=k if k is not None else DEFAULT_CANDIDATES,
        part=on.value,
        retrieval=retrieval.value,
        search_k=search_k,
        reporter=application.reporter(),
    )
    if result.fallback_users:
        application.warn(f"{result.fallback_users:,} users have no train history: they got the most popular items")
    if result.short_lists:
        why = (
            "the index found fewer unseen items): raise --search-k or rebuild with more --trees"
            if result.retrieval == "annoy"
            else "their train history leaves fewer unseen items in the catalogue)"
        )
        application.warn(f"{result.short_lists:,} users got fewer than {result.k} candidates ({why}")
    warn_replaced(application, result.replaced, f"{result.part} candidates of {run}")
    document = {
        "run": run,
        "path": result.path,
        "part": result.part,
        "k": result.k,
        "retrieval": result.retrieval,
        "users": result.users,
        "rows": result.rows,
        "fallback_users": result.fallback_users,
        "short_lists": result.short_lists,
        "search_k": result.search_k,
        f"recall@{result.k}": result.recall,
        "seconds": round(result.seconds, 3),
    }
    table = Table(
        ["run", "users", "rows", f"recall@{result.k}", "retrieval", "path"],
        [[run, result.users, result.rows, result.recall, result.retrieval, result.path]],
        title=f"candidates for the {result.part} users",
        name="candidates",
    )
    application.emit(Result(document, [table]), fmt)
