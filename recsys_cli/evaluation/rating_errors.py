"""Rating-prediction errors (docs/metrics.md): RMSE and MAE over every rating of the evaluated part.

    rmse = sqrt(mean((predicted - actual)^2))      mae = mean(|predicted - actual|)

One value per rated row (a pair rated twice counts twice, as the part holds it), the means over
all rows, not per user first: the definition of the rating-prediction literature (the Netflix
Prize, surprise's ``accuracy.rmse``), so the numbers compare with published tables. Knows no model:
predictions and ratings in, numbers out.
"""

from __future__ import annotations

import numpy as np

from recsys_cli.errors import InvalidParameterError

RATING_ERRORS = ("rmse", "mae")


def _check(predicted, actual) -> tuple[np.ndarray, np.ndarray]:
    predicted = np.asarray(predicted, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if predicted.ndim != 1 or predicted.shape != actual.shape:
        raise InvalidParameterError(
            f"predicted and actual ratings must be 1-D arrays of one length, got shapes {predicted.shape} "
            f"and {actual.shape}",
            "pass one prediction per rated row",
        )
    if predicted.size == 0:
        raise InvalidParameterError("there are no ratings to measure errors over", "evaluate a part with ratings")
    if not (np.isfinite(predicted).all() and np.isfinite(actual).all()):
        raise InvalidParameterError("predicted and actual ratings must be finite numbers")
    return predicted, actual


def rmse(predicted, actual) -> float:
    """Root mean squared error over every pair."""
    predicted, actual = _check(predicted, actual)
    return float(np.sqrt(np.mean(np.square(predicted - actual))))


def mae(predicted, actual) -> float:
    """Mean absolute error over every pair."""
    predicted, actual = _check(predicted, actual)
    return float(np.mean(np.abs(predicted - actual)))


def rating_errors(predicted, actual) -> dict[str, float]:
    """``{"rmse": ..., "mae": ...}`` (the keys of RATING_ERRORS, in that order)."""
    return {"rmse": rmse(predicted, actual), "mae": mae(predicted, actual)}
