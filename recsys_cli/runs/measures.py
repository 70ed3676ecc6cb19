"""A run's measures as one flat ``{name: number}`` map: what quality gates (``--require``) check.

The names are the tables' own words joined by dots (docs/ci.md lists them):

    test.ndcg@10                           a generator run's evaluation on test (or val.*)
    ranker.ndcg@10, candidates.recall@20   a row of the two-stage table (popular, candidates, ranker)
    lift.ranker_vs_candidates.ndcg@10      the difference of the means (B - A)
    lift.ranker_vs_candidates.ndcg@10.low  its paired bootstrap 95% interval (.low, .high), and .relative
    pool_recall                            the share of test interactions the candidate pool holds

Recipe runs add ``generators.<run>.<metric>`` (recsys_cli.pipeline.reports).
"""

from __future__ import annotations

import json
from typing import Any

from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import CorruptArtifactError, InvalidParameterError
from recsys_cli.evaluation.metrics import METRICS, PER_USER_METRICS
from recsys_cli.evaluation.requirements import CheckResult, Requirement, check_requirements
from recsys_cli.runs.artifacts import METRICS_FILE, STAGES_KIND
from recsys_cli.runs.stage_evaluation import COMPARISONS
from recsys_cli.runs.summaries import show_run
from recsys_cli.vocabulary import EVALUATED_PARTS, PAIRED_METRICS, STAGE_ROWS

Measures = dict[str, "float | None"]
STAGES_PART = STAGES_KIND.removeprefix("evaluation-")


def metric_keys(ks: list[int] | tuple[int, ...]) -> list[str]:
    """Every metric at every K, in the evaluator's order (precision, recall, ndcg, ... K by K)."""
    return [f"{metric}@{k}" for k in ks for metric in METRICS]


def stage_measures(document: dict[str, Any]) -> Measures:
    """The two-stage evaluation (``{"protocol", "stages", "lift"}``) flattened."""
    measures: Measures = {}
    for row, metrics in document["stages"].items():
        measures.update({f"{row}.{key}": value for key, value in metrics.items()})
    for comparison, entries in document["lift"].items():
        for key, lift in entries.items():
            name = f"lift.{comparison}.{key}"
            measures[name] = lift.get("difference")
            measures[f"{name}.relative"] = lift.get("relative")
            interval = lift.get("interval")
            if interval:
                measures[f"{name}.low"] = interval["low"]
                measures[f"{name}.high"] = interval["high"]
    if document.get("protocol", {}).get("pool_recall") is not None:
        measures["pool_recall"] = document["protocol"]["pool_recall"]
    return measures


def stage_measure_names(ks: list[int] | tuple[int, ...]) -> list[str]:
    """The names :func:`stage_measures` gives a two-stage evaluation at ``ks``, known before it runs."""
    names = [f"{row}.{key}" for row in STAGE_ROWS for key in metric_keys(ks)]
    for better, base in COMPARISONS:
        for key in metric_keys(ks):
            name = f"lift.{better}_vs_{base}.{key}"
            names += [name, f"{name}.relative"]
            if key.split("@")[0] in PAIRED_METRICS and key.split("@")[0] in PER_USER_METRICS:
                names += [f"{name}.low", f"{name}.high"]
    return [*names, "pool_recall"]


def run_measures(workspace: Workspace, name: str) -> Measures:
    """A trained run's stored evaluations flattened: ``<part>.<metric>`` and, once the two-stage
    table was evaluated (`recsys evaluate RUN` after `recsys train ranker`), its rows and lifts."""
    summary = show_run(workspace, name)
    measures: Measures = {}
    for part, evaluation in summary.evaluations.items():
        if part != STAGES_PART:
            measures.update({f"{part}.{key}": value for key, value in evaluation["metrics"].items()})
    if STAGES_PART in summary.evaluation_paths:
        path = workspace.resolve(summary.evaluation_paths[STAGES_PART]) / METRICS_FILE
        with workspace.reading():
            try:
                document = json.loads(path.read_text(encoding="utf-8"))
                stages = stage_measures(document)
                # the catalog recorded the ranker's row when the evaluation was published: an edited
                # file must not pass a gate the run did not
                recorded = summary.evaluations[STAGES_PART]["metrics"]
                edited = document["stages"]["ranker"] != recorded
            except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as error:
                raise CorruptArtifactError(
                    f"the workspace file {path} is damaged: {error}", f"evaluate the run again: recsys evaluate {name}"
                ) from None
        if edited:
            raise CorruptArtifactError(
                f"the workspace file {path} was edited: its ranker metrics are not the ones recorded in the catalog",
                f"evaluate the run again: recsys evaluate {name}",
            )
        measures.update(stages)
    return measures


def check_run(workspace: Workspace, name: str, requirements: list[Requirement]) -> tuple[list[CheckResult], Measures]:
    """A trained run against ``requirements``; a measure of an evaluation the run does not have yet is
    refused with the command that makes it, not as an unknown name."""
    measures = run_measures(workspace, name)
    for requirement in requirements:
        if requirement.name in measures:
            continue
        part = requirement.name.split(".")[0]
        if part in EVALUATED_PARTS and not any(m.startswith(f"{part}.") for m in measures):
            raise InvalidParameterError(
                f"run '{name}' has no evaluation on {part} for '{requirement.name}'",
                f"evaluate it first: recsys evaluate {name} --on {part} --no-stages",
            )
        if part in (*STAGE_ROWS, "lift", "pool_recall") and "pool_recall" not in measures:
            raise InvalidParameterError(
                f"run '{name}' has no two-stage evaluation for '{requirement.name}'",
                f"train a ranker on it and evaluate: recsys train ranker {name}, then recsys evaluate {name}",
            )
    return check_requirements(requirements, measures), measures
