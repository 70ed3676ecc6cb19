"""`recsys train candidates` (a generator on a split) and `recsys train ranker` (LambdaRank over a run's candidates)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from recsys_cli.cli.application import ForceOption, FormatOption, choices, get_app, handles_errors
from recsys_cli.cli.output import Result, Table
from recsys_cli.errors import InvalidParameterError
from recsys_cli.ranking.params import RANKER_DEFAULTS
from recsys_cli.vocabulary import LABEL_SCHEMES, MATRIX_VALUES, MODEL_NAMES

app = typer.Typer(help="Train models: candidate generators, then a ranker over their candidates.", no_args_is_help=True)


ModelName = choices("ModelName", MODEL_NAMES)
Values = choices("Values", MATRIX_VALUES)


def _option(help: str, models: str):
    return typer.Option(help=f"{help} [{models}]", show_default=False, rich_help_panel="Model parameters")


@app.command("candidates")
@handles_errors
def train_candidates_command(
    ctx: typer.Context,
    dataset: Annotated[str, typer.Argument(help="An ingested dataset (recsys datasets list).")],
    split: Annotated[str, typer.Option("--split", help="A split of the dataset (recsys datasets show DATASET).")],
    model: Annotated[ModelName, typer.Option("--model", help="The candidate generator.", case_sensitive=False)],
    run: Annotated[str, typer.Option("--run", help="Name of the run to create (letters, digits, . _ -).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed; the same seed gives the same model.")] = 42,
    values: Annotated[
        Values, typer.Option("--values", help="Matrix values: ones (implicit feedback) or the ratings as confidence.")
    ] = Values.ones,
    factors: Annotated[
        Optional[int], _option("Latent factors (als, bpr 64; svd 100, svdpp 20).", "als, bpr, svd, svdpp")
    ] = None,
    regularization: Annotated[
        Optional[float],
        _option("L2 penalty (als 20, bpr 0.001, svd/svdpp 0.02) or EASE's lambda (500).", "als, bpr, ease, svd, svdpp"),
    ] = None,
    alpha: Annotated[Optional[float], _option("Confidence of an observed interaction (default 2).", "als")] = None,
    iterations: Annotated[
        Optional[int], _option("Sweeps / epochs (als 15, bpr 100, svd/svdpp 20).", "als, bpr, svd, svdpp")
    ] = None,
    learning_rate: Annotated[
        Optional[float], _option("SGD step size (bpr, svd 0.005; svdpp 0.007).", "bpr, svd, svdpp")
    ] = None,
    weighting: Annotated[Optional[str], _option("Confidence weighting: none, bm25, tfidf.", "als")] = None,
    neighbours: Annotated[Optional[int], _option("Similar items kept per item (default 100).", "item-knn")] = None,
    similarity: Annotated[Optional[str], _option("cosine, bm25 or tfidf (default bm25).", "item-knn")] = None,
    bm25_k1: Annotated[Optional[float], _option("BM25 K1 (als 100, item-knn 1.2).", "als, item-knn with bm25")] = None,
    bm25_b: Annotated[Optional[float], _option("BM25 B (als 0.8, item-knn 0.3).", "als, item-knn with bm25")] = None,
    window_days: Annotated[Optional[float], _option("Count only the last N days of train.", "popular")] = None,
    memory_fraction: Annotated[
        Optional[float], _option("Refuse above this share of physical memory (default 0.5).", "ease")
    ] = None,
    max_items: Annotated[
        Optional[int],
        _option("Keep only the N most popular items; the others are never recommended (default: all).", "ease"),
    ] = None,
    min_df: Annotated[
        Optional[int], _option("Drop metadata terms fewer than N items share (default 1: keep all).", "content")
    ] = None,
    title_weight: Annotated[
        Optional[float], _option("Weight of title words against genres (default 0.5; 0: none).", "content")
    ] = None,
    decade_weight: Annotated[
        Optional[float], _option("Weight of release-decade terms against genres (default 1; 0: none).", "content")
    ] = None,
    tag_weight: Annotated[
        Optional[float], _option("Weight of tags people applied, against genres (default 0: off).", "content, hybrid")
    ] = None,
    param: Annotated[
        Optional[list[str]],
        typer.Option(
            "--param",
            "-p",
            help="Any model parameter as NAME=VALUE, repeatable (every model's are in docs/models.md).",
            rich_help_panel="Model parameters",
        ),
    ] = None,
    force: ForceOption = False,
    fmt: FormatOption = None,
) -> None:
    """Train a candidate generator on the train part of a split; saves the model under runs/RUN/.

    Parameters a model does not have are refused. Shipped defaults are tuned on ML-100K (docs/models.md).
    """
    from recsys_cli.runs.training import train_candidates

    given = {
        "factors": factors,
        "regularization": regularization,
        "alpha": alpha,
        "iterations": iterations,
        "learning_rate": learning_rate,
        "weighting": weighting,
        "neighbours": neighbours,
        "similarity": similarity,
        "bm25_k1": bm25_k1,
        "bm25_b": bm25_b,
        "window_days": window_days,
        "memory_fraction": memory_fraction,
        "max_items": max_items,
        "min_df": min_df,
        "title_weight": title_weight,
        "decade_weight": decade_weight,
        "tag_weight": tag_weight,
    }
    params = {key.replace("_", "-"): value for key, value in given.items() if value is not None}
    params.update(_named_params(param or [], params))
    application = get_app(ctx)
    result = train_candidates(
        application.workspace,
        dataset,
        split,
        model.value,
        run,
        params=params,
        seed=seed,
        values=values.value,
        force=force,
        reporter=application.reporter(),
    )
    if result.replaced:
        application.warn(f"replaced the existing run '{run}'")
    if result.dropped_artifacts:
        application.warn(f"dropped what was built from the old model: {', '.join(result.dropped_artifacts)}")
    application.emit(_trained_result(result, dataset, split, seed), fmt)
    application.success(f"next: recsys evaluate {run}")


def _named_params(pairs: list[str], named: dict[str, object]) -> dict[str, str]:
    """``--param NAME=VALUE`` pairs as parameters (the model checks names and values, as for the named options)."""
    params: dict[str, str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        name = name.strip().replace("_", "-")
        if not equals or not name:
            raise InvalidParameterError(f"--param '{pair}' is not NAME=VALUE", "e.g. -p warm-threshold=5")
        if name in named or name in params:
            raise InvalidParameterError(f"parameter '{name}' is given twice", "give each parameter once")
        params[name] = value.strip()
    return params


def _trained_result(result, dataset: str, split: str, seed: int) -> Result:
    run = result.run.name
    manifest = result.manifest
    document = {
        "run": run,
        "path": result.run.path,
        "model": manifest["model"],
        "params": manifest["params"],
        "dataset": dataset,
        "split": split,
        "seed": seed,
        "values": manifest["values"],
        "train_interactions": manifest["n_train_interactions"],
        "fit_seconds": manifest["fit_seconds"],
        "wall_seconds": manifest["wall_seconds"],
    }
    params_text = ", ".join(f"{k}={v}" for k, v in manifest["params"].items())
    table = Table(
        ["run", "model", "params", "train interactions", "fit s", "wall s"],
        [
            [
                run,
                manifest["model"],
                params_text or "-",
                manifest["n_train_interactions"],
                manifest["fit_seconds"],
                manifest["wall_seconds"],
            ]
        ],
        title=f"trained on {dataset}/{split}",
        name="trained",
    )
    return Result(document, [table])


LabelScheme = choices("LabelScheme", LABEL_SCHEMES)


def _ranker_option(help: str):
    return typer.Option(help=help, rich_help_panel="Ranker parameters")


def _names(values: list[str] | None) -> list[str]:
    """Repeated and/or comma-separated names as one list."""
    return [name for value in values or [] for name in value.replace(" ", "").split(",") if name]


@app.command("ranker")
@handles_errors
def train_ranker_command(
    ctx: typer.Context,
    run: Annotated[
        str, typer.Argument(help="A candidate run with label-window candidates (recsys candidates RUN --on val).")
    ],
    with_runs: Annotated[
        Optional[list[str]],
        typer.Option(
            "--with",
            help="More candidate runs on the same split: their top-N join the pool and "
            "their scores become features (repeat or comma-separate).",
        ),
    ] = None,
    features: Annotated[
        Optional[list[str]],
        typer.Option("--features", help="Feature names (recsys features list); default: every one the data supports."),
    ] = None,
    labels: Annotated[
        LabelScheme,
        typer.Option(
            "--labels", help="graded: each rating level is a grade (gain 1 to 2); binary: any interaction is 1."
        ),
    ] = LabelScheme.graded,
    num_leaves: Annotated[int, _ranker_option("Leaves per tree.")] = RANKER_DEFAULTS["num_leaves"],
    learning_rate: Annotated[float, _ranker_option("Shrinkage per tree.")] = RANKER_DEFAULTS["learning_rate"],
    trees: Annotated[int, _ranker_option("Most boosting rounds.")] = RANKER_DEFAULTS["trees"],
    early_stopping: Annotated[
        int, _ranker_option("Stop after this many rounds without a better held-out ndcg@10 (0: never).")
    ] = RANKER_DEFAULTS["early_stopping"],
    min_data_in_leaf: Annotated[int, _ranker_option("Fewest rows in a leaf.")] = RANKER_DEFAULTS["min_data_in_leaf"],
    valid_fraction: Annotated[
        float, _ranker_option("Share of the label window's users held out for early stopping.")
    ] = RANKER_DEFAULTS["valid_fraction"],
    seed: Annotated[
        int, typer.Option("--seed", help="LightGBM's seed and the held-out users' draw.")
    ] = RANKER_DEFAULTS["seed"],
    threads: Annotated[
        int,
        _ranker_option(
            "LightGBM threads. The model is identical for the same thread count; 1 (the default) "
            "reproduces on every machine."
        ),
    ] = RANKER_DEFAULTS["threads"],
    refit: Annotated[
        bool,
        typer.Option(
            "--refit/--no-refit",
            help="Refit the generators on train + val for the test window "
            "(as in production), or rank test with the models as trained on train.",
        ),
    ] = True,
    fmt: FormatOption = None,
) -> None:
    """Train a LightGBM LambdaRank ranker on a run's label window (the split's val part).

    Features read only the train part, labels only the val part; the test part is never read.
    The model is saved as LightGBM text beside the run; `recsys evaluate RUN` then compares
    popularity, the generator alone and generator + ranker on the test part.
    """
    from recsys_cli.ranking.params import RankerParams
    from recsys_cli.runs.ranker import train_ranker

    application = get_app(ctx)
    if features is not None and not _names(features):
        raise typer.BadParameter("--features needs at least one name (recsys features list); leave it out for all")
    params = RankerParams(
        num_leaves=num_leaves,
        learning_rate=learning_rate,
        trees=trees,
        early_stopping=early_stopping,
        min_data_in_leaf=min_data_in_leaf,
        valid_fraction=valid_fraction,
        seed=seed,
        threads=threads,
    )
    result = train_ranker(
        application.workspace,
        run,
        with_runs=_names(with_runs),
        features=_names(features) or None,
        labels=labels.value,
        params=params,
        refit_generators=refit,
        reporter=application.reporter(),
    )
    application.emit(_ranker_result(result), fmt)
    application.success(f"next: recsys evaluate {run}")


def _ranker_result(result) -> Result:
    run = result.run
    meta = result.meta
    pool, training = meta["pool"], meta["training"]
    summary = Table(
        [
            "sources",
            "pool rows",
            "pool recall",
            "positives",
            "users with a positive",
            "best iteration",
            "held-out ndcg@10",
        ],
        [
            [
                ", ".join(f"{s['run']} top {s['candidates']}" for s in meta["sources"]),
                pool["rows"],
                round(pool["recall"], 4),
                pool["positives"],
                training["users"],
                training["best_iteration"],
                None if training["valid_ndcg@10"] is None else round(training["valid_ndcg@10"], 4),
            ]
        ],
        title=f"ranker for {run} (label window: val, features from train)",
        name="ranker",
    )
    total = sum(value for _, value in result.importance) or 1.0
    importance = Table(
        ["feature", "gain", "share"],
        [[name, round(value, 2), f"{value / total:.1%}"] for name, value in result.importance],
        title="feature importance (total gain)",
        name="importance",
    )
    return Result(result.document(), [summary, importance])
