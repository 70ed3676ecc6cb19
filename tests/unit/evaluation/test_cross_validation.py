"""Cross-validation statistics (recsys_cli/evaluation/cross_validation.py) against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from recsys_cli.errors import InvalidParameterError
from recsys_cli.evaluation.cross_validation import cross_validate, fold_statistics, t_quantile


def test_t_quantiles_are_students():
    # tables of Student's t, two-sided 95%: 1 df 12.706, 4 df 2.776, 9 df 2.262; the normal 1.960 in the limit
    assert t_quantile(2) == pytest.approx(12.7062047, abs=1e-6)
    assert t_quantile(5) == pytest.approx(2.7764451, abs=1e-6)
    assert t_quantile(10) == pytest.approx(2.2621572, abs=1e-6)
    assert t_quantile(100_000) == pytest.approx(1.959964, abs=1e-4)


def test_five_folds_by_hand():
    # mean 0.3; deviations -0.2 -0.1 0 0.1 0.2, squares sum to 0.1; sd = sqrt(0.1 / 4) = 0.158113883;
    # half width = 2.7764451 * 0.158113883 / sqrt(5) = 0.196324: interval [0.103676, 0.496324]
    s = fold_statistics([0.1, 0.2, 0.3, 0.4, 0.5])
    assert s.mean == pytest.approx(0.3)
    assert s.sd == pytest.approx(0.158113883, abs=1e-9)
    assert s.low == pytest.approx(0.103676, abs=1e-6)
    assert s.high == pytest.approx(0.496324, abs=1e-6)
    assert s.values == (0.1, 0.2, 0.3, 0.4, 0.5)


def test_two_folds_by_hand():
    # values 1 and 3: mean 2, sd = sqrt(((-1)^2 + 1^2) / 1) = sqrt(2); half width = 12.7062047 * sqrt(2) / sqrt(2)
    s = fold_statistics([1.0, 3.0])
    assert (s.mean, s.sd) == (2.0, pytest.approx(math.sqrt(2)))
    assert (s.low, s.high) == (pytest.approx(2 - 12.7062047, abs=1e-6), pytest.approx(2 + 12.7062047, abs=1e-6))


def test_equal_folds_have_a_zero_width_interval():
    s = fold_statistics([0.25, 0.25, 0.25])
    assert (s.mean, s.sd, s.low, s.high) == (0.25, 0.0, 0.25, 0.25)


def test_a_fold_without_a_value_gives_no_statistics():
    s = fold_statistics([0.1, None, 0.3])
    assert (s.mean, s.sd, s.low, s.high) == (None, None, None, None)
    assert s.to_json()["values"] == [0.1, None, 0.3]


def test_every_metric_of_the_folds_in_fold_ones_order():
    result = cross_validate([{"b@10": 1.0, "a@10": 0.0}, {"a@10": 1.0, "b@10": 3.0}])
    assert list(result) == ["b@10", "a@10"]
    assert result["b@10"].mean == 2.0 and result["a@10"].mean == 0.5
    assert result["a@10"].to_json() == {
        "mean": 0.5,
        "sd": pytest.approx(math.sqrt(0.5)),
        "low": pytest.approx(0.5 - 12.7062047 * 0.5, abs=1e-6),
        "high": pytest.approx(0.5 + 12.7062047 * 0.5, abs=1e-6),
        "values": [0.0, 1.0],
    }


def test_refusals():
    with pytest.raises(InvalidParameterError, match="at least 2 folds, not 1"):
        fold_statistics([0.5])
    with pytest.raises(InvalidParameterError, match="no folds"):
        cross_validate([])
    with pytest.raises(InvalidParameterError, match="fold 2 was evaluated with other metrics than fold 1"):
        cross_validate([{"ndcg@10": 0.1}, {"ndcg@20": 0.1}])
