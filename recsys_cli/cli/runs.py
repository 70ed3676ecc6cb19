"""`recsys runs`: list, show, compare, check and remove trained runs and recipe runs."""

from __future__ import annotations

from pathlib import PurePath
from typing import Annotated, Optional

import typer

from recsys_cli.cli.application import FormatOption, get_app, handles_errors, k_option
from recsys_cli.cli.cross_validation import cv_command
from recsys_cli.cli.evaluate import Part
from recsys_cli.cli.output import Result, Table
from recsys_cli.cli.run_recipe import RequireOption

app = typer.Typer(
    help="Trained runs and recipe runs: list, show, compare, cross-validate, check, remove.", no_args_is_help=True
)
app.command("cv")(cv_command)

# per-user metrics whose run-to-run differences get a paired confidence interval


@app.command("list")
@handles_errors
def list_command(
    ctx: typer.Context,
    dataset: Annotated[Optional[str], typer.Option("--dataset", help="Only runs on this dataset.")] = None,
    fmt: FormatOption = None,
) -> None:
    """List trained runs and recipe runs with their headline: ndcg@10 on test, once evaluated (for a
    recipe run, its two-stage ranker's, or its primary generator's when it has no ranker)."""
    from recsys_cli.pipeline.reports import list_recipe_runs
    from recsys_cli.runs.summaries import HEADLINE, list_runs

    application = get_app(ctx)
    summaries = list_runs(application.workspace, dataset)
    recipe_runs = list_recipe_runs(application.workspace, dataset)
    for recipe_run in recipe_runs:
        if recipe_run.damaged:
            application.warn(recipe_run.damaged)
    rows = [
        [
            s.run.name,
            "trained",
            s.run.model,
            s.run.dataset,
            s.run.split,
            s.headline(),
            ", ".join(s.artifacts) or "-",
            s.run.created_at,
        ]
        for s in summaries
    ] + [
        [
            r.name,
            "recipe",
            r.models,
            r.dataset,
            r.split,
            "damaged" if r.damaged else (r.headline[1] if r.headline else None),
            f"recipe {PurePath(r.recipe).name}",
            r.created_at,
        ]
        for r in recipe_runs
    ]
    table = Table(
        ["run", "kind", "model", "dataset", "split", f"{HEADLINE} (test)", "built", "created"],
        rows,
        title="runs",
        name="runs",
    )
    document = [
        {
            "run": s.run.name,
            "kind": "trained",
            "model": s.run.model,
            "dataset": s.run.dataset,
            "split": s.run.split,
            HEADLINE: s.headline(),
            "headline_measure": f"test.{HEADLINE}" if s.headline() is not None else None,
            "params": s.run.params,
            "artifacts": s.artifacts,
            "recipe": None,
            "created_at": s.run.created_at,
            "damaged": None,
        }
        for s in summaries
    ] + [r.document() for r in recipe_runs]
    application.emit(Result(document, [table]), fmt)


@app.command("show")
@handles_errors
def show_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="A run name.")],
    fmt: FormatOption = None,
) -> None:
    """Show a run's manifest (parameters, inputs, versions, timings) and its evaluations; for a recipe
    run (`recsys run`), its stages, cache keys, timings and tables."""
    from recsys_cli.cli.evaluate import metrics_table, rating_errors_table
    from recsys_cli.pipeline.reports import is_recipe_run
    from recsys_cli.runs.summaries import show_run

    if is_recipe_run(get_app(ctx).workspace, run):
        _show_recipe_run(ctx, run, fmt)
        return
    summary = show_run(get_app(ctx).workspace, run)
    m = summary.run.manifest
    rows = [
        [key, m.get(key)]
        for key in (
            "model",
            "params",
            "seed",
            "values",
            "dataset",
            "split",
            "split_strategy",
            "n_train_interactions",
            "fit_seconds",
            "wall_seconds",
            "model_sha256",
        )
    ]
    rows += [["artifacts", ", ".join(summary.artifacts) or "-"], ["versions", m.get("versions")]]
    tables = [Table(["field", "value"], rows, title=f"run {run}", name="manifest")]
    for part, evaluation in summary.evaluations.items():
        title = "ranker on test (recsys evaluate RUN for every stage)" if part == "stages" else f"evaluation on {part}"
        tables.append(metrics_table(evaluation["metrics"], title, table_name=f"evaluation-{part}"))
        tables += rating_errors_table(evaluation["metrics"], f"{title}: rating errors", f"rating-errors-{part}")
    get_app(ctx).emit(Result(summary.document(), tables), fmt)


@app.command("compare")
@handles_errors
def compare_command(
    ctx: typer.Context,
    runs: Annotated[list[str], typer.Argument(help="Two or more run names.")],
    on: Annotated[Part, typer.Option("--on", help="Compare their evaluations on this part.")] = Part.test,
    k: Annotated[Optional[str], k_option("The cut-off to show, or 'all' (default: the smallest K evaluated).")] = None,
    fmt: FormatOption = None,
) -> None:
    """Put the stored evaluations of several runs in one table (evaluate each run first), with a
    paired bootstrap 95% interval of each run's per-user ndcg and recall difference from the first.
    Two recipe runs (`recsys run`) are compared row by row, every metric with its interval."""
    from recsys_cli.evaluation.significance import METHOD, paired_keys
    from recsys_cli.pipeline.reports import is_recipe_run
    from recsys_cli.runs.summaries import compare_runs, paired_differences

    application = get_app(ctx)
    if len(runs) < 2:
        raise typer.BadParameter("give two or more runs to compare", param_hint="RUNS")
    recipe_runs = [is_recipe_run(application.workspace, run) for run in runs]
    if any(recipe_runs):
        _compare_recipe_runs(ctx, runs, recipe_runs, k, fmt)
        return
    if k is not None and k != "all" and not k.isdigit():
        raise typer.BadParameter(f"'{k}' is not a whole number or 'all'", param_hint="--k")
    comparison = compare_runs(application.workspace, runs, on.value)
    evaluated = sorted({int(key.split("@")[1]) for key in comparison.metrics if "@" in key})
    if k is None:
        k = str(evaluated[0]) if evaluated else "all"
    # metrics without a K (rating models' rmse and mae) are shown whatever --k
    keys = [key for key in comparison.metrics if k == "all" or key.endswith(f"@{k}") or "@" not in key]
    if not any("@" in key for key in keys):
        evaluated_ks = {
            s.run.name: sorted({key.split("@")[1] for key in s.evaluations[on.value]["metrics"] if "@" in key}, key=int)
            for s in comparison.runs
        }
        per_run = "; ".join(f"{name}: {', '.join(ks)}" for name, ks in evaluated_ks.items())
        wanted = f"at K={k}" if k != "all" else "at a K they share"
        raise typer.BadParameter(f"no metric {wanted}; evaluated K's are {per_run}", param_hint="--k")
    for warning in comparison.warnings:
        application.warn(warning)
    rows = [
        [s.run.name, s.run.model, *(s.evaluations[on.value]["metrics"][key] for key in keys)] for s in comparison.runs
    ]
    document = {
        "part": on.value,
        "runs": {
            s.run.name: {
                "model": s.run.model,
                "params": s.run.params,
                "protocol": s.evaluations[on.value]["protocol"],
                "metrics": {key: s.evaluations[on.value]["metrics"][key] for key in keys},
            }
            for s in comparison.runs
        },
    }
    table = Table(["run", "model", *keys], rows, title=f"runs on {on.value}", name="runs")
    tested = paired_keys(keys)
    differences, why_not = paired_differences(application.workspace, comparison, tested) if tested else ({}, None)
    if why_not:
        application.warn(why_not)
    document["differences"] = {"baseline": runs[0], "method": METHOD, "runs": differences}
    tables = [table]
    if differences:
        tables.append(
            Table(
                ["run", "metric", f"difference vs {runs[0]}", "95% CI low", "95% CI high", "excludes 0"],
                [
                    [run, metric, i["difference"], i["low"], i["high"], "yes" if i["excludes_zero"] else "no"]
                    for run, by_metric in differences.items()
                    for metric, i in by_metric.items()
                ],
                title=f"paired differences per user against {runs[0]} (bootstrap)",
                name="differences",
            )
        )
    application.emit(Result(document, tables), fmt)


@app.command("remove")
@handles_errors
def remove_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="A run name.")],
    fmt: FormatOption = None,
) -> None:
    """Remove a run and everything built from it (no prompt: scripts use it); for a recipe run, its
    record (manifest, metrics, per-user values), not the runs it trained."""
    from recsys_cli.pipeline.reports import is_recipe_run, remove_recipe_run
    from recsys_cli.runs.summaries import remove_run

    application = get_app(ctx)
    if is_recipe_run(application.workspace, run):
        path = remove_recipe_run(application.workspace, run, application.reporter())
        application.emit(
            Result(
                {"removed": run, "recipe_run": True, "path": path},
                [Table(["removed", "path"], [[run, path]], name="removed")],
            ),
            fmt,
        )
        return
    summary = remove_run(application.workspace, run, application.reporter())
    document = {"removed": run, "artifacts": summary.artifacts, "path": summary.run.path}
    application.emit(
        Result(
            document,
            [
                Table(
                    ["removed", "artifacts", "path"],
                    [[run, ", ".join(summary.artifacts) or "-", summary.run.path]],
                    name="removed",
                )
            ],
        ),
        fmt,
    )


def _show_recipe_run(ctx: typer.Context, name: str, fmt) -> None:
    from recsys_cli.cli.run_recipe import result_tables
    from recsys_cli.pipeline.reports import show_recipe_run

    report = show_recipe_run(get_app(ctx).workspace, name)
    m = report.manifest
    rows = [
        ["recipe file", m["recipe_file"]],
        ["recipe sha256", m["recipe_sha256"]],
        ["seeds", m["seeds"]],
        ["input checksums", m["input_checksums"]],
        ["versions", m["versions"]],
        ["platform", m["platform"]],
        ["started", m["started_at"]],
        ["wall seconds", m["wall_seconds"]],
        ["peak RSS MB", m["peak_rss_mb"]],
        ["folder", report.path],
    ]
    tables = [
        Table(["field", "value"], rows, title=f"recipe run {name}", name="manifest"),
        *result_tables(m, report.metrics),
    ]
    get_app(ctx).emit(Result(report.document(), tables), fmt)


def _compare_recipe_runs(ctx: typer.Context, runs: list[str], recipe_runs: list[bool], k, fmt) -> None:
    from recsys_cli.pipeline.reports import compare_recipe_runs
    from recsys_cli.runs.summaries import show_run

    application = get_app(ctx)
    for run, recipe_run in zip(runs, recipe_runs):
        if not recipe_run:
            show_run(application.workspace, run)  # an unknown name is named as such
    if not all(recipe_runs) or len(runs) != 2:
        raise typer.BadParameter(
            "compare two recipe runs with each other, or trained runs with each other",
            param_hint="RUNS",
        )
    if k is not None and k != "all" and not k.isdigit():
        raise typer.BadParameter(f"'{k}' is not a whole number or 'all'", param_hint="--k")
    comparison = compare_recipe_runs(application.workspace, runs[0], runs[1], k)
    for warning in comparison.warnings:
        application.warn(warning)

    def interval(row) -> list:
        i = row.interval
        return ["-", "-", "-"] if i is None else [i["low"], i["high"], "yes" if i["excludes_zero"] else "no"]

    table = Table(
        ["table", "row", "metric", runs[0], runs[1], "difference", "95% CI low", "95% CI high", "excludes 0"],
        [[r.table, r.row, r.metric, r.a, r.b, r.b - r.a, *interval(r)] for r in comparison.rows],
        title=f"recipe runs {runs[1]} - {runs[0]}, paired bootstrap over users",
        name="comparison",
    )
    application.emit(Result(comparison.document(), [table]), fmt)


@app.command("check")
@handles_errors
def check_command(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="A trained run or a recipe run.")],
    requirements: RequireOption = None,
    fmt: FormatOption = None,
) -> None:
    """Check a finished run against requirements (--require; for a recipe run, default: its recipe's
    [checks]). Exit 4 when one fails. Without any requirement, list the run's measures by name."""
    from recsys_cli.cli.run_recipe import checks_table, raise_if_failed
    from recsys_cli.evaluation.requirements import parse_requirements
    from recsys_cli.pipeline.checks import check_recipe_run
    from recsys_cli.pipeline.reports import is_recipe_run
    from recsys_cli.runs.measures import check_run

    application = get_app(ctx)
    wanted = parse_requirements(requirements) if requirements else None
    if is_recipe_run(application.workspace, run):
        checks, measures, _ = check_recipe_run(application.workspace, run, wanted)
    else:
        checks, measures = check_run(application.workspace, run, wanted or [])
    document = {
        "run": run,
        "passed": all(c.passed for c in checks),
        "checks": [c.to_json() for c in checks],
        "measures": measures,
    }
    if checks:
        tables = [checks_table(checks)]
    else:
        tables = [
            Table(
                ["measure", "value"], [[k, v] for k, v in measures.items()], title=f"measures of {run}", name="measures"
            )
        ]
        if not measures:
            application.warn(f"run '{run}' has no stored evaluation yet: evaluate it first (recsys evaluate {run})")
    application.emit(Result(document, tables), fmt)
    raise_if_failed(checks, f"see the run: recsys runs show {run}")
