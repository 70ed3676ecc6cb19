"""RMSE and MAE (docs/metrics.md): a hand-computed case, a plain-Python reference, and bad inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recsys_cli.errors import InvalidParameterError
from recsys_cli.evaluation.rating_errors import RATING_ERRORS, mae, rating_errors, rmse


def test_hand_computed():
    # errors 0.5, -1, 0, 2.5: squares 0.25 + 1 + 0 + 6.25 = 7.5; absolutes 0.5 + 1 + 0 + 2.5 = 4
    predicted, actual = [3.5, 2.0, 4.0, 3.5], [3.0, 3.0, 4.0, 1.0]
    assert rmse(predicted, actual) == pytest.approx(math.sqrt(7.5 / 4))
    assert mae(predicted, actual) == pytest.approx(1.0)
    assert rating_errors(predicted, actual) == {"rmse": pytest.approx(1.3693063937629153), "mae": pytest.approx(1.0)}
    assert tuple(rating_errors(predicted, actual)) == RATING_ERRORS


def test_perfect_predictions_have_no_error():
    assert rmse([1, 2, 5], [1, 2, 5]) == 0 and mae([1, 2, 5], [1, 2, 5]) == 0


def test_rmse_weighs_large_errors_more_than_mae():
    # the same total absolute error, spread or in one place
    assert mae([2, 2, 2, 2], [1, 1, 1, 1]) == mae([5, 1, 1, 1], [1, 1, 1, 1]) == 1
    assert rmse([2, 2, 2, 2], [1, 1, 1, 1]) == 1 and rmse([5, 1, 1, 1], [1, 1, 1, 1]) == 2


@pytest.mark.parametrize("seed", range(5))
def test_matches_a_plain_reference(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 500))
    predicted, actual = rng.uniform(0.5, 5, n), rng.integers(1, 6, n).astype(float)
    reference_rmse = math.sqrt(sum((p - a) ** 2 for p, a in zip(predicted, actual)) / n)
    reference_mae = sum(abs(p - a) for p, a in zip(predicted, actual)) / n
    assert rmse(predicted, actual) == pytest.approx(reference_rmse, rel=1e-12)
    assert mae(predicted, actual) == pytest.approx(reference_mae, rel=1e-12)


def test_matches_surprise_accuracy():
    from surprise import accuracy
    from surprise.prediction_algorithms.predictions import Prediction

    rng = np.random.default_rng(1)
    predicted, actual = rng.uniform(1, 5, 50), rng.integers(1, 6, 50).astype(float)
    predictions = [Prediction(u, 0, a, p, {}) for u, (p, a) in enumerate(zip(predicted, actual))]
    assert rmse(predicted, actual) == pytest.approx(accuracy.rmse(predictions, verbose=False), rel=1e-12)
    assert mae(predicted, actual) == pytest.approx(accuracy.mae(predictions, verbose=False), rel=1e-12)


@pytest.mark.parametrize(
    "predicted, actual, fragment",
    [
        ([1.0, 2.0], [1.0], "1-D arrays of one length"),
        ([[1.0]], [[1.0]], "1-D arrays of one length"),
        ([], [], "no ratings"),
        ([float("nan")], [1.0], "finite"),
        ([1.0], [float("inf")], "finite"),
    ],
)
@pytest.mark.parametrize("function", [rmse, mae, rating_errors])
def test_bad_inputs_are_refused(function, predicted, actual, fragment):
    with pytest.raises(InvalidParameterError, match=fragment):
        function(predicted, actual)
