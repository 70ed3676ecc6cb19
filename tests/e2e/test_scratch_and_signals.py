"""Scratch folders and SIGTERM, end to end.

The ranker and its evaluation work outside the write lock in a scratch folder inside the workspace
(``.staging/<kind>-<pid>-<random>/``), never in the system temp folder: a process killed there leaves
nothing in ``$TMPDIR`` (once ``/tmp/recsys-ranker-*`` and ``/tmp/recsys-stages-*``, 7 MB each), and the
next writer's sweep removes what it left. SIGTERM is handled like Ctrl-C: one line on stderr, exit 143,
staging cleaned, the workspace as it was.

Each process runs ``python -c`` that patches one library function (to SIGKILL itself, or to wait to be
sent SIGTERM) and then calls the CLI's ``main``, with a private TMPDIR.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import (
    QUIET_ENVIRONMENT,
    REPO,
    build_ranker_workspace,
    build_template,
    copy_workspace,
    run_json,
    snapshot,
)

PRELUDE = """
import os, signal, sys, time
from pathlib import Path

def die(*args, **kwargs):
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)

def wait_for_sigterm(*args, **kwargs):
    Path(os.environ["MARKER"]).write_text("ready")
    time.sleep(120)
"""
MAIN = """
sys.argv = ["recsys"] + {args!r}
from recsys_cli.cli import main
main()
"""
TEMP_PREFIXES = ("recsys-ranker-", "recsys-stages-")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A synthetic dataset, a split with a label window, two runs with val candidates and a ranker."""
    return build_template(tmp_path_factory, "scratch-signals", build_ranker_workspace)[0]


@pytest.fixture
def ws(template, workspace_dir) -> Path:
    return copy_workspace(template, workspace_dir)


@pytest.fixture
def tmpdir_(tmp_path) -> Path:
    """A private TMPDIR for the subprocess, to see what it leaves there."""
    folder = tmp_path / "tmpdir"
    folder.mkdir()
    return folder


def _environment(tmpdir: Path, **extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")}
    return {**environment, **QUIET_ENVIRONMENT, "TMPDIR": str(tmpdir), **extra}


def _start(root: Path, tmpdir: Path, patch: str, *args: str, **extra: str) -> subprocess.Popen:
    code = PRELUDE + patch + MAIN.format(args=["--workspace", str(root), *args])
    return subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=_environment(tmpdir, **extra),
    )


def _leaked(tmpdir: Path) -> list[str]:
    return sorted(p.name for p in tmpdir.iterdir() if p.name.startswith(TEMP_PREFIXES))


def _staging(root: Path) -> list[str]:
    return sorted(p.name for p in (root / ".staging").iterdir())


KILLS = {
    # after the label window's pool and features are in the scratch folder, before the model is fitted
    "train ranker": ("import recsys_cli.runs.ranker as m\nm._fit_lambdarank = die\n", "ranker"),
    # after the test pool's features are in the scratch folder, before the ranker scores them
    "evaluate": ("import recsys_cli.runs.stage_evaluation as m\nm.predict = die\n", "stages"),
}
COMMANDS = {
    "train ranker": ("train", "ranker", "als", "--with", "pop", "--trees", "10"),
    "evaluate": ("evaluate", "als"),
}


@pytest.mark.parametrize("command", KILLS)
def test_a_killed_command_leaves_nothing_in_tmp_and_the_next_writer_sweeps_its_scratch(ws, tmpdir_, cli, command):
    patch, kind = KILLS[command]
    process = _start(ws, tmpdir_, patch, *COMMANDS[command])
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == -signal.SIGKILL, stderr[-3000:]
    assert _leaked(tmpdir_) == []
    left = _staging(ws)
    assert [name.split("-")[:2] for name in left] == [[kind, str(process.pid)]] * 2, left  # the folder, its lock
    folder = next(ws / ".staging" / name for name in left if not name.endswith(".lock"))
    assert any(folder.iterdir())  # the killed command's work in progress
    run_json(cli, "candidates", "pop", "--on", "val", "-k", "5")  # any writer
    assert _staging(ws) == []


def test_a_ranker_that_fails_after_making_its_scratch_removes_it(ws, cli, monkeypatch, tmp_path):
    """A bad input found after the scratch folder was made: exit 1, and the scratch (which was inside the
    workspace, not in the temp folder) is gone."""
    import tempfile

    import recsys_cli.runs.ranker as ranker
    from recsys_cli.errors import InvalidParameterError

    private = tmp_path / "tmpdir"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    seen = []

    def refuse(*args, **kwargs):
        seen.extend(_staging(ws))
        raise InvalidParameterError("the label window is unusable", "widen it")

    monkeypatch.setattr(ranker, "_fit_lambdarank", refuse)
    result = cli("train", "ranker", "als", "--with", "pop")
    assert result.exit_code == 1 and "the label window is unusable" in result.stderr
    assert [name.split("-")[0] for name in seen] == ["ranker", "ranker"], seen  # the folder and its lock
    assert _staging(ws) == [] and _leaked(private) == []


def _terminated(process: subprocess.Popen, marker: Path) -> tuple[str, str]:
    """Wait until the process reached the patched function, send SIGTERM, and return its output."""
    deadline = time.monotonic() + 240
    while not marker.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"never reached the patched step (exit {process.returncode}): {err[-3000:]}")
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=120)


def test_sigterm_while_a_writer_publishes_is_one_line_exit_143_and_changes_nothing(ws, tmpdir_, tmp_path):
    """SIGTERM arrives while `recsys candidates` holds the write lock with its files in staging."""
    marker = tmp_path / "marker"
    before = snapshot(ws)
    patch = "import recsys_cli.data.workspace as m\nm.Workspace.publish = wait_for_sigterm\n"
    process = _start(ws, tmpdir_, patch, "-q", "candidates", "pop", "--on", "val", "-k", "5", MARKER=str(marker))
    stdout, stderr = _terminated(process, marker)
    assert process.returncode == 143, (process.returncode, stderr[-3000:])
    assert stderr == "terminated\n" and stdout == ""
    assert _staging(ws) == []
    assert snapshot(ws) == before


def test_sigterm_during_ranker_training_cleans_its_scratch(ws, tmpdir_, tmp_path):
    marker = tmp_path / "marker"
    before = snapshot(ws)
    patch = "import recsys_cli.runs.ranker as m\nm._fit_lambdarank = wait_for_sigterm\n"
    process = _start(ws, tmpdir_, patch, "-q", *COMMANDS["train ranker"], MARKER=str(marker))
    assert _terminated(process, marker) == ("", "terminated\n")
    assert process.returncode == 143
    assert _staging(ws) == [] and _leaked(tmpdir_) == []
    assert snapshot(ws) == before
