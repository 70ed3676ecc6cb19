"""ALS with the shipped defaults on the real ML-100K: the quality bar docs/models.md promises."""

from __future__ import annotations

import pytest

from tests.support import ingest_and_split_ml100k, run_json


@pytest.mark.realdata
def test_als_defaults_beat_popularity_on_ml100k(cli, shared_datasets):
    ingest_and_split_ml100k(
        cli, shared_datasets, "rpu", "--strategy", "random-per-user", "--test-fraction", "0.25", "--seed", "42"
    )
    ndcg = {}
    for model in ("als", "popular"):
        trained = run_json(cli, "train", "candidates", "ml-100k", "--split", "rpu", "--model", model, "--run", model)
        assert trained["seed"] == 42
        doc = run_json(cli, "evaluate", model, "--k", "10")
        assert doc["protocol"]["users_evaluated"] == 943
        ndcg[model] = doc["metrics"]["ndcg@10"]
    assert ndcg["als"] >= 0.442, ndcg
    assert ndcg["popular"] < 0.3, ndcg
    assert ndcg["als"] > ndcg["popular"], ndcg
