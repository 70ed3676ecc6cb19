"""`recsys demo`: the README's main command runs offline, end to end, and is repeatable."""

from __future__ import annotations

from pathlib import Path

from conftest import run_json

ROOT = Path(__file__).resolve().parents[1]
SMALL = ("demo", "--users", "400", "--items", "300", "--interactions", "20000")


def test_demo_runs_the_demo_recipe_and_both_stages_beat_popularity(cli):
    doc = run_json(cli, *SMALL)
    assert doc["run"] == "demo"
    assert [s["stage"] for s in doc["stages"]][:2] == ["ingest", "split"]
    assert {s["status"] for s in doc["stages"]} == {"ran"}
    generators = doc["metrics"]["generators"]
    assert {g["model"] for g in generators.values()} == {"als", "item-knn", "popular"}
    ndcg = {g["model"]: g["metrics"]["ndcg@10"] for g in generators.values()}
    assert all(0.0 <= v <= 1.0 for v in ndcg.values())
    assert ndcg["als"] > ndcg["popular"]
    stages = doc["metrics"]["stages"]
    assert set(stages["stages"]) == {"popular", "candidates", "ranker"}
    interval = stages["lift"]["ranker_vs_candidates"]["ndcg@10"]["interval"]
    assert interval["low"] <= interval["difference"] <= interval["high"]


def test_demo_twice_is_all_cached_with_identical_metrics(cli):
    first = run_json(cli, *SMALL)
    second = run_json(cli, *SMALL)
    assert {s["status"] for s in second["stages"]} == {"cached"}
    assert first["metrics"] == second["metrics"]


def test_recipes_demo_is_the_packaged_demo_recipe():
    from recsys_cli.pipeline.demo import DEMO_RECIPE

    assert (ROOT / "recipes" / "demo.toml").read_bytes() == DEMO_RECIPE.read_bytes()
