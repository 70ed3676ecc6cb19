"""A command that finds its dataset, split or run before it takes the write lock, and finds it gone once
it holds the lock, says that another command removed it meanwhile, not that the name is unknown (it
was not: the user spelled it right), and changes nothing.

The removal happens deterministically between the two looks: a real second process waits on the lock
the test holds, or ``Workspace.writing`` is patched to let another command run just before the lock is
taken.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import RemovedMeanwhileError, UnknownNameError
from tests.support import QUIET_ENVIRONMENT, REPO, assert_refused, build_template, copy_workspace, invoke_json

WAITED = "was removed by another command while this one waited for the workspace lock"
TRAIN = ["train", "candidates", "syn", "--split", "s", "--model", "popular", "--run", "pop2"]


def build_pop_workspace(root: Path) -> None:
    invoke_json(root, "ingest", "synthetic", "--name", "syn", "--users", "40", "--items", "30", "--interactions", "400")
    invoke_json(root, "split", "syn", "--name", "s", "--strategy", "leave-last")
    invoke_json(root, "train", "candidates", "syn", "--split", "s", "--model", "popular", "--run", "pop")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A small synthetic dataset, a split 's' and a popularity run 'pop' on it (read-only: tests copy it)."""
    return build_template(tmp_path_factory, "removed-template", build_pop_workspace)[0]


@pytest.fixture
def ws(template, workspace_dir) -> Path:
    return copy_workspace(template, workspace_dir)


def drop_splits(workspace: Workspace) -> None:
    """What `recsys ingest syn ... --replace` does to the splits and runs of 'syn', without new data."""
    with workspace.writing(), workspace.catalog(read_only=False) as catalog:
        catalog.put_dataset(catalog.dataset("syn"))


def remove_dataset(workspace: Workspace) -> None:
    from recsys_cli.datasets.ingest import remove_dataset as remove

    remove(workspace, "syn")


def remove_run(workspace: Workspace) -> None:
    with workspace.writing(), workspace.catalog(read_only=False) as catalog:
        catalog.delete_run("pop")


def removed_before_the_lock(monkeypatch, remove) -> None:
    """The next ``Workspace.writing()`` first lets ``remove`` run (as a command holding the lock would)."""
    original = Workspace.writing

    def writing(self, *args, **kwargs):
        monkeypatch.setattr(Workspace, "writing", original)
        remove(Workspace(self.root))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Workspace, "writing", writing)


def test_train_waiting_for_a_lock_whose_holder_removes_its_split(ws):
    workspace = Workspace(ws)
    with workspace.writing(command="test holder"):
        process = subprocess.Popen(
            [sys.executable, "-m", "recsys_cli", "--workspace", str(ws), *TRAIN],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, **QUIET_ENVIRONMENT, "RECSYS_LOCK_TIMEOUT": "120"},
        )
        seen = []
        while not any("waiting for the workspace lock" in line for line in seen):
            line = process.stderr.readline()  # it looked the split up before it started waiting
            assert line, f"exited without waiting: {''.join(seen)}"
            seen.append(line)
        with workspace.catalog(read_only=False) as catalog:
            catalog.put_dataset(catalog.dataset("syn"))  # the holder drops the split and its runs
            before = catalog.referenced_paths()
    _, rest = process.communicate(timeout=120)
    error = rest.strip().splitlines()[-1]
    assert process.returncode == 1, rest
    assert error.startswith(f"error: split 's' {WAITED} (hint: make it again: recsys split syn --name s"), error
    with workspace.catalog() as catalog:  # registered nothing (the sweep it made took the dropped files)
        assert catalog.referenced_paths() == before and catalog.run_names() == []
    assert not any((ws / ".staging").iterdir())


@pytest.mark.parametrize(
    "args, remove, message",
    [
        (TRAIN, drop_splits, f"split 's' {WAITED}"),
        (TRAIN, remove_dataset, f"dataset 'syn' {WAITED}"),
        (["split", "syn", "--name", "s2", "--strategy", "random"], remove_dataset, f"dataset 'syn' {WAITED}"),
        (["datasets", "remove", "syn"], remove_dataset, f"dataset 'syn' {WAITED}"),
        (["evaluate", "pop", "--k", "10"], remove_run, "run 'pop' was removed by another command while this one ran"),
    ],
    ids=["train-split", "train-dataset", "split-dataset", "datasets-remove", "evaluate-run"],
)
def test_a_name_removed_before_the_lock_is_taken_is_said_so(cli, ws, monkeypatch, args, remove, message):
    removed_before_the_lock(monkeypatch, remove)
    result = cli(*args)
    assert result.exit_code == 1 and "Traceback" not in result.stderr, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: {message} (hint: "), error
    assert not any((ws / ".staging").iterdir())
    with Workspace(ws).catalog() as catalog:
        assert catalog.run("pop2") is None and catalog.split("syn", "s2") is None
    # asked again, the name is simply unknown, and nothing changes
    assert_refused(cli, ws, args, "error: unknown ", only_progress_before=True)


def test_the_error_is_an_unknown_name_error_for_python_callers(ws, monkeypatch):
    from recsys_cli.runs.training import train_candidates

    removed_before_the_lock(monkeypatch, drop_splits)
    with pytest.raises(RemovedMeanwhileError) as caught:
        train_candidates(Workspace(ws), "syn", "s", "popular", "pop2")
    assert isinstance(caught.value, UnknownNameError) and (caught.value.kind, caught.value.name) == ("split", "s")
