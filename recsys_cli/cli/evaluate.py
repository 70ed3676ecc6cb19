"""`recsys evaluate`: a run on its split, or recommendation files made by any tool."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from recsys_cli.cli.application import FormatOption, choices, get_app, handles_errors, k_option
from recsys_cli.cli.output import Result, Table
from recsys_cli.vocabulary import BREAKDOWNS, COLD_START_RULES, DEFAULT_KS, EVALUATED_PARTS

Part = choices("Part", EVALUATED_PARTS)
ColdStart = choices("ColdStart", COLD_START_RULES)
By = choices("By", BREAKDOWNS)


def parse_ks(text: str) -> list[int]:
    """'10,20,100' -> [10, 20, 100]; a clear usage error otherwise."""
    try:
        values = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise typer.BadParameter(f"'{text}' is not a comma-separated list of whole numbers, e.g. 10,20,100") from None
    if not values:
        raise typer.BadParameter("give at least one K, e.g. 10")
    return values


def metrics_table(metrics: dict[str, float], title: str | None = None, table_name: str = "metrics") -> Table:
    """One row per metric, one column per K (metric keys are '<metric>@<k>'; those without a K, a rating
    model's rmse and mae, are in ``rating_errors_table``)."""
    from recsys_cli.evaluation.metrics import METRICS

    names: list[str] = []
    ks: list[int] = []
    for key in metrics:
        if "@" not in key:
            continue
        name, k = key.split("@")
        if name not in names:
            names.append(name)
        if int(k) not in ks:
            ks.append(int(k))
    ks.sort()
    names.sort(key=lambda n: METRICS.index(n) if n in METRICS else len(METRICS))
    rows = [[name, *(metrics.get(f"{name}@{k}") for k in ks)] for name in names]
    return Table(["metric", *(f"@{k}" for k in ks)], rows, title=title, name=table_name)


def rating_errors_table(metrics: dict[str, float], title: str, table_name: str = "rating-errors") -> list[Table]:
    """A rating model's errors (rmse, mae) as a table of their own, or no table for other models."""
    from recsys_cli.evaluation.rating_errors import RATING_ERRORS

    rows = [[name, metrics[name]] for name in RATING_ERRORS if name in metrics]
    return [Table(["metric", "value"], rows, title=title, name=table_name)] if rows else []


def warn_replaced(application, replaced, what: str) -> None:
    """Say which file a rerun deleted: a run keeps one evaluation per part (and one set of candidates
    per part), so a path a previous call printed stops existing."""
    if replaced is not None:
        application.warn(f"replaced the previous {what} ({replaced.options}); its file {replaced.file} is deleted")


def protocol_lines(protocol: dict) -> list[str]:
    skip = {"params", "split_params", "ks", "run"}
    lines = ["protocol:"]
    for key, value in protocol.items():
        if key in skip:
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        lines.append(f"  {key.replace('_', ' ')}: {value}")
    return lines


@handles_errors
def evaluate_command(
    ctx: typer.Context,
    run: Annotated[Optional[str], typer.Argument(help="A trained run (recsys runs list).")] = None,
    k: Annotated[
        Optional[str],
        k_option("Cut-offs, comma-separated [default: 10,20,100; with stages, those within the ranker's candidates]."),
    ] = None,
    on: Annotated[Part, typer.Option("--on", help="Which part of the run's split to evaluate.")] = Part.test,
    relevant_min_rating: Annotated[
        Optional[float],
        typer.Option(
            "--relevant-min-rating",
            help="Only interactions rated at least this are relevant (default: every interaction of the part).",
        ),
    ] = None,
    cold_start: Annotated[
        ColdStart,
        typer.Option(
            "--cold-start", help="Users without train history: the most popular items, or none (they then score 0)."
        ),
    ] = ColdStart.popular,
    predictions: Annotated[
        Optional[Path],
        typer.Option(
            "--predictions", help="Instead of a run: a CSV/Parquet file with user_id, item_id, score (optional rank)."
        ),
    ] = None,
    truth: Annotated[
        Optional[Path],
        typer.Option("--truth", help="With --predictions: CSV/Parquet with user_id, item_id (optional rating)."),
    ] = None,
    catalog_size: Annotated[
        Optional[int],
        typer.Option(
            "--catalog-size",
            help="With --predictions: the number of items, for coverage (default: items seen in either file).",
        ),
    ] = None,
    stages: Annotated[
        Optional[bool],
        typer.Option(
            "--stages/--no-stages",
            help="With a ranker: popularity, the generator alone and generator + "
            "ranker on the test part (default when the run has a ranker); --no-stages: full ranking only.",
        ),
    ] = None,
    by: Annotated[
        Optional[By],
        typer.Option(
            "--by",
            help="Also break every metric down by users' train-history length, items' popularity tier or "
            "genre, with the beyond-accuracy metrics (diversity, arp, long-tail share, gini); full ranking only.",
        ),
    ] = None,
    fmt: FormatOption = None,
) -> None:
    """Evaluate a run with full ranking (pinned metrics, docs/metrics.md), or score other tools' lists.

    The protocol is printed above the table; per-user values are saved beside the run.
    """
    application = get_app(ctx)
    ks = parse_ks(k) if k is not None else None
    if (predictions is None) != (truth is None):
        raise typer.BadParameter("--predictions and --truth go together")
    if predictions is not None and by is not None:
        raise typer.BadParameter("--by goes with a RUN: it needs the run's train part and the dataset's genres")
    if predictions is not None:
        if run is not None:
            raise typer.BadParameter("give either RUN or --predictions/--truth, not both")
        _evaluate_prediction_files(application, predictions, truth, ks, relevant_min_rating, catalog_size, fmt)
        return
    if run is None:
        raise typer.BadParameter("give a RUN, or --predictions FILE --truth FILE")
    if catalog_size is not None:
        raise typer.BadParameter("--catalog-size goes with --predictions; a run's catalogue is its dataset's items")
    if by is not None and stages:
        raise typer.BadParameter("--by breaks down the full-ranking evaluation: drop --stages")
    if stages is None:
        stages = by is None and on is Part.test and _has_ranker(application.workspace, run)
    if stages:
        _check_stage_options(on, cold_start)
        _evaluate_stages(application, run, ks, relevant_min_rating, fmt)
        return
    _evaluate_full_ranking(application, run, ks, on, relevant_min_rating, cold_start, fmt, by)


def _evaluate_prediction_files(application, predictions, truth, ks, relevant_min_rating, catalog_size, fmt) -> None:
    """``--predictions FILE --truth FILE``: score another tool's lists."""
    from recsys_cli.evaluation.predictions import evaluate_files

    evaluation = evaluate_files(
        predictions,
        truth,
        ks=ks or DEFAULT_KS,
        relevant_min_rating=relevant_min_rating,
        n_catalog_items=catalog_size,
    )
    document = {"protocol": evaluation.protocol, "metrics": evaluation.metrics}
    for note in getattr(evaluation, "warnings", []):
        application.warn(note)
    result = Result(document, [metrics_table(evaluation.metrics)], preamble=protocol_lines(evaluation.protocol))
    application.emit(result, fmt)


def _check_stage_options(on, cold_start) -> None:
    """Stages evaluate the test part, every source serving cold-start users the most popular items."""
    if on is not Part.test:
        raise typer.BadParameter("--stages evaluates the test part: the val part is the ranker's label window")
    if cold_start is not ColdStart.popular:
        raise typer.BadParameter(
            "--cold-start applies to full ranking (add --no-stages); with stages every "
            "source serves users without history the most popular items"
        )


def _evaluate_full_ranking(application, run: str, ks, on, relevant_min_rating, cold_start, fmt, by=None) -> None:
    """A run's model ranks every item for every user of the part."""
    from recsys_cli.runs.evaluate import evaluate_run

    evaluation = evaluate_run(
        application.workspace,
        run,
        ks=ks or DEFAULT_KS,
        part=on.value,
        relevant_min_rating=relevant_min_rating,
        cold_start=cold_start.value,
        by=by.value if by is not None else None,
        save=by is None,  # a breakdown is a view: the stored evaluation stays the plain one
        reporter=application.reporter(),
    )
    protocol = evaluation.protocol
    if protocol["cold_start_users"]:
        application.warn(
            f"{protocol['cold_start_users']:,} evaluated users have no train history: {protocol['cold_start']}"
        )
    warn_replaced(application, evaluation.replaced, f"evaluation of {run} on {on.value}")
    title = f"{run} ({protocol['model']}) on {protocol['dataset']}/{protocol['split']} {protocol['evaluated_part']}"
    tables, preamble = [metrics_table(evaluation.metrics, title)], protocol_lines(protocol)
    tables += rating_errors_table(evaluation.metrics, f"{title}: rating errors")
    if evaluation.breakdown is not None:
        tables += breakdown_tables(evaluation)
        preamble.append(f"  by {evaluation.breakdown['by']}: {evaluation.breakdown['definition']}")
    result = Result(evaluation.document(), tables, preamble=preamble)
    application.emit(result, fmt)


def breakdown_tables(evaluation) -> list[Table]:
    """The beyond-accuracy metrics over every list, then per K one row per bucket with every metric."""
    breakdown = evaluation.breakdown
    tables = [metrics_table(evaluation.beyond, "beyond accuracy (every evaluated user's list)", "beyond-accuracy")]
    for k in evaluation.protocol["ks"]:
        names = [key.split("@")[0] for key in (*evaluation.metrics, *evaluation.beyond) if key.endswith(f"@{k}")]
        rows = [
            [bucket["bucket"], bucket["users"], bucket["relevant"], *(bucket["metrics"].get(f"{n}@{k}") for n in names)]
            for bucket in breakdown["buckets"]
        ]
        tables.append(
            Table(
                ["bucket", "users", "relevant", *names],
                rows,
                title=f"{evaluation.run} by {breakdown['by']} @{k}",
                name=f"by-{breakdown['by']}@{k}",
            )
        )
    return tables


def _has_ranker(workspace, run: str) -> bool:
    from recsys_cli.runs.artifacts import RANKER_KIND
    from recsys_cli.runs.store import open_run

    with workspace.reading():
        return open_run(workspace, run).artifact(RANKER_KIND) is not None


def _percent(value) -> str:
    return "-" if value is None else f"{value:+.1%}"


def stage_tables(evaluation) -> list[Table]:
    """Per K: one row per stage and the ranker's relative lift; then the paired intervals."""
    from recsys_cli.evaluation.metrics import METRICS

    ks = evaluation.protocol["ks"]
    lift = evaluation.lift["ranker_vs_candidates"]
    tables = []
    for k in ks:
        names = [m for m in METRICS if f"{m}@{k}" in evaluation.metrics]
        rows = [[stage, *(evaluation.stages[stage].get(f"{m}@{k}") for m in names)] for stage in evaluation.stages]
        rows.append(["lift (ranker / candidates)", *(_percent(lift[f"{m}@{k}"]["relative"]) for m in names)])
        tables.append(
            Table(
                ["stage", *names],
                rows,
                title=f"{evaluation.run} on {evaluation.protocol['dataset']}/{evaluation.protocol['split']} test @{k}",
                name=f"stages@{k}",
            )
        )
    rows = []
    for comparison, entries in evaluation.lift.items():
        for key, entry in entries.items():
            if "interval" in entry:
                interval = entry["interval"]
                rows.append(
                    [
                        comparison.replace("_vs_", " - "),
                        key,
                        round(interval["difference"], 4),
                        round(interval["low"], 4),
                        round(interval["high"], 4),
                        "yes" if interval["excludes_zero"] else "no",
                    ]
                )
    tables.append(
        Table(
            ["comparison", "metric", "mean difference", "95% low", "95% high", "excludes 0"],
            rows,
            title="paired bootstrap over users (2,000 resamples)",
            name="intervals",
        )
    )
    return tables


def _evaluate_stages(application, run: str, ks, relevant_min_rating, fmt) -> None:
    from recsys_cli.runs.stage_evaluation import evaluate_stages

    evaluation = evaluate_stages(
        application.workspace, run, ks=ks, relevant_min_rating=relevant_min_rating, reporter=application.reporter()
    )
    protocol = evaluation.protocol
    if protocol["cold_start_users"]:
        application.warn(
            f"{protocol['cold_start_users']:,} evaluated users have no history: every source "
            "serves them the most popular items"
        )
    warn_replaced(application, evaluation.replaced, f"two-stage evaluation of {run}")
    application.emit(Result(evaluation.document(), stage_tables(evaluation), preamble=protocol_lines(protocol)), fmt)
