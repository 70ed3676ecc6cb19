"""Who is served badly on the real ML-100K (docs/metrics.md, "Who is served badly"): ALS and popularity
broken down by train-history length and by item popularity, with the beyond-accuracy metrics."""

from __future__ import annotations

import pytest

from tests.support import ingest_and_split_ml100k, run_json


@pytest.mark.realdata
def test_breakdown_on_ml100k(cli, shared_datasets):
    ingest_and_split_ml100k(
        cli, shared_datasets, "rpu", "--strategy", "random-per-user", "--test-fraction", "0.25", "--seed", "42"
    )
    docs = {}
    for model in ("als", "popular"):
        run_json(cli, "train", "candidates", "ml-100k", "--split", "rpu", "--model", model, "--run", model)
        for by in ("user-activity", "item-popularity"):
            docs[model, by] = run_json(cli, "evaluate", model, "--k", "10", "--by", by)

    def ndcg(model, by):
        return {b["bucket"]: b["metrics"].get("ndcg@10") for b in docs[model, by]["breakdown"]["buckets"]}

    def users(model, by):
        return {b["bucket"]: b["users"] for b in docs[model, by]["breakdown"]["buckets"]}

    # every ML-100K user rated at least 20 movies, so at least 15 stay in train: the short-history
    # buckets are empty rows; the more history, the better ALS ranks the user's test items
    assert users("als", "user-activity") == {"0": 0, "1-5": 0, "6-20": 172, "21-100": 502, ">100": 269}
    by_activity = ndcg("als", "user-activity")
    assert by_activity["6-20"] < by_activity["21-100"] < by_activity[">100"], by_activity
    # head: 58 items hold 20% of train interactions; the tail is most of the catalogue
    tiers = docs["als", "item-popularity"]["breakdown"]["items_per_tier"]
    assert tiers["head"] == 58 and sum(tiers.values()) == 1682 and tiers["tail"] > 1000, tiers
    # ALS finds head items far more easily than torso ones, and tail ones hardly at all
    by_tier = ndcg("als", "item-popularity")
    assert by_tier["head"] > by_tier["torso"] > by_tier["tail"], by_tier
    assert by_tier["tail"] < 0.01, by_tier
    # popularity's top 10 are all head items: it never hits a torso or tail item
    popular_tiers = {b["bucket"]: b["metrics"] for b in docs["popular", "item-popularity"]["breakdown"]["buckets"]}
    assert popular_tiers["torso"]["recall@10"] == 0 and popular_tiers["tail"]["recall@10"] == 0
    als, popular = docs["als", "user-activity"]["beyond_accuracy"], docs["popular", "user-activity"]["beyond_accuracy"]
    assert popular["long_tail_share@10"] == 0
    assert als["arp@10"] < popular["arp@10"], (als, popular)  # ALS recommends less popular items
    assert als["gini@10"] < popular["gini@10"] < 1, (als, popular)  # and spreads exposure more evenly
    assert 0.5 < als["diversity@10"] < 1, als
