"""A cross-validated recipe run's results (``split.folds``): each generator's metrics over the folds.

metrics.json keeps the shape of every recipe run, so `runs list`, `runs show`, the headline and the
quality gates read it unchanged: ``generators.<run>.metrics`` holds each metric's **mean over the
folds**, so ``als.ndcg@10 >= 0.3`` gates on the cross-validated mean. Beside it,
``generators.<run>.cross_validation`` holds per metric the mean, the sample sd, the 95% t interval and
every fold's value (:mod:`recsys_cli.evaluation.cross_validation`), which the measures
``generators.<run>.<metric>.sd`` / ``.low`` / ``.high`` expose to gates
(:func:`recsys_cli.pipeline.checks.recipe_measure_names`). ``protocol`` holds what every
fold's evaluation shares, and under ``per_fold`` what differs (the run, the split, users evaluated).

per_user.parquet has one row set per generator and fold (row ``<run> fold-<i>``): a user is in the
test part of several folds, so rows per fold keep `runs compare` of two cross-validated recipe runs
exact (fold by fold, over the same users).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from recsys_cli.data.faults import read_parquet
from recsys_cli.evaluation.cross_validation import METHOD, cross_validate, t_quantile
from recsys_cli.pipeline.plan import Plan
from recsys_cli.runs.artifacts import METRICS_FILE, PER_USER_FILE, TEST_EVALUATION_KIND
from recsys_cli.runs.cross_validation import metric_order


def collect_fold_metrics(plan: Plan, folders: dict[str, Path]) -> tuple[dict[str, Any], list[tuple[Any, str]]]:
    """metrics.json's content, and each fold evaluation's per-user table with its row name, read from
    the evaluation folders the stage records name (``folders``: output ref -> folder; the caller holds
    the readers' lock)."""
    generators, tables = {}, []
    for short, runs in plan.fold_runs.items():
        documents = []
        for fold, run in enumerate(runs, 1):
            folder = folders[f"artifact:{run}/{TEST_EVALUATION_KIND}"]
            documents.append(json.loads((folder / METRICS_FILE).read_text()))
            tables.append((read_parquet(folder / PER_USER_FILE), f"{short} fold-{fold}"))
        statistics = cross_validate([document["metrics"] for document in documents])
        statistics = dict(sorted(statistics.items(), key=lambda item: metric_order(item[0])))
        generators[short] = {
            "run": plan.runs[short],
            "model": documents[0]["protocol"]["model"],
            "metrics": {key: s.mean for key, s in statistics.items()},
            "protocol": _shared_protocol([document["protocol"] for document in documents]),
            "cross_validation": {
                "folds": plan.folds,
                "group": plan.split,
                "runs": runs,
                "method": METHOD,
                "t_quantile": t_quantile(plan.folds),
                "metrics": {key: s.to_json() for key, s in statistics.items()},
            },
        }
    return {"generators": generators, "stages": None}, tables


def _shared_protocol(protocols: list[dict[str, Any]]) -> dict[str, Any]:
    """The keys every fold's protocol has with one value, and under ``per_fold`` the others, per fold."""
    keys = list(dict.fromkeys(key for protocol in protocols for key in protocol))
    shared, per_fold = {}, {}
    for key in keys:
        values = [protocol.get(key) for protocol in protocols]
        if all(json.dumps(v, sort_keys=True) == json.dumps(values[0], sort_keys=True) for v in values):
            shared[key] = values[0]
        else:
            per_fold[key] = values
    return shared | {"per_fold": per_fold}
