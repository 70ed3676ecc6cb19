"""Most popular items: the baseline every table shows, and the cold-start fallback."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import InvalidParameterError
from recsys_cli.models.base import CandidateModel, ModelParams, TrainingData, param


def ranked_places(item_scores: np.ndarray, ties_by: np.ndarray | None = None) -> np.ndarray:
    """float32 places from the bottom (n_items for the best item; ties to the higher ``ties_by``, if
    given, then to the lower index).

    Places, not the scores themselves, so float32 keeps the order exact however large the
    counts and their tie-breaks are.
    """
    n_items = item_scores.size
    keys = (np.arange(n_items), -item_scores) if ties_by is None else (np.arange(n_items), -ties_by, -item_scores)
    order = np.lexsort(keys)
    places = np.empty(n_items, dtype=np.float32)
    places[order] = np.arange(n_items, 0, -1, dtype=np.float32)
    return places


def item_counts(user_items: sp.csr_matrix) -> np.ndarray:
    """Distinct users per item (one per stored cell, whatever its value)."""
    return np.bincount(user_items.indices, minlength=user_items.shape[1]).astype(np.float64)


@dataclass(frozen=True)
class PopularParams(ModelParams):
    window_days: Optional[float] = param(
        None, "count only interactions in the last N days of the train part (ties: overall count)", gt=0.0
    )


class PopularModel(CandidateModel):
    name = "popular"
    description = "most interacted items in train (optionally over a recent window)"
    Params = PopularParams

    def __init__(self, params=None, seed: int = 42):
        super().__init__(params, seed)
        self.item_scores: np.ndarray | None = None

    def needs_time(self) -> bool:
        return self.params.window_days is not None

    def _fit(self, data: TrainingData, reporter) -> None:
        overall = item_counts(data.user_items)
        scores = overall
        if self.params.window_days is not None:
            if data.ts is None or data.item_idx is None:
                raise InvalidParameterError(
                    "popular with window-days needs the interactions' times", "pass TrainingData with item_idx and ts"
                )
            start = data.ts.max() - self.params.window_days * 86400  # fit refused an empty train part
            recent = np.bincount(data.item_idx[data.ts >= start], minlength=self.n_items).astype(np.float64)
            # the overall count, scaled below one, only breaks ties between equal recent counts
            scores = recent + overall / (overall.max() + 1.0)
        self.item_scores = scores.astype(np.float64)

    def score(self, users: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(ranked_places(self.item_scores), (len(users), self.n_items)).copy()

    def known_users(self, user_items: sp.csr_matrix) -> np.ndarray:
        return np.ones(user_items.shape[0], dtype=bool)  # the same list suits everyone

    def shared_scores(self) -> np.ndarray:
        return ranked_places(self.item_scores).astype(np.float32)

    def state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores}

    def expected_state(self) -> dict[str, tuple[tuple[int, ...], str]]:
        return {"item_scores": ((self.n_items,), "f")}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.item_scores = np.asarray(state["item_scores"], dtype=np.float64)
