"""Paired bootstrap intervals: cases with a known right answer, and the CLI's use of them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys_cli.errors import InvalidParameterError
from recsys_cli.evaluation.significance import paired_bootstrap
from tests.support import run_json


def test_identical_runs_differ_by_exactly_zero():
    a = np.random.default_rng(1).random(500)
    interval = paired_bootstrap(a, a.copy())
    assert (interval.difference, interval.low, interval.high) == (0.0, 0.0, 0.0)
    assert not interval.excludes_zero


def test_a_constant_shift_is_the_whole_interval():
    a = np.random.default_rng(2).random(300)
    interval = paired_bootstrap(a, a + 0.25)
    assert interval.difference == pytest.approx(0.25)
    assert interval.low == pytest.approx(0.25) and interval.high == pytest.approx(0.25)
    assert interval.excludes_zero


def test_width_matches_the_normal_approximation_and_covers_the_truth():
    rng = np.random.default_rng(3)
    a = rng.random(4000)
    b = a + rng.normal(0.1, 1.0, a.size)
    interval = paired_bootstrap(a, b, n_resamples=2000, seed=0)
    half_width = 1.96 * np.std(b - a, ddof=1) / np.sqrt(a.size)
    assert (interval.high - interval.low) / 2 == pytest.approx(half_width, rel=0.15)
    assert interval.low < 0.1 < interval.high
    assert interval.low < interval.difference < interval.high


def test_the_same_seed_gives_the_same_interval():
    rng = np.random.default_rng(4)
    a, b = rng.random(200), rng.random(200)
    assert paired_bootstrap(a, b, seed=7) == paired_bootstrap(a, b, seed=7)


@pytest.mark.parametrize(
    "a, b, kwargs",
    [
        (np.zeros(3), np.zeros(4), {}),
        (np.zeros(0), np.zeros(0), {}),
        (np.zeros(3), np.zeros(3), {"confidence": 1.0}),
        (np.zeros(3), np.zeros(3), {"n_resamples": 0}),
    ],
)
def test_bad_inputs(a, b, kwargs):
    with pytest.raises(InvalidParameterError):
        paired_bootstrap(a, b, **kwargs)


def test_runs_compare_gives_paired_intervals_against_the_first_run(cli):
    run_json(cli, "ingest", "synthetic", "--name", "syn", "--users", "300", "--items", "200", "--interactions", "8000")
    run_json(cli, "split", "syn", "--name", "s", "--strategy", "random-per-user", "--test-fraction", "0.25")
    run_json(cli, "split", "syn", "--name", "t", "--strategy", "temporal", "--test-fraction", "0.2")
    for model, split, run in (("popular", "s", "pop"), ("als", "s", "als"), ("als", "t", "als-t")):
        run_json(cli, "train", "candidates", "syn", "--split", split, "--model", model, "--run", run)
        run_json(cli, "evaluate", run, "--k", "10")
    doc = run_json(cli, "runs", "compare", "pop", "als")
    differences = doc["differences"]
    assert differences["baseline"] == "pop"
    ndcg = differences["runs"]["als"]["ndcg@10"]
    metrics = doc["runs"]
    difference = metrics["als"]["metrics"]["ndcg@10"] - metrics["pop"]["metrics"]["ndcg@10"]
    assert ndcg["difference"] == pytest.approx(difference)
    assert ndcg["low"] <= ndcg["difference"] <= ndcg["high"] and ndcg["excludes_zero"]
    assert set(differences["runs"]["als"]) == {"ndcg@10", "recall@10"}
    # the same users are needed for a paired test: another split has other test users
    other = cli("runs", "compare", "pop", "als-t", "--format", "json")
    assert other.exit_code == 0 and "different users" in other.stderr
    assert json.loads(other.stdout)["differences"]["runs"] == {}


def test_many_metrics_at_once_give_each_metric_the_single_metric_interval():
    from recsys_cli.evaluation.significance import paired_bootstrap_many

    rng = np.random.default_rng(3)
    a = rng.random((500, 3))
    b = a + rng.normal([0.0, 0.05, -0.05], 0.1, size=(500, 3))
    together = paired_bootstrap_many(a, b)
    for column, interval in enumerate(together):
        alone = paired_bootstrap(a[:, column], b[:, column])
        assert interval.difference == pytest.approx(alone.difference, abs=1e-15)
        assert (interval.low, interval.high) == pytest.approx((alone.low, alone.high), abs=1e-12)
        # the definition: resample users with the seeded draws, mean of the gathered differences
        difference, draws = b[:, column] - a[:, column], np.random.default_rng(0)
        means = np.concatenate([difference[draws.integers(0, 500, size=(100, 500))].mean(axis=1) for _ in range(20)])
        assert (interval.low, interval.high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])), abs=1e-12)
    assert not together[0].excludes_zero and together[1].low > 0 and together[2].high < 0


def test_many_metrics_refuse_arrays_of_different_shapes():
    from recsys_cli.evaluation.significance import paired_bootstrap_many

    with pytest.raises(InvalidParameterError):
        paired_bootstrap_many(np.zeros((3, 2)), np.zeros((3, 3)))
