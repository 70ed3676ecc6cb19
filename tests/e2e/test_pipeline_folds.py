"""A recipe with `split.folds` (K-fold cross-validation): the fold stages, metrics.json's means,
sd and intervals, the stage cache, quality gates on the mean, `runs list/show/cv`, and refusals.

One tiny synthetic recipe run (3 folds, popularity and item-kNN) per module; tests that write copy it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from recsys_cli.pipeline.checks import recipe_measure_names
from recsys_cli.pipeline.plan import build_plan
from recsys_cli.pipeline.recipe import RecipeError, load_recipe
from tests.support import assert_refused, build_template, copy_workspace, invoke_json, run_json, stage_statuses

RECIPE = """
[dataset]
name = "syn"
synthetic = true
users = 150
items = 80
interactions = 4000

[split]
name = "cv"
folds = 3
seed = 7

[[candidates]]
run = "pop"
model = "popular"

[[candidates]]
run = "knn"
model = "item-knn"

[ranker]
enabled = false

[evaluation]
ks = [5, 10]
"""


def run_cv_recipe(root: Path) -> dict:
    recipe = root.parent / "cv.toml"
    recipe.write_text(RECIPE)
    doc = invoke_json(root, "run", recipe)
    return {"recipe": recipe, "doc": doc, "metrics_bytes": (root / doc["path"] / "metrics.json").read_bytes()}


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    root, run = build_template(tmp_path_factory, "folds-recipe", run_cv_recipe)
    return {"root": root, **run}


@pytest.fixture
def copied(warm, workspace_dir) -> Path:
    return copy_workspace(warm["root"], workspace_dir)


def test_every_generator_is_trained_and_evaluated_on_every_fold(warm):
    doc = warm["doc"]
    folds = [f"fold-{i}" for i in (1, 2, 3)]
    assert [s["stage"] for s in doc["stages"]] == [
        "ingest",
        "split",
        *(f"train {run} {fold}" for run in ("pop", "knn") for fold in folds),
        *(f"evaluate {run} {fold}" for run in ("pop", "knn") for fold in folds),
    ]
    split = next(s for s in doc["stages"] if s["stage"] == "split")
    assert [o["ref"] for o in split["outputs"]] == [f"split:syn/cv.fold-{i}" for i in (1, 2, 3)]
    generators = doc["metrics"]["generators"]
    assert doc["metrics"]["stages"] is None
    for short in ("pop", "knn"):
        cv = generators[short]["cross_validation"]
        assert cv["runs"] == [f"cv.{short}.fold-{i}" for i in (1, 2, 3)]  # <recipe run>.<run>.fold-<i>
        assert cv["folds"] == 3 and cv["group"] == "cv" and cv["t_quantile"] == pytest.approx(4.302652729911275)
        assert generators[short]["protocol"]["per_fold"]["split"] == [f"cv.fold-{i}" for i in (1, 2, 3)]
        for key, statistics in cv["metrics"].items():
            values = np.array(statistics["values"])
            assert generators[short]["metrics"][key] == statistics["mean"] == pytest.approx(values.mean())
            assert statistics["sd"] == pytest.approx(values.std(ddof=1))
            half = 4.302652729911275 * values.std(ddof=1) / np.sqrt(3)
            assert statistics["low"] == pytest.approx(values.mean() - half)
            assert statistics["high"] == pytest.approx(values.mean() + half)
    # the per-fold values are the fold runs' own evaluations
    for fold in (1, 2, 3):
        evaluation = invoke_json(warm["root"], "runs", "show", f"cv.knn.fold-{fold}")["evaluations"]["test"]
        assert evaluation["protocol"]["split"] == f"cv.fold-{fold}"
        assert (
            generators["knn"]["cross_validation"]["metrics"]["ndcg@10"]["values"][fold - 1]
            == (evaluation["metrics"]["ndcg@10"])
        )
    # the measures: each mean by its usual name, and its sd and interval
    assert doc["measures"]["generators.knn.ndcg@10"] == generators["knn"]["metrics"]["ndcg@10"]
    assert (
        doc["measures"]["generators.knn.ndcg@10.low"]
        == generators["knn"]["cross_validation"]["metrics"]["ndcg@10"]["low"]
    )
    assert set(doc["measures"]) == set(recipe_measure_names(load_recipe(warm["recipe"]).config))
    assert doc["headline"]["measure"] == "generators.pop.ndcg@10"
    per_user = pq.read_table(warm["root"] / doc["path"] / "per_user.parquet")
    rows = set(per_user.column("row").to_pylist())
    assert rows == {f"{run} fold-{i}" for run in ("pop", "knn") for i in (1, 2, 3)}


def test_a_rerun_is_all_cached_and_writes_the_same_metrics(cli, warm, copied):
    doc = run_json(cli, "run", str(warm["recipe"]))
    assert set(stage_statuses(doc).values()) == {"cached"}
    assert (copied / doc["path"] / "metrics.json").read_bytes() == warm["metrics_bytes"]


def test_the_table_and_runs_list_show_cv(cli, warm, copied):
    result = cli("runs", "show", "cv", "--format", "table")
    assert result.exit_code == 0, result.stderr
    assert "mean over the 3 folds of cv" in result.stdout
    assert "3-fold cross-validation: mean, sd, 95% interval" in result.stdout and "fold 3" in result.stdout
    listed = {r["run"]: r for r in run_json(cli, "runs", "list")}
    assert listed["cv"]["kind"] == "recipe" and listed["cv"]["ndcg@10"] == warm["doc"]["headline"]["value"]
    # `runs cv` over the recipe's fold runs gives what the recipe recorded
    cv = run_json(cli, "runs", "cv", *(f"cv.pop.fold-{i}" for i in (1, 2, 3)))
    assert cv["metrics"] == warm["doc"]["metrics"]["generators"]["pop"]["cross_validation"]["metrics"]


def test_gates_check_the_cross_validated_mean_and_interval(cli, warm, copied):
    mean = warm["doc"]["metrics"]["generators"]["knn"]["metrics"]["ndcg@10"]
    low = warm["doc"]["metrics"]["generators"]["knn"]["cross_validation"]["metrics"]["ndcg@10"]["low"]
    passed = cli("run", str(warm["recipe"]), "--require", f"generators.knn.ndcg@10 >= {mean - 1e-9:.12f}", "-f", "json")
    assert passed.exit_code == 0, passed.stderr
    failed = cli("run", str(warm["recipe"]), "--require", f"generators.knn.ndcg@10.low > {low + 1e-6:.12f}")
    assert failed.exit_code == 4, failed.stderr
    assert "generators.knn.ndcg@10.low" in failed.stderr


def test_a_manual_run_on_a_fold_is_not_replaced_without_split_replace(cli, warm, copied):
    run_json(cli, "train", "candidates", "syn", "--split", "cv.fold-1", "--model", "popular", "--run", "mine")
    assert_refused(
        cli,
        copied,
        ["run", str(warm["recipe"]), "--set", "split.seed=8"],
        ["cross-validation group 'syn/cv' has 1 run that recipe run 'cv' did not make (mine)", "split.replace"],
    )
    doc = run_json(cli, "run", str(warm["recipe"]), "--set", "split.folds=2", "--set", "split.replace=true")
    assert doc["metrics"]["generators"]["pop"]["cross_validation"]["folds"] == 2
    runs = {r["run"] for r in run_json(cli, "runs", "list")}
    assert "mine" not in runs and "cv.pop.fold-3" not in runs and "cv.pop.fold-2" in runs


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["ranker.enabled=true"], "split.folds cross-validates the generators, and the ranker cannot be"),
        (["index.enabled=true"], "set index.enabled = false"),
        (["split.strategy=temporal"], "cannot be combined with split.strategy = 'temporal'"),
        (["split.val_fraction=0.1"], "split.val_fraction does not apply with split.folds"),
        (["split.folds=1"], "split.folds must be a whole number >= 2, not 1"),
        (["split.name=" + "x" * 60], "use a shorter --name"),
    ],
)
def test_recipe_mistakes_are_refused_before_anything_runs(tmp_path, sets, message):
    recipe = tmp_path / "cv.toml"
    recipe.write_text(RECIPE)
    with pytest.raises(RecipeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_plan(load_recipe(recipe, sets))


def test_folds_default_to_the_random_strategy_and_leave_other_recipes_keys_alone(tmp_path):
    recipe = tmp_path / "cv.toml"
    recipe.write_text(RECIPE)
    assert load_recipe(recipe).config["split"]["strategy"] == "random"
    assert load_recipe(recipe, ["split.strategy=random-per-user"]).config["split"]["strategy"] == "random-per-user"
    plain = tmp_path / "plain.toml"
    plain.write_text(RECIPE.replace("folds = 3\nseed = 7\n", ""))
    config = load_recipe(plain).config
    assert config["split"]["strategy"] == "temporal-per-user" and config["split"]["folds"] is None
    split = next(s for s in build_plan(load_recipe(plain, ["ranker.enabled=false"])).stages if s.name == "split")
    assert "folds" not in split.config["options"]  # the split stage's key of a recipe without folds is unchanged
    assert json.loads(load_recipe(recipe).canonical_json())["split"]["folds"] == 3
