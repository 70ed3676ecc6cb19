"""Workspace operations on runs: train, evaluate, index, recommend and rank, and read their artifacts.

The one layer that knows where things live in a workspace (``artifacts`` names every kind
and file); the kernels below it (evaluation, ranking, index, models) take arrays and paths.
"""

from recsys_cli.runs.evaluate import RunEvaluation, evaluate_run
from recsys_cli.runs.indexing import bench_run_index, build_run_index
from recsys_cli.runs.ranker import RankerResult, train_ranker
from recsys_cli.runs.recommendations import generate_candidates, recommend
from recsys_cli.runs.stage_evaluation import StageEvaluation, evaluate_stages
from recsys_cli.runs.store import RunContext, open_run, read_part
from recsys_cli.runs.summaries import compare_runs, list_runs, remove_run, show_run
from recsys_cli.runs.training import TrainResult, train_candidates

__all__ = [
    "RankerResult",
    "RunContext",
    "RunEvaluation",
    "StageEvaluation",
    "TrainResult",
    "bench_run_index",
    "build_run_index",
    "compare_runs",
    "evaluate_run",
    "evaluate_stages",
    "generate_candidates",
    "list_runs",
    "open_run",
    "read_part",
    "recommend",
    "remove_run",
    "show_run",
    "train_candidates",
    "train_ranker",
]
