"""Paired bootstrap confidence intervals for the difference between two runs on the same users.

Both runs' per-user values are stored beside their evaluations, so the comparison is paired:
each resample draws users with replacement and takes the mean of (b - a) over the same draw.
The percentile interval of those means is the confidence interval of the mean difference.
Seeded, so the same inputs always give the same interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from recsys_cli.errors import InvalidParameterError
from recsys_cli.vocabulary import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED, PAIRED_METRICS

METHOD = f"paired bootstrap of mean(b - a) over users, {BOOTSTRAP_RESAMPLES} resamples, seed {BOOTSTRAP_SEED}, 95%"


@dataclass(frozen=True)
class Interval:
    """Mean of (b - a) over users, and its bootstrap confidence interval."""

    difference: float
    low: float
    high: float
    confidence: float
    n_users: int
    n_resamples: int

    @property
    def excludes_zero(self) -> bool:
        return self.low > 0.0 or self.high < 0.0

    def to_json(self) -> dict:
        return asdict(self) | {"excludes_zero": self.excludes_zero}


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = 0.95,
    seed: int = BOOTSTRAP_SEED,
    chunk: int = 100,
) -> Interval:
    """Confidence interval of mean(b - a) by resampling users (rows) with replacement."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise InvalidParameterError(
            f"paired values must be two 1-D arrays of the same length, got {a.shape} and {b.shape}",
            "compare runs evaluated on the same users",
        )
    return paired_bootstrap_many(
        a[:, None], b[:, None], n_resamples=n_resamples, confidence=confidence, seed=seed, chunk=chunk
    )[0]


def paired_bootstrap_many(
    a: np.ndarray,
    b: np.ndarray,
    *,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = 0.95,
    seed: int = BOOTSTRAP_SEED,
    chunk: int = 100,
) -> list[Interval]:
    """:func:`paired_bootstrap` for every column of two (users x metrics) arrays at once.

    Every column is resampled with the same draws of users (as the seeded single-metric calls
    would be); each resample's means are its user counts times the differences, one matrix
    product for all columns, instead of a gather per column. At 138k users and 12 metrics this is
    about ten times faster than separate calls.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise InvalidParameterError(
            f"paired values must be two (users x metrics) arrays of the same shape, got {a.shape} and {b.shape}",
            "compare runs evaluated on the same users",
        )
    n_users, n_metrics = a.shape
    if n_users == 0:
        raise InvalidParameterError("no users to compare", "evaluate both runs on a part with relevant items")
    if not 0.0 < confidence < 1.0:
        raise InvalidParameterError(f"confidence must be in (0, 1), got {confidence}", "pass e.g. 0.95")
    if n_resamples < 1:
        raise InvalidParameterError(f"n_resamples must be at least 1, got {n_resamples}")
    difference = b - a
    rng = np.random.default_rng(seed)
    means = np.empty((n_resamples, n_metrics))
    # Chunks of resamples keep the index block small at 100k+ users.
    for start in range(0, n_resamples, chunk):
        count = min(chunk, n_resamples - start)
        draws = rng.integers(0, n_users, size=(count, n_users))
        draws += np.arange(count)[:, None] * n_users  # one bincount for the whole chunk
        counts = np.bincount(draws.ravel(), minlength=count * n_users).reshape(count, n_users)
        means[start : start + count] = counts.astype(np.float64) @ difference / n_users
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail], axis=0)
    return [
        Interval(float(difference[:, j].mean()), float(low[j]), float(high[j]), confidence, n_users, n_resamples)
        for j in range(n_metrics)
    ]


def paired_keys(keys: Iterable[str]) -> list[str]:
    """The ``<metric>@<k>`` keys whose differences get a paired interval (``PAIRED_METRICS``)."""
    return [key for key in keys if key.split("@")[0] in PAIRED_METRICS]


def paired_intervals(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray], keys: Sequence[str]) -> dict[str, dict]:
    """Each key's interval of mean(b - a) (as JSON), all from one set of draws of the same users."""
    if not keys:
        return {}
    intervals = paired_bootstrap_many(
        np.column_stack([a[key] for key in keys]), np.column_stack([b[key] for key in keys])
    )
    return {key: interval.to_json() for key, interval in zip(keys, intervals)}
