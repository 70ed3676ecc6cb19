"""The ranker's training settings: one declaration of every default, read by the CLI options and recipes.

Imports nothing heavy, so the CLI can build its options from these defaults at import time.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields
from typing import Any

from recsys_cli.errors import InvalidParameterError


@dataclass(frozen=True)
class RankerParams:
    """The ranker's training settings (``recsys train ranker`` options)."""

    num_leaves: int = 31
    learning_rate: float = 0.05
    trees: int = 300
    early_stopping: int = 30
    min_data_in_leaf: int = 50
    valid_fraction: float = 0.2
    seed: int = 42
    # LightGBM's deterministic mode is deterministic per thread count: one thread is the count every
    # machine has, so a seed gives the same model everywhere. OpenMP threads also spin while they
    # wait, and on a busy 2-core machine two of them trained 20x slower than one (measured).
    threads: int = 1

    def validated(self) -> RankerParams:
        def whole(name: str, minimum: int) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
                flag = "--" + name.replace("_", "-")
                raise InvalidParameterError(
                    f"{flag} must be a whole number >= {minimum}, got {value!r}",
                    f"leave out {flag} for the default ({getattr(RankerParams, name)})",
                )

        whole("num_leaves", 2)
        whole("trees", 1)
        whole("early_stopping", 0)
        whole("min_data_in_leaf", 1)
        whole("seed", 0)
        whole("threads", 1)
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate <= 1):
            raise InvalidParameterError(
                f"--learning-rate must be in (0, 1], got {self.learning_rate!r}",
                "e.g. --learning-rate 0.05 (the default)",
            )
        if not (isinstance(self.valid_fraction, (int, float)) and 0 < self.valid_fraction < 1):
            raise InvalidParameterError(
                f"--valid-fraction must be in (0, 1), got {self.valid_fraction!r}",
                "e.g. --valid-fraction 0.2 (the default)",
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


RANKER_DEFAULTS = {f.name: f.default for f in fields(RankerParams)}
