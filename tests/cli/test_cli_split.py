"""`recsys split` from the command line: output, notes, and bad input that changes nothing."""

from __future__ import annotations

import json
from functools import partial

import pyarrow.parquet as pq
import pytest

from tests.support import assert_refused as refused
from tests.support import build_template, copy_workspace, run_json

# split errors: only progress lines ("splitting toy ...") may precede the error line; no hint required
assert_refused = partial(refused, hint=False, only_progress_before=True)


def write_ratings(path, with_ts: bool = True):
    lines = ["user,item,rating" + (",ts" if with_ts else "")]
    for k in range(120):
        user, item, rating, ts = k % 12, (k * 7) % 30, 1 + k % 5, 1_000_000_000 + k * 3600
        lines.append(f"u{user},i{item},{rating}" + (f",{ts}" if with_ts else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def ingest_toy_and_flat(root) -> None:
    from recsys_cli.data.workspace import Workspace
    from recsys_cli.datasets.ingest import ingest_file
    from recsys_cli.datasets.interaction_file import ColumnMapping

    ws = Workspace(root)
    for name, with_ts in (("toy", True), ("flat", False)):
        csv = write_ratings(root.parent / f"{name}.csv", with_ts)
        ingest_file(ws, csv, name, ColumnMapping("user", "item", "rating", "ts" if with_ts else None))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A workspace with 'toy' (timestamps) and 'flat' (none), ingested once and copied per test."""
    return build_template(tmp_path_factory, "split-template", ingest_toy_and_flat)[0]


@pytest.fixture
def toy(template, workspace_dir):
    copy_workspace(template, workspace_dir)
    return "toy"


def test_split_prints_the_summary_and_registers_it(cli, toy, workspace_dir):
    doc = run_json(
        cli,
        "split",
        "toy",
        "--name",
        "s",
        "--strategy",
        "random-per-user",
        "--test-fraction",
        "0.25",
        "--val-fraction",
        "0.1",
        "--seed",
        "3",
    )
    assert doc["dataset"] == "toy" and doc["split"] == "s" and doc["strategy"] == "random-per-user"
    assert doc["params"] == {"strategy": "random-per-user", "test_fraction": 0.25, "val_fraction": 0.1, "seed": 3}
    summary = doc["summary"]
    assert summary["train"]["interactions"] + summary["val"]["interactions"] + summary["test"]["interactions"] == 120
    assert summary["test"]["interactions"] == 12 * 3  # each user has 10 rows: round_half_up(2.5) = 3
    assert summary["val"]["interactions"] == 12 * 1
    base = workspace_dir / doc["path"]
    for part in ("train", "val", "test"):
        assert pq.read_table(base / f"{part}.parquet").num_rows == summary[part]["interactions"]
    from recsys_cli.data.workspace import Workspace

    with Workspace(workspace_dir).catalog() as catalog:
        record = catalog.split("toy", "s")
    assert record.path == doc["path"] and record.summary == summary and record.params == doc["params"]


def test_table_output_and_notes_on_stderr(cli, toy):
    result = cli(
        "split",
        "toy",
        "--name",
        "t",
        "--strategy",
        "temporal",
        "--test-after",
        "2001-09-09T06:00:00Z",
        "--format",
        "table",
    )
    assert result.exit_code == 0, result.stderr
    assert "part" in result.stdout and "train" in result.stdout and "test" in result.stdout
    assert "at or after 2001-09-09T06:00:00Z" in result.stderr


def test_leave_last_with_filters(cli, toy):
    doc = run_json(
        cli,
        "split",
        "toy",
        "--name",
        "ll",
        "--strategy",
        "leave-last",
        "--n",
        "2",
        "--val-n",
        "1",
        "--min-rating",
        "2",
        "--k-core",
        "3",
    )
    summary = doc["summary"]
    assert summary["removed_by_min_rating"] == 24
    assert summary["test_users_not_in_train"] == 0
    assert summary["test"]["interactions"] == 2 * summary["test"]["users"]


def test_force_replaces(cli, toy):
    run_json(cli, "split", "toy", "--name", "s", "--strategy", "random")
    result = cli("split", "toy", "--name", "s", "--strategy", "leave-last", "--force", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "replaced the existing split 's'" in result.stderr


def test_force_refuses_to_delete_the_runs_trained_on_the_split(cli, toy, workspace_dir):
    run_json(cli, "split", "toy", "--name", "s", "--strategy", "random")
    for run in ("pop", "pop2"):
        run_json(cli, "train", "candidates", "toy", "--split", "s", "--model", "popular", "--run", run)
    result = refused(
        cli,
        workspace_dir,
        ["split", "toy", "--name", "s", "--strategy", "leave-last", "--force"],
        "split 'toy/s' has 2 runs trained on it (pop, pop2): replacing it would delete them",
    )
    assert "(hint: pass --replace to replace it and delete them, or choose another --name)" in result.stderr
    assert [r["run"] for r in run_json(cli, "runs", "list")] == ["pop", "pop2"]


def test_replace_deletes_them_and_says_so(cli, toy):
    first = run_json(cli, "split", "toy", "--name", "s", "--strategy", "random")
    run_json(cli, "train", "candidates", "toy", "--split", "s", "--model", "popular", "--run", "pop")
    result = cli("split", "toy", "--name", "s", "--strategy", "leave-last", "--replace", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "dropped the runs trained on the old split: pop" in result.stderr
    doc = json.loads(result.stdout)
    assert doc["replaced"] is True and doc["dropped_runs"] == ["pop"] and doc["path"] != first["path"]
    assert run_json(cli, "runs", "list") == []
    # --force is enough once no run is trained on it
    assert run_json(cli, "split", "toy", "--name", "s", "--strategy", "random", "--force")["dropped_runs"] == []


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["split", "tyo", "--name", "s", "--strategy", "random"], "did you mean 'toy'?"),
        (["split", "toy", "--name", "s", "--strategy", "random", "--test-fraction", "1.5"], "(0, 1)"),
        (
            ["split", "toy", "--name", "s", "--strategy", "random", "--test-fraction", "0.6", "--val-fraction", "0.5"],
            "below 1",
        ),
        (["split", "toy", "--name", "s", "--strategy", "leave-last", "--n", "0"], "at least 1"),
        (["split", "toy", "--name", "s", "--strategy", "random", "--n", "2"], "does not apply"),
        (["split", "toy", "--name", "s", "--strategy", "temporal", "--test-after", "soon"], "as a date"),
        (["split", "toy", "--name", "s", "--strategy", "temporal", "--test-after", "2030-01-01"], "test empty"),
        (["split", "flat", "--name", "s", "--strategy", "temporal"], "has no timestamps"),
        (["split", "toy", "--name", "s", "--strategy", "random", "--min-rating", "9"], "left no interactions"),
        (["split", "toy", "--name", "bad/name", "--strategy", "random"], "invalid split name"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(cli, toy, workspace_dir, args, fragment):
    assert_refused(cli, workspace_dir, args, fragment)


def test_existing_split_without_force(cli, toy, workspace_dir):
    run_json(cli, "split", "toy", "--name", "s", "--strategy", "random")
    assert_refused(cli, workspace_dir, ["split", "toy", "--name", "s", "--strategy", "random"], "--force")


def test_unknown_strategy_is_a_usage_error(cli, toy, workspace_dir):
    assert_refused(cli, workspace_dir, ["split", "toy", "--name", "s", "--strategy", "shuffle"], "shuffle", exit_code=2)


def test_split_in_an_empty_workspace_creates_nothing(cli, workspace_dir):
    assert_refused(
        cli, workspace_dir, ["split", "toy", "--name", "s", "--strategy", "random"], "no recsys workspace at"
    )
    assert not workspace_dir.exists()
