"""K-fold cross-validation as pure numpy: the fold each row of a dataset is held out in.

No workspace here: :mod:`recsys_cli.data.fold_splits` reads the interactions, calls
:func:`compute_folds` and publishes one ordinary split per fold (test = the fold, train = the rest,
no val), so every command that takes a split works on a fold unchanged.

As every split, folds are assigned over the canonically sorted interactions
(:func:`~recsys_cli.data.split_strategies.canonical`) with ``numpy.random.default_rng(seed)``, after the
same filters (``min_rating``, ``k_core``): the same data and seed give byte-identical folds.

``random``           (the default) a seeded permutation of all rows cut into K contiguous chunks,
                     the first ``n mod K`` one row longer (scikit-surprise's ``KFold``, numpy's
                     ``array_split``): fold sizes differ by at most one.
``random-per-user``  each user's rows in a seeded random order, and the whole sequence (users in
                     index order, each user's rows in its random order) dealt to folds like cards,
                     row ``p`` to fold ``p mod K``. Each user's rows are a contiguous run of that
                     sequence, so every user's rows are spread over the folds with counts that differ
                     by at most one, and so are the fold sizes. A user with fewer than K rows is in
                     test in some folds and absent from the others; in the fold that holds all of a
                     one-row user's rows that user has no training row (a cold-start test user, which
                     the fold's summary counts and ``recsys split`` warns about).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from recsys_cli.data.split_strategies import (
    DEFAULT_SEED,
    TEST,
    TRAIN,
    Interactions,
    _integer,
    apply_filters,
    resolve_filters,
    summarize,
)
from recsys_cli.errors import InvalidParameterError

FOLD_STRATEGIES = ("random", "random-per-user")
DEFAULT_FOLD_STRATEGY = "random"  # as scikit-surprise's KFold; random-per-user on request
MIN_FOLDS = 2
FOLD_SUFFIX = ".fold-"  # fold i of group G is the split G.fold-i (i from 1)

# split options that mean nothing with folds: each fold's test part is its 1/K of the rows, and
# there is no val part (a time-ordered label window cannot come out of a random fold)
_NOT_WITH_FOLDS = {
    "test_fraction": "--test-fraction",
    "val_fraction": "--val-fraction",
    "test_after": "--test-after",
    "val_after": "--val-after",
    "n": "--n",
    "val_n": "--val-n",
    "given": "--given",
}


def fold_name(group: str, fold: int) -> str:
    """The split name of fold ``fold`` (1-based) of ``group``."""
    return f"{group}{FOLD_SUFFIX}{fold}"


@dataclass
class FoldConfig:
    """A K-fold cross-validation: K, how rows are dealt, the seed, and the filters of every split."""

    folds: int
    strategy: str | None = None  # None: DEFAULT_FOLD_STRATEGY
    seed: int | None = None
    min_rating: float | None = None
    k_core: int | None = None

    @classmethod
    def from_split_options(cls, folds: Any, options: dict[str, Any]) -> FoldConfig:
        """From ``recsys split``'s (or a recipe's ``[split]``) options; refuses the ones folds cannot take."""
        for name, flag in _NOT_WITH_FOLDS.items():
            if options.get(name) is not None:
                raise InvalidParameterError(
                    f"{flag} does not apply to --folds",
                    "each fold's test part is its 1/K of the interactions and there is no validation part: "
                    f"drop {flag}",
                )
        unknown = set(options) - set(_NOT_WITH_FOLDS) - {"strategy", "seed", "min_rating", "k_core"}
        if unknown:  # a caller's bug, not a user's input
            raise TypeError(f"unknown split options: {', '.join(sorted(unknown))}")
        return cls(
            folds,
            options.get("strategy"),
            options.get("seed"),
            options.get("min_rating"),
            options.get("k_core"),
        )

    def resolve(self) -> FoldConfig:
        """Validate and return a copy with defaults filled in; raises InvalidParameterError."""
        strategy = str(getattr(self.strategy, "value", self.strategy or DEFAULT_FOLD_STRATEGY))
        if strategy not in FOLD_STRATEGIES:
            raise InvalidParameterError(
                f"--folds takes --strategy random or random-per-user, not {strategy}",
                "cross-validation deals rows to folds at random; a time-ordered split has one test window: "
                "drop --folds for it",
            )
        folds = self.folds
        if isinstance(folds, bool) or not isinstance(folds, int):
            folds = _integer(folds, "--folds", minimum=MIN_FOLDS)
        if folds < MIN_FOLDS:
            raise InvalidParameterError(
                f"--folds must be at least {MIN_FOLDS}, not {folds}",
                "K-fold cross-validation holds out each of K parts once: 5 or 10 are usual",
            )
        cfg = replace(self, folds=int(folds), strategy=strategy)
        cfg.seed = _integer(DEFAULT_SEED if cfg.seed is None else cfg.seed, "--seed", minimum=0)
        resolve_filters(cfg)
        return cfg

    def params(self, group: str, fold: int) -> dict[str, Any]:
        """What the catalog records for fold ``fold`` (1-based) of ``group``: the split's options,
        ``folds``, ``fold`` and ``group``."""
        options = {
            "strategy": self.strategy,
            "seed": self.seed,
            "min_rating": self.min_rating,
            "k_core": self.k_core,
        }
        return {k: v for k, v in options.items() if v is not None} | {"folds": self.folds, "fold": fold, "group": group}


def check_fold_count(data: Interactions, folds: int) -> None:
    """Refuse more folds than rows (a fold would be empty) or than users (most folds would hold a
    handful of users; with random-per-user most users would be absent from most folds)."""
    import numpy as np

    n = len(data)
    if folds > n:
        raise InvalidParameterError(
            f"--folds {folds} is more than the {n:,} interactions to split", f"use at most {n} folds"
        )
    users = int(np.count_nonzero(np.bincount(data.user_idx))) if n else 0
    if folds > users:
        raise InvalidParameterError(
            f"--folds {folds} is more than the {users:,} users of the data", f"use at most {users} folds"
        )


def assign_folds(data: Interactions, folds: int, strategy: str, seed: int):
    """An int64 array: the fold (0-based) that holds each row of canonically sorted ``data`` out."""
    import numpy as np

    n = len(data)
    rng = np.random.default_rng(seed)
    assignment = np.empty(n, dtype=np.int64)
    if strategy == "random":
        order = rng.permutation(n)
        # array_split's chunk sizes: the first n mod K chunks are one row longer
        sizes = np.full(folds, n // folds, dtype=np.int64)
        sizes[: n % folds] += 1
        assignment[order] = np.repeat(np.arange(folds, dtype=np.int64), sizes)
    elif strategy == "random-per-user":
        # user in the high 32 bits, a random draw in the low: one stable sort shuffles within users
        # and keeps the users in index order (as random-per-user splits do)
        draw = rng.integers(0, 2**32, size=n, dtype=np.uint32).astype(np.int64)
        order = np.argsort((data.user_idx.astype(np.int64) << 32) | draw, kind="stable")
        assignment[order] = np.arange(n, dtype=np.int64) % folds
    else:
        raise InvalidParameterError(f"unknown fold strategy '{strategy}'", f"use one of {', '.join(FOLD_STRATEGIES)}")
    return assignment


def fold_parts(assignment, fold: int):
    """The TRAIN/TEST parts (int8, as :func:`~recsys_cli.data.split_strategies.assign_parts`) of fold
    ``fold`` (0-based): test is the fold's rows, train every other row, val empty."""
    import numpy as np

    return np.where(assignment == fold, TEST, TRAIN).astype(np.int8)


def compute_folds(data: Interactions, config: FoldConfig) -> tuple[Interactions, Any, list[dict[str, Any]]]:
    """Filter, assign folds and summarise each fold's split; ``config`` must be resolved.

    Returns the filtered data, each row's fold (0-based) and one summary per fold (the split
    summary of :func:`~recsys_cli.data.split_strategies.summarize`, the filters' counts, ``fold``
    (1-based) and ``folds``)."""
    data, filtered = apply_filters(data, config.min_rating, config.k_core)
    if len(data) == 0:
        raise InvalidParameterError(
            f"the filters left no interactions (of {filtered['input_interactions']:,})",
            "lower --min-rating or --k-core",
        )
    check_fold_count(data, config.folds)
    assignment = assign_folds(data, config.folds, config.strategy, config.seed)
    summaries = [
        filtered | summarize(data, fold_parts(assignment, fold)) | {"fold": fold + 1, "folds": config.folds}
        for fold in range(config.folds)
    ]
    return data, assignment, summaries
