"""`recsys demo`: the README's main command runs offline, end to end, and is repeatable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from recsys_cli.pipeline.demo import DEMO_RECIPE, demo_recipe
from recsys_cli.pipeline.recipe import load_recipe
from tests.support import REPO, run_json

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SMALL = ("demo", "--users", "400", "--items", "300", "--interactions", "20000")
# the recipe `recsys demo` with SMALL runs: recipes/demo.toml with its size options (and the default seed)
SMALL_SETS = ["dataset.users=400", "dataset.items=300", "dataset.interactions=20000", "dataset.seed=42"]
RECIPES_DEMO = REPO / "recipes" / "demo.toml"


def test_demo_runs_the_demo_recipe_and_both_stages_beat_popularity(cli):
    doc = run_json(cli, *SMALL)
    assert doc["run"] == "demo"
    assert Path(doc["recipe"]).resolve() == RECIPES_DEMO.resolve()
    recorded = run_json(cli, "runs", "show", "demo")["manifest"]["recipe"]
    assert recorded == json.loads(load_recipe(RECIPES_DEMO, SMALL_SETS).canonical_json())
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
    """recipes/demo.toml is a link to the recipe inside the package (so a wheel carries it and an installed
    workbench has it), not a copy that could drift; `recsys demo` runs that recipe with its size options."""
    packaged = REPO / "recsys_cli" / "pipeline" / "demo.toml"
    assert RECIPES_DEMO.is_symlink(), "recipes/demo.toml must link to the packaged recipe, not copy it"
    assert RECIPES_DEMO.resolve() == packaged.resolve()
    wheel = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert "recsys_cli" in wheel["packages"] and not wheel.get("exclude"), wheel
    # the file the code loads is the one the link shows, and the demo is that recipe plus the size options
    assert load_recipe(DEMO_RECIPE).config == load_recipe(RECIPES_DEMO).config
    assert demo_recipe(users=400, items=300, interactions=20000).config == load_recipe(RECIPES_DEMO, SMALL_SETS).config
    assert demo_recipe().config == load_recipe(RECIPES_DEMO).config  # no options: the recipe as written
