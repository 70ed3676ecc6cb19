"""svd on the real ML-100K (docs/models.md, "Rating prediction"): one 80/20 random split reproduces the
accuracy of surprise's published table (SVD: RMSE 0.934, MAE 0.737 over 5 folds)."""

from __future__ import annotations

import pytest

from tests.support import REPO, ingest_and_split_ml100k, run_json


@pytest.mark.realdata
def test_svd_rmse_on_ml100k_matches_surprise_table(cli, shared_datasets):
    ingest_and_split_ml100k(cli, shared_datasets, "r", "--strategy", "random", "--test-fraction", "0.2", "--seed", "42")
    trained = run_json(cli, "train", "candidates", "ml-100k", "--split", "r", "--model", "svd", "--run", "svd")
    assert trained["values"] == "rating" and trained["train_interactions"] == 80_000
    evaluation = run_json(cli, "evaluate", "svd", "--k", "10")
    metrics, rated = evaluation["metrics"], evaluation["protocol"]["rated"]
    assert rated["ratings"] == 20_000 and rated["of_users_without_train"] == 0
    # measured: split seed 42 RMSE 0.9347, MAE 0.7391 (split seeds 1 and 2: 0.9275 / 0.7335, 0.9332 / 0.7356);
    # a mean predictor scores about 1.12 RMSE here, so the band says the factors learned something
    assert 0.92 <= metrics["rmse"] <= 0.95, metrics
    assert 0.72 <= metrics["mae"] <= 0.75, metrics


@pytest.mark.slow  # about 90 s (svdpp: 16 s a fold): `pytest -m slow`
@pytest.mark.realdata
def test_the_shipped_ratings_recipe_reproduces_surprise_published_5_fold_table(cli, shared_datasets):
    recipe = REPO / "recipes" / "ml-100k-ratings-5fold.toml"
    doc = run_json(cli, "run", str(recipe), "--set", f"dataset.source={shared_datasets / 'ml-100k'}")
    published = {"svd": (0.934, 0.737), "svdpp": (0.919, 0.721)}  # scikit-surprise's README, ML-100K, 5 folds
    for run, (rmse, mae) in published.items():
        measured = doc["metrics"]["generators"][run]["cross_validation"]["metrics"]
        assert abs(measured["rmse"]["mean"] - rmse) < 0.01 and abs(measured["mae"]["mean"] - mae) < 0.01, measured
    assert all(check["passed"] for check in doc["checks"])
