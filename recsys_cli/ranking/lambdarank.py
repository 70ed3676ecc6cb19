"""LightGBM LambdaRank: labels, query groups, training with early stopping, the model as text.

Rows arrive sorted by user, so each user's candidates are one contiguous query group.
Training is deterministic: ``deterministic=True``, row-wise histograms, a fixed thread
count and seed, no bagging; the same inputs give a byte-identical model text.
The model is kept as LightGBM's own text format (never pickle), which
``lightgbm.Booster(model_str=...)`` parses without executing anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from recsys_cli.errors import CorruptArtifactError, InvalidParameterError
from recsys_cli.ranking.model_text import checked_model_text
from recsys_cli.ranking.params import RankerParams
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.vocabulary import LABEL_SCHEMES

# LightGBM's default label_gain has 31 entries (2^i - 1); past that every grade needs a gain
# and the gains of the top grades overflow what NDCG can tell apart.
MAX_GRADES = 31
MAX_QUERY_ROWS = 10_000  # LightGBM refuses a query (one user's candidates) with more rows
EVAL_AT = 10
RETRAIN_HINT = "train the ranker again: recsys train ranker RUN"


@dataclass(frozen=True)
class Labels:
    """Per-row integer grades (0 = no interaction in the label window) and the gain of each grade."""

    grades: np.ndarray
    gains: list[float]
    levels: list[float]  # the rating behind grade i + 1
    scheme: str


def grade_labels(ratings: np.ndarray, scheme: str = "graded") -> Labels:
    """Grades from the label window's ratings (NaN = the pair was not interacted with).

    ``graded``: every distinct rating level is one grade, and its gain rises linearly from 1 (the
    lowest rating) to 2 (the highest): any interaction counts, a higher rating counts up to twice.
    ``binary``: an interaction is grade 1 whatever its rating.
    """
    if scheme not in LABEL_SCHEMES:
        raise InvalidParameterError(f"unknown label scheme '{scheme}'", f"use one of {', '.join(LABEL_SCHEMES)}")
    ratings = np.asarray(ratings, dtype=np.float64)
    positive = ~np.isnan(ratings)
    levels = np.unique(ratings[positive]) if scheme == "graded" else np.zeros(0)
    if levels.size <= 1:
        # one rating level (or implicit data): graded and binary are the same labels
        return Labels(positive.astype(np.int32), [0.0, 1.0], [], "binary")
    if levels.size > MAX_GRADES:
        raise InvalidParameterError(
            f"the label window has {levels.size} distinct ratings, more grades than LightGBM's "
            f"lambdarank handles ({MAX_GRADES})",
            "pass --labels binary, or round the ratings when ingesting",
        )
    grades = np.zeros(ratings.size, dtype=np.int32)
    grades[positive] = np.searchsorted(levels, ratings[positive]) + 1
    span = float(levels[-1] - levels[0])
    gains = [0.0] + [round(1.0 + float(level - levels[0]) / span, 6) for level in levels]
    return Labels(grades, gains, [float(v) for v in levels], "graded")


def group_sizes(users: np.ndarray) -> np.ndarray:
    """Rows per user for rows sorted by user (LightGBM's ``group``)."""
    if users.size and np.any(np.diff(users) < 0):
        raise InvalidParameterError("ranker rows must be sorted by user", "sort the pool by (user, item)")
    _, counts = np.unique(users, return_counts=True)
    if counts.size and counts.max() > MAX_QUERY_ROWS:
        raise InvalidParameterError(
            f"a user has {int(counts.max()):,} candidates, more than the {MAX_QUERY_ROWS:,} rows LightGBM's "
            "lambdarank takes in one query",
            "make fewer candidates per source (recsys candidates RUN --on val -k N)",
        )
    return counts


def lightgbm_params(params: RankerParams, gains: list[float]) -> dict[str, Any]:
    return {
        "objective": "lambdarank",
        "metric": "ndcg",
        "eval_at": [EVAL_AT],
        "label_gain": gains,
        "num_leaves": params.num_leaves,
        "learning_rate": params.learning_rate,
        "min_data_in_leaf": params.min_data_in_leaf,
        "seed": params.seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": params.threads,
        "feature_pre_filter": False,
        "verbosity": -1,
    }


@dataclass
class TrainedRanker:
    model_text: str
    best_iteration: int
    trees: int
    valid_ndcg: float | None
    importance: dict[str, float]  # total gain per feature column
    seconds: float


def train_lambdarank(
    features: np.ndarray,
    grades: np.ndarray,
    users: np.ndarray,
    columns: list[str],
    gains: list[float],
    params: RankerParams,
    *,
    reporter: Reporter = SILENT,
) -> TrainedRanker:
    """Fit on the label window's users, early-stopping on a held-out share of them (ndcg@10).

    Users are assigned to the held-out share by a seeded permutation, whole groups at a time.
    """
    import time

    import lightgbm as lgb

    params = params.validated()
    distinct = np.unique(users)
    n_valid = int(math.floor(distinct.size * params.valid_fraction + 0.5))
    if distinct.size < 2 or n_valid < 1 or n_valid >= distinct.size:
        raise InvalidParameterError(
            f"the label window has {distinct.size} user(s) with a positive candidate: too few to hold "
            f"{params.valid_fraction:g} of them out for early stopping",
            "widen the label window (a larger --val-fraction or --val-n when splitting) or raise the candidates' -k",
        )
    held_out = np.zeros(int(distinct.max()) + 1, dtype=bool)
    held_out[np.random.default_rng(params.seed).permutation(distinct)[:n_valid]] = True
    valid_rows = held_out[users]
    config = lightgbm_params(params, gains)
    fit = lgb.Dataset(
        features[~valid_rows],
        grades[~valid_rows],
        group=group_sizes(users[~valid_rows]),
        feature_name=columns,
        free_raw_data=True,
        params={"verbosity": -1},
    )
    valid = lgb.Dataset(
        features[valid_rows],
        grades[valid_rows],
        group=group_sizes(users[valid_rows]),
        reference=fit,
    )
    evals: dict[str, Any] = {}
    started = time.perf_counter()
    with reporter.task(f"training LambdaRank on {int((~valid_rows).sum()):,} rows", total=params.trees) as task:
        callbacks = [lgb.record_evaluation(evals), lambda env: task.advance(1)]
        if params.early_stopping:
            callbacks.append(lgb.early_stopping(params.early_stopping, first_metric_only=True, verbose=False))
        booster = lgb.train(
            config,
            fit,
            num_boost_round=params.trees,
            valid_sets=[valid],
            valid_names=["valid"],
            callbacks=callbacks,
        )
    seconds = time.perf_counter() - started
    best = booster.best_iteration or booster.current_iteration()
    curve = evals.get("valid", {}).get(f"ndcg@{EVAL_AT}", [])
    gain = booster.feature_importance("gain", iteration=best)
    return TrainedRanker(
        booster.model_to_string(num_iteration=best),
        int(best),
        # lgb.train trims the booster to its best iteration: the curve says how many were grown
        len(curve) or int(booster.current_iteration()),
        float(curve[best - 1]) if len(curve) >= best else None,
        {name: float(value) for name, value in zip(columns, gain)},
        seconds,
    )


def load_ranker(text: str | bytes, columns: list[str], what: str = "ranker.txt", hint: str = RETRAIN_HINT):
    """A booster from its model text, checked to expect exactly ``columns``.

    The text is untrusted: :func:`~recsys_cli.ranking.model_text.checked_model_text` checks its structure
    (and that it is UTF-8) before LightGBM parses the checked header and trees.
    """
    import lightgbm as lgb

    checked = checked_model_text(text, columns, what, hint)
    try:
        booster = lgb.Booster(model_str=checked.text)
    except lgb.basic.LightGBMError as error:
        raise CorruptArtifactError(f"{what} is not a LightGBM model: {str(error).splitlines()[0]}", hint) from None
    if booster.feature_name() != columns:
        raise CorruptArtifactError(f"{what} expects features {booster.feature_name()}, not {columns}", hint)
    return booster


def predict(booster, features: np.ndarray, threads: int = 1) -> np.ndarray:
    return booster.predict(features, num_threads=threads).astype(np.float64)
