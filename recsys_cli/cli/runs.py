"""`recsys runs`: list, show, compare and remove trained runs."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from recsys_cli.cli.application import FormatOption, get_app, handles_errors
from recsys_cli.cli.evaluate import Part
from recsys_cli.cli.output import Result, Table

app = typer.Typer(help="Trained runs: list, show, compare, remove.", no_args_is_help=True)

# per-user metrics whose run-to-run differences get a paired confidence interval
PAIRED_METRICS = ("ndcg", "recall")


@app.command("list")
@handles_errors
def list_command(
    ctx: typer.Context,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Only runs on this dataset.")] = None,
    fmt: FormatOption = None,
) -> None:
    """List runs with their headline metric (ndcg@10 on test, once evaluated)."""
    from recsys_cli.runs.summaries import HEADLINE, list_runs

    summaries = list_runs(get_app(ctx).workspace, dataset)
    rows = [
        [s.run.name, s.run.model, s.run.dataset, s.run.split, s.headline(), ", ".join(s.artifacts) or "-",
         s.run.created_at]
        for s in summaries
    ]
    table = Table(["run", "model", "dataset", "split", f"{HEADLINE} (test)", "built", "created"], rows, title="runs")
    document = [
        {"run": s.run.name, "model": s.run.model, "dataset": s.run.dataset, "split": s.run.split,
         "params": s.run.params, HEADLINE: s.headline(), "artifacts": s.artifacts, "created_at": s.run.created_at}
        for s in summaries
    ]
    get_app(ctx).emit(Result(document, [table]), fmt)


@app.command("show")
@handles_errors
def show_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="A run name.")],
    fmt: FormatOption = None,
) -> None:
    """Show a run's manifest (parameters, inputs, versions, timings) and its evaluations."""
    from recsys_cli.cli.evaluate import metrics_table
    from recsys_cli.runs.summaries import show_run

    summary = show_run(get_app(ctx).workspace, run)
    m = summary.run.manifest
    rows = [[key, m.get(key)] for key in (
        "model", "params", "seed", "values", "dataset", "split", "split_strategy", "n_train_interactions",
        "fit_seconds", "wall_seconds", "model_sha256",
    )]
    rows += [["artifacts", ", ".join(summary.artifacts) or "-"], ["versions", m.get("versions")]]
    tables = [Table(["field", "value"], rows, title=f"run {run}")]
    for part, evaluation in summary.evaluations.items():
        title = "ranker on test (recsys evaluate RUN for every stage)" if part == "stages" else f"evaluation on {part}"
        tables.append(metrics_table(evaluation["metrics"], title))
    get_app(ctx).emit(Result(summary.document(), tables), fmt)


@app.command("compare")
@handles_errors
def compare_command(
    ctx: typer.Context,
    runs: Annotated[list[str], typer.Argument(help="Two or more run names.")],
    on: Annotated[Part, typer.Option("--on", help="Compare their evaluations on this part.")] = Part.test,
    k: Annotated[
        Optional[str], typer.Option("--k", help="The cut-off to show, or 'all' (default: the smallest K evaluated).")
    ] = None,
    fmt: FormatOption = None,
) -> None:
    """Put the stored evaluations of several runs in one table (evaluate each run first), with a
    paired bootstrap 95% interval of each run's per-user ndcg and recall difference from the first."""
    from recsys_cli.runs.summaries import compare_runs, paired_differences

    application = get_app(ctx)
    if len(runs) < 2:
        raise typer.BadParameter("give two or more runs to compare", param_hint="RUNS")
    if k is not None and k != "all" and not k.isdigit():
        raise typer.BadParameter(f"'{k}' is not a whole number or 'all'", param_hint="--k")
    comparison = compare_runs(application.workspace, runs, on.value)
    evaluated = sorted({int(key.split("@")[1]) for key in comparison.metrics})
    if k is None:
        k = str(evaluated[0]) if evaluated else "all"
    keys = [key for key in comparison.metrics if k == "all" or key.endswith(f"@{k}")]
    if not keys:
        per_run = "; ".join(
            f"{s.run.name}: {', '.join(sorted({key.split('@')[1] for key in s.evaluations[on.value]['metrics']}, key=int))}"
            for s in comparison.runs
        )
        wanted = f"at K={k}" if k != "all" else "at a K they share"
        raise typer.BadParameter(f"no metric {wanted}; evaluated K's are {per_run}", param_hint="--k")
    for warning in comparison.warnings:
        application.warn(warning)
    rows = [
        [s.run.name, s.run.model, *(s.evaluations[on.value]["metrics"][key] for key in keys)]
        for s in comparison.runs
    ]
    document = {
        "part": on.value,
        "runs": {s.run.name: {"model": s.run.model, "params": s.run.params,
                              "protocol": s.evaluations[on.value]["protocol"],
                              "metrics": {key: s.evaluations[on.value]["metrics"][key] for key in keys}}
                 for s in comparison.runs},
    }
    table = Table(["run", "model", *keys], rows, title=f"runs on {on.value}")
    tested = [key for key in keys if key.split("@")[0] in PAIRED_METRICS]
    differences, why_not = paired_differences(application.workspace, comparison, tested) if tested else ({}, None)
    if why_not:
        application.warn(why_not)
    document["differences"] = {"baseline": runs[0], "method": "paired bootstrap, 2000 resamples, seed 0",
                               "runs": differences}
    tables = [table]
    if differences:
        tables.append(Table(
            ["run", "metric", f"difference vs {runs[0]}", "95% CI low", "95% CI high", "excludes 0"],
            [[run, metric, i["difference"], i["low"], i["high"], "yes" if i["excludes_zero"] else "no"]
             for run, by_metric in differences.items() for metric, i in by_metric.items()],
            title=f"paired differences per user against {runs[0]} (bootstrap)",
        ))
    application.emit(Result(document, tables), fmt)


@app.command("remove")
@handles_errors
def remove_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="A run name.")],
    fmt: FormatOption = None,
) -> None:
    """Remove a run and everything built from it (no prompt: scripts use it)."""
    from recsys_cli.runs.summaries import remove_run

    application = get_app(ctx)
    summary = remove_run(application.workspace, run, application.reporter())
    document = {"removed": run, "artifacts": summary.artifacts, "path": summary.run.path}
    application.emit(Result(document, [Table(["removed", "artifacts", "path"],
                                             [[run, ", ".join(summary.artifacts) or "-", summary.run.path]])]), fmt)
