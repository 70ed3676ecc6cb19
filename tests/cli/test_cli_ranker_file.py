"""`recsys evaluate RUN` on a damaged or edited ranker.txt: exit 1 and one line naming the file, with the
command that trains the ranker again, never LightGBM's abort (exit 134) or a UnicodeDecodeError (exit 3).

A ranker records its model file's size and sha256 (checked first); one trained before they were recorded
(simulated by dropping them from the catalog's record) gets the structural check of the text alone.
The commands run in a subprocess: before these checks LightGBM aborted the whole process.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import (
    MODEL_TEXT_FAULTS,
    QUIET_ENVIRONMENT,
    REPO,
    build_ranker_workspace,
    build_template,
    copy_workspace,
    damaged_ranker_files,
    run_json,
    snapshot,
)

FAULTS = [*MODEL_TEXT_FAULTS, "16 flipped bytes"]
HINT = "(hint: train the ranker again: recsys train ranker als --with pop)"


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The workspace of ``build_ranker_workspace`` and its ranker's JSON (read-only: tests copy it)."""
    return build_template(tmp_path_factory, "ranker-file", build_ranker_workspace)


@pytest.fixture
def ws(template, workspace_dir) -> Path:
    return copy_workspace(template[0], workspace_dir)


def recsys(root: Path, *args: str) -> subprocess.CompletedProcess:
    """``python -m recsys_cli --workspace ROOT ARGS...`` in a subprocess (a LightGBM abort must not take the
    test run with it)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")}
    return subprocess.run(
        [sys.executable, "-m", "recsys_cli", "--workspace", str(root), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**environment, **QUIET_ENVIRONMENT},
        timeout=300,
    )


def ranker_file(root: Path, ranker: dict) -> Path:
    return root / ranker["path"] / "ranker.txt"


def forget_recorded_checksum(root: Path) -> None:
    """Make the ranker look like one trained before the size and sha256 were recorded."""
    import duckdb

    with duckdb.connect(str(root / "catalog.duckdb")) as con:
        (meta,) = con.execute("SELECT meta FROM run_artifacts WHERE run = 'als' AND kind = 'ranker'").fetchone()
        meta = json.loads(meta)
        meta.pop("ranker_file", None)
        con.execute("UPDATE run_artifacts SET meta = ? WHERE run = 'als' AND kind = 'ranker'", [json.dumps(meta)])


def assert_one_error_line(done: subprocess.CompletedProcess, *fragments: str) -> str:
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert done.stdout == "" and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_the_ranker_records_its_files_size_and_sha256(template):
    root, ranker = template
    data = ranker_file(root, ranker).read_bytes()
    assert ranker["ranker_file"] == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    artifact = json.loads((root / ranker["path"] / "artifact.json").read_text())
    assert artifact["ranker_file"] == ranker["ranker_file"]


@pytest.mark.parametrize("fault", FAULTS)
def test_a_damaged_ranker_file_is_refused_by_its_checksum(template, ws, fault):
    path = ranker_file(ws, template[1])
    path.write_bytes(damaged_ranker_files(path.read_text())[fault])
    before = snapshot(ws)
    line = assert_one_error_line(recsys(ws, "evaluate", "als"), "run 'als's ranker.txt", HINT)
    assert ("sha256" in line) or ("bytes, expected" in line and "truncated or replaced" in line), line
    assert snapshot(ws) == before


@pytest.mark.parametrize("fault", FAULTS)
def test_a_damaged_ranker_without_a_recorded_checksum_is_refused_by_its_structure(template, ws, fault):
    path = ranker_file(ws, template[1])
    path.write_bytes(damaged_ranker_files(path.read_text())[fault])
    forget_recorded_checksum(ws)
    assert_one_error_line(recsys(ws, "evaluate", "als"), "run 'als's ranker.txt is damaged or was edited: ", HINT)


def test_a_ranker_without_a_recorded_checksum_still_evaluates(ws, cli):
    checked = run_json(cli, "evaluate", "als", "--k", "10")
    forget_recorded_checksum(ws)
    legacy = run_json(cli, "evaluate", "als", "--k", "10")
    assert legacy["stages"] == checked["stages"] and set(legacy["stages"]) == {"popular", "candidates", "ranker"}


def test_a_missing_ranker_file_is_refused(template, ws):
    ranker_file(ws, template[1]).unlink()
    assert_one_error_line(recsys(ws, "evaluate", "als"), "run 'als's ranker.txt is missing", HINT)
