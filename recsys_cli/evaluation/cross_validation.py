"""Cross-validation across folds: per metric, the mean over K folds, the sample standard deviation
and a 95% interval for the mean (docs/metrics.md, "Cross-validation").

    mean = (1/K) sum_i m_i
    sd   = sqrt(sum_i (m_i - mean)^2 / (K - 1))                  (ddof = 1)
    95% interval = mean -/+ t(0.975, K - 1) * sd / sqrt(K)        (Student's t, K - 1 degrees of freedom)

The t quantile, not the normal 1.96: with 5 folds t(0.975, 4) = 2.776, so a normal interval would be
30% too narrow. The folds' training sets overlap, so the values are not independent and this interval
is, as the literature says (Bengio and Grandvalet 2004), somewhat optimistic: it says how precisely the
K folds pin down the mean on this data (sd, not the interval, is how much one fold's value moves), not a
guarantee about new data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from recsys_cli.errors import InvalidParameterError

CONFIDENCE = 0.95
METHOD = "mean over folds; sample sd (ddof=1); 95% interval mean -/+ t(0.975, K-1) * sd / sqrt(K)"


@dataclass(frozen=True)
class FoldStatistics:
    """One metric across K folds; None throughout when a fold has no value for it."""

    values: tuple[float | None, ...]  # fold 1 first
    mean: float | None
    sd: float | None
    low: float | None
    high: float | None

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "sd": self.sd, "low": self.low, "high": self.high, "values": list(self.values)}


def t_quantile(folds: int) -> float:
    """t(0.975, K - 1): the two-sided 95% quantile of Student's t with K - 1 degrees of freedom."""
    from scipy.stats import t

    return float(t.ppf(1 - (1 - CONFIDENCE) / 2, folds - 1))


def fold_statistics(values: Sequence[float | None]) -> FoldStatistics:
    """Mean, sample standard deviation and the t-based 95% interval of one metric's K fold values."""
    folds = len(values)
    if folds < 2:
        raise InvalidParameterError(
            f"cross-validation needs at least 2 folds, not {folds}", "give the runs of every fold"
        )
    if any(v is None or not math.isfinite(v) for v in values):
        return FoldStatistics(tuple(values), None, None, None, None)
    floats = [float(v) for v in values]
    mean = math.fsum(floats) / folds
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in floats) / (folds - 1))
    half = t_quantile(folds) * sd / math.sqrt(folds)
    return FoldStatistics(tuple(floats), mean, sd, mean - half, mean + half)


def cross_validate(per_fold: Sequence[Mapping[str, float | None]]) -> dict[str, FoldStatistics]:
    """Every metric of the folds' metrics dicts (fold 1 first), in fold 1's order; a metric missing
    from a fold is an error (the folds were not evaluated alike)."""
    if not per_fold:
        raise InvalidParameterError("no folds to cross-validate", "give the runs of every fold")
    keys = list(per_fold[0])
    for position, metrics in enumerate(per_fold[1:], 2):
        if set(metrics) != set(keys):
            raise InvalidParameterError(
                f"fold {position} was evaluated with other metrics than fold 1",
                "evaluate every fold with the same --k",
            )
    return {key: fold_statistics([metrics[key] for metrics in per_fold]) for key in keys}
