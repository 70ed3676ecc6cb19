"""Runs: trained candidate generators in the workspace, and what is built from them."""

from recsys_cli.runs.store import RunContext, open_run, read_part
from recsys_cli.runs.training import TrainResult, train_candidates

__all__ = ["RunContext", "TrainResult", "open_run", "read_part", "train_candidates"]
