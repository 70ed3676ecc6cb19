"""`recsys run RECIPE`: run a recipe's stages, reusing the cached ones, and record the run.

One recipe run at a time per workspace: a second waits on ``cache/pipeline.lock`` (with a
message) and then finds the first one's stages cached. Each stage goes through the library
function its CLI command uses, which publishes atomically; the stage's cache record is written
after that (see :mod:`recsys_cli.pipeline.cache`), so a run killed at any point and started
again redoes only the stage it was killed in.

A finished run is registered as ``pipelines/<name>/<generation>/`` with manifest.json (the
resolved recipe, stage keys, seeds, versions, platform, input checksums, timings, peak memory),
metrics.json (only what the data determines: the same recipe and seed give the same bytes) and
per_user.parquet (every evaluated row's per-user values, so `recsys runs compare` is exact).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recsys_cli.data.atomic import folder_digest
from recsys_cli.data.faults import read_parquet
from recsys_cli.data.records import PipelineRunRecord
from recsys_cli.data.workspace import Workspace, exclusive_file_lock
from recsys_cli.errors import WorkspaceLockedError
from recsys_cli.evaluation.requirements import CheckResult, check_requirements
from recsys_cli.pipeline import cache
from recsys_cli.pipeline.checks import recipe_measures
from recsys_cli.pipeline.folds import collect_fold_metrics
from recsys_cli.pipeline.plan import Plan, Stage, build_plan
from recsys_cli.pipeline.recipe import Recipe, RecipeError
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.runs.artifacts import (
    MANIFEST_FILE,
    METRICS_FILE,
    METRICS_SHA256,
    PER_USER_FILE,
    STAGES_KIND,
    TEST_EVALUATION_KIND,
)
from recsys_cli.runs.training import package_versions
from recsys_cli.settings import ENV_LOCK_TIMEOUT

LOCK_FILE = "pipeline.lock"


@dataclass
class StageOutcome:
    stage: str
    status: str  # cached, ran, or (dry run) run / pending
    key: str | None
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    record: cache.StageRecord | None = None

    def to_json(self) -> dict[str, Any]:
        document = {
            "stage": self.stage,
            "status": self.status,
            "key": self.key,
            "seconds": round(self.seconds, 3),
            "peak_rss_mb": self.peak_rss_mb,
        }
        if self.record is not None:
            document["inputs"] = self.record.inputs
            document["outputs"] = [vars(o) for o in self.record.outputs]
        return document


@dataclass
class PipelineResult:
    name: str
    plan: Plan
    outcomes: list[StageOutcome]
    dry_run: bool = False
    manifest: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    checks: list[CheckResult] = field(default_factory=list)  # the recipe's checks.require, with values

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def cached(self) -> int:
        return sum(o.status == "cached" for o in self.outcomes)


def run_recipe(
    workspace: Workspace,
    recipe: Recipe,
    *,
    name: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    reporter: Reporter = SILENT,
) -> PipelineResult:
    """Run (or with ``dry_run``, only plan) ``recipe`` as the recipe run ``name``."""
    plan = build_plan(recipe, name)  # every recipe mistake fails here, before the workspace is touched
    if dry_run:
        return PipelineResult(plan.name, plan, _dry_run(workspace, plan, force), dry_run=True)
    started, began = _now(), time.perf_counter()
    _check_name_is_free(workspace, plan)
    created = not workspace.root.exists()
    with pipeline_lock(workspace, f"recipe run '{plan.name}'", reporter):
        try:
            outcomes = _execute(workspace, plan, force, reporter)
            result = PipelineResult(plan.name, plan, outcomes)
            result.metrics, per_user = _collect_metrics(workspace, plan, outcomes)
            result.manifest = _manifest(plan, outcomes, started, time.perf_counter() - began, workspace)
            result.path = _publish(workspace, plan, result, per_user, reporter)
            # after publishing: a run that misses its requirements is still written, to be looked at
            result.checks = check_requirements(plan.requirements, recipe_measures(result.metrics))
        except BaseException:
            if created:  # a first run that failed before any stage finished leaves no workspace behind
                workspace.remove_if_unused()
            raise
    return result


def _check_name_is_free(workspace: Workspace, plan: Plan) -> None:
    """A recipe run and a trained run of one name would shadow each other in `recsys runs`."""

    if not workspace.exists():
        return
    with workspace.catalog() as catalog:
        taken = catalog.run(plan.name) is not None
    if taken:
        raise RecipeError(
            f"'{plan.name}' is already the name of a trained run in this workspace",
            "name the recipe run with --run NAME",
        )


# -- executing ---------------------------------------------------------------------------
def _execute(workspace: Workspace, plan: Plan, force: bool, reporter: Reporter) -> list[StageOutcome]:
    done: dict[str, cache.StageRecord] = {}
    outcomes = []
    total = len(plan.stages)
    reporter.info(
        f"recipe run '{plan.name}' ({plan.recipe.path}), {total} stages: "
        + ", ".join(stage.name for stage in plan.stages)
    )
    for position, stage in enumerate(plan.stages, 1):
        label = f"[{position}/{total}] {stage.name}"
        inputs = _inputs(stage, done)
        key = cache.stage_key(stage.config, inputs)
        record = None if force else _complete_record(workspace, key, stage)
        if record is not None:
            reporter.info(f"{label}: cached ({key[:12]})")
            outcomes.append(StageOutcome(stage.name, "cached", key, record=record))
            done[stage.name] = record
            continue
        reporter.info(f"{label} ...")
        _reset_peak_rss()
        began = time.perf_counter()
        stage.action(workspace, reporter)
        seconds = time.perf_counter() - began
        record = cache.StageRecord(key, stage.name, plan.name, _outputs(workspace, stage), seconds, _now(), inputs)
        cache.save_record(workspace, record)
        peak = _peak_rss_mb()
        reporter.info(f"{label}: done in {seconds:.1f}s" + (f", peak RSS {peak:,.0f} MB" if peak else ""))
        outcomes.append(StageOutcome(stage.name, "ran", key, seconds, peak, record))
        done[stage.name] = record
    return outcomes


def _inputs(stage: Stage, done: dict[str, cache.StageRecord]) -> list[str]:
    inputs = [f"{need}={done[need].digest}" for need in stage.needs]
    if stage.source_checksum is not None:
        inputs.append(f"source={stage.source_checksum()}")
    return inputs


def _complete_record(workspace: Workspace, key: str, stage: Stage) -> cache.StageRecord | None:
    """The record of this stage under this key, if its outputs are still the catalog's."""
    record = cache.load_record(workspace, key)
    if record is None or not workspace.exists():
        return None
    if record.key != key or record.stage != stage.name or [o.ref for o in record.outputs] != list(stage.outputs):
        return None  # a record file renamed or written by hand: it does not describe this stage
    with workspace.reading(), workspace.catalog() as catalog:
        return record if cache.is_complete(record, catalog) else None


def _outputs(workspace: Workspace, stage: Stage) -> list[cache.Output]:
    outputs = []
    with workspace.reading(), workspace.catalog() as catalog:
        for ref in stage.outputs:
            path = cache.current_path(catalog, ref)
            if path is None:  # the library call returned without registering it: a bug, not bad input
                raise RuntimeError(f"stage {stage.name} did not produce {ref}")
            outputs.append(cache.Output(ref, path, folder_digest(workspace.resolve(path))))
    return outputs


def _dry_run(workspace: Workspace, plan: Plan, force: bool) -> list[StageOutcome]:
    """Which stages are cached now; a stage after one that must run has a key only once that one ran."""
    done: dict[str, cache.StageRecord] = {}
    outcomes = []
    for stage in plan.stages:
        if any(need not in done for need in stage.needs):
            outcomes.append(StageOutcome(stage.name, "run", None))
            continue
        key = cache.stage_key(stage.config, _inputs(stage, done))
        record = None if force else _complete_record(workspace, key, stage)
        if record is None:
            outcomes.append(StageOutcome(stage.name, "run", key))
        else:
            done[stage.name] = record
            outcomes.append(StageOutcome(stage.name, "cached", key, record=record))
    return outcomes


# -- the lock ----------------------------------------------------------------------------------
@contextmanager
def pipeline_lock(workspace: Workspace, holder: str, reporter: Reporter) -> Iterator[None]:
    """One recipe run per workspace; the next waits (RECSYS_LOCK_TIMEOUT bounds the wait when set)."""

    workspace.check_writable()  # a foreign folder gets no cache/ folder
    with exclusive_file_lock(
        workspace.root.joinpath(*cache.STAGES_DIR).parent / LOCK_FILE,
        f"{holder} (pid {os.getpid()})",
        workspace.lock_timeout if os.environ.get(ENV_LOCK_TIMEOUT) else None,
        reporter,
        waiting=lambda current: f"waiting for {current} to finish (one recipe run at a time per workspace) ...",
        refused=lambda current: WorkspaceLockedError(f"workspace {workspace.root} is running {current}"),
    ):
        yield


# -- results -----------------------------------------------------------------------------------
def _collect_metrics(workspace: Workspace, plan: Plan, outcomes: list[StageOutcome]):
    """metrics.json's content and every row's per-user values, read from the evaluation folders the
    stage records name (not whatever the catalog points at now: another command may have replaced them)."""
    import pyarrow as pa

    folders = {o.ref: workspace.resolve(o.path) for outcome in outcomes for o in outcome.record.outputs}
    if plan.folds is not None:  # cross-validation: per generator, its metrics over the folds
        with workspace.reading():
            metrics, per_fold = collect_fold_metrics(plan, folders)
        tables = [_per_user(table, "generators", row) for table, row in per_fold]
        return metrics, pa.concat_tables(tables, promote_options="default")
    generators, tables = {}, []
    with workspace.reading():
        for short, run in plan.runs.items():
            folder = folders[f"artifact:{run}/{TEST_EVALUATION_KIND}"]
            document = json.loads((folder / METRICS_FILE).read_text())
            generators[short] = {
                "run": run,
                "model": document["protocol"]["model"],
                "metrics": document["metrics"],
                "protocol": document["protocol"],
            }
            tables.append(_per_user(read_parquet(folder / PER_USER_FILE), "generators", short))
        stages = None
        if plan.ranker_enabled:
            folder = folders[f"artifact:{plan.primary}/{STAGES_KIND}"]
            stages = json.loads((folder / METRICS_FILE).read_text())
            per_stage = read_parquet(folder / PER_USER_FILE)
            for stage in stages["stages"]:
                rows = per_stage.filter(pa.compute.equal(per_stage.column("stage"), stage))
                tables.append(_per_user(rows.drop_columns(["stage"]), "stages", stage))
    metrics = {"generators": generators, "stages": stages}
    return metrics, pa.concat_tables(tables, promote_options="default")


def _per_user(table, group: str, row: str):
    import pyarrow as pa

    table = table.drop_columns([c for c in ("user",) if c in table.column_names])
    table = table.add_column(0, "row", pa.array([row] * table.num_rows, type=pa.string()))
    return table.add_column(0, "table", pa.array([group] * table.num_rows, type=pa.string()))


def _manifest(plan: Plan, outcomes: list[StageOutcome], started: str, wall: float, workspace: Workspace) -> dict:

    ingest = next(o for o in outcomes if o.stage == "ingest")
    stage_inputs = {o.stage: o.record.inputs for o in outcomes if o.record is not None}
    with workspace.catalog() as catalog:
        dataset = catalog.dataset(plan.dataset)
    return {
        "run": plan.name,
        "recipe_file": plan.recipe.path,
        "recipe": plan.recipe.config,
        "recipe_sha256": _sha256(plan.recipe.canonical_json()),
        "stages": [o.to_json() for o in outcomes],
        "seeds": plan.seeds,
        "versions": package_versions(),
        "python": sys.version,
        "platform": {"system": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count()},
        "input_checksums": {
            "source": next(
                (i.partition("=")[2] for i in stage_inputs.get("ingest", []) if i.startswith("source=")), None
            ),
            "source_sha256": dataset.source_sha256 if dataset else None,
            "dataset": ingest.record.digest if ingest.record else None,
        },
        "started_at": started,
        "finished_at": _now(),
        "wall_seconds": round(wall, 3),
        "peak_rss_mb": max([o.peak_rss_mb for o in outcomes if o.peak_rss_mb] + [_peak_rss_mb() or _max_rss_mb()]),
        "cached_stages": sum(o.status == "cached" for o in outcomes),
    }


def _publish(workspace: Workspace, plan: Plan, result: PipelineResult, per_user, reporter: Reporter) -> str:
    import pyarrow.parquet as pq

    metrics = (json.dumps(result.metrics, indent=2, sort_keys=True) + "\n").encode("utf-8")
    # metrics.json stays byte-identical for the same recipe: its digest goes into the manifest (and so
    # into the catalog row), and `runs show` checks the file against it
    result.manifest[METRICS_SHA256] = hashlib.sha256(metrics).hexdigest()
    with workspace.writing(reporter, command=f"run {plan.name}"):
        staged = workspace.new_staging_dir()
        pq.write_table(per_user, staged / PER_USER_FILE, compression="zstd")
        (staged / METRICS_FILE).write_bytes(metrics)
        (staged / MANIFEST_FILE).write_text(json.dumps(result.manifest, indent=2, sort_keys=True) + "\n")

        def register(relative: str):
            with workspace.catalog(read_only=False) as catalog:
                return catalog.put_pipeline_run(
                    PipelineRunRecord(plan.name, plan.recipe.path, relative, result.manifest)
                )

        replaced = workspace.publish(staged, workspace.pipelines_dir / plan.name, register)
        if replaced is not None:
            workspace.retire([replaced.path])
        with workspace.catalog() as catalog:
            return catalog.pipeline_run(plan.name).path


# -- memory ------------------------------------------------------------------------------------
def _reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM, so each stage's peak is its own."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _peak_rss_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return None


def _max_rss_mb() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
