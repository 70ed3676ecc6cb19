"""Shared fixtures: an isolated environment for every test, a CLI runner, real-data paths."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

SHARED_DATASETS = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test runs in its own folder with stable, colourless, narrow-enough output."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("TERM", "dumb")
    monkeypatch.setenv("RECSYS_LOCK_TIMEOUT", "20")
    monkeypatch.delenv("RECSYS_WORKSPACE", raising=False)
    monkeypatch.delenv("RECSYS_DEBUG", raising=False)
    monkeypatch.delenv("RECSYS_DOWNLOAD_CACHE", raising=False)
    return tmp_path


@pytest.fixture
def workspace_dir(tmp_path) -> Path:
    return tmp_path / "ws"


@pytest.fixture
def cli(workspace_dir):
    """Run ``recsys --workspace <tmp>/ws ARGS...``; returns the click Result (stdout/stderr split)."""
    from recsys_cli.cli import app

    runner = CliRunner()

    def run(*args: str, input: str | None = None):
        result = runner.invoke(app, ["--workspace", str(workspace_dir), *map(str, args)], input=input)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return run


def run_json(cli, *args: str):
    """Run a command with --format json and parse stdout (fails the test on a non-zero exit)."""
    result = cli(*args, "--format", "json")
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}"
    return json.loads(result.stdout)


def snapshot(root: Path) -> dict[str, str]:
    """Every file's content digest and every folder in a workspace (except the lock file's
    content, which names the last writer), for 'unchanged' checks."""
    if not root.exists():
        return {}
    state = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_dir():
            state[key] = "folder"
        elif path.name == ".lock":
            state[key] = "lock"
        else:
            state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def assert_refused(cli, root: Path, args, fragments=(), *, exit_code: int = 1, hint: bool = True,
                   only_progress_before: bool = False):
    """A refused command: ``exit_code``, no traceback, nothing on stdout, every fragment on stderr,
    the workspace at ``root`` unchanged. With exit 1 the error is one ``error:`` line, last on stderr,
    carrying a ``(hint: ...)`` when ``hint``; the lines before it hold no error (or, with
    ``only_progress_before``, are only progress lines such as ``splitting toy ...``)."""
    before = snapshot(root)
    result = cli(*args)
    assert result.exit_code == exit_code, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.stdout == ""
    if exit_code == 1:
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("error: "), lines
        if only_progress_before:
            assert all(line.endswith(" ...") for line in lines[:-1]), lines
        else:
            assert not any("error" in line for line in lines[:-1]), lines
        if hint:
            assert "(hint: " in lines[-1], lines[-1]
    for fragment in [fragments] if isinstance(fragments, str) else fragments:
        assert fragment in result.stderr, result.stderr
    assert snapshot(root) == before
    return result


@pytest.fixture
def shared_datasets() -> Path:
    """../shared/datasets, or a skip (never under CI, where the folder must be present)."""
    if not SHARED_DATASETS.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the real datasets folder is missing: {SHARED_DATASETS}")
        pytest.skip(f"real MovieLens files not present at {SHARED_DATASETS}")
    return SHARED_DATASETS
