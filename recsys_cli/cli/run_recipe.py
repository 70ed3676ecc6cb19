"""`recsys run RECIPE`: the whole two-stage loop from one TOML file, with a stage cache."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from recsys_cli.cli.application import FormatOption, get_app, handles_errors
from recsys_cli.cli.output import Result, Table
from recsys_cli.vocabulary import STAGE_ROWS

SetOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--set",
        help="Override a recipe key: SECTION.KEY=VALUE (candidates.0.k=100 for the first generator). Repeatable.",
    ),
]
RequireOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--require",
        help="A quality gate: MEASURE OP NUMBER, e.g. 'ranker.ndcg@10>=0.23' or "
        "'lift.ranker_vs_candidates.ndcg@10.low>0' (docs/ci.md names every measure). Repeatable; "
        "any failed requirement exits with code 4.",
    ),
]


@handles_errors
def run_command(
    ctx: typer.Context,
    recipe: Annotated[Path, typer.Argument(help="A recipe file, e.g. recipes/ml-100k.toml.")],
    overrides: SetOption = None,
    force: Annotated[bool, typer.Option("--force", help="Run every stage again, ignoring the stage cache.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the stage plan and which stages are cached; run nothing.")
    ] = False,
    name: Annotated[
        Optional[str], typer.Option("--run", help="Name of this recipe run (default: the recipe file's name).")
    ] = None,
    requirements: RequireOption = None,
    fmt: FormatOption = None,
) -> None:
    """Run a recipe: ingest, split, train the candidate generators, build the index, generate candidates,
    train the ranker and evaluate, reusing every stage whose inputs did not change. With requirements
    (--require, or the recipe's [checks]), exit 4 when the finished run misses one."""
    from recsys_cli.pipeline.recipe import load_recipe

    application = get_app(ctx)
    loaded = load_recipe(recipe, overrides or [], requirements or [])
    result = execute(ctx, loaded, name=name, force=force, dry_run=dry_run, fmt=fmt)
    if dry_run and result.plan.requirements:
        count = len(result.plan.requirements)
        application.info(f"{count} requirement{'s' if count > 1 else ''}, checked when the run finishes")
    if not dry_run:
        see = f"recsys runs show {result.name}"
        raise_if_failed(result.checks, f"recipe run '{result.name}' was written ({see})")
        application.success(f"recipe run finished; see it again with: {see}")


def raise_if_failed(checks, written: str) -> None:
    from recsys_cli.errors import RequirementsNotMetError
    from recsys_cli.evaluation.requirements import failure_message

    if not all(check.passed for check in checks):
        raise RequirementsNotMetError(failure_message(checks), written)


def checks_table(checks) -> Table:
    rows = [
        [str(c.requirement), "not measured" if c.value is None else c.value, "pass" if c.passed else "FAIL"]
        for c in checks
    ]
    failed = sum(not c.passed for c in checks)
    title = f"requirements: {len(checks) - failed} of {len(checks)} met"
    return Table(["requirement", "value", "result"], rows, title=title, name="checks")


def execute(ctx: typer.Context, recipe, *, name=None, force=False, dry_run=False, fmt=None):
    """Run ``recipe`` and print its tables (shared by `recsys run` and `recsys demo`)."""
    from recsys_cli.pipeline.runner import run_recipe

    application = get_app(ctx)
    result = run_recipe(
        application.workspace, recipe, name=name, force=force, dry_run=dry_run, reporter=application.reporter()
    )
    if dry_run:
        rows = [[o.stage, o.status, o.key[:12] if o.key else "after the stages before it"] for o in result.outcomes]
        document = {
            "run": result.name,
            "recipe": recipe.path,
            "dry_run": True,
            "stages": [o.to_json() for o in result.outcomes],
        }
        table = Table(
            ["stage", "status", "key"],
            rows,
            title=f"plan for recipe run '{result.name}': {result.cached} of {len(rows)} stages cached",
            name="plan",
        )
        application.emit(Result(document, [table]), fmt)
        return result
    tables = result_tables(result.manifest, result.metrics)
    if result.checks:
        tables.append(checks_table(result.checks))
    application.emit(Result(result_document(result), tables), fmt)
    return result


def result_document(result) -> dict:
    """The run's full metrics tree, and beside it the flat shape scripts read (docs/ci.md): the
    headline, every measure by name, and the requirements with their values."""
    from recsys_cli.pipeline.reports import recipe_headline, recipe_measures

    headline = recipe_headline(result.metrics)
    return {
        "run": result.name,
        "recipe": result.plan.recipe.path,
        "path": result.path,
        "headline": {"measure": headline[0], "value": headline[1]} if headline else None,
        "passed": result.passed,
        "checks": [c.to_json() for c in result.checks],
        "measures": recipe_measures(result.metrics),
        "stages": result.manifest["stages"],
        "metrics": result.metrics,
    }


def result_tables(manifest: dict, metrics: dict) -> list[Table]:
    """The stage table, the generators table and (with a ranker) the two-stage table."""
    recipe = manifest["recipe"]
    ks = recipe["evaluation"]["ks"]
    shown = [f"{m}@{k}" for k in ks for m in ("ndcg", "recall")] + [f"precision@{ks[0]}", f"coverage@{ks[0]}"]
    stages = Table(
        ["stage", "status", "seconds", "peak RSS MB", "key"],
        [
            [s["stage"], s["status"], s["seconds"], s.get("peak_rss_mb") or "-", (s["key"] or "")[:12]]
            for s in manifest["stages"]
        ],
        title=f"recipe run '{manifest['run']}' ({manifest['recipe_file']}): {manifest['cached_stages']} of "
        f"{len(manifest['stages'])} stages cached, {manifest['wall_seconds']:.1f}s",
        name="stages",
    )
    generators = metrics["generators"]
    folds = recipe["split"].get("folds")  # recipe runs from before split.folds have no key
    if folds:
        title = f"candidate generators, mean over the {folds} folds of {recipe['split']['name']} (full ranking on test)"
    else:
        users = next(iter(generators.values()))["protocol"]["users_evaluated"]
        title = f"candidate generators trained on train, full ranking on test ({users:,} users)"
    tables = [
        stages,
        Table(
            ["run", "model", *shown],
            [[short, g["model"], *(g["metrics"].get(m) for m in shown)] for short, g in generators.items()],
            title=title,
            name="generators",
        ),
    ]
    if folds:
        from recsys_cli.cli.cross_validation import cv_table

        # the shown metrics, and those without a K (a rating model's rmse and mae)
        statistics = {
            short: {
                m: g["cross_validation"]["metrics"][m]
                for m in [*shown, *(m for m in g["cross_validation"]["metrics"] if "@" not in m)]
                if m in g["cross_validation"]["metrics"]
            }
            for short, g in generators.items()
        }
        t = next(iter(generators.values()))["cross_validation"]["t_quantile"]
        title = f"{folds}-fold cross-validation: mean, sd, 95% interval mean -/+ t(0.975, {folds - 1})={t:.3f} x sd/√K"
        tables.append(cv_table(statistics, folds, title, by_run=True))
    evaluation = metrics.get("stages")
    if evaluation:
        rows = [
            [stage, *(evaluation["stages"][stage].get(m) for m in shown)]
            for stage in STAGE_ROWS
            if stage in evaluation["stages"] and stage in recipe["evaluation"]["rows"]
        ]
        lift = evaluation["lift"].get("ranker_vs_candidates")
        if lift and {"ranker", "candidates"} <= set(recipe["evaluation"]["rows"]):
            rows.append(
                [
                    "lift (ranker / candidates)",
                    *(
                        "-" if m not in lift or lift[m]["relative"] is None else f"{lift[m]['relative']:+.1%}"
                        for m in shown
                    ),
                ]
            )
        sources = ", ".join(recipe_run["run"] for recipe_run in recipe["candidates"])
        refit = " (generators refit on train + val)" if recipe["ranker"]["refit"] else ""
        tables.append(
            Table(
                ["stage", *shown],
                rows,
                title=f"two stages on test{refit}: {sources} candidates re-ranked by LambdaRank",
                name="two-stages",
            )
        )
    return tables


def interval_line(metrics: dict) -> str | None:
    """ndcg@K ranker - candidates with its paired interval, for the smallest K."""
    evaluation = metrics.get("stages")
    if not evaluation:
        return None
    lift = evaluation["lift"].get("ranker_vs_candidates", {})
    key = next((m for m in lift if m.startswith("ndcg@") and lift[m].get("interval")), None)
    if key is None:
        return None
    interval = lift[key]["interval"]
    return (
        f"{key} ranker - candidates: {interval['difference']:+.4f}, paired 95% interval "
        f"[{interval['low']:+.4f}, {interval['high']:+.4f}] over {interval['n_users']:,} users; "
        f"pool recall {evaluation['protocol']['pool_recall']:.2f}"
    )
