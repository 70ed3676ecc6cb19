"""`recsys run` under faults: a process SIGKILLed at a precise point, then run again, finishes,
reuses every stage that completed and gives a clean run's metrics; two runs of the same recipe
at once serialise on ``cache/pipeline.lock``.

Each kill runs ``python -c`` that patches one library function to SIGKILL its own process at the
right moment (after writing half a file, mid-training, between publishing a folder and
registering it ...) and then calls the CLI's ``main``; nothing waits on a clock. The fault-free
reference is two runs started at once on a fresh workspace (the module fixture ``clean``).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from recsys_cli.data.workspace import Workspace
from recsys_cli.pipeline import cache
from recsys_cli.pipeline.plan import build_plan
from recsys_cli.pipeline.recipe import load_recipe
from tests.support import copy_workspace, run_json, snapshot, stage_statuses

RECIPE = """
[dataset]
name = "syn"
synthetic = true
users = 300
items = 200
interactions = 10000
seed = 7

[split]
name = "tmp"
strategy = "temporal"
test_fraction = 0.2
val_fraction = 0.1

[[candidates]]
run = "als"
model = "als"
k = 50
params = { factors = 16, iterations = 5 }

[[candidates]]
run = "pop"
model = "popular"
k = 20

[index]
enabled = true
trees = 5

[ranker]
trees = 30
early_stopping = 10

[evaluation]
ks = [10]
"""


def _plan_stages() -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fault.toml"
        path.write_text(RECIPE)
        return [stage.name for stage in build_plan(load_recipe(path)).stages]


STAGES = _plan_stages()  # ingest, split, train als, index als, candidates als, train pop, ..., ranker, evaluate ...

PRELUDE = """
import os, signal, sys

def die():
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)

def in_stack(name):
    frame = sys._getframe()
    while frame is not None:
        if frame.f_code.co_name == name:
            return True
        frame = frame.f_back
    return False

def truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(size // 2)
"""
MAIN = """
sys.argv = ["recsys"] + {args!r}
from recsys_cli.cli import main
main()
"""

# where to kill, in stage order: (the patch, the stage it dies in; stages before it in STAGES completed)
KILLS = {
    # (a) ingest: the dataset's interactions file is half written when the process dies
    "ingest, half-written parquet": (
        """
import recsys_cli.datasets.ingest as ingest
_write = ingest.write_canonical
def write_canonical(con, out_dir):
    _write(con, out_dir)
    truncate(os.path.join(out_dir, "interactions.parquet"))
    die()
ingest.write_canonical = write_canonical
""",
        "ingest",
    ),
    # (b) ALS training, after the factors are learnt and before anything is saved
    "ALS training": (
        """
from recsys_cli.models import factorization
_fit = factorization.ALSModel._fit
def fit(self, data, reporter):
    _fit(self, data, reporter)
    die()
factorization.ALSModel._fit = fit
""",
        "train als",
    ),
    # (d) an artifact's file half written: the ALS run's val candidates
    "candidates artifact, half-written parquet": (
        """
import pyarrow.parquet as pq
_write = pq.write_table
def write_table(table, where, *args, **kwargs):
    _write(table, where, *args, **kwargs)
    if in_stack("generate_candidates"):
        truncate(where)
        die()
pq.write_table = write_table
""",
        "candidates als",
    ),
    # the stage's outputs registered, its cache record not yet written
    "registered, no cache record": (
        """
from recsys_cli.pipeline import cache
_save = cache.save_record
def save_record(workspace, record):
    if record.stage == "train pop":
        die()
    _save(workspace, record)
cache.save_record = save_record
""",
        "train pop",
    ),
    # an artifact folder renamed into place but not yet registered in the catalog
    "published, not registered": (
        """
import recsys_cli.data.workspace as workspace
_publish = workspace.publish_dir
def publish_dir(staged, final):
    _publish(staged, final)
    if "candidates-val" in str(final) and in_stack("generate_candidates") and "fault.pop" in str(final):
        die()
workspace.publish_dir = publish_dir
""",
        "candidates pop",
    ),
    # (c) LambdaRank, a few boosting rounds in
    "ranker training": (
        """
import lightgbm
_train = lightgbm.train
def train(*args, callbacks=None, **kwargs):
    def stop(env):
        if env.iteration == 3:
            die()
    return _train(*args, callbacks=[*(callbacks or []), stop], **kwargs)
lightgbm.train = train
""",
        "ranker",
    ),
}


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RECSYS_WORKSPACE", "RECSYS_DEBUG", "RECSYS_LOCK_TIMEOUT")}
    env.update({"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb", "RECSYS_LOCK_TIMEOUT": "120", **extra})
    return env


@pytest.fixture
def recipe(tmp_path) -> Path:
    path = tmp_path / "fault.toml"
    path.write_text(RECIPE)
    return path


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """Two runs of the recipe started at once on a fresh workspace: the concurrency test's subject and
    every other test's fault-free reference (read-only: tests copy it)."""
    base = tmp_path_factory.mktemp("faults-clean")
    recipe = base / "fault.toml"
    recipe.write_text(RECIPE)
    root = base / "ws"
    started = [_popen(root, recipe, base / f"p{i}", base) for i in range(2)]
    codes = [process.wait(timeout=300) for process, _, _ in started]
    errors = [stderr.read_text() for _, _, stderr in started]
    assert codes == [0, 0], [e[-3000:] for e in errors]
    docs = [json.loads(stdout.read_text()) for _, stdout, _ in started]
    with Workspace(root).catalog() as catalog:
        path = catalog.pipeline_run("fault").path
    return {
        "root": root,
        "docs": docs,
        "errors": errors,
        "pids": [p.pid for p, _, _ in started],
        "metrics": docs[0]["metrics"],
        "metrics_bytes": (root / path / "metrics.json").read_bytes(),
    }


def test_python_m_recsys_cli_runs():
    """The subprocesses below start the CLI as `python -m recsys_cli`."""
    done = subprocess.run(
        [sys.executable, "-m", "recsys_cli", "--version"],
        check=False,
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("recsys ")


def _killed_run(tmp_path: Path, root: Path, recipe: Path, patch: str, *extra: str) -> subprocess.CompletedProcess:
    args = ["--workspace", str(root), "run", str(recipe), *extra, "--format", "json"]
    code = PRELUDE + patch + MAIN.format(args=args)
    done = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_environment(),
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, (done.returncode, done.stderr[-3000:])
    assert done.stdout == ""
    return done


def _catalog_paths(root: Path, recipe: Path, stages: list[str]) -> dict[str, str | None]:
    """What the catalog registers now for every output of ``stages``."""
    plan = build_plan(load_recipe(recipe))
    workspace = Workspace(root)
    with workspace.reading(), workspace.catalog() as catalog:
        return {
            ref: cache.current_path(catalog, ref)
            for stage in plan.stages
            if stage.name in stages
            for ref in stage.outputs
        }


def _line(stage: str, rest: str) -> str:
    return f"[{STAGES.index(stage) + 1}/{len(STAGES)}] {stage}{rest}"


def test_runs_killed_at_each_point_are_finished_by_the_next_run(cli, recipe, tmp_path, workspace_dir, clean):
    """One workspace, killed in turn at every point of KILLS (in stage order), then run to the end.

    After each kill: only whole stages have cache records, each still complete; the killed stage's
    outputs are not in the catalog. Each next run reuses every completed stage (its stderr says
    'cached') and redoes the stage the previous run died in.
    """
    order = [STAGES.index(dies_in) for _, dies_in in KILLS.values()]
    assert order == sorted(order), "KILLS must be in stage order"
    previous = None
    for point, (patch, dies_in) in KILLS.items():
        completed = STAGES[: STAGES.index(dies_in)]
        killed = _killed_run(tmp_path, workspace_dir, recipe, patch)
        err = killed.stderr
        assert _line(dies_in, " ...\n") in err and _line(dies_in, ": done") not in err, (point, err)
        assert "waiting for" not in err, (point, err)  # a killed run holds no lock
        if previous is not None:
            reused = STAGES[: STAGES.index(previous)]
            assert all(_line(stage, ": cached (") in err for stage in reused), (point, err)
            assert _line(previous, ": done") in err, (point, err)  # the stage the last run died in, redone
        entries = run_json(cli, "cache", "list")
        assert sorted(e["stage"] for e in entries) == sorted(completed), (point, entries)
        assert all(e["complete"] for e in entries), (point, entries)
        if dies_in != "train pop":  # ... which registers its run before the record is written
            assert set(_catalog_paths(workspace_dir, recipe, [dies_in]).values()) == {None}, point
        assert all(_catalog_paths(workspace_dir, recipe, completed).values()), point
        previous = dies_in

    doc = run_json(cli, "run", recipe)
    last = STAGES.index(previous)
    assert stage_statuses(doc) == {stage: "cached" if i < last else "ran" for i, stage in enumerate(STAGES)}
    assert doc["metrics"] == clean["metrics"]
    assert (workspace_dir / doc["path"] / "metrics.json").read_bytes() == clean["metrics_bytes"]
    entries = run_json(cli, "cache", "list")
    assert len(entries) == len(STAGES) and all(e["complete"] for e in entries), entries
    # what the killed writers left is swept: no staging folder, no unregistered generation
    assert list((workspace_dir / ".staging").iterdir()) == []
    with Workspace(workspace_dir).catalog() as catalog:
        registered = catalog.artifact("fault.pop", "candidates-val").path
    generations = (workspace_dir / "runs" / "fault.pop" / "candidates-val").iterdir()
    assert [p.relative_to(workspace_dir).as_posix() for p in generations] == [registered]


def test_a_run_killed_while_publishing_the_recipe_run_keeps_the_last_one(cli, recipe, tmp_path, workspace_dir, clean):
    """Killed after its stages, while the pipelines/ folder is renamed into place: the earlier recipe
    run stays registered, and the next run reuses every stage and registers itself."""
    copy_workspace(clean["root"], workspace_dir)
    patch = """
import recsys_cli.data.workspace as workspace
_publish = workspace.publish_dir
def publish_dir(staged, final):
    _publish(staged, final)
    if "pipelines" in str(final):
        die()
workspace.publish_dir = publish_dir
"""
    with Workspace(workspace_dir).catalog() as catalog:
        before = catalog.pipeline_run("fault").path
    killed = _killed_run(tmp_path, workspace_dir, recipe, patch)
    assert _line(STAGES[-1], ": cached (") in killed.stderr
    with Workspace(workspace_dir).catalog() as catalog:
        assert catalog.pipeline_run("fault").path == before
    assert (workspace_dir / before / "metrics.json").read_bytes() == clean["metrics_bytes"]
    doc = run_json(cli, "run", recipe)
    assert set(stage_statuses(doc).values()) == {"cached"}
    assert (workspace_dir / doc["path"] / "metrics.json").read_bytes() == clean["metrics_bytes"]
    with Workspace(workspace_dir).catalog() as catalog:
        assert catalog.pipeline_run("fault").path == doc["path"] != before
    published = sorted(p.name for p in (workspace_dir / "pipelines" / "fault").iterdir())
    assert Path(doc["path"]).name in published and len(published) <= 2  # the killed run's folder is swept


def _popen(root: Path, recipe: Path, out: Path, cwd: Path) -> tuple[subprocess.Popen, Path, Path]:
    stdout, stderr = out.with_suffix(".out"), out.with_suffix(".err")
    with stdout.open("w") as out_file, stderr.open("w") as err_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "recsys_cli", "--workspace", str(root), "run", str(recipe), "--format", "json"],
            stdout=out_file,
            stderr=err_file,
            cwd=cwd,
            env=_environment(),
        )
    return process, stdout, stderr


def test_two_runs_of_one_recipe_at_once_serialise_and_agree(cli, recipe, workspace_dir, clean):
    docs, errors = clean["docs"], clean["errors"]
    assert docs[0]["metrics"] == docs[1]["metrics"]
    # the lock is held for the whole run: one ran every stage, the other waited and found them cached
    statuses = [set(stage_statuses(doc).values()) for doc in docs]
    assert sorted(map(sorted, statuses)) == [["cached"], ["ran"]], statuses
    second = statuses.index({"cached"})
    if "waiting for" in errors[second]:
        first_pid = clean["pids"][1 - second]
        assert f"waiting for recipe run 'fault' (pid {first_pid}) to finish" in errors[second], errors[second]
    assert "waiting for" not in errors[1 - second]
    assert "Traceback" not in "".join(errors) and "error" not in "".join(errors)

    # consistent afterwards: every record complete, one recipe run registered, a third run all cached
    copy_workspace(clean["root"], workspace_dir)
    entries = run_json(cli, "cache", "list")
    assert len(entries) == len(STAGES) and all(e["complete"] for e in entries)
    with Workspace(workspace_dir).catalog() as catalog:
        assert [r.name for r in catalog.pipeline_runs()] == ["fault"]
        assert catalog.pipeline_run("fault").path == docs[second]["path"]
    third = run_json(cli, "run", recipe)
    assert set(stage_statuses(third).values()) == {"cached"}
    assert (workspace_dir / third["path"] / "metrics.json").read_bytes() == clean["metrics_bytes"]


@contextmanager
def _holding_pipeline_lock(root: Path, holder: str):
    """Hold cache/pipeline.lock as a recipe run does, naming ``holder``."""
    (root / "cache").mkdir(parents=True, exist_ok=True)
    with open(root / "cache" / "pipeline.lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.seek(0)
        handle.truncate()
        handle.write(f"{holder}\n")
        handle.flush()
        yield


def test_a_second_run_waits_for_the_lock_holder_and_says_so(recipe, tmp_path, workspace_dir, clean):
    copy_workspace(clean["root"], workspace_dir)
    with _holding_pipeline_lock(workspace_dir, "recipe run 'other' (pid 4242)"):
        process, stdout, stderr = _popen(workspace_dir, recipe, tmp_path / "waiter", tmp_path)
        message = "waiting for recipe run 'other' (pid 4242) to finish"
        deadline = time.monotonic() + 120
        while message not in stderr.read_text() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert message in stderr.read_text(), stderr.read_text()
        assert process.poll() is None  # still waiting: nothing ran while the lock was held
    assert process.wait(timeout=120) == 0, stderr.read_text()
    doc = json.loads(stdout.read_text())
    assert set(stage_statuses(doc).values()) == {"cached"}
    assert stderr.read_text().count("waiting for") == 1


def test_a_run_that_cannot_get_the_lock_in_time_is_refused_and_changes_nothing(
    cli, recipe, workspace_dir, clean, monkeypatch
):
    copy_workspace(clean["root"], workspace_dir)
    monkeypatch.setenv("RECSYS_LOCK_TIMEOUT", "0.5")
    with _holding_pipeline_lock(workspace_dir, "recipe run 'other' (pid 4242)"):
        before = snapshot(workspace_dir)
        result = cli("run", recipe)
        assert result.exit_code == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("error: ") and "recipe run 'other' (pid 4242)" in lines[-1], lines
        assert "(hint: " in lines[-1] and result.stdout == ""
        assert snapshot(workspace_dir) == before
