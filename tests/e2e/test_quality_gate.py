"""Quality gates for CI (issue 16, items 5 and 6): `recsys run --require`, a recipe's [checks],
`recsys runs check`, the flat measures in the JSON, and recipe runs in `recsys runs list`.

One tiny demo recipe run per module (300 users); tests that write copy its workspace, and a rerun
under the same run name finds every stage cached (requirements are not part of any stage key).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from recsys_cli.pipeline.checks import recipe_measure_names
from recsys_cli.pipeline.recipe import load_recipe
from tests.support import REPO, assert_refused, build_template, copy_workspace, snapshot, stage_statuses

DEMO = REPO / "recipes" / "demo.toml"
TINY = ("dataset.users=300", "dataset.items=200", "dataset.interactions=10000")
SETS = tuple(arg for value in TINY for arg in ("--set", value))


def run_gated_demo(root: Path) -> dict:
    """`recsys run` of the tiny demo recipe (copied beside the new workspace ``root``) with one
    requirement that holds: the recipe's path, the JSON and stderr."""
    from typer.testing import CliRunner

    from recsys_cli.cli import app

    recipe = root.parent / "demo.toml"
    shutil.copyfile(DEMO, recipe)
    args = ["--workspace", str(root), "run", str(recipe), *SETS, "--require", "ranker.ndcg@10 >= 0", "-f", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (result.stderr, result.exception)
    return {"recipe": recipe, "doc": json.loads(result.stdout), "stderr": result.stderr}


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """A workspace where the tiny demo ran once as recipe run 'demo' with one requirement that holds."""
    root, run = build_template(tmp_path_factory, "gate", run_gated_demo)
    return {"root": root, **run}


@pytest.fixture
def copied(gated, workspace_dir) -> Path:
    return copy_workspace(gated["root"], workspace_dir)


def _rerun(cli, gated, *extra):
    return cli("run", str(gated["recipe"]), *SETS, *extra)


def test_the_flat_measures_are_the_metrics_tree_by_name_and_known_before_the_run(gated):
    doc = gated["doc"]
    measures, tree = doc["measures"], doc["metrics"]
    assert measures["ranker.ndcg@10"] == tree["stages"]["stages"]["ranker"]["ndcg@10"]
    assert measures["candidates.recall@20"] == tree["stages"]["stages"]["candidates"]["recall@20"]
    lift = tree["stages"]["lift"]["ranker_vs_candidates"]["ndcg@10"]
    assert measures["lift.ranker_vs_candidates.ndcg@10"] == lift["difference"]
    assert measures["lift.ranker_vs_candidates.ndcg@10.low"] == lift["interval"]["low"]
    assert measures["lift.ranker_vs_candidates.ndcg@10.high"] == lift["interval"]["high"]
    assert measures["generators.knn.ndcg@10"] == tree["generators"]["knn"]["metrics"]["ndcg@10"]
    assert measures["pool_recall"] == tree["stages"]["protocol"]["pool_recall"]
    # what the recipe promises before any stage runs is exactly what the run reports
    config = load_recipe(gated["recipe"], TINY).config
    assert sorted(recipe_measure_names(config)) == sorted(measures)
    assert doc["headline"] == {"measure": "ranker.ndcg@10", "value": measures["ranker.ndcg@10"]}


def test_a_met_requirement_is_reported_with_its_value_and_exit_0(gated):
    doc = gated["doc"]
    assert doc["passed"] is True
    [check] = doc["checks"]
    assert check["requirement"] == "ranker.ndcg@10 >= 0" and check["passed"] is True
    assert check["value"] == doc["measures"]["ranker.ndcg@10"]
    assert "recipe run finished" in gated["stderr"]


def test_a_failed_requirement_exits_4_names_each_value_and_still_writes_the_run(gated, copied, cli):
    value = gated["doc"]["measures"]["ranker.ndcg@10"]
    result = _rerun(
        cli, gated, "--require", f"ranker.ndcg@10>{value}", "--require", "pool_recall>=0", "--run", "demo", "-f", "json"
    )
    assert result.exit_code == 4, result.stderr
    doc = json.loads(result.stdout)
    assert set(stage_statuses(doc).values()) == {"cached"}  # requirements change no stage
    assert doc["passed"] is False
    assert [c["passed"] for c in doc["checks"]] == [False, True]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 2 requirements failed: ranker.ndcg@10 = ")
    assert f"(required > {value!r})" in last and "recsys runs show demo" in last
    assert "Traceback" not in result.stderr
    # the run was written all the same: its record carries the requirements it was run with
    shown = json.loads(cli("runs", "show", "demo", "-f", "json").stdout)
    assert shown["manifest"]["recipe"]["checks"]["require"] == [f"ranker.ndcg@10>{value}", "pool_recall>=0"]


def test_the_table_output_has_a_checks_table(gated, copied, cli):
    result = _rerun(cli, gated, "--require", "ranker.ndcg@10 < 0", "-f", "csv", "--table", "checks")
    assert result.exit_code == 4
    lines = result.stdout.strip().splitlines()
    assert (
        lines[0] == "requirement,value,result"
        and lines[1].startswith("ranker.ndcg@10 < 0,")
        and lines[1].endswith(",FAIL")
    )


def test_a_recipe_checks_section_gates_the_run_and_runs_check_rechecks_it(gated, copied, cli, tmp_path):
    recipe = tmp_path / "demo.toml"  # same file name: the same recipe run, every stage cached
    recipe.write_text(DEMO.read_text() + '\n[checks]\nrequire = ["ranker.ndcg@10 > 2", "ranker.ndcg@10 > 0"]\n')
    result = cli("run", str(recipe), *SETS, "-f", "json")
    assert result.exit_code == 4, result.stderr
    assert [c["passed"] for c in json.loads(result.stdout)["checks"]] == [False, True]
    # `runs check RUN` alone re-checks what the recipe recorded; --require replaces it
    again = cli("runs", "check", "demo", "-f", "json")
    assert again.exit_code == 4 and "1 of 2 requirements failed" in again.stderr
    assert [c["requirement"] for c in json.loads(again.stdout)["checks"]] == [
        "ranker.ndcg@10 > 2",
        "ranker.ndcg@10 > 0",
    ]
    passing = cli("runs", "check", "demo", "--require", "lift.ranker_vs_popular.ndcg@10.relative>-1", "-f", "json")
    assert passing.exit_code == 0, passing.stderr
    assert json.loads(passing.stdout)["passed"] is True


@pytest.mark.parametrize(
    ("requirement", "fragments"),
    [
        ("ranker.ndcg@11>=0.2", ["no measure 'ranker.ndcg@11'", "did you mean 'ranker.ndcg@10'?"]),
        ("generators.alss.ndcg@10>=0.2", ["no measure 'generators.alss.ndcg@10'", "'generators.als.ndcg@10'?"]),
        ("ranker.ndcg@10 => 0.2", ["is not NAME OPERATOR NUMBER"]),
        ("ranker.ndcg@10 >= high", ["'high' is not a number"]),
        ("ranker.ndcg@10 >= nan", ["'nan' is not a number"]),
        ("lift.ranker_vs_candidates.coverage@10.low>0", ["no measure"]),  # coverage has no per-user interval
    ],
)
def test_a_bad_requirement_is_refused_before_any_stage_runs(gated, copied, cli, requirement, fragments):
    assert_refused(cli, copied, ["run", str(gated["recipe"]), *SETS, "--require", requirement], fragments)


def test_a_bad_checks_section_is_refused_naming_the_file(copied, cli, tmp_path):
    recipe = tmp_path / "gate.toml"
    recipe.write_text(DEMO.read_text() + '\n[checks]\nrequire = "ranker.ndcg@10 > 0"\n')
    assert_refused(cli, copied, ["run", str(recipe), *SETS], [f"{recipe}: checks.require must be a list of strings"])
    recipe.write_text(DEMO.read_text() + '\n[checks]\nrequired = ["ranker.ndcg@10 > 0"]\n')
    assert_refused(
        cli, copied, ["run", str(recipe), *SETS], ["unknown key 'checks.required'", "did you mean 'require'?"]
    )


def test_runs_check_on_a_trained_run_uses_its_stored_evaluations(gated, copied, cli):
    measures = json.loads(cli("runs", "check", "demo.knn", "-f", "json").stdout)["measures"]
    assert measures["test.ndcg@10"] == gated["doc"]["metrics"]["generators"]["knn"]["metrics"]["ndcg@10"]
    # the primary generator also holds the two-stage evaluation (rows, lifts)
    primary = json.loads(cli("runs", "check", "demo.als", "-f", "json").stdout)["measures"]
    assert primary["ranker.ndcg@10"] == gated["doc"]["measures"]["ranker.ndcg@10"]
    failed = cli("runs", "check", "demo.knn", "--require", "test.ndcg@10>1", "-f", "json")
    assert failed.exit_code == 4 and json.loads(failed.stdout)["checks"][0]["passed"] is False
    assert_refused(
        cli, copied, ["runs", "check", "demo.knn", "--require", "tset.ndcg@10>0"], ["unknown measure 'tset.ndcg@10'"]
    )
    assert_refused(cli, copied, ["runs", "check", "nope"], ["unknown run 'nope'"])


def test_runs_list_shows_recipe_runs_with_the_rankers_headline(gated, copied, cli):
    rows = {row["run"]: row for row in json.loads(cli("runs", "list", "-f", "json").stdout)}
    recipe_row = rows["demo"]
    assert recipe_row["kind"] == "recipe" and rows["demo.als"]["kind"] == "trained"
    assert recipe_row["ndcg@10"] == gated["doc"]["measures"]["ranker.ndcg@10"]
    assert recipe_row["headline_measure"] == "ranker.ndcg@10"
    assert recipe_row["ndcg@10"] != rows["demo.als"]["ndcg@10"]  # the generator alone is another number
    assert recipe_row["model"] == "als+item-knn+popular > lambdarank"
    assert recipe_row["dataset"] == "demo" and recipe_row["split"] == "temporal"
    assert cli("runs", "list", "--dataset", "other", "-f", "json").stdout.strip() == "[]"
    csv = cli("runs", "list", "-f", "csv").stdout
    assert any(line.startswith("demo,recipe,") for line in csv.splitlines()), csv


def test_runs_list_without_a_ranker_headlines_the_primary_generator(gated, copied, cli):
    result = _rerun(cli, gated, "--set", "ranker.enabled=false", "--run", "plain", "-f", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["headline"]["measure"] == "generators.als.ndcg@10"
    row = next(r for r in json.loads(cli("runs", "list", "-f", "json").stdout) if r["run"] == "plain")
    assert row["ndcg@10"] == doc["measures"]["generators.als.ndcg@10"] and row["model"] == "als+item-knn+popular"


def test_runs_list_marks_a_damaged_recipe_run_and_still_lists_the_rest(gated, copied, cli):
    metrics = copied / gated["doc"]["path"] / "metrics.json"
    metrics.write_text(metrics.read_text().replace("0.", "0.9", 1))
    before = snapshot(copied)
    result = cli("runs", "list", "-f", "json")
    assert result.exit_code == 0, result.stderr
    rows = {row["run"]: row for row in json.loads(result.stdout)}
    assert rows["demo"]["ndcg@10"] is None and "damaged or was edited" in rows["demo"]["damaged"]
    assert rows["demo.als"]["ndcg@10"] is not None
    assert "warning:" in result.stderr and "metrics.json" in result.stderr
    assert snapshot(copied) == before
    failed = cli("runs", "check", "demo", "--require", "ranker.ndcg@10>0")
    assert failed.exit_code == 1 and "damaged or was edited" in failed.stderr


def test_a_requirement_from_the_command_line_is_named_as_written(gated, copied, cli):
    result = assert_refused(cli, copied, ["run", str(gated["recipe"]), *SETS, "--require", "ranker.ndcg@100>=0.9"])
    assert "requirement 'ranker.ndcg@100>=0.9': no measure 'ranker.ndcg@100'" in result.stderr


def test_a_dry_run_checks_the_requirements_and_says_when_they_are_checked(gated, copied, cli):
    result = _rerun(cli, gated, "--require", "ranker.ndcg@10>0", "--require", "pool_recall>0", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert "2 requirements, checked when the run finishes" in result.stderr


def test_an_edited_two_stage_evaluation_cannot_pass_a_gate(gated, copied, cli):
    [path] = (copied / "runs" / "demo.als").glob("evaluation-stages/*/metrics.json")
    document = json.loads(path.read_text())
    document["stages"]["ranker"]["ndcg@10"] = 0.99
    path.write_text(json.dumps(document))
    result = assert_refused(cli, copied, ["runs", "check", "demo.als", "--require", "ranker.ndcg@10>0.9"], [str(path)])
    assert "was edited: its ranker metrics are not the ones recorded in the catalog" in result.stderr


def test_a_measure_of_an_evaluation_the_run_lacks_names_the_command_that_makes_it(gated, copied, cli):
    trained = cli("train", "candidates", "demo", "--split", "temporal", "--model", "popular", "--run", "fresh")
    assert trained.exit_code == 0, trained.stderr
    assert_refused(
        cli,
        copied,
        ["runs", "check", "fresh", "--require", "test.ndcg@10>0"],
        ["run 'fresh' has no evaluation on test", "recsys evaluate fresh --on test --no-stages"],
    )
    assert_refused(
        cli,
        copied,
        ["runs", "check", "fresh", "--require", "ranker.ndcg@10>0"],
        ["run 'fresh' has no two-stage evaluation", "recsys train ranker fresh"],
    )


def test_a_trained_run_cannot_take_a_recipe_runs_name(gated, copied, cli):
    assert_refused(
        cli,
        copied,
        ["train", "candidates", "demo", "--split", "temporal", "--model", "popular", "--run", "demo"],
        ["'demo' is already the name of a recipe run"],
    )


def test_runs_list_gives_both_kinds_the_same_keys(gated, copied, cli):
    rows = json.loads(cli("runs", "list", "-f", "json").stdout)
    assert {row["kind"] for row in rows} == {"trained", "recipe"}
    assert len({tuple(row) for row in rows}) == 1  # the same keys in the same order
    assert next(r for r in rows if r["run"] == "demo.knn")["headline_measure"] == "test.ndcg@10"
