"""Workspace safety: the write lock, concurrent commands, and a command killed part way."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import WorkspaceLockedError


def recsys(workspace: Path, *args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "recsys_cli", "--workspace", str(workspace), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        **kwargs,
    )


def big_csv(path: Path, rows: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    users = rng.integers(0, rows // 20 + 1, rows)
    items = rng.integers(0, 5000, rows)
    ratings = rng.integers(1, 6, rows)
    ts = rng.integers(900_000_000, 1_000_000_000, rows)
    with open(path, "w") as handle:
        handle.write("u,i,r,t\n")
        np.savetxt(handle, np.column_stack([users, items, ratings, ts]), fmt="%d", delimiter=",")
    return path


def ingest_args(path: Path, name: str) -> list[str]:
    return [
        "ingest",
        "csv",
        str(path),
        "--name",
        name,
        "--user-col",
        "u",
        "--item-col",
        "i",
        "--rating-col",
        "r",
        "--timestamp-col",
        "t",
        "--format",
        "json",
    ]


def registered(workspace: Path) -> dict[str, int]:
    ws = Workspace(workspace)
    with ws.catalog() as catalog:
        return {d.name: d.n_interactions for d in catalog.datasets()}


def test_two_ingests_at_once_both_finish(tmp_path):
    ws = tmp_path / "ws"
    src = big_csv(tmp_path / "r.csv", 200_000)
    first = recsys(ws, *ingest_args(src, "a"))
    second = recsys(ws, *ingest_args(src, "b"))
    out_a, err_a = first.communicate(timeout=120)
    out_b, err_b = second.communicate(timeout=120)
    assert first.returncode == 0, err_a
    assert second.returncode == 0, err_b
    assert json.loads(out_a)["interactions"] == json.loads(out_b)["interactions"] == 200_000
    assert registered(ws) == {"a": 200_000, "b": 200_000}


def hold_lock(ws: Path):
    ws.mkdir(parents=True, exist_ok=True)
    handle = open(ws / ".lock", "a+")
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    handle.write("pid 1: test holder\n")
    handle.flush()
    return handle


def test_second_writer_fails_with_a_lock_error_after_the_timeout(tmp_path):
    ws = tmp_path / "ws"
    src = big_csv(tmp_path / "r.csv", 100)
    holder = hold_lock(ws)
    try:
        proc = recsys(ws, *ingest_args(src, "a"), env={"RECSYS_LOCK_TIMEOUT": "0.5"})
        _out, err = proc.communicate(timeout=60)
    finally:
        holder.close()
    assert proc.returncode == 1
    assert "is locked by another command" in err and "test holder" in err
    assert "Traceback" not in err


def test_second_writer_waits_with_a_message(tmp_path):
    ws = tmp_path / "ws"
    src = big_csv(tmp_path / "r.csv", 100)
    holder = hold_lock(ws)
    proc = recsys(ws, *ingest_args(src, "a"), env={"RECSYS_LOCK_TIMEOUT": "60"})
    time.sleep(1.5)
    holder.close()
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "waiting for the workspace lock" in err


def test_lock_error_from_python():
    ws = Workspace(Path("ws"), lock_timeout=0.2)
    holder = hold_lock(ws.root)
    try:
        with pytest.raises(WorkspaceLockedError):
            with ws.writing():
                pass
    finally:
        holder.close()


@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5, 2.5])
def test_sigkill_part_way_leaves_a_workspace_that_opens_and_reruns(tmp_path, delay):
    ws = tmp_path / "ws"
    src = big_csv(tmp_path / "r.csv", 1_500_000, seed=1)
    setup = recsys(ws, *ingest_args(big_csv(tmp_path / "small.csv", 1000), "kept"))
    assert setup.wait(timeout=60) == 0
    proc = recsys(ws, *ingest_args(src, "big"))
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    # Whatever point it died at, the catalog opens and holds only complete datasets.
    state = registered(ws)
    assert state["kept"] == 1000
    assert state.get("big") in (None, 1_500_000)
    rerun = recsys(ws, *ingest_args(src, "big"), "--force")
    out, err = rerun.communicate(timeout=180)
    assert rerun.returncode == 0, err
    assert json.loads(out)["interactions"] == 1_500_000
    assert registered(ws) == {"kept": 1000, "big": 1_500_000}
    leftovers = list((ws / ".staging").iterdir())
    assert leftovers == [], "the rerun swept the killed command's staging folder"
    generations = list((ws / "datasets" / "big").iterdir())
    assert len(generations) == 1, "no orphaned generation folder survives"


def test_a_foreign_folder_is_never_swept(cli, tmp_path):
    """Pointing --workspace at a folder that holds other files must not delete them."""
    from typer.testing import CliRunner

    from recsys_cli.cli import app

    project = tmp_path / "myproject"
    (project / "datasets" / "imagenet" / "train").mkdir(parents=True)
    (project / "datasets" / "imagenet" / "train" / "img001.jpg").write_text("precious")
    (project / "notes.txt").write_text("mine")
    src = big_csv(tmp_path / "r.csv", 10)
    result = CliRunner().invoke(app, ["--workspace", str(project), *ingest_args(src, "t")])
    assert result.exit_code == 1
    assert "is not a recsys workspace and is not empty" in result.stderr
    assert (project / "datasets" / "imagenet" / "train" / "img001.jpg").read_text() == "precious"
    assert sorted(p.name for p in project.iterdir()) == ["datasets", "notes.txt"]


def test_sweep_deletes_only_generation_folders(cli, tmp_path, workspace_dir):
    src = big_csv(tmp_path / "r.csv", 10)
    assert cli(*ingest_args(src, "a")).exit_code == 0
    own = workspace_dir / "datasets" / "a" / "my-notes"
    own.mkdir()
    (own / "keep.txt").write_text("x")
    orphan = workspace_dir / "datasets" / "a" / "20200101T000000-abcdef"
    orphan.mkdir()
    assert cli(*ingest_args(src, "b")).exit_code == 0
    assert (own / "keep.txt").exists(), "a folder not named like a generation is not ours to delete"
    assert not orphan.exists(), "an unreferenced generation is garbage"


def test_first_command_failing_while_another_waits(tmp_path):
    """The failing first command cleans up under the lock; the waiter starts over and succeeds."""
    ws = tmp_path / "fresh"
    bad = big_csv(tmp_path / "bad.csv", 1_500_000)
    with open(bad, "a") as handle:
        handle.write("1,2,not-a-rating,3\n")
    good = big_csv(tmp_path / "good.csv", 100)
    first = recsys(ws, *ingest_args(bad, "a"))
    time.sleep(0.4)
    second = recsys(ws, *ingest_args(good, "b"))
    _, err_a = first.communicate(timeout=120)
    out_b, err_b = second.communicate(timeout=120)
    assert first.returncode == 1 and "not a number" in err_a
    assert second.returncode == 0, err_b
    assert registered(ws) == {"b": 100}


def test_workspace_that_is_a_file(cli, tmp_path):
    from typer.testing import CliRunner

    from recsys_cli.cli import app

    (tmp_path / "afile").write_text("x")
    src = big_csv(tmp_path / "r.csv", 10)
    result = CliRunner().invoke(app, ["--workspace", str(tmp_path / "afile"), *ingest_args(src, "t")])
    assert result.exit_code == 1 and "is a file, not a folder" in result.stderr


def test_corrupt_catalog_is_a_clear_error(cli, tmp_path, workspace_dir):
    src = big_csv(tmp_path / "r.csv", 10)
    assert cli(*ingest_args(src, "a")).exit_code == 0
    (workspace_dir / "catalog.duckdb").write_bytes(os.urandom(4096))
    for args in (["datasets", "list"], ingest_args(src, "b")):
        result = cli(*args)
        assert result.exit_code == 1, result.stderr
        assert "cannot open the catalog" in result.stderr and "Traceback" not in result.stderr


def test_a_replaced_generation_outlives_an_active_reader(cli, tmp_path, workspace_dir):
    src = big_csv(tmp_path / "r.csv", 10)
    first = run_ingest(cli, src, "a")
    ws = Workspace(workspace_dir)
    with ws.reading():
        # other data (identical data would be reused, replacing nothing)
        second = run_ingest(cli, big_csv(tmp_path / "r2.csv", 11), "a", "--force")
        assert (workspace_dir / first).exists(), "deleted under a reader"
    assert (workspace_dir / second).exists()
    run_ingest(cli, src, "other")  # the next writer sweeps it once no reader is left
    assert not (workspace_dir / first).exists()


def run_ingest(cli, src, name, *extra) -> str:
    result = cli(*ingest_args(src, name), *extra)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["path"]


def test_sql_holds_the_readers_lock_while_it_runs(cli, tmp_path, workspace_dir, monkeypatch):
    """A query's views point at generation folders; a writer must not delete them mid-query."""
    import recsys_cli.data.query as query

    src = big_csv(tmp_path / "r.csv", 10)
    first = run_ingest(cli, src, "a")
    seen = {}
    real_run = query._run

    def run_while_replacing(*args, **kwargs):
        # a writer, mid-query (other data of the same size: identical data would be reused, replacing nothing)
        seen["path"] = run_ingest(cli, big_csv(tmp_path / "r2.csv", 10, seed=1), "a", "--force")
        return real_run(*args, **kwargs)

    monkeypatch.setattr(query, "_run", run_while_replacing)
    rows = json.loads(cli("sql", "SELECT count(*) AS n FROM interactions", "--format", "json").stdout)
    assert rows == [{"n": 10}]
    assert (workspace_dir / first).exists(), "the old generation waits for the reader"
