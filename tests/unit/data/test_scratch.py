"""Scratch folders in ``.staging/`` (recsys_cli/data/scratch.py): a writer's sweep removes what killed
owners left and never a live owner's folder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recsys_cli.data.scratch import SCRATCH, scratch_folder, sweep_staging
from recsys_cli.data.workspace import Workspace
from tests.support import REPO


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    workspace = Workspace(tmp_path / "ws", lock_timeout=5)
    with workspace.writing():  # a workspace with its catalog, .staging/ and .readers
        pass
    return workspace


def test_a_live_scratch_folder_survives_a_writers_sweep_and_goes_when_its_owner_ends(workspace):
    with workspace.scratch("ranker") as folder:
        assert folder.parent == workspace.staging_dir and SCRATCH.match(folder.name)
        assert folder.name.startswith(f"ranker-{os.getpid()}-")
        (folder / "features.parquet").write_bytes(b"work in progress")
        with workspace.writing():  # sweeps .staging/
            pass
        assert (folder / "features.parquet").read_bytes() == b"work in progress"
    assert list(workspace.staging_dir.iterdir()) == []


def test_a_scratch_folder_is_removed_when_its_owner_fails(workspace):
    with pytest.raises(RuntimeError), workspace.scratch("stages") as folder:
        (folder / "pool.parquet").write_bytes(b"x")
        raise RuntimeError("bad input")
    assert list(workspace.staging_dir.iterdir()) == []


def _killed_owner(staging: Path) -> str:
    """A subprocess that makes a scratch folder and is SIGKILLed inside it; returns the folder's name."""
    code = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from recsys_cli.data.scratch import scratch_folder
        with scratch_folder(Path({str(staging)!r}), "ranker") as folder:
            (folder / "half.parquet").write_bytes(b"half")
            print(folder.name, flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    return done.stdout.strip()


def test_a_killed_owners_scratch_folder_goes_with_the_next_writer(workspace):
    name = _killed_owner(workspace.staging_dir)
    assert (workspace.staging_dir / name / "half.parquet").exists()
    assert (workspace.staging_dir / f"{name}.lock").exists()
    with workspace.scratch("ranker") as live:
        with workspace.writing():
            pass
        assert sorted(p.name for p in workspace.staging_dir.iterdir()) == sorted([live.name, f"{live.name}.lock"])
    assert list(workspace.staging_dir.iterdir()) == []


def test_the_sweep_removes_leftovers_without_a_lock_and_other_staging(tmp_path):
    staging = tmp_path / ".staging"
    staging.mkdir()
    (staging / "ranker-123-0123456789ab").mkdir()  # a folder whose lock file is gone: its owner is dead
    (staging / "stages-456-0123456789ab.lock").touch()  # a lock file nobody holds, without its folder
    (staging / ("0" * 32)).mkdir()  # a killed writer's staging folder
    with scratch_folder(staging, "ranker") as live:
        sweep_staging(staging)
        assert sorted(p.name for p in staging.iterdir()) == sorted([live.name, f"{live.name}.lock"])


def test_a_lock_file_swept_before_its_owner_held_it_makes_the_owner_take_another_name(tmp_path, monkeypatch):
    """The race the inode check closes: the sweep takes and removes a lock file its owner has created but
    not yet locked; the owner must not keep a folder nothing protects."""
    import fcntl

    from recsys_cli.data import scratch

    staging = tmp_path / ".staging"
    staging.mkdir()
    real_flock, raced = fcntl.flock, []

    def flock(fd, operation):
        if not raced:  # the owner's first lock: a sweep runs just before it
            raced.append(True)
            sweep_staging(staging)
        return real_flock(fd, operation)

    monkeypatch.setattr(scratch.fcntl, "flock", flock)
    with scratch_folder(staging, "ranker") as folder:
        monkeypatch.setattr(scratch.fcntl, "flock", real_flock)
        assert raced and folder.is_dir() and (staging / f"{folder.name}.lock").exists()
        sweep_staging(staging)
        assert folder.is_dir()


def test_a_kind_is_lower_case_letters(tmp_path):
    with pytest.raises(ValueError), scratch_folder(tmp_path, "../x"):
        pass


def test_a_reader_on_a_workspace_it_cannot_write_gets_a_private_scratch_folder(workspace, tmp_path, monkeypatch):
    """`recsys sql` and an evaluation that is not saved only read: on a read-only workspace (simulated:
    root ignores permissions) their scratch is a private temp folder, removed after; anything else
    that stops the scratch folder is still an error."""
    import errno
    import tempfile

    import recsys_cli.data.workspace as module

    private = tmp_path / "tmpdir"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    with workspace.scratch_for_reading("sql") as folder:
        assert folder.parent == workspace.staging_dir  # writable: inside the workspace, as ever

    def refused(staging, kind, error=errno.EACCES):
        raise OSError(error, os.strerror(error), str(staging))

    monkeypatch.setattr(module, "scratch_folder", refused)
    with workspace.scratch_for_reading("stages") as folder:
        assert folder.parent == private and folder.name.startswith("recsys-stages-")
        (folder / "features.parquet").write_bytes(b"work in progress")
    assert list(private.iterdir()) == [] and list(workspace.staging_dir.iterdir()) == []
    monkeypatch.setattr(module, "scratch_folder", lambda staging, kind: refused(staging, kind, errno.EIO))
    with pytest.raises(OSError), workspace.scratch_for_reading("sql"):
        pass
    with (
        pytest.raises(Exception, match="no recsys workspace"),
        Workspace(tmp_path / "nothing").scratch_for_reading("sql"),
    ):
        pass
    assert not (tmp_path / "nothing").exists()
