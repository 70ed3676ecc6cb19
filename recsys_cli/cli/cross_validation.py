"""K-fold cross-validation on the command line: `recsys split --folds K` and `recsys runs cv RUN ...`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from recsys_cli.cli.application import FormatOption, get_app, handles_errors
from recsys_cli.cli.output import Result, Table


def split_folds(
    ctx: typer.Context, dataset: str, name: str, folds: int, strategy, options: dict[str, Any], **kw
) -> None:
    """`recsys split DATASET --folds K --name NAME`: make (or reuse) the K fold splits and print them."""
    from recsys_cli.data.fold_splits import make_folds
    from recsys_cli.data.folds import FoldConfig

    application = get_app(ctx)
    config = FoldConfig.from_split_options(folds, {"strategy": getattr(strategy, "value", strategy), **options})
    result = make_folds(
        application.workspace,
        dataset,
        name,
        config,
        force=kw["force"],
        replace=kw["replace"],
        reporter=application.reporter(),
    )
    for note in result.notes:
        application.info(note)
    for warning in result.warnings:
        application.warn(warning)
    if result.reused:
        application.info(f"the {result.config.folds} folds '{name}' of '{dataset}' are unchanged: reused")
    elif result.replaced:
        application.warn(f"replaced the existing folds '{name}'")
    application.emit(folds_result(result), kw["fmt"])


def folds_result(result) -> Result:
    config = result.config
    document = {
        "dataset": result.dataset,
        "group": result.group,
        "folds": config.folds,
        "strategy": config.strategy,
        "seed": config.seed,
        "splits": [
            {
                "split": split.name,
                "fold": split.params["fold"],
                "params": split.params,
                "path": split.path,
                "summary": split.summary,
            }
            for split in result.splits
        ],
        "reused": result.reused,
        "replaced": result.replaced,
        "dropped_runs": result.dropped_runs,
        "removed_splits": result.removed_splits,
    }
    rows = [
        [
            split.params["fold"],
            split.name,
            split.summary["train"]["interactions"],
            split.summary["test"]["interactions"],
            split.summary["test"]["users"],
            split.summary["test_users_not_in_train"],
            split.summary["test"]["fraction"],
        ]
        for split in result.splits
    ]
    table = Table(
        ["fold", "split", "train", "test", "test users", "test users not in train", "test fraction"],
        rows,
        title=f"{config.folds} folds of {result.dataset} ({config.strategy}, seed {config.seed}): "
        f"test = the fold, train = the rest",
        name="folds",
    )
    return Result(document, [table])


@handles_errors
def cv_command(
    ctx: typer.Context,
    runs: Annotated[
        list[str],
        typer.Argument(help="One evaluated run per fold of a cross-validation group, e.g. als.fold-{1..5} in bash."),
    ],
    fmt: FormatOption = None,
) -> None:
    """Cross-validate: a model's test metrics over the folds of `recsys split --folds K`, one run per fold
    (each evaluated alike), as mean, standard deviation, 95% t interval and the value of every fold."""
    from recsys_cli.runs.cross_validation import cross_validate_runs

    application = get_app(ctx)
    result = cross_validate_runs(application.workspace, runs)
    statistics = {key: s.to_json() for key, s in result.statistics.items()}
    application.emit(Result(result.document(), [cv_table(statistics, result.folds, _title(result))]), fmt)


def _title(result) -> str:
    return (
        f"{result.model} on the {result.folds} folds of {result.dataset}/{result.group} "
        f"(mean, sd, 95% interval with t(0.975, {result.folds - 1}))"
    )


def cv_table(
    statistics: dict[str, dict[str, dict]] | dict[str, dict], folds: int, title: str, *, by_run: bool = False
) -> Table:
    """One row per metric (``by_run``: per run and metric, from ``{run: {metric: ...}}``): mean, sd, the
    95% interval and every fold's value (each metric's ``FoldStatistics.to_json()``)."""
    grouped = statistics if by_run else {None: statistics}
    return Table(
        [*(["run"] if by_run else []), "metric", "mean", "sd", "95% low", "95% high"]
        + [f"fold {i}" for i in range(1, folds + 1)],
        [
            [*([run] if by_run else []), key, s["mean"], s["sd"], s["low"], s["high"], *s["values"]]
            for run, metrics in grouped.items()
            for key, s in metrics.items()
        ],
        title=title,
        name="cross-validation",
    )
