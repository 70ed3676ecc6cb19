"""`recsys runs cv RUN ...`: one model's metrics across the folds of a cross-validation.

The runs must be one per fold of one group (``recsys split DATASET --folds K --name G``), every fold
present, of one model with the same parameters, each evaluated on test with the same K's, relevance
and cold-start rule; the statistics are :func:`recsys_cli.evaluation.cross_validation.cross_validate`'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recsys_cli.data.records import SplitRecord
from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import InvalidParameterError
from recsys_cli.evaluation.cross_validation import METHOD, FoldStatistics, cross_validate, t_quantile
from recsys_cli.evaluation.metrics import METRICS
from recsys_cli.runs.summaries import RunSummary, show_run

PART = "test"  # a fold has no val part
# what must be equal in every fold's evaluation protocol for the folds' metrics to be averaged
_SAME_PROTOCOL = ("ks", "relevance", "cold_start")


@dataclass
class CrossValidation:
    dataset: str
    group: str
    folds: int
    split_params: dict[str, Any]  # the group's options (a fold's params without "fold")
    model: str
    params: dict[str, Any]
    runs: list[str]  # fold 1 first
    protocol: dict[str, Any]  # what every fold's evaluation shares
    users_evaluated: list[int]  # per fold
    statistics: dict[str, FoldStatistics]

    def document(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "group": self.group,
            "folds": self.folds,
            "split_params": self.split_params,
            "model": self.model,
            "params": self.params,
            "runs": self.runs,
            "protocol": self.protocol,
            "users_evaluated": self.users_evaluated,
            "method": METHOD,
            "t_quantile": t_quantile(self.folds),
            "metrics": {key: s.to_json() for key, s in self.statistics.items()},
        }


def cross_validate_runs(workspace: Workspace, names: list[str]) -> CrossValidation:
    """The mean, sd and 95% interval of every metric over the runs ``names``, one per fold of a group."""
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidParameterError(f"run '{repeated[0]}' is given twice", "give each fold's run once")
    summaries = [show_run(workspace, name) for name in names]
    with workspace.reading(), workspace.catalog() as catalog:
        splits = [catalog.split(s.run.dataset, s.run.split) for s in summaries]
    folds_of = [_fold(summary, split) for summary, split in zip(summaries, splits)]
    groups = sorted({f"{s.run.dataset}/{split.params['group']}" for s, split in zip(summaries, splits)})
    if len(groups) > 1:
        raise InvalidParameterError(
            f"the runs are on the folds of {len(groups)} groups ({', '.join(groups)})",
            "give the runs of one group's folds",
        )
    group, folds = groups[0], int(splits[0].params["folds"])
    by_fold: dict[int, RunSummary] = {}
    for summary, fold in zip(summaries, folds_of):
        if fold in by_fold:
            raise InvalidParameterError(
                f"runs '{by_fold[fold].run.name}' and '{summary.run.name}' are both on fold {fold} of '{group}'",
                "give one run per fold",
            )
        by_fold[fold] = summary
    missing = [fold for fold in range(1, folds + 1) if fold not in by_fold]
    if missing:
        split = splits[0].name.rsplit(".fold-", 1)[0]
        raise InvalidParameterError(
            f"the runs cover {len(by_fold)} of the {folds} folds of '{group}': fold "
            f"{', '.join(map(str, missing))} {'is' if len(missing) == 1 else 'are'} missing",
            f"train and evaluate the same model on {split}.fold-{missing[0]} and give its run too",
        )
    ordered = [by_fold[fold] for fold in range(1, folds + 1)]
    _check_same_model(ordered)
    _check_evaluated(ordered)
    first = ordered[0]
    statistics = cross_validate([s.evaluations[PART]["metrics"] for s in ordered])
    statistics = dict(sorted(statistics.items(), key=lambda item: metric_order(item[0])))
    protocol = {key: first.evaluations[PART]["protocol"].get(key) for key in _SAME_PROTOCOL}
    split_params = {k: v for k, v in splits[0].params.items() if k != "fold"}
    return CrossValidation(
        dataset=first.run.dataset,
        group=split_params["group"],
        folds=folds,
        split_params=split_params,
        model=first.run.model,
        params=first.run.params,
        runs=[s.run.name for s in ordered],
        protocol=protocol,
        users_evaluated=[s.evaluations[PART]["protocol"].get("users_evaluated") for s in ordered],
        statistics=statistics,
    )


def metric_order(key: str) -> tuple:
    """The evaluator's order (precision, recall, ndcg ...), K by K, as `runs compare` shows them (the
    catalog stores metric keys sorted by name); other keys after them by name."""
    name, _, k = key.partition("@")
    if k.isdigit() and name in METRICS:
        return (0, int(k), METRICS.index(name), "")
    return (1, 0, 0, key)


def _fold(summary: RunSummary, split: SplitRecord | None) -> int:
    if split is None or "fold" not in split.params or "group" not in split.params:
        where = f"'{summary.run.dataset}/{summary.run.split}'"
        raise InvalidParameterError(
            f"run '{summary.run.name}' is trained on split {where}, which is not a cross-validation fold",
            f"make folds with: recsys split {summary.run.dataset} --folds 5 --name cv, and train a run on each",
        )
    return int(split.params["fold"])


def _check_same_model(ordered: list[RunSummary]) -> None:
    first = ordered[0].run
    for summary in ordered[1:]:
        run = summary.run
        if run.model != first.model or run.params != first.params:
            raise InvalidParameterError(
                f"runs '{first.name}' ({first.model} {first.params}) and '{run.name}' ({run.model} {run.params}) "
                "are not the same model with the same parameters",
                "cross-validate one model configuration at a time",
            )
        # the matrix values are the training data, not a parameter: ones and ratings are two models
        values, first_values = run.manifest.get("values"), first.manifest.get("values")
        if values != first_values:
            raise InvalidParameterError(
                f"runs '{first.name}' (--values {first_values}) and '{run.name}' (--values {values}) trained on "
                "different matrix values",
                "cross-validate one model configuration at a time: train every fold with the same --values",
            )


def _check_evaluated(ordered: list[RunSummary]) -> None:
    unevaluated = [s.run.name for s in ordered if PART not in s.evaluations]
    if unevaluated:
        raise InvalidParameterError(
            f"run{'s' if len(unevaluated) > 1 else ''} {', '.join(unevaluated)} "
            f"{'have' if len(unevaluated) > 1 else 'has'} no evaluation on {PART}",
            f"evaluate {'each' if len(unevaluated) > 1 else 'it'} first, with the same --k as the others: "
            f"recsys evaluate {unevaluated[0]}",
        )
    first = ordered[0]
    for key in _SAME_PROTOCOL:
        expected = first.evaluations[PART]["protocol"].get(key)
        for summary in ordered[1:]:
            found = summary.evaluations[PART]["protocol"].get(key)
            if found != expected:
                raise InvalidParameterError(
                    f"the folds were evaluated differently: {key.replace('_', ' ')} {_show(expected)} on "
                    f"'{first.run.name}', {_show(found)} on '{summary.run.name}'",
                    "evaluate every fold's run with the same --k, --relevant-min-rating and --cold-start",
                )


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)
