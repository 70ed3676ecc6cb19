"""Uniformly random scores: the floor every other generator must clear.

A score is a hash of (seed, user, item) mapped to [0, 1): splitmix64's finaliser (Steele, Lea and
Flood 2014, the mixer behind Java's SplittableRandom) over the key ``(user << 32 | item)`` plus a
mixed seed. The finaliser is a bijection on 64-bit words, so different (user, item) pairs never
share a pre-image, and the top 24 bits become a float32 in [0, 1) exactly. Computed per cell, a
user's scores are the same whatever batch the user is scored in, in whatever order, on whatever
machine: a seeded ``numpy`` generator drawn batch by batch would give a user different scores in a
different batch. Ties (two items with the same 24 bits) go to the lower index, as everywhere.

The model learns nothing: its state is the catalogue's size, checked on load.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_cli.models.base import CandidateModel, ModelParams, TrainingData
from recsys_cli.reporting import Reporter

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, in place on a uint64 array (numpy wraps uint64 arithmetic mod 2^64)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def random_scores(seed: int, users: np.ndarray, n_items: int) -> np.ndarray:
    """len(users) x n_items float32 in [0, 1), a fixed function of (seed, user, item)."""
    salt = _mix(np.array([seed % 2**64], dtype=np.uint64) * _GOLDEN + _GOLDEN)[0]  # any int seed
    keys = (np.asarray(users, dtype=np.uint64)[:, None] << np.uint64(32)) | np.arange(n_items, dtype=np.uint64)
    keys += salt
    bits = _mix(keys) >> np.uint64(40)  # the top 24 bits: a float32 holds them exactly
    return (bits.astype(np.float32) * np.float32(2.0**-24)).astype(np.float32)


@dataclass(frozen=True)
class RandomParams(ModelParams):
    pass


class RandomModel(CandidateModel):
    name = "random"
    description = "uniformly random scores, a fixed function of (seed, user, item): the floor to beat"
    Params = RandomParams

    def _fit(self, data: TrainingData, reporter: Reporter) -> None:
        pass  # nothing to learn: fit only recorded the catalogue's shape

    def score(self, users: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return random_scores(self.seed, users, self.n_items)

    def known_users(self, user_items: sp.csr_matrix) -> np.ndarray:
        return np.ones(user_items.shape[0], dtype=bool)  # a random list suits a new user as well as any

    def state(self) -> dict[str, np.ndarray]:
        return {"n_items": np.array([self.n_items], dtype=np.int64)}

    def expected_state(self) -> dict[str, tuple[tuple[int, ...], str]]:
        return {"n_items": ((1,), "i")}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        if int(state["n_items"][0]) != self.n_items:
            raise ValueError(f"the state is for {int(state['n_items'][0])} items, the model for {self.n_items}")
