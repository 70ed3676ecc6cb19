"""`recsys ingest` never deletes work behind the user's back.

Data whose canonical content is identical to the registered dataset's is reused (nothing replaced,
nothing written), whatever the path or packaging it comes from. Other data replaces a dataset with
`--force` only when no split or run is built on it; `--replace` says the user means to delete them.
A refusal is exit 1, one line naming what would be lost, the workspace unchanged.
"""

from __future__ import annotations

import json

import pytest

from tests.support import (
    assert_refused,
    run_json,
    snapshot,
    write_tiny_ml100k,
    zip_folder,
)

ROWS = [(u, i, (u * 7 + i) % 5 + 1, 1_000_000 + 37 * u + i) for u in range(1, 13) for i in range(1, 11) if (u + i) % 3]


def write_csv(path, rows=ROWS, sep=","):
    path.write_text(f"u{sep}i{sep}r{sep}t\n" + "".join(f"{u}{sep}{i}{sep}{r}{sep}{t}\n" for u, i, r, t in rows))
    return path


def ingest_csv(cli, path, *extra, sep=","):
    args = ["ingest", "csv", path, "--name", "d", "--user-col", "u", "--item-col", "i"]
    args += ["--rating-col", "r", "--timestamp-col", "t", *(["--sep", sep] if sep != "," else []), *extra]
    return cli(*args)


def build_on(cli, dataset="d", split="s", run="pop"):
    """A split and a trained run on ``dataset``: the work a replacement would delete."""
    run_json(cli, "split", dataset, "--name", split, "--strategy", "random", "--test-fraction", "0.25")
    run_json(cli, "train", "candidates", dataset, "--split", split, "--model", "popular", "--run", run)


def state(cli, workspace_dir) -> dict:
    """What the catalog holds (dataset path, splits, runs) and every file of the workspace."""
    datasets = {
        d["dataset"]: d["path"] for d in run_json(cli, "sql", "SELECT name AS dataset, path FROM catalog.datasets")
    }
    splits = run_json(cli, "sql", "SELECT dataset, name, path FROM catalog.splits ORDER BY ALL")
    return {"datasets": datasets, "splits": splits, "runs": run_names(cli), "files": snapshot(workspace_dir)}


def run_names(cli) -> list[str]:
    return sorted(r["run"] for r in run_json(cli, "runs", "list"))


# -- identical data is reused --------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--force", "--replace"])
def test_identical_csv_from_another_path_and_order_is_reused_and_deletes_nothing(cli, tmp_path, workspace_dir, flag):
    first = run_json(cli, *_csv_args(write_csv(tmp_path / "a.csv")))
    build_on(cli)
    before = state(cli, workspace_dir)
    # the same interactions: another folder, another name, rows shuffled, tab-separated
    other = tmp_path / "elsewhere"
    other.mkdir()
    copy = write_csv(other / "copy.tsv", list(reversed(ROWS)), sep="\t")
    result = ingest_csv(cli, copy, flag, "--format", "json", sep="\t")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["reused"] is True and doc["replaced"] is False
    assert doc["path"] == first["path"] and doc["dropped_splits"] == [] and doc["dropped_runs"] == []
    assert "dataset 'd' is unchanged: reused" in result.stderr
    assert "replaced" not in result.stderr and "dropped" not in result.stderr
    assert state(cli, workspace_dir) == before
    assert run_names(cli) == ["pop"]


def test_a_rezipped_copy_of_a_release_or_its_folder_is_reused(cli, tmp_path, workspace_dir):
    release = write_tiny_ml100k(tmp_path / "release" / "ml-100k")
    first = run_json(cli, "ingest", "ml-100k", "--source", release, "--allow-count-mismatch")
    build_on(cli, "ml-100k")
    before = state(cli, workspace_dir)
    for source in (
        zip_folder(release, tmp_path / "repacked.zip", "ml-100k"),
        zip_folder(release, tmp_path / "flat.zip", ""),
        release.parent,  # the folder holding the release
    ):
        result = cli("ingest", "ml-100k", "--source", source, "--allow-count-mismatch", "--force", "--format", "json")
        assert result.exit_code == 0, (source, result.stderr)
        doc = json.loads(result.stdout)
        assert doc["reused"] is True and doc["path"] == first["path"], source
        assert "dataset 'ml-100k' is unchanged: reused" in result.stderr
        assert state(cli, workspace_dir) == before, source


def test_identical_synthetic_data_is_reused_with_its_split_and_run(cli, workspace_dir):
    synthetic = ("ingest", "synthetic", "--name", "syn", "--users", "40", "--items", "30", "--interactions", "600")
    run_json(cli, *synthetic)
    build_on(cli, "syn")
    before = state(cli, workspace_dir)
    doc = run_json(cli, *synthetic, "--force")
    assert doc["reused"] is True and state(cli, workspace_dir) == before
    # another seed is other data: refused, since a split and a run are built on it
    assert_refused(
        cli,
        workspace_dir,
        [*synthetic, "--seed", "43", "--force"],
        ["dataset 'syn' has 1 split and 1 run built on it (pop, split s)", "--replace"],
        only_progress_before=True,
    )


# -- other data: --force only when nothing is built on it, --replace otherwise ---------------------
def test_other_data_over_splits_and_runs_is_refused_without_replace(cli, tmp_path, workspace_dir):
    run_json(cli, *_csv_args(write_csv(tmp_path / "a.csv")))
    build_on(cli, run="pop")
    run_json(cli, "train", "candidates", "d", "--split", "s", "--model", "item-knn", "--run", "knn")
    run_json(cli, "split", "d", "--name", "s2", "--strategy", "random", "--test-fraction", "0.5")
    changed = write_csv(tmp_path / "b.csv", ROWS[:-1])
    before = state(cli, workspace_dir)
    result = assert_refused(
        cli,
        workspace_dir,
        _csv_args(changed, "--force"),
        [
            "error: dataset 'd' has 2 splits and 2 runs built on it (knn, pop, split s, split s2): "
            "replacing it would delete them",
            "hint: pass --replace",
        ],
        only_progress_before=True,
    )
    assert "Traceback" not in result.stderr and state(cli, workspace_dir) == before
    # the Python API: the narrow error, naming what would be lost
    from recsys_cli.data.workspace import Workspace
    from recsys_cli.datasets.ingest import ingest_file
    from recsys_cli.datasets.interaction_file import ColumnMapping
    from recsys_cli.errors import AlreadyExistsError, WouldDeleteError

    with pytest.raises(WouldDeleteError) as caught:
        ingest_file(Workspace(workspace_dir), changed, "d", ColumnMapping("u", "i", "r", "t"), force=True)
    assert (caught.value.splits, sorted(caught.value.runs)) == (["s", "s2"], ["knn", "pop"])
    assert isinstance(caught.value, AlreadyExistsError)
    assert state(cli, workspace_dir) == before

    # --replace: the user said so; the splits and runs go, and the output says which
    result = ingest_csv(cli, changed, "--replace", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["replaced"] is True and doc["reused"] is False and doc["interactions"] == len(ROWS) - 1
    assert doc["dropped_splits"] == ["s", "s2"] and sorted(doc["dropped_runs"]) == ["knn", "pop"]
    assert "dropped" in result.stderr
    assert run_names(cli) == [] and run_json(cli, "sql", "SELECT name FROM catalog.splits") == []
    assert not (workspace_dir / before["datasets"]["d"]).exists()


def test_a_split_alone_is_enough_to_refuse_force(cli, tmp_path, workspace_dir):
    run_json(cli, *_csv_args(write_csv(tmp_path / "a.csv")))
    run_json(cli, "split", "d", "--name", "s", "--strategy", "random", "--test-fraction", "0.25")
    assert_refused(
        cli,
        workspace_dir,
        _csv_args(write_csv(tmp_path / "b.csv", ROWS[1:]), "--force"),
        ["dataset 'd' has 1 split built on it (split s)", "--replace"],
        only_progress_before=True,
    )


def test_force_still_replaces_a_dataset_with_nothing_built_on_it(cli, tmp_path, workspace_dir):
    first = run_json(cli, *_csv_args(write_csv(tmp_path / "a.csv")))
    result = ingest_csv(cli, write_csv(tmp_path / "b.csv", ROWS[1:]), "--force", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["replaced"] is True and doc["reused"] is False and doc["path"] != first["path"]
    assert doc["interactions"] == len(ROWS) - 1
    assert "replaced the existing dataset 'd'" in result.stderr
    assert not (workspace_dir / first["path"]).exists()


def test_without_a_flag_an_existing_name_is_refused_even_for_identical_data(cli, tmp_path, workspace_dir):
    source = write_csv(tmp_path / "a.csv")
    run_json(cli, *_csv_args(source))
    assert_refused(cli, workspace_dir, _csv_args(source), ["dataset 'd' already exists", "--force", "--replace"])


def test_bad_input_with_replace_still_changes_nothing(cli, tmp_path, workspace_dir):
    run_json(cli, *_csv_args(write_csv(tmp_path / "a.csv")))
    build_on(cli)
    bad = tmp_path / "bad.csv"
    bad.write_text("u,i,r,t\n1,2,3,100\n1,3,oops,101\n")
    assert_refused(
        cli, workspace_dir, _csv_args(bad, "--replace"), ["line 3: rating is not a number"], only_progress_before=True
    )
    assert run_names(cli) == ["pop"]


def _csv_args(path, *extra) -> list:
    return [
        "ingest",
        "csv",
        path,
        "--name",
        "d",
        "--user-col",
        "u",
        "--item-col",
        "i",
        "--rating-col",
        "r",
        "--timestamp-col",
        "t",
        *extra,
    ]
