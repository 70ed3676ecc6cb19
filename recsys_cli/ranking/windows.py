"""The three windows of the two-stage protocol, read from a run's split.

    train part  -> the candidate generators are fitted on it (``recsys train candidates``)
    val part    -> the label window: candidates for its users are labelled by what they did in it
    test part   -> evaluation only; its history is train + val

A window's features read only its history: the parts before it. Only splits whose val part
lies after the train part for every user qualify (``TIME_ORDERED_STRATEGIES``): in a random
split "before the window" means nothing, and a ranker trained on it learns from the future.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from recsys_cli.data.splits import TIME_ORDERED_STRATEGIES
from recsys_cli.errors import InvalidParameterError


@dataclass(frozen=True)
class Window:
    """One labelled or evaluated window: its part and the parts its features may read."""

    part: str
    history: tuple[str, ...]

    def history_paths(self, split_folder: Path) -> list[Path]:
        return [split_folder / f"{part}.parquet" for part in self.history]


LABEL_WINDOW = Window("val", ("train",))
TEST_WINDOW = Window("test", ("train", "val"))


def check_split(context) -> None:
    """The run's split must be time-ordered and have a non-empty label window (val part)."""
    import pyarrow.parquet as pq

    split = context.split
    dataset = context.dataset.name
    if split.strategy not in TIME_ORDERED_STRATEGIES:
        raise InvalidParameterError(
            f"split '{split.name}' is {split.strategy}: its parts are not ordered in time, so a ranker's "
            "label window would see the future",
            f"make a time-ordered split with a label window, e.g. recsys split {dataset} --name NAME "
            "--strategy temporal-per-user --test-fraction 0.2 --val-fraction 0.2",
        )
    rows = pq.ParquetFile(context.split_folder / "val.parquet").metadata.num_rows
    if rows == 0:
        raise InvalidParameterError(
            f"split '{split.name}' has no val part, which is the ranker's label window",
            f"split again with a label window: recsys split {dataset} --name NAME --strategy "
            f"{split.strategy} {'--val-n 1' if split.strategy == 'leave-last' else '--val-fraction 0.2'} --force",
        )


def as_of(paths: list[Path]) -> int:
    """The latest timestamp in a window's history: "now" for every recency feature of that window."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    latest = [pc.max(pq.read_table(path, columns=["ts"]).column("ts")).as_py() for path in paths]
    return int(max((value for value in latest if value is not None), default=0))
