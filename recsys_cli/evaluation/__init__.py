"""Offline evaluation: top-K selection and the ranking metrics pinned in DESIGN.md.

Imports numpy and scipy; the CLI imports this package lazily, inside commands.
"""

from recsys_cli.evaluation.metrics import (
    GLOBAL_METRICS,
    METRICS,
    PER_USER_METRICS,
    EvaluationResult,
    evaluate_lists,
    top_k,
)

__all__ = [
    "GLOBAL_METRICS",
    "METRICS",
    "PER_USER_METRICS",
    "EvaluationResult",
    "evaluate_lists",
    "top_k",
]
