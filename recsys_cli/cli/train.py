"""`recsys train candidates`: fit a candidate generator on a split and register the run."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer

from recsys_cli.cli.application import ForceOption, FormatOption, get_app, handles_errors
from recsys_cli.cli.output import Result, Table

app = typer.Typer(help="Train models: candidate generators (ranker: later).", no_args_is_help=True)


class ModelName(str, Enum):
    als = "als"
    bpr = "bpr"
    item_knn = "item-knn"
    ease = "ease"
    popular = "popular"


class Values(str, Enum):
    ones = "ones"
    rating = "rating"


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
    factors: Annotated[Optional[int], _option("Latent factors (default 64).", "als, bpr")] = None,
    regularization: Annotated[
        Optional[float], _option("L2 penalty (als 20, bpr 0.001) or EASE's lambda (500).", "als, bpr, ease")
    ] = None,
    alpha: Annotated[Optional[float], _option("Confidence of an observed interaction (default 2).", "als")] = None,
    iterations: Annotated[Optional[int], _option("Sweeps / epochs (als 15, bpr 100).", "als, bpr")] = None,
    learning_rate: Annotated[Optional[float], _option("SGD step size (default 0.005).", "bpr")] = None,
    weighting: Annotated[Optional[str], _option("Confidence weighting: none, bm25, tfidf.", "als")] = None,
    neighbours: Annotated[Optional[int], _option("Similar items kept per item (default 100).", "item-knn")] = None,
    similarity: Annotated[Optional[str], _option("cosine, bm25 or tfidf (default bm25).", "item-knn")] = None,
    bm25_k1: Annotated[Optional[float], _option("BM25 K1 (als 100, item-knn 1.2).", "als, item-knn with bm25")] = None,
    bm25_b: Annotated[Optional[float], _option("BM25 B (als 0.8, item-knn 0.3).", "als, item-knn with bm25")] = None,
    window_days: Annotated[Optional[float], _option("Count only the last N days of train.", "popular")] = None,
    memory_fraction: Annotated[
        Optional[float], _option("Refuse above this share of physical memory (default 0.5).", "ease")
    ] = None,
    force: ForceOption = False,
    fmt: FormatOption = None,
) -> None:
    """Train a candidate generator on the train part of a split; saves the model under runs/RUN/.

    Parameters a model does not have are refused. Shipped defaults are tuned on ML-100K (docs/models.md).
    """
    from recsys_cli.runs.training import train_candidates

    given = {
        "factors": factors, "regularization": regularization, "alpha": alpha, "iterations": iterations,
        "learning_rate": learning_rate, "weighting": weighting, "neighbours": neighbours,
        "similarity": similarity, "bm25_k1": bm25_k1, "bm25_b": bm25_b, "window_days": window_days,
        "memory_fraction": memory_fraction,
    }
    params = {key.replace("_", "-"): value for key, value in given.items() if value is not None}
    application = get_app(ctx)
    result = train_candidates(
        application.workspace, dataset, split, model.value, run, params=params, seed=seed,
        values=values.value, force=force, reporter=application.reporter(),
    )
    if result.replaced:
        application.warn(f"replaced the existing run '{run}'")
    if result.dropped_artifacts:
        application.warn(f"dropped what was built from the old model: {', '.join(result.dropped_artifacts)}")
    manifest = result.manifest
    document = {
        "run": run, "path": result.run.path, "model": manifest["model"], "params": manifest["params"],
        "dataset": dataset, "split": split, "seed": seed, "values": manifest["values"],
        "train_interactions": manifest["n_train_interactions"], "fit_seconds": manifest["fit_seconds"],
        "wall_seconds": manifest["wall_seconds"],
    }
    params_text = ", ".join(f"{k}={v}" for k, v in manifest["params"].items())
    table = Table(
        ["run", "model", "params", "train interactions", "fit s", "wall s"],
        [[run, manifest["model"], params_text or "-", manifest["n_train_interactions"],
          manifest["fit_seconds"], manifest["wall_seconds"]]],
        title=f"trained on {dataset}/{split}",
    )
    application.emit(Result(document, [table]), fmt)
    application.success(f"next: recsys evaluate {run}")
