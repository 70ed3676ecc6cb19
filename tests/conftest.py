"""Shared fixtures: an isolated environment for every test, a CLI runner, real-data paths.

Helpers that are not fixtures live in tests/support.py (``from tests.support import ...``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support import SHARED_DATASETS, quiet_environment


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test runs in its own folder with stable, colourless, narrow-enough output."""
    monkeypatch.chdir(tmp_path)
    quiet_environment(monkeypatch)
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


@pytest.fixture
def cli_default_workspace(isolated):
    """Run ``recsys ARGS...`` without --workspace (nor RECSYS_WORKSPACE): the default ./recsys-workspace in
    the test's own folder, which no command has created yet (a new user's first commands)."""
    from recsys_cli.cli import app

    runner = CliRunner()

    def run(*args: str):
        result = runner.invoke(app, [*map(str, args)])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result

    return run


@pytest.fixture
def shared_datasets() -> Path:
    """../shared/datasets, or a skip (never under CI, where the folder must be present)."""
    if not SHARED_DATASETS.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the real datasets folder is missing: {SHARED_DATASETS}")
        pytest.skip(f"real MovieLens files not present at {SHARED_DATASETS}")
    return SHARED_DATASETS
