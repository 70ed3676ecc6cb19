"""Runs side by side: `runs list`, `runs show`, `runs compare`, `runs remove`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recsys_cli.data.faults import read_parquet
from recsys_cli.data.records import RunRecord
from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import InvalidParameterError, RemovedMeanwhileError, UnknownNameError
from recsys_cli.evaluation.metrics import METRICS
from recsys_cli.evaluation.significance import paired_intervals
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.runs.artifacts import PER_USER_FILE

HEADLINE = "ndcg@10"


@dataclass
class RunSummary:
    run: RunRecord
    evaluations: dict[str, dict[str, Any]]  # part -> {"protocol", "metrics"}
    artifacts: list[str]
    evaluation_paths: dict[str, str] = field(default_factory=dict)  # part -> the evaluation's folder

    def headline(self, part: str = "test") -> float | None:
        return self.evaluations.get(part, {}).get("metrics", {}).get(HEADLINE)

    def document(self) -> dict[str, Any]:
        r = self.run
        return {
            "run": r.name,
            "model": r.model,
            "dataset": r.dataset,
            "split": r.split,
            "params": r.params,
            "path": r.path,
            "created_at": r.created_at,
            "artifacts": self.artifacts,
            "evaluations": self.evaluations,
            "manifest": r.manifest,
        }


def _summary(catalog, record: RunRecord) -> RunSummary:
    artifacts = catalog.artifacts(record.name)
    evaluated = [a for a in artifacts if a.kind.startswith("evaluation-")]
    evaluations = {a.kind.removeprefix("evaluation-"): a.meta for a in evaluated}
    paths = {a.kind.removeprefix("evaluation-"): a.path for a in evaluated}
    return RunSummary(record, evaluations, [a.kind for a in artifacts], paths)


def list_runs(workspace: Workspace, dataset: str | None = None) -> list[RunSummary]:
    with workspace.reading(), workspace.catalog() as catalog:
        return [_summary(catalog, r) for r in catalog.runs(dataset)]


def show_run(workspace: Workspace, name: str) -> RunSummary:
    with workspace.reading(), workspace.catalog() as catalog:
        record = catalog.run(name)
        if record is None:  # recipe runs are shown by the same command: name them too
            raise UnknownNameError("run", name, catalog.run_names() + [r.name for r in catalog.pipeline_runs()])
        return _summary(catalog, record)


@dataclass
class Comparison:
    part: str
    runs: list[RunSummary]
    metrics: list[str]  # metric keys present in every run's evaluation, in order
    warnings: list[str]


def compare_runs(workspace: Workspace, names: list[str], part: str = "test") -> Comparison:
    """The stored evaluations of several runs, keyed alike; warns when their protocols differ."""
    if len(names) < 1:
        raise InvalidParameterError("no runs to compare", "pass two or more run names")
    summaries = [show_run(workspace, name) for name in names]
    missing = [s.run.name for s in summaries if part not in s.evaluations]
    if missing:
        raise InvalidParameterError(
            f"run(s) {', '.join(missing)} have no evaluation on {part}",
            f"evaluate them first: recsys evaluate {missing[0]} --on {part}",
        )

    keys = [list(s.evaluations[part]["metrics"]) for s in summaries]
    common = [k for k in keys[0] if all(k in other for other in keys[1:])]
    # the evaluator's order (precision, recall, ndcg ...), K by K; the catalog stores keys sorted
    # metrics without a K (a rating model's rmse, mae) after every K, in their stored order
    common.sort(
        key=lambda key: (int(key.split("@")[1]), METRICS.index(key.split("@")[0])) if "@" in key else (1 << 62, 0)
    )
    warnings = []
    for name in ("dataset", "split", "evaluated_part", "relevance", "users_evaluated", "cold_start"):
        values = {str(s.evaluations[part]["protocol"].get(name)) for s in summaries}
        if len(values) > 1:
            warnings.append(
                f"runs differ in {name.replace('_', ' ')} ({', '.join(sorted(values))}): "
                "their metrics are not directly comparable"
            )
    return Comparison(part, summaries, common, warnings)


def paired_differences(
    workspace: Workspace, comparison: Comparison, metrics: list[str]
) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Each run against the first: mean per-user difference and its paired bootstrap 95% interval.

    Returns ({run: {metric: interval}}, None), or ({}, why not) when the runs were not
    evaluated on the same users (then no paired test exists).
    """

    part = comparison.part
    with workspace.reading():
        tables = [
            read_parquet(workspace.resolve(s.evaluation_paths[part]) / PER_USER_FILE, columns=["user", *metrics])
            for s in comparison.runs
        ]
    users = [t.column("user").to_numpy() for t in tables]
    if any(u.shape != users[0].shape or (u != users[0]).any() for u in users[1:]):
        return {}, "the runs were evaluated on different users: no paired confidence interval"
    baseline = tables[0]
    differences: dict[str, dict[str, Any]] = {}
    for summary, table in zip(comparison.runs[1:], tables[1:]):
        differences[summary.run.name] = paired_intervals(
            {m: baseline.column(m).to_numpy() for m in metrics},
            {m: table.column(m).to_numpy() for m in metrics},
            metrics,
        )
    return differences, None


def remove_run(workspace: Workspace, name: str, reporter: Reporter = SILENT) -> RunSummary:
    """Unregister a run and everything built from it, then delete the files."""
    summary = show_run(workspace, name)
    with workspace.writing(reporter, command=f"runs remove {name}"):
        with workspace.catalog(read_only=False) as catalog:
            if catalog.run(name) is None:  # it was there before the lock: someone removed it meanwhile
                raise RemovedMeanwhileError("run", name, hint="nothing was removed by this command")
            dropped = catalog.delete_run(name)
        workspace.retire(dropped.paths)
    return summary
