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

from recsys_cli.data.faults import read_parquet


@dataclass(frozen=True)
class Window:
    """One labelled or evaluated window: its part and the parts its features may read."""

    part: str
    history: tuple[str, ...]

    def history_paths(self, split_folder: Path) -> list[Path]:
        return [split_folder / f"{part}.parquet" for part in self.history]


LABEL_WINDOW = Window("val", ("train",))
TEST_WINDOW = Window("test", ("train", "val"))


def as_of(paths: list[Path]) -> int:
    """The latest timestamp in a window's history: "now" for every recency feature of that window."""
    import pyarrow.compute as pc

    latest = [pc.max(read_parquet(path, columns=["ts"]).column("ts")).as_py() for path in paths]
    return int(max((value for value in latest if value is not None), default=0))
