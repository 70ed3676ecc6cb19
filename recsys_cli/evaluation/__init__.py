"""Offline evaluation kernels: the ranking metrics pinned in DESIGN.md, lists from files, paired intervals.

Knows no workspace: arrays, sparse matrices and file paths in, results out. Imports numpy
and scipy; the CLI imports this package lazily, inside commands.
"""

from recsys_cli.evaluation.metrics import (
    GLOBAL_METRICS,
    METRICS,
    PER_USER_METRICS,
    EvaluationResult,
    evaluate_lists,
    history_shares,
)
from recsys_cli.evaluation.significance import paired_bootstrap, paired_bootstrap_many
from recsys_cli.vocabulary import DEFAULT_KS

__all__ = [
    "DEFAULT_KS",
    "GLOBAL_METRICS",
    "METRICS",
    "PER_USER_METRICS",
    "EvaluationResult",
    "evaluate_lists",
    "history_shares",
    "paired_bootstrap",
    "paired_bootstrap_many",
]
