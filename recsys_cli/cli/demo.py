"""`recsys demo`: the offline end-to-end run on synthetic data (no downloads)."""

from __future__ import annotations

from typing import Annotated

import typer

from recsys_cli.cli.application import FormatOption, get_app, handles_errors
from recsys_cli.cli.output import Result, Table


SHOWN = ("ndcg@10", "recall@10", "precision@10", "recall@20", "coverage@10")


@handles_errors
def demo_command(
    ctx: typer.Context,
    users: Annotated[int, typer.Option("--users", min=10, help="Synthetic users.")] = 2000,
    items: Annotated[int, typer.Option("--items", min=10, help="Synthetic items.")] = 1000,
    interactions: Annotated[int, typer.Option("--interactions", min=100, help="Synthetic interactions.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed for data and split.")] = 42,
    fmt: FormatOption = None,
) -> None:
    """Run everything that exists end to end on a synthetic dataset, offline: ingest, split, query,
    train candidate generators, evaluate, train a LambdaRank ranker over their candidates and evaluate both stages. Uses (and replaces) the dataset 'demo' and runs 'demo-*'."""
    from recsys_cli.pipeline.demo import DEMO_DATASET, DEMO_SPLIT, run_demo

    application = get_app(ctx)
    report = run_demo(
        application.workspace, users=users, items=items, interactions=interactions, seed=seed,
        reporter=application.reporter(),
    )
    record = report.dataset.dataset
    summary = report.split.summary
    parts = [
        [part, summary[part]["interactions"], summary[part]["users"], summary[part]["items"]]
        for part in ("train", "val", "test")
    ]
    genres = [list(row) for row in report.top_genres.rows]
    document = {
        "dataset": {
            "name": DEMO_DATASET, "interactions": record.n_interactions, "users": record.n_users,
            "items": record.n_items, "density": record.stats.get("density"),
        },
        "split": {"name": DEMO_SPLIT, "strategy": report.split.split.strategy,
                  "parts": {p[0]: {"interactions": p[1], "users": p[2], "items": p[3]} for p in parts}},
        "top_genres": [dict(zip(report.top_genres.columns, row)) for row in genres],
        "candidates": {e.run: {"model": e.protocol["model"], "metrics": e.metrics} for e in report.evaluations},
        "ranker": {"run": report.stages.run, "pool": report.ranker.meta["pool"],
                   "stages": report.stages.stages, "lift": report.stages.lift},
    }
    for note in report.split.notes:
        application.info(note)
    tables = [
        Table(["dataset", "interactions", "users", "items", "density"],
              [[DEMO_DATASET, record.n_interactions, record.n_users, record.n_items, record.stats.get("density")]],
              title="1. ingest synthetic"),
        Table(["part", "interactions", "users", "items"], parts,
              title=f"2. split {DEMO_SPLIT} (temporal: last 20% test, 10% before it validation)"),
        Table(report.top_genres.columns, genres, title="3. recsys sql: top genres in train"),
        Table(["run", "model", *SHOWN],
              [[e.run, e.protocol["model"], *(e.metrics[key] for key in SHOWN)] for e in report.evaluations],
              title=f"4. candidate generators, full ranking on test ({report.evaluations[0].protocol['users_evaluated']:,} users)"),
        _stages_table(report),
    ]
    application.emit(Result(document, tables), fmt)
    application.info(_interval_line(report))
    application.success(
        f"demo finished in workspace {application.workspace.root}; try: recsys runs list, "
        f"recsys recommend {DEMO_DATASET}-als --user 1 --explain"
    )


def _stages_table(report) -> Table:
    stages = report.stages
    lift = stages.lift["ranker_vs_candidates"]
    rows = [[stage, *(metrics[key] for key in SHOWN)] for stage, metrics in stages.stages.items()]
    rows.append(["lift (ranker / candidates)",
                 *("-" if lift[key]["relative"] is None else f"{lift[key]['relative']:+.1%}" for key in SHOWN)])
    return Table(["stage", *SHOWN], rows,
                 title=f"5. two stages on test: {', '.join(s['run'] for s in report.ranker.meta['sources'])} "
                       "candidates re-ranked by LambdaRank")


def _interval_line(report) -> str:
    interval = report.stages.lift["ranker_vs_candidates"]["ndcg@10"]["interval"]
    return (f"ndcg@10 ranker - candidates: {interval['difference']:+.4f}, paired 95% interval "
            f"[{interval['low']:+.4f}, {interval['high']:+.4f}] over {interval['n_users']:,} users; "
            f"pool recall {report.stages.protocol['pool_recall']:.2f}")
