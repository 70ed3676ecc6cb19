"""A recipe run never deletes work it did not make.

Its ingest and split stages reuse a dataset or split whose content is identical to the registered
one (nothing replaced, nothing deleted); other content replaces them only when everything that
would go with them is the recipe run's own (what its stage records name, its `<recipe run>.*`
runs, the split it declares). Otherwise the run is refused, exit 1 and one line naming what would
be lost, unless the recipe says `dataset.replace = true` / `split.replace = true`. So a recipe run
after a manual session keeps the manual runs, and two recipes sharing a dataset name keep each
other's runs.

The recipes are tiny (synthetic, one `popular` generator, no ranker): a run takes about a second.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import run_json, snapshot, stage_statuses

RECIPE = """\
[dataset]
name = "syn"
synthetic = true
users = 60
items = 40
interactions = 1500
seed = 7

[split]
name = "{split}"
strategy = "temporal"
test_fraction = 0.2

[[candidates]]
run = "pop"
model = "popular"
k = 10

[ranker]
enabled = false

[evaluation]
ks = [5]
"""
SYNTHETIC = ("ingest", "synthetic", "--name", "syn", "--users", "60", "--items", "40", "--interactions", "1500")


def recipe(tmp_path: Path, name: str, split: str = "rs") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(RECIPE.format(split=split))
    return path


def manual_session(cli, split: str = "manual", *, seed: int = 7) -> None:
    """What a user builds by hand: the recipe's dataset (seed 7 is the recipe's data), a split, a run."""
    run_json(cli, *SYNTHETIC, "--seed", str(seed))
    run_json(cli, "split", "syn", "--name", split, "--strategy", "random", "--test-fraction", "0.25")
    run_json(cli, "train", "candidates", "syn", "--split", split, "--model", "popular", "--run", "mine")


def catalog(root: Path) -> dict:
    """Every dataset, split and run with its generation folder (read from the catalog)."""
    from recsys_cli.data.workspace import Workspace

    with Workspace(root).catalog() as opened:
        entries = {f"dataset:{d.name}": d.path for d in opened.datasets()}
        entries |= {f"split:{s.dataset}/{s.name}": s.path for s in opened.splits()}
        entries |= {f"run:{r.name}": r.path for r in opened.runs()}
    return entries


def files(root: Path, *, records: bool = True) -> dict[str, str]:
    """The workspace's files, less the recipe-run lock (created and labelled by every recipe run) and,
    unless ``records``, the stage records."""
    return {
        key: value
        for key, value in snapshot(root).items()
        if key not in ("cache", "cache/pipeline.lock") and (records or not key.startswith("cache/stages"))
    }


def refused(cli, args, *fragments: str):
    """Exit 1, one error line (the last) carrying every fragment and a hint, no traceback, no stdout."""
    result = cli(*map(str, args))
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "(hint: " in lines[-1], lines
    assert not any("error" in line for line in lines[:-1]), lines
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]
    return result


def run(cli, path: Path, *extra: str) -> tuple[dict, str]:
    result = cli("run", path, *extra, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout), result.stderr


# -- after a manual session -----------------------------------------------------------------------
def test_a_recipe_on_identical_data_reuses_it_and_keeps_the_manual_runs(cli, tmp_path, workspace_dir):
    manual_session(cli)
    before = catalog(workspace_dir)
    doc, stderr = run(cli, recipe(tmp_path, "a"))
    assert "dataset 'syn' is unchanged: reused" in stderr
    after = catalog(workspace_dir)
    assert {k: v for k, v in after.items() if k in before} == before  # same dataset folder, manual work kept
    assert "run:a.pop" in after and "split:syn/rs" in after
    # and the next run of the same recipe is all cached
    again, _ = run(cli, recipe(tmp_path, "a"))
    assert set(stage_statuses(again).values()) == {"cached"}
    assert catalog(workspace_dir) == after


def test_a_recipe_with_other_data_is_refused_rather_than_delete_the_manual_runs(cli, tmp_path, workspace_dir):
    manual_session(cli, seed=8)  # the recipe's dataset name, other data
    before, state = catalog(workspace_dir), files(workspace_dir)
    refused(
        cli,
        ["run", recipe(tmp_path, "a")],
        "dataset 'syn' has 1 split and 1 run that recipe run 'a' did not make (mine, split manual): "
        "replacing it would delete them",
        "dataset.replace = true",
    )
    assert files(workspace_dir) == state and catalog(workspace_dir) == before
    # the user says so: the dataset is replaced, the manual split and run go with it
    doc, stderr = run(cli, recipe(tmp_path, "a"), "--set", "dataset.replace=true")
    after = catalog(workspace_dir)
    assert after["dataset:syn"] != before["dataset:syn"]
    assert "run:mine" not in after and "split:syn/manual" not in after and "run:a.pop" in after
    assert "mine" in stderr  # the dropped runs are named


def test_a_recipe_whose_split_name_holds_manual_runs_is_refused_unless_split_replace(cli, tmp_path, workspace_dir):
    manual_session(cli, split="rs")  # the recipe's data and split name, another strategy, a manual run on it
    before, state = catalog(workspace_dir), files(workspace_dir, records=False)
    refused(
        cli,
        ["run", recipe(tmp_path, "a")],
        "split 'syn/rs' has 1 run that recipe run 'a' did not make (mine): replacing it would delete them",
        "split.replace = true",
    )
    # the data is untouched (the ingest stage, which reused the dataset, kept its record)
    assert files(workspace_dir, records=False) == state and catalog(workspace_dir) == before
    doc, _ = run(cli, recipe(tmp_path, "a"), "--set", "split.replace=true")
    after = catalog(workspace_dir)
    assert after["dataset:syn"] == before["dataset:syn"] and after["split:syn/rs"] != before["split:syn/rs"]
    assert "run:mine" not in after and "run:a.pop" in after


# -- two recipes on one dataset name --------------------------------------------------------------
def test_another_recipes_runs_survive(cli, tmp_path, workspace_dir):
    run(cli, recipe(tmp_path, "a"))
    a_state = catalog(workspace_dir)
    b = recipe(tmp_path, "b")
    # other data under the shared dataset name: refused, naming a's split and run
    state = files(workspace_dir)
    refused(
        cli,
        ["run", b, "--set", "dataset.seed=8"],
        # (the split is b's own too: it declares it, and its split stage would replace it)
        "dataset 'syn' has 1 run that recipe run 'b' did not make (a.pop): replacing it would delete them",
        "rerun with --set dataset.replace=true",
    )
    assert files(workspace_dir) == state and catalog(workspace_dir) == a_state
    # the same data and split name, another split: refused at the split, naming a's run
    refused(
        cli,
        ["run", b, "--set", "split.test_fraction=0.3"],
        "split 'syn/rs' has 1 run that recipe run 'b' did not make (a.pop)",
        "split.replace",
    )
    assert files(workspace_dir) == state and catalog(workspace_dir) == a_state
    # the same data and split: shared (cached), and b's own run is added
    doc, _ = run(cli, b)
    assert stage_statuses(doc) == {"ingest": "cached", "split": "cached", "train pop": "ran", "evaluate pop": "ran"}
    both = catalog(workspace_dir)
    assert {k: v for k, v in both.items() if k in a_state} == a_state and "run:b.pop" in both
    # b run again with --force recomputes its stages: the data and the split are identical, so reused
    forced, stderr = run(cli, b, "--force")
    assert set(stage_statuses(forced).values()) == {"ran"}
    assert "dataset 'syn' is unchanged: reused" in stderr and "split 'syn/rs' is unchanged: reused" in stderr
    assert {k: v for k, v in catalog(workspace_dir).items() if k != "run:b.pop"} == {
        k: v for k, v in both.items() if k != "run:b.pop"
    }
    # a is still all cached, and its recipe run still shows
    again, _ = run(cli, recipe(tmp_path, "a"))
    assert set(stage_statuses(again).values()) == {"cached"}
    assert run_json(cli, "runs", "show", "a")


# -- a recipe run's own work ------------------------------------------------------------------------
def test_a_recipe_replaces_what_it_made_itself(cli, tmp_path, workspace_dir):
    path = recipe(tmp_path, "a")
    run(cli, path)
    first = catalog(workspace_dir)
    doc, _ = run(cli, path, "--set", "dataset.seed=8")  # its own split and run go with the old data
    assert set(stage_statuses(doc).values()) == {"ran"}
    second = catalog(workspace_dir)
    assert second.keys() == first.keys()
    assert all(second[key] != first[key] for key in ("dataset:syn", "split:syn/rs"))
    # and its own split with other options
    doc, _ = run(cli, path, "--set", "dataset.seed=8", "--set", "split.test_fraction=0.3")
    assert stage_statuses(doc)["ingest"] == "cached" and stage_statuses(doc)["split"] == "ran"
    again, _ = run(cli, path, "--set", "dataset.seed=8", "--set", "split.test_fraction=0.3")
    assert set(stage_statuses(again).values()) == {"cached"}


@pytest.mark.parametrize("key", ["dataset.replace", "split.replace"])
def test_replace_keys_are_checked_and_stay_out_of_the_stage_keys(cli, tmp_path, key):
    path = recipe(tmp_path, "a")
    plain = run_json(cli, "run", path, "--dry-run")
    allowed = run_json(cli, "run", path, "--set", f"{key}=true", "--dry-run")
    assert [s["key"] for s in allowed["stages"]] == [s["key"] for s in plain["stages"]]
    bad = cli("run", path, "--set", f"{key}=7")
    assert bad.exit_code == 1 and f"{key} must be true or false" in bad.stderr
