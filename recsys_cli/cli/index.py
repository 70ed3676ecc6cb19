"""`recsys index`: an Annoy index over a run's item factors, and how it compares with exact search."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from recsys_cli.cli.application import FormatOption, get_app, handles_errors, k_option
from recsys_cli.cli.evaluate import parse_ks
from recsys_cli.cli.output import Result, Table

app = typer.Typer(help="Approximate retrieval: build and bench an Annoy index for a run.", no_args_is_help=True)


@app.command("build")
@handles_errors
def build_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="An als or bpr run.")],
    trees: Annotated[int, typer.Option("--trees", min=1, help="Annoy trees: more is more accurate and larger.")] = 50,
    seed: Annotated[
        int,
        typer.Option(
            "--seed", min=0, help="Annoy's seed (the build is single-threaded, so the same seed gives the same file)."
        ),
    ] = 42,
    fmt: FormatOption = None,
) -> None:
    """Build the run's Annoy index (inner product via the standard augmentation; replaces an older one)."""
    from recsys_cli.runs.indexing import build_run_index

    application = get_app(ctx)
    meta = build_run_index(application.workspace, run, n_trees=trees, seed=seed, reporter=application.reporter())
    info = meta["index"]
    table = Table(
        ["run", "items", "dimension", "trees", "size MB", "build s", "path"],
        [
            [
                run,
                info["n_items"],
                info["dimension"],
                info["n_trees"],
                round(info["size_bytes"] / 1e6, 2),
                meta["build_seconds"],
                meta["path"],
            ]
        ],
        title="index built",
        name="index",
    )
    application.emit(Result({"run": run, **meta}, [table]), fmt)
    application.success(f"next: recsys index bench {run}")


@app.command("bench")
@handles_errors
def bench_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="A run with an index (recsys index build RUN).")],
    k: Annotated[int, k_option("Recall@K against exact top-K.")] = 100,
    search_k: Annotated[
        Optional[str],
        typer.Option("--search-k", help="Comma-separated search_k values (default: a sweep around K x trees)."),
    ] = None,
    target: Annotated[float, typer.Option("--target", min=0.0, max=1.0, help="Recall to reach.")] = 0.95,
    queries: Annotated[int, typer.Option("--queries", min=1, help="Users sampled as queries.")] = 1000,
    fmt: FormatOption = None,
) -> None:
    """Recall@K of the index against exact scoring and queries per second of both, over a search_k sweep.

    Records the smallest search_k reaching --target; `recsys candidates --retrieval annoy` then uses it.
    """
    from recsys_cli.runs.indexing import bench_run_index

    application = get_app(ctx)
    search_ks = parse_ks(search_k) if search_k else None
    result = bench_run_index(
        application.workspace,
        run,
        k=k,
        search_ks=search_ks,
        target_recall=target,
        n_queries=queries,
        reporter=application.reporter(),
    )
    rows = [[r.search_k, r.recall, round(r.qps, 1), round(r.speedup_vs_exact, 2)] for r in result.rows]
    rows.append(["exact", 1.0, round(result.exact_qps, 1), 1.0])
    table = Table(
        ["search_k", f"recall@{k}", "queries/s", "vs exact"],
        rows,
        title=f"index of {run}: {result.n_items:,} items, {result.n_queries:,} queries",
        name="bench",
    )
    application.emit(Result({"run": run, **result.to_json()}, [table]), fmt)
    if result.target_search_k is None:
        application.warn(f"no search_k reached recall {target}: try more --trees or larger --search-k")
    elif result.exact_is_faster:
        application.warn(
            f"exact scoring is faster than the index at recall {target} on this catalogue "
            f"({result.n_items:,} items): use --retrieval exact"
        )
    else:
        row = result.target_row
        application.success(
            f"search_k={row.search_k} reaches recall {row.recall:.3f} at {row.speedup_vs_exact:.1f}x exact speed"
        )
