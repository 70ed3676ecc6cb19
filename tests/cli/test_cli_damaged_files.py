"""A damaged workspace file (cut short, overwritten, deleted) is a user error naming the file and the
command that makes it again, never an internal error (a fault injection found exit 3 for a
truncated interactions.parquet read by `recsys sql`, `split` and `train`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import assert_refused, build_template, copy_workspace, invoke_json


def build_pop_workspace(root: Path) -> dict[str, str]:
    """The module's workspace; returns the dataset's and the split's folders."""
    dataset = invoke_json(
        root, "ingest", "synthetic", "--name", "syn", "--users", "40", "--items", "30", "--interactions", "400"
    )
    split = invoke_json(root, "split", "syn", "--name", "s", "--strategy", "leave-last", "--val-n", "1")
    invoke_json(root, "train", "candidates", "syn", "--split", "s", "--model", "popular", "--run", "pop")
    return {"dataset": dataset["path"], "split": split["path"]}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A small synthetic dataset, a leave-last split 's' and a popularity run 'pop' on it (read-only:
    tests copy it), and the dataset's and the split's folders."""
    return build_template(tmp_path_factory, "damaged-template", build_pop_workspace)


@pytest.fixture
def ws(template, workspace_dir) -> tuple[Path, dict[str, str]]:
    return copy_workspace(template[0], workspace_dir), template[1]


def cut_in_half(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DATASET_HINT = "ingest dataset 'syn' again from its source: recsys ingest ... --name syn --replace"
SPLIT_HINT = "recsys split syn --name s --strategy ... --replace"


@pytest.mark.parametrize(
    "folder, file, args, hint",
    [
        ("dataset", "interactions.parquet", ["sql", "SELECT count(*) FROM interactions"], DATASET_HINT),
        ("dataset", "interactions.parquet", ["split", "syn", "--name", "s2", "--strategy", "random"], DATASET_HINT),
        ("dataset", "items.parquet", ["sql", "SELECT 1"], DATASET_HINT),
        ("dataset", "vocab/users.parquet", ["candidates", "pop", "-k", "5"], DATASET_HINT),
        ("split", "train.parquet", ["sql", "SELECT count(*) FROM splits"], SPLIT_HINT),
        (
            "split",
            "train.parquet",
            ["train", "candidates", "syn", "--split", "s", "--model", "popular", "--run", "pop2"],
            SPLIT_HINT,
        ),
        ("split", "test.parquet", ["evaluate", "pop", "--k", "10"], SPLIT_HINT),
    ],
    ids=["sql-interactions", "split", "sql-items", "candidates-vocab", "sql-splits", "train", "evaluate"],
)
def test_a_truncated_file_is_named_with_the_command_that_remakes_it(cli, ws, folder, file, args, hint):
    root, paths = ws
    relative = f"{paths[folder]}/{file}"
    cut_in_half(root / relative)
    result = assert_refused(cli, root, args, only_progress_before=True)
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: the workspace file {relative} is damaged: rerun the command that made it")
    assert hint in error


def test_garbage_and_a_deleted_file_are_named_too(cli, ws):
    root, paths = ws
    train = ["train", "candidates", "syn", "--split", "s", "--model", "popular", "--run", "pop2"]
    (root / paths["split"] / "train.parquet").write_bytes(b"not parquet at all\n" * 50)
    assert_refused(cli, root, train, f"the workspace file {paths['split']}/train.parquet is damaged")
    (root / paths["split"] / "train.parquet").unlink()
    assert_refused(cli, root, train, f"the workspace file {paths['split']}/train.parquet is missing")
    (root / paths["dataset"] / "users.parquet").unlink()
    assert_refused(cli, root, ["sql", "SELECT 1"], f"the workspace file {paths['dataset']}/users.parquet is missing")


def test_damage_is_a_corrupt_artifact_error_for_python_callers(ws):
    from recsys_cli.data.query import run_query
    from recsys_cli.data.workspace import Workspace
    from recsys_cli.errors import CorruptArtifactError, DamagedFileError

    root, paths = ws
    cut_in_half(root / paths["dataset"] / "interactions.parquet")
    with pytest.raises(DamagedFileError) as caught:
        run_query(Workspace(root), "SELECT count(*) FROM interactions")
    assert isinstance(caught.value, CorruptArtifactError)
    assert caught.value.path == f"{paths['dataset']}/interactions.parquet" and not caught.value.missing
