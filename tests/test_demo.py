"""`recsys demo`: the README's main command runs offline, end to end, and is repeatable."""

from __future__ import annotations

from conftest import run_json

from recsys_cli.pipeline.demo import DEMO_MODELS


def test_demo_trains_and_evaluates_every_demo_model_and_als_beats_popularity(cli):
    doc = run_json(cli, "demo", "--users", "400", "--items", "300", "--interactions", "20000")
    assert doc["dataset"]["interactions"] == 20000
    candidates = doc["candidates"]
    assert sorted(value["model"] for value in candidates.values()) == sorted(DEMO_MODELS)
    ndcg = {value["model"]: value["metrics"]["ndcg@10"] for value in candidates.values()}
    assert all(0.0 <= v <= 1.0 for v in ndcg.values())
    assert ndcg["als"] > ndcg["popular"]
    ranker = doc["ranker"]
    assert ranker["run"] == "demo-als" and ranker["pool"]["positives"] > 0
    assert set(ranker["stages"]) == {"popular", "candidates", "ranker"}
    interval = ranker["lift"]["ranker_vs_candidates"]["ndcg@10"]["interval"]
    assert interval["low"] <= interval["difference"] <= interval["high"]


def test_demo_twice_gives_identical_metrics(cli):
    args = ("demo", "--users", "300", "--items", "200", "--interactions", "10000")
    first = run_json(cli, *args)
    second = run_json(cli, *args)
    assert first["candidates"] == second["candidates"]
    assert first["ranker"] == second["ranker"]
