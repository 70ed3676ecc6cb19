"""`recsys split`: train/val/test Parquet files of a dataset, registered in the catalog."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from recsys_cli.cli.application import FormatOption, choices, get_app, handles_errors
from recsys_cli.cli.output import Result, Table
from recsys_cli.data.split_strategies import STRATEGIES

Strategy = choices("Strategy", STRATEGIES)


def split_result(result) -> Result:
    record = result.split
    summary = result.summary
    document = {
        "dataset": record.dataset,
        "split": record.name,
        "strategy": record.strategy,
        "params": record.params,
        "path": record.path,
        "replaced": result.replaced,
        "dropped_runs": result.dropped_runs,
        "summary": summary,
    }
    rows = [
        [part, *(summary[part][key] for key in ("interactions", "users", "items", "fraction"))]
        for part in ("train", "val", "test")
    ]
    table = Table(
        ["part", "interactions", "users", "items", "fraction"],
        rows,
        title=f"split {record.dataset}/{record.name} ({record.strategy})",
        name="split",
    )
    return Result(document, [table])


@handles_errors
def split_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="Name of an ingested dataset (see `recsys datasets list`).")],
    name: Annotated[
        str,
        typer.Option(
            "--name", help="Name of the split to create, e.g. temporal-20 (with --folds: NAME.fold-1 ... NAME.fold-K)."
        ),
    ],
    strategy: Annotated[
        Optional[Strategy],
        typer.Option(
            "--strategy",
            help="random: a global random sample; random-per-user: the same fraction of each user; "
            "temporal: one global time cut; temporal-per-user: the last --test-fraction of each user's "
            "interactions by time; leave-last: each user's last --n interactions; cold-items: a --test-fraction of the "
            "items held out with all their interactions (new items; evaluation ranks only those); cold-users: a "
            "--test-fraction of the users held out but for their first --given interactions (new users).",
            case_sensitive=False,
        ),
    ] = None,
    folds: Annotated[
        Optional[int],
        typer.Option(
            "--folds",
            help="K-fold cross-validation: K splits NAME.fold-1 ... NAME.fold-K, each holding one fold out as "
            "test (no val); --strategy random (default) or random-per-user.",
        ),
    ] = None,
    test_fraction: Annotated[
        Optional[float],
        typer.Option(
            "--test-fraction",
            help="Share of interactions for test, in (0, 1); random, random-per-user, temporal, temporal-per-user "
            "(default 0.2); cold-items: share of the items; cold-users: share of the users with more than --given "
            "interactions.",
        ),
    ] = None,
    test_after: Annotated[
        Optional[str],
        typer.Option(
            "--test-after",
            help="temporal: test is every interaction at or after this ISO date/time (UTC unless it has an "
            "offset) or epoch seconds; instead of --test-fraction.",
        ),
    ] = None,
    n: Annotated[
        Optional[int],
        typer.Option("--n", help="leave-last: how many of each user's last interactions go to test (default 1)."),
    ] = None,
    val_fraction: Annotated[
        Optional[float],
        typer.Option(
            "--val-fraction",
            help="Share of interactions for validation; random, random-per-user, temporal, temporal-per-user "
            "(the time-ordered two carve it just before the test part); cold-items: share of the items held out "
            "for validation; cold-users: share of the eligible users held out for validation. Default: no validation.",
        ),
    ] = None,
    val_after: Annotated[
        Optional[str],
        typer.Option(
            "--val-after",
            help="temporal: validation is every interaction at or after this ISO date/time (UTC unless it has an "
            "offset) or epoch seconds and before the test cut; instead of --val-fraction.",
        ),
    ] = None,
    val_n: Annotated[
        Optional[int],
        typer.Option("--val-n", help="leave-last: how many interactions before the test ones go to validation."),
    ] = None,
    given: Annotated[
        Optional[int],
        typer.Option(
            "--given",
            help="cold-users: how many of each held-out user's first interactions (by time) stay in train; the "
            "rest go to test (default 3). Users with no more than that many stay wholly in train.",
        ),
    ] = None,
    min_rating: Annotated[
        Optional[float],
        typer.Option("--min-rating", help="Before splitting, keep only ratings >= this (e.g. 4 for positives)."),
    ] = None,
    k_core: Annotated[
        Optional[int],
        typer.Option(
            "--k-core",
            help="Before splitting, drop users and items with fewer than K interactions, "
            "repeatedly, until none is left.",
        ),
    ] = None,
    seed: Annotated[
        Optional[int],
        typer.Option(
            "--seed",
            help="random, random-per-user, cold-items, cold-users: the seed (default 42); the same seed, the same "
            "split.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace an existing split of this name if no run is trained on it."),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Replace an existing split of this name and delete the runs trained on it."),
    ] = False,
    fmt: FormatOption = None,
) -> None:
    """Split a dataset into train, validation and test (Parquet files, registered in the catalog), or with
    --folds K into the K splits of a K-fold cross-validation."""
    from recsys_cli.data.splits import SplitConfig, make_split

    application = get_app(ctx)
    if folds is not None:
        from recsys_cli.cli.cross_validation import split_folds

        options = dict(test_fraction=test_fraction, test_after=test_after, n=n, val_fraction=val_fraction)
        options |= dict(val_after=val_after, val_n=val_n, given=given, min_rating=min_rating, k_core=k_core, seed=seed)
        split_folds(ctx, dataset, name, folds, strategy, options, force=force, replace=replace, fmt=fmt)
        return
    if strategy is None:
        raise typer.BadParameter("pass --strategy S (or --folds K for cross-validation)", param_hint="'--strategy'")
    config = SplitConfig(
        strategy=strategy.value,
        test_fraction=test_fraction,
        test_after=test_after,
        n=n,
        val_fraction=val_fraction,
        val_after=val_after,
        val_n=val_n,
        given=given,
        min_rating=min_rating,
        k_core=k_core,
        seed=seed,
    )
    result = make_split(
        application.workspace, dataset, name, config, force=force, replace=replace, reporter=application.reporter()
    )
    for note in result.notes:
        application.info(note)
    for warning in result.warnings:
        application.warn(warning)
    if result.replaced:
        application.warn(f"replaced the existing split '{name}'")
    application.emit(split_result(result), fmt)
