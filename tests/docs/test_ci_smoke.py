"""docs/ci.md's smoke script, extracted from the page and run with bash on the demo recipe: it passes,
a missed requirement fails the job with exit 4 (every stage cached), a typo fails it with exit 1."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

DEMO = REPO / "recipes" / "demo.toml"


def _script() -> str:
    blocks = re.findall(r"```bash\n(.*?)```", (REPO / "docs" / "ci.md").read_text(), flags=re.S)
    assert len(blocks) == 1, "docs/ci.md should hold exactly one bash block: the smoke script"
    return blocks[0]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    folder = tmp_path_factory.mktemp("smoke")
    script = folder / "ci-smoke.sh"
    script.write_text(_script())
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECSYS_", "GITHUB_"))}
    # the interpreter's bin folder holds the `recsys` this test suite installed
    env.update(PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", NO_COLOR="1")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(script), str(DEMO), *args], cwd=folder, env=env, capture_output=True, text=True, timeout=300
        )

    return folder, run


def test_the_smoke_script_passes_on_the_demo_and_leaves_its_reports(smoke):
    folder, run = smoke
    result = run()
    assert result.returncode == 0, result.stderr
    document = json.loads((folder / "smoke" / "run.json").read_text())
    assert document["passed"] is True and len(document["checks"]) == 2
    checks = (folder / "smoke" / "checks.md").read_text()
    assert "| ranker.ndcg@10 >= 0.2 |" in checks and "| lift.ranker_vs_candidates.ndcg@10.low > 0 |" in checks
    assert "FAIL" not in checks and checks in result.stdout
    runs = (folder / "smoke" / "runs.csv").read_text().splitlines()
    assert any(line.startswith("smoke,recipe,") for line in runs), runs
    assert (folder / "smoke" / "workspace" / "catalog.duckdb").is_file()


def test_a_missed_requirement_fails_the_job_with_exit_4_and_says_which(smoke):
    folder, run = smoke
    run()  # the module's first run may not have happened yet when this test runs alone
    result = run("--require", "ranker.ndcg@10 >= 0.99")
    assert result.returncode == 4, result.stderr
    document = json.loads((folder / "smoke" / "run.json").read_text())
    assert {stage["status"] for stage in document["stages"]} == {"cached"}
    assert [c["passed"] for c in document["checks"]] == [False, True, True]  # "$@" comes first
    assert "error: 1 of 3 requirements failed: ranker.ndcg@10 = " in result.stderr
    assert "| ranker.ndcg@10 >= 0.99 |" in result.stdout and "FAIL" in result.stdout


def test_a_misspelt_requirement_fails_the_job_with_exit_1_before_running(smoke):
    _, run = smoke
    result = run("--require", "rankr.ndcg@10 >= 0.2")
    assert result.returncode == 1, result.stderr
    assert "no measure 'rankr.ndcg@10'" in result.stderr and "did you mean 'ranker.ndcg@10'?" in result.stderr
    assert "[1/" not in result.stderr  # no stage started
