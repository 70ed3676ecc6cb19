"""New users on the real ML-100K (docs/models.md, "Cold start: new users (given N)"): the split of
recipes/ml-100k-cold-users.toml at given 3, where popularity beats ALS's fold-in and item-kNN beats ALS
with paired intervals that exclude 0, and segment-popular reproduces its measured nDCG@10."""

from __future__ import annotations

import pytest

from tests.support import ingest_and_split_ml100k, run_json


@pytest.mark.realdata
def test_given_3_on_ml100k(cli, shared_datasets):
    options = ("--strategy", "cold-users", "--given", "3", "--test-fraction", "0.2", "--seed", "42")
    ingest_and_split_ml100k(cli, shared_datasets, "cu3", *options)
    metrics = {}
    for model in ("als", "item-knn", "popular", "segment-popular"):
        run_json(cli, "train", "candidates", "ml-100k", "--split", "cu3", "--model", model, "--run", model)
        doc = run_json(cli, "evaluate", model, "--k", "10,20")
        # every ML-100K user has at least 20 ratings: all 943 are eligible, 189 held out (round_half_up(188.6))
        assert doc["protocol"]["users_evaluated"] == 189 and doc["protocol"]["cold_start_users"] == 0
        assert doc["protocol"]["cold_users"].startswith("cold-users split, given 3")
        metrics[model] = doc["metrics"]
    # measured (docs/models.md): segment-popular 0.4789, popular 0.4701, item-knn 0.4124, als 0.3816
    assert abs(metrics["segment-popular"]["ndcg@10"] - 0.4789) < 0.002
    assert abs(metrics["popular"]["ndcg@10"] - 0.4701) < 0.002
    differences = run_json(cli, "runs", "compare", "als", "popular", "item-knn", "--k", "all")["differences"]["runs"]
    # measured: popular - als +0.0885 [+0.0482, +0.1291]; item-knn - als +0.0308 [+0.0149, +0.0476]
    assert differences["popular"]["ndcg@10"]["low"] > 0, differences["popular"]["ndcg@10"]
    assert differences["item-knn"]["ndcg@10"]["low"] > 0, differences["item-knn"]["ndcg@10"]
