"""The shipped 5-fold recipe on real MovieLens 100K (recipes/ml-100k-5fold.toml, about 40 s): folds of
20,000 ratings, the numbers docs/metrics.md quotes, ALS > item-kNN > popularity with intervals apart,
and a rerun that is all cached.

Skipped without ../shared/datasets, required under CI=true (the shared_datasets fixture).
"""

from __future__ import annotations

import pytest

from tests.support import REPO, run_json, stage_statuses

SHIPPED = REPO / "recipes" / "ml-100k-5fold.toml"


@pytest.mark.realdata
def test_the_shipped_5_fold_recipe_on_ml100k(cli, shared_datasets):
    source = ("--set", f"dataset.source={shared_datasets / 'ml-100k'}")
    doc = run_json(cli, "run", str(SHIPPED), *source)
    split = run_json(cli, "datasets", "show", "ml-100k")["splits"]
    assert sorted(s["name"] for s in split) == [f"random-5fold.fold-{i}" for i in range(1, 6)]
    generators = doc["metrics"]["generators"]
    ndcg = {short: g["cross_validation"]["metrics"]["ndcg@10"] for short, g in generators.items()}
    # docs/metrics.md, "Cross-validation" quotes these (4 decimals)
    assert round(ndcg["als"]["mean"], 4) == 0.4507 and round(ndcg["als"]["sd"], 4) == 0.0031
    assert round(ndcg["knn"]["mean"], 4) == 0.3788 and round(ndcg["pop"]["mean"], 4) == 0.2188
    # the folds move the metric far less than the models differ: the intervals do not overlap
    assert ndcg["als"]["low"] > ndcg["knn"]["high"] and ndcg["knn"]["low"] > ndcg["pop"]["high"]
    # a rating model: its rmse over the folds, near scikit-surprise's 0.934, and gated on (the recipe's [checks])
    rmse = generators["svd"]["cross_validation"]["metrics"]["rmse"]
    assert 0.90 < rmse["low"] < rmse["mean"] < rmse["high"] < 0.97
    assert [(c["requirement"], c["passed"]) for c in doc["checks"]] == [
        ("generators.als.ndcg@10 >= 0.44", True),
        ("generators.svd.rmse <= 0.95", True),
    ]
    for short, generator in generators.items():
        users = generator["protocol"]["per_fold"]["users_evaluated"]
        assert len(users) == 5 and all(900 <= n <= 943 for n in users), (short, users)
    assert doc["headline"] == {"measure": "generators.als.ndcg@10", "value": ndcg["als"]["mean"]}
    again = run_json(cli, "run", str(SHIPPED), *source)
    assert set(stage_statuses(again).values()) == {"cached"} and again["metrics"] == doc["metrics"]
