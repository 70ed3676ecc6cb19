"""`recsys run RECIPE` end to end: the stage plan, the stage cache, the recorded recipe run,
`--dry-run`, recipe mistakes, `recsys cache list/prune` and the Python API.

The packaged demo recipe runs at a tiny size (300 users, 200 items, 10,000 interactions).
One warm workspace is built per module by `recsys run` (the end-to-end test reads that run's
output); every test that writes copies it first, so most tests cost one partial rerun.
"""

from __future__ import annotations

import json
import re
import shutil
from functools import cache
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recsys_cli.data.workspace import Workspace
from recsys_cli.pipeline.plan import build_plan
from recsys_cli.pipeline.recipe import load_recipe
from recsys_cli.pipeline.runner import PipelineResult, run_recipe
from tests.support import (
    REPO,
    assert_refused,
    build_template,
    copy_workspace,
    run_json,
    snapshot,
    stage_statuses,
)

DEMO = REPO / "recipes" / "demo.toml"
TINY = ("dataset.users=300", "dataset.items=200", "dataset.interactions=10000")
SETS = tuple(arg for value in TINY for arg in ("--set", value))
# every metric that is a share (novelty is in bits, so not bounded by 1)
SHARES = ("ndcg", "recall", "precision", "map", "mrr", "hit_rate", "coverage")


@cache
def _plan():
    return build_plan(load_recipe(DEMO, TINY), "demo")


def _stage_names() -> list[str]:
    return [stage.name for stage in _plan().stages]


def _downstream(*roots: str) -> set[str]:
    """``roots`` and every stage that reads, directly or not, what they produce (stages are in order)."""
    names = set(roots)
    for stage in _plan().stages:
        if any(need in names for need in stage.needs):
            names.add(stage.name)
    return names


def test_the_demo_plan_has_the_stages_these_tests_expect():
    stages = _stage_names()
    assert stages[:9] == [
        "ingest",
        "split",
        "train als",
        "index als",
        "candidates als",
        "train knn",
        "candidates knn",
        "train pop",
        "candidates pop",
    ]
    assert "ranker" in stages and stages.index("ranker") > stages.index("candidates pop")
    assert all(name.startswith("evaluate") for name in stages[stages.index("ranker") + 1 :])
    # a new ranker invalidates only itself and evaluation stages
    assert "ranker" in _downstream("ranker")
    assert all(name == "ranker" or name.startswith("evaluate") for name in _downstream("ranker"))
    assert _downstream("split") == set(stages) - {"ingest"}


def _assert_shares(metrics: dict) -> None:
    shares = {name: value for name, value in metrics.items() if name.split("@")[0] in SHARES}
    assert shares, metrics
    assert all(0.0 <= value <= 1.0 for value in shares.values()), shares


def _pipeline_folder(root: Path, document: dict) -> Path:
    folder = root / document["path"]
    assert folder.is_dir(), document["path"]
    return folder


@pytest.fixture
def recipe(tmp_path) -> Path:
    """The packaged demo recipe, copied (so the recipe run is called 'demo')."""
    path = tmp_path / "demo.toml"
    shutil.copyfile(DEMO, path)
    return path


def run_demo(root: Path) -> dict:
    """`recsys run` of the tiny demo recipe (copied beside the new workspace ``root``): the recipe's
    path, the JSON and stderr, and what a rerun is compared with."""
    from typer.testing import CliRunner

    from recsys_cli.cli import app

    recipe = root.parent / "demo.toml"
    shutil.copyfile(DEMO, recipe)
    result = CliRunner().invoke(app, ["--workspace", str(root), "run", str(recipe), *SETS, "--format", "json"])
    assert result.exit_code == 0, (result.stderr, result.exception)
    doc = json.loads(result.stdout)
    return {
        "recipe": recipe,
        "doc": doc,
        "stderr": result.stderr,
        "metrics": doc["metrics"],
        "keys": [s["key"] for s in doc["stages"]],
        "metrics_bytes": (root / doc["path"] / "metrics.json").read_bytes(),
    }


@pytest.fixture(scope="module")
def warm(tmp_path_factory):
    """A fresh workspace where `recsys run` ran the tiny demo recipe once (read-only: tests copy it).
    Its JSON and stderr are the end-to-end test's subject."""
    root, run = build_template(tmp_path_factory, "pipeline-warm", run_demo)
    return {"root": root, **run}


@pytest.fixture
def warm_copy(warm, workspace_dir) -> Path:
    return copy_workspace(warm["root"], workspace_dir)


def test_recipe_run_end_to_end_records_every_table_row_and_a_full_manifest(warm):
    workspace_dir, recipe = warm["root"], warm["recipe"]
    doc, stderr = warm["doc"], warm["stderr"]
    assert doc["run"] == "demo" and doc["recipe"] == str(recipe)
    assert [s["stage"] for s in doc["stages"]] == _stage_names()
    for stage in doc["stages"]:
        assert stage["status"] == "ran", stage
        assert re.fullmatch(r"[0-9a-f]{64}", stage["key"]), stage
        assert stage["seconds"] >= 0 and stage["peak_rss_mb"] > 0, stage
        assert stage["outputs"] and all(o["path"] and o["digest"] for o in stage["outputs"]), stage
    assert len({s["key"] for s in doc["stages"]}) == len(_stage_names())
    # progress on stderr: every stage starts and finishes, numbered
    for position, stage in enumerate(_stage_names(), 1):
        assert f"[{position}/{len(_stage_names())}] {stage} ...\n" in stderr, stage
        assert f"[{position}/{len(_stage_names())}] {stage}: done in " in stderr, stage

    # every generator row, then the popular / candidates / ranker rows of the two-stage table
    generators = doc["metrics"]["generators"]
    assert {short: g["model"] for short, g in generators.items()} == {"als": "als", "knn": "item-knn", "pop": "popular"}
    assert {short: g["run"] for short, g in generators.items()} == {
        "als": "demo.als",
        "knn": "demo.knn",
        "pop": "demo.pop",
    }
    for generator in generators.values():
        assert {"ndcg@10", "ndcg@20", "recall@10", "recall@20"} <= set(generator["metrics"])
        _assert_shares(generator["metrics"])
        assert generator["protocol"]["users_evaluated"] > 0
    stages = doc["metrics"]["stages"]
    assert set(stages["stages"]) == {"popular", "candidates", "ranker"}
    for row in stages["stages"].values():
        assert {"ndcg@10", "ndcg@20"} <= set(row)
        _assert_shares(row)
    assert "ndcg@10" in stages["lift"]["ranker_vs_candidates"]
    assert stages["protocol"]["run"] == "demo.als"

    # the recorded recipe run: manifest.json, metrics.json, per_user.parquet
    folder = _pipeline_folder(workspace_dir, doc)
    assert folder.parent == workspace_dir / "pipelines" / "demo"
    assert json.loads((folder / "metrics.json").read_text()) == doc["metrics"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["run"] == "demo" and manifest["recipe_file"] == str(recipe)
    assert manifest["recipe"] == load_recipe(recipe, TINY).config
    assert manifest["recipe"]["dataset"]["users"] == 300  # the --set values, resolved
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["recipe_sha256"])
    assert [(s["stage"], s["key"]) for s in manifest["stages"]] == [(s["stage"], s["key"]) for s in doc["stages"]]
    assert all(s["seconds"] >= 0 and s["peak_rss_mb"] > 0 for s in manifest["stages"])
    assert manifest["seeds"] == {
        "dataset": 42,
        "split": None,
        "candidates": {"als": 42, "knn": 42, "pop": 42},
        "index": 42,
        "ranker": 42,
    }
    assert {"lightgbm", "numpy"} <= {name.lower() for name in manifest["versions"]}, manifest["versions"]
    assert manifest["python"].split()[0].count(".") == 2
    assert {"system", "machine", "cpus"} <= set(manifest["platform"])
    assert set(manifest["input_checksums"]) >= {"source", "source_sha256", "dataset"}
    assert re.fullmatch(r"[0-9a-f]{64}", manifest["input_checksums"]["dataset"])
    assert manifest["peak_rss_mb"] >= max(s["peak_rss_mb"] for s in manifest["stages"])
    assert manifest["wall_seconds"] > 0 and manifest["cached_stages"] == 0
    per_user = pq.read_table(folder / "per_user.parquet")
    assert {"table", "row"} <= set(per_user.column_names)
    rows = set(zip(per_user.column("table").to_pylist(), per_user.column("row").to_pylist()))
    assert rows == {
        ("generators", "als"),
        ("generators", "knn"),
        ("generators", "pop"),
        ("stages", "popular"),
        ("stages", "candidates"),
        ("stages", "ranker"),
    }


def test_rerun_is_all_cached_with_identical_metrics(cli, recipe, warm_copy, warm):
    result = cli("run", recipe, *SETS, "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(stage_statuses(doc).values()) == {"cached"}
    assert doc["metrics"] == warm["metrics"]
    keys = warm["keys"]
    assert [s["key"] for s in doc["stages"]] == keys
    for position, (stage, key) in enumerate(zip(_stage_names(), keys), 1):
        assert f"[{position}/{len(_stage_names())}] {stage}: cached ({key[:12]})" in result.stderr
    assert " done in " not in result.stderr
    folder = _pipeline_folder(warm_copy, doc)
    assert (folder / "metrics.json").read_bytes() == warm["metrics_bytes"]
    assert json.loads((folder / "manifest.json").read_text())["cached_stages"] == len(_stage_names())

    table = cli("run", recipe, *SETS, "--format", "table")
    assert table.exit_code == 0, table.stderr
    assert f"{len(_stage_names())} of {len(_stage_names())} stages cached" in table.stdout


def test_force_reruns_every_stage_and_writes_byte_identical_metrics(cli, recipe, warm_copy, warm):
    doc = run_json(cli, "run", recipe, *SETS, "--force")
    assert set(stage_statuses(doc).values()) == {"ran"}
    folder = _pipeline_folder(warm_copy, doc)
    assert doc["path"] != warm["doc"]["path"]  # a new generation of the recipe run
    assert (folder / "metrics.json").read_bytes() == warm["metrics_bytes"]
    before = pq.read_table(warm["root"] / warm["doc"]["path"] / "per_user.parquet")
    assert pq.read_table(folder / "per_user.parquet").equals(before)


def test_changing_ranker_trees_reruns_only_the_ranker_and_evaluation(cli, recipe, warm_copy):
    planned = run_json(cli, "run", recipe, *SETS, "--set", "ranker.trees=50", "--dry-run")
    doc = run_json(cli, "run", recipe, *SETS, "--set", "ranker.trees=50")
    ran = _downstream("ranker")
    assert stage_statuses(doc) == {stage: "ran" if stage in ran else "cached" for stage in _stage_names()}
    assert stage_statuses(planned) == {stage: "run" if stage in ran else "cached" for stage in _stage_names()}
    # the dry run knew the ranker's key (everything it reads was cached), not the evaluation's
    planned_keys = {s["stage"]: s["key"] for s in planned["stages"]}
    assert planned_keys["ranker"] == next(s["key"] for s in doc["stages"] if s["stage"] == "ranker")
    assert all(planned_keys[stage] is None for stage in ran - {"ranker"})
    assert doc["metrics"]["generators"]  # generators' own rows stay
    manifest = json.loads((_pipeline_folder(warm_copy, doc) / "manifest.json").read_text())
    assert manifest["recipe"]["ranker"]["trees"] == 50 and manifest["cached_stages"] == len(_stage_names()) - len(ran)


def test_changing_the_split_reruns_split_and_everything_after_it_but_not_ingest(cli, recipe, warm_copy, warm):
    doc = run_json(cli, "run", recipe, *SETS, "--set", "split.test_fraction=0.25")
    assert stage_statuses(doc) == {stage: "cached" if stage == "ingest" else "ran" for stage in _stage_names()}
    assert doc["metrics"]["generators"]["als"]["protocol"]["split_params"]["test_fraction"] == 0.25
    assert doc["metrics"] != warm["metrics"]


def test_dry_run_on_an_empty_folder_plans_everything_and_creates_no_workspace(cli, recipe, workspace_dir, tmp_path):
    before = sorted(p.name for p in tmp_path.iterdir())
    doc = run_json(cli, "run", recipe, *SETS, "--dry-run")
    assert doc["dry_run"] is True and doc["run"] == "demo" and doc["recipe"] == str(recipe)
    assert [s["stage"] for s in doc["stages"]] == _stage_names()
    assert set(stage_statuses(doc).values()) == {"run"}
    # only ingest's key is known before anything ran: every other stage reads an output not made yet
    keys = [s["key"] for s in doc["stages"]]
    assert re.fullmatch(r"[0-9a-f]{64}", keys[0]) and keys[1:] == [None] * (len(_stage_names()) - 1)
    table = cli("run", recipe, *SETS, "--dry-run", "--format", "table")
    assert table.exit_code == 0 and f"0 of {len(_stage_names())} stages cached" in table.stdout
    assert not workspace_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_dry_run_on_a_warm_workspace_reports_the_cache_and_changes_nothing(cli, recipe, warm_copy, warm):
    before = snapshot(warm_copy)
    doc = run_json(cli, "run", recipe, *SETS, "--dry-run")
    assert set(stage_statuses(doc).values()) == {"cached"}
    assert [s["key"] for s in doc["stages"]] == warm["keys"]
    knn = run_json(cli, "run", recipe, *SETS, "--set", "candidates.1.k=40", "--dry-run")
    changed = _downstream("candidates knn")
    assert changed == {"candidates knn", "ranker", "evaluate stages"}
    assert stage_statuses(knn) == {s: "run" if s in changed else "cached" for s in _stage_names()}
    forced = run_json(cli, "run", recipe, *SETS, "--dry-run", "--force")
    assert set(stage_statuses(forced).values()) == {"run"}
    assert snapshot(warm_copy) == before


def _write_recipe(tmp_path: Path, old: str, new: str) -> Path:
    text = DEMO.read_text()
    assert old in text
    path = tmp_path / "demo.toml"
    path.write_text(text.replace(old, new, 1))
    return path


# (what is wrong, how to make the recipe / the --set, fragments of the one-line error)
MISTAKES = {
    "unknown key in the file": (
        lambda tmp: (_write_recipe(tmp, "seed = 42\n", "seed = 42\ncolour = 'red'\n"), ()),
        ["unknown key 'dataset.colour'", "demo.toml"],
    ),
    "unknown key in --set": (
        lambda tmp: (None, ("--set", "ranker.tress=50")),
        ["unknown key 'ranker.tress'", "'trees'"],
    ),
    "wrong type in the file": (
        lambda tmp: (_write_recipe(tmp, "k = 100", 'k = "many"'), ()),
        ["candidates.0.k must be a whole number", "demo.toml"],
    ),
    "true where a number goes": (
        lambda tmp: (None, ("--set", "split.test_fraction=true")),
        ["split.test_fraction must be a number"],
    ),
    "missing source folder": (
        lambda tmp: (
            None,
            (
                "--set",
                "dataset.synthetic=false",
                "--set",
                "dataset.name=ml-100k",
                "--set",
                f"dataset.source={tmp / 'no-such-folder'}",
            ),
        ),
        ["no-such-folder"],
    ),
    "unknown dataset card": (
        lambda tmp: (None, ("--set", "dataset.synthetic=false", "--set", "dataset.name=ml-7k")),
        ["'ml-7k' is not a dataset card", "ml-100k"],
    ),
    "--set without =": (lambda tmp: (None, ("--set", "split.test_fraction")), ["expected SECTION.KEY=VALUE"]),
    "--set unknown section": (lambda tmp: (None, ("--set", "model.k=3")), ["unknown section 'model'"]),
    "--set bad value": (
        lambda tmp: (None, ("--set", "split.test_fraction=abc")),
        ["--set split.test_fraction=abc", "must be a number, not 'abc'"],
    ),
    "--set position out of range": (lambda tmp: (None, ("--set", "candidates.5.k=3")), ["[[candidates]]"]),
    "fraction out of range": (lambda tmp: (None, ("--set", "split.test_fraction=1.5")), ["[split]", "1.5"]),
    "ranker on a random-per-user split": (
        lambda tmp: (None, ("--set", "split.strategy=random-per-user")),
        ["the ranker needs a time-ordered split", "random-per-user"],
    ),
    "ks above the primary's k": (
        lambda tmp: (None, ("--set", "evaluation.ks=[10, 150]")),
        ["evaluation.ks [150]", "100 candidates"],
    ),
}


@pytest.mark.parametrize("warm_state", ["empty", "warm"])
@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_recipe_mistakes_exit_1_with_one_line_and_change_nothing(
    cli, recipe, tmp_path, workspace_dir, warm, mistake, warm_state
):
    if warm_state == "warm":
        copy_workspace(warm["root"], workspace_dir)
    make, fragments = MISTAKES[mistake]
    path, sets = make(tmp_path)
    # every one of them is found before the plan runs, so --dry-run refuses it the same way
    extra = ("--dry-run",) if mistake.startswith("--set") else ()
    assert_refused(cli, workspace_dir, ["run", path or recipe, *SETS, *sets, *extra], fragments)
    assert workspace_dir.exists() == (warm_state == "warm")


def test_a_missing_recipe_file_is_refused(cli, tmp_path, workspace_dir):
    assert_refused(cli, workspace_dir, ["run", tmp_path / "nope.toml"], ["nope.toml", "does not exist"])
    assert not workspace_dir.exists()


def _ml100k_recipe(tmp_path: Path, u_data: str) -> Path:
    """A small recipe over a local folder laid out like MovieLens 100K, holding only ``u_data``."""
    source = tmp_path / "ml-100k"
    source.mkdir(exist_ok=True)
    (source / "u.data").write_text(u_data)
    recipe = tmp_path / "local.toml"
    recipe.write_text(f"""
[dataset]
name = "ml-100k"
source = "{source}"

[split]
name = "t"
test_fraction = 0.2

[[candidates]]
run = "pop"
model = "popular"

[ranker]
enabled = false
""")
    return recipe


def test_the_ingest_key_follows_the_source_files(cli, tmp_path, workspace_dir):
    recipe = _ml100k_recipe(tmp_path, "1\t1\t5\t880000000\n")
    first = run_json(cli, "run", recipe, "--dry-run")
    assert [s["stage"] for s in first["stages"]] == ["ingest", "split", "train pop", "evaluate pop"]
    assert run_json(cli, "run", recipe, "--dry-run")["stages"][0]["key"] == first["stages"][0]["key"]
    _ml100k_recipe(tmp_path, "1\t1\t4\t880000000\n")  # one rating changed
    changed = run_json(cli, "run", recipe, "--dry-run")
    assert changed["stages"][0]["key"] != first["stages"][0]["key"]
    assert not workspace_dir.exists()


def test_a_first_run_whose_first_stage_fails_leaves_no_workspace(cli, tmp_path, workspace_dir):
    """A new folder stays empty when the very first stage fails, as it does for `recsys ingest`."""
    recipe = _ml100k_recipe(tmp_path, "1\t2\n")  # two columns, where MovieLens 100K has four
    source = tmp_path / "ml-100k"
    assert_refused(cli, workspace_dir, ["ingest", "ml-100k", "--source", source], ["u.data has 2 columns"])
    assert not workspace_dir.exists()
    result = cli("run", recipe)
    assert result.exit_code == 1 and "u.data has 2 columns" in result.stderr.strip().splitlines()[-1], result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    left = (
        sorted(p.relative_to(workspace_dir).as_posix() for p in workspace_dir.rglob("*"))
        if workspace_dir.exists()
        else []
    )
    assert not workspace_dir.exists(), f"a failed first recipe run left a workspace behind: {left}"


def _cache(cli) -> list[dict]:
    return run_json(cli, "cache", "list")


def test_cache_list_shows_every_stage_complete(cli, warm_copy, warm):
    entries = _cache(cli)
    assert sorted(e["stage"] for e in entries) == sorted(_stage_names())
    assert {e["key"] for e in entries} == set(warm["keys"])
    for entry in entries:
        assert entry["complete"] is True and entry["recipe_run"] == "demo", entry
        assert entry["outputs"] and entry["bytes"] > 0 and entry["seconds"] >= 0, entry
        assert all((warm_copy / o["path"]).is_dir() for o in entry["outputs"]), entry
    table = cli("cache", "list", "--format", "table")
    assert table.exit_code == 0 and f"{len(_stage_names())} complete, 0 stale" in table.stdout


def test_retraining_a_recipe_run_by_hand_makes_its_stages_stale_and_prune_removes_them(cli, recipe, warm_copy):
    run_json(
        cli, "train", "candidates", "demo", "--split", "temporal", "--model", "als", "--run", "demo.als", "--force"
    )
    entries = _cache(cli)
    assert {e["stage"] for e in entries if not e["complete"]} == _downstream("train als")
    assert all(e["bytes"] == 0 for e in entries if not e["complete"])
    table = cli("cache", "list", "--format", "table")
    stale = len(_downstream("train als"))
    assert f"{len(_stage_names()) - stale} complete, {stale} stale" in table.stdout

    pruned = run_json(cli, "cache", "prune")
    assert {r["stage"] for r in pruned["removed"]} == _downstream("train als")
    entries = _cache(cli)
    assert len(entries) == len(_stage_names()) - len(_downstream("train als")) and all(e["complete"] for e in entries)
    assert run_json(cli, "cache", "prune")["removed"] == []

    planned = run_json(cli, "run", recipe, *SETS, "--dry-run")
    assert stage_statuses(planned) == {s: "run" if s in _downstream("train als") else "cached" for s in _stage_names()}


def test_removing_the_dataset_makes_every_stage_stale(cli, warm_copy):
    run_json(cli, "datasets", "remove", "demo")
    entries = _cache(cli)
    assert len(entries) == len(_stage_names()) and not any(e["complete"] for e in entries)
    assert len(run_json(cli, "cache", "prune")["removed"]) == len(_stage_names())
    assert _cache(cli) == []
    assert list((warm_copy / "cache" / "stages").iterdir()) == []


def test_prune_all_empties_the_cache_and_the_next_run_reruns_every_stage(cli, recipe, warm_copy, warm):
    pruned = run_json(cli, "cache", "prune", "--all")
    assert sorted(r["stage"] for r in pruned["removed"]) == sorted(_stage_names())
    assert _cache(cli) == []
    # only the records go: the datasets, splits and runs stay
    assert run_json(cli, "runs", "list")
    planned = run_json(cli, "run", recipe, *SETS, "--dry-run")
    assert set(stage_statuses(planned).values()) == {"run"}
    doc = run_json(cli, "run", recipe, *SETS)
    assert set(stage_statuses(doc).values()) == {"ran"}
    assert doc["metrics"] == warm["metrics"]
    assert len(_cache(cli)) == len(_stage_names())


def test_prune_removes_unreadable_records_and_leftover_temporary_files(cli, warm_copy):
    folder = warm_copy / "cache" / "stages"
    (folder / ("0" * 64 + ".json")).write_text('{"key": "trunc')  # a record cut short
    (folder / ".abc.1234abcd.tmp").write_text("{}")  # a record write that never got renamed
    entries = _cache(cli)
    assert len(entries) == len(_stage_names()) and all(e["complete"] for e in entries)
    assert run_json(cli, "cache", "prune")["removed"] == []
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{e['key']}.json" for e in entries)


def test_cache_commands_on_a_missing_workspace_create_nothing(cli, workspace_dir, tmp_path):
    before = sorted(p.name for p in tmp_path.iterdir())
    assert run_json(cli, "cache", "prune") == {"removed": []}
    assert run_json(cli, "cache", "prune", "--all") == {"removed": []}
    listed = cli("cache", "list")  # reading a workspace that does not exist is an error
    assert listed.exit_code == 1 and "no recsys workspace at" in listed.stderr
    assert not workspace_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_python_api_runs_a_recipe_on_a_workspace_object(warm, tmp_path):
    """run_recipe with a Workspace object, no CLI: plan, run (a new ks re-evaluates only), results."""
    root = tmp_path / "api"
    workspace = Workspace(copy_workspace(warm["root"], root))
    recipe = load_recipe(warm["recipe"], (*TINY, "evaluation.ks=[5, 10]"))
    evaluations = {stage for stage in _stage_names() if stage.startswith("evaluate")}

    planned = run_recipe(workspace, recipe, dry_run=True)
    assert isinstance(planned, PipelineResult) and planned.dry_run and planned.path is None
    assert planned.name == "demo" and planned.cached == len(_stage_names()) - len(evaluations)

    result = run_recipe(workspace, recipe)
    assert [o.stage for o in result.outcomes] == [s.name for s in result.plan.stages] == _stage_names()
    assert {o.stage: o.status for o in result.outcomes} == {
        stage: "ran" if stage in evaluations else "cached" for stage in _stage_names()
    }
    assert all(o.record is not None and o.key == o.record.key for o in result.outcomes)
    assert result.cached == len(_stage_names()) - len(evaluations)
    assert result.path.startswith("pipelines/demo/") and (root / result.path / "manifest.json").is_file()
    assert result.plan.runs == {"als": "demo.als", "knn": "demo.knn", "pop": "demo.pop"}
    assert result.manifest["recipe"] == recipe.config and result.manifest["recipe"]["evaluation"]["ks"] == [5, 10]
    assert json.loads((root / result.path / "metrics.json").read_text()) == result.metrics
    als = result.metrics["generators"]["als"]["metrics"]
    assert {"ndcg@5", "ndcg@10"} <= set(als) and "ndcg@20" not in als
    assert als["ndcg@10"] == warm["metrics"]["generators"]["als"]["metrics"]["ndcg@10"]
    assert set(result.metrics["stages"]["stages"]) == {"popular", "candidates", "ranker"}

    # another recipe run name: the same data and split are reused, the generators are its own
    other = run_recipe(workspace, recipe, name="other", dry_run=True)
    assert [o.status for o in other.outcomes][:2] == ["cached", "cached"]
    assert {o.status for o in other.outcomes[2:]} == {"run"}
    assert other.plan.runs["als"] == "other.als"


# -- found in review: records are untrusted, names are shared, recipe runs can be damaged ----------
def test_a_record_copied_under_another_key_is_not_taken_as_cached(cli, recipe, warm_copy, warm):
    folder = warm_copy / "cache" / "stages"
    # the key `train als` would have with 8 factors, and the 64-factor record copied under it
    planned = run_json(cli, "run", recipe, *SETS, "--set", "candidates.0.params={factors = 8}", "--dry-run")
    statuses = {s["stage"]: s for s in planned["stages"]}
    assert statuses["train als"]["status"] == "run"
    old = warm["keys"][_stage_names().index("train als")]
    shutil.copyfile(folder / f"{old}.json", folder / f"{statuses['train als']['key']}.json")
    again = run_json(cli, "run", recipe, *SETS, "--set", "candidates.0.params={factors = 8}", "--dry-run")
    assert {s["stage"]: s["status"] for s in again["stages"]}["train als"] == "run"
    # listed as stale, and prune deletes that very file, not the record its content names
    entries = _cache(cli)
    assert sum(not e["complete"] for e in entries) == 1
    run_json(cli, "cache", "prune")
    assert not (folder / f"{statuses['train als']['key']}.json").exists()
    assert (folder / f"{old}.json").exists()


def test_a_record_that_is_not_json_or_a_folder_named_like_one_is_ignored(cli, warm_copy):
    folder = warm_copy / "cache" / "stages"
    (folder / ("1" * 64 + ".json")).write_text("[" * 100_000)  # nested past the recursion limit
    (folder / ("2" * 64 + ".json")).mkdir()
    assert len(_cache(cli)) == len(_stage_names())
    assert run_json(cli, "cache", "prune")["removed"] == []


def test_a_recipe_run_may_not_take_a_trained_runs_name(cli, recipe, warm_copy):
    run_json(cli, "train", "candidates", "demo", "--split", "temporal", "--model", "popular", "--run", "taken")
    assert_refused(
        cli, warm_copy, ["run", recipe, *SETS, "--run", "taken"], ("'taken' is already the name of a trained run",)
    )


def test_a_damaged_recipe_run_says_so_and_can_still_be_removed(cli, warm_copy, warm):
    folder = warm_copy / warm["doc"]["path"]
    (folder / "manifest.json").write_text("not json")
    shown = cli("runs", "show", "demo")
    assert shown.exit_code == 1 and "recipe run 'demo' is damaged" in shown.stderr
    assert "recsys runs remove demo" in shown.stderr
    assert run_json(cli, "runs", "remove", "demo")["removed"] == "demo"
    assert not folder.exists()
    assert cli("runs", "show", "demo").exit_code == 1


def test_an_edited_metrics_file_is_refused_by_its_recorded_sha256(cli, warm_copy, warm):
    """metrics.json stays byte-identical for the same recipe, so its digest is in the manifest and the
    catalog row; `runs show` and `runs compare` refuse a file that no longer matches it."""
    import hashlib

    folder = warm_copy / warm["doc"]["path"]
    metrics = folder / "metrics.json"
    recorded = hashlib.sha256(metrics.read_bytes()).hexdigest()
    assert json.loads((folder / "manifest.json").read_text())["metrics_sha256"] == recorded
    assert run_json(cli, "runs", "show", "demo")["metrics"] == warm["metrics"]
    document = json.loads(metrics.read_text())
    document["stages"]["stages"]["ranker"]["ndcg@10"] = 0.99  # a better-looking result, still valid JSON
    metrics.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    for args in (("runs", "show", "demo"), ("runs", "compare", "demo", "demo")):
        result = assert_refused(cli, warm_copy, args, (f"the workspace file {metrics} is damaged or was edited",))
        assert f"--set options): recsys run {warm['recipe']} --run demo)" in result.stderr
    # as the hint says: every stage is cached, and the recipe run is published again
    again = run_json(cli, "run", warm["recipe"], *SETS, "--run", "demo")
    assert set(stage_statuses(again).values()) == {"cached"}
    assert (warm_copy / again["path"] / "metrics.json").read_bytes() == warm["metrics_bytes"]
    assert run_json(cli, "runs", "show", "demo")["metrics"] == warm["metrics"]


def test_compare_names_an_unknown_run(cli, warm_copy):
    result = cli("runs", "compare", "demo", "nope")
    assert result.exit_code == 1 and "unknown run 'nope'" in result.stderr


def test_a_folder_of_other_files_is_refused_and_gets_nothing(cli, recipe, workspace_dir):
    workspace_dir.mkdir()
    (workspace_dir / "notes.txt").write_text("mine")
    result = cli("run", recipe, *SETS)
    assert result.exit_code == 1 and "is not a recsys workspace" in result.stderr
    assert sorted(p.name for p in workspace_dir.iterdir()) == ["notes.txt"]
