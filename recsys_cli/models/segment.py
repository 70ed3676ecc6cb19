"""Demographic-segment popularity: each user gets the most popular train items among the train users who
share their demographic segment (e.g. women aged 25-34).

The classic baseline for a new user who has told the system who they are but not yet what they like
(docs/models.md, "Cold start: new users"). A segment is the combination of the ``segment`` attributes
(gender, age band, occupation); ages fall into ML-1M's seven bands, whether the users file holds years
(ML-100K) or ML-1M's band codes. A user missing any of those attributes, or whose segment has fewer than
``min-users`` train users, gets global popularity: the model's own list for them, so every user counts as
known (as for ``popular``), with or without train history, and no cold-start rule replaces it.
Popularity is distinct train users per item, as ``popular`` counts it; ties go to the global count, then
to the lower item index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import InvalidParameterError
from recsys_cli.models.base import USER_ATTRIBUTES, CandidateModel, ModelParams, TrainingData, UserMetadata, param
from recsys_cli.models.popular import item_counts, ranked_places

# ML-1M's age bands (README: 1 "Under 18", 18 "18-24", 25 "25-34", 35 "35-44", 45 "45-49", 50 "50-55",
# 56 "56+"): each band's lowest age and its label. A year of age and an ML-1M code land in the same band.
AGE_BANDS = ((0, "under 18"), (18, "18-24"), (25, "25-34"), (35, "35-44"), (45, "45-49"), (50, "50-55"), (56, "56+"))


def age_band(age: int | None) -> str | None:
    """The ML-1M band of an age in years or of an ML-1M age code (None stays None)."""
    if age is None or age < 0:  # UserMetadata built in Python may hold a file's -1 for "unknown"
        return None
    return next(label for low, label in reversed(AGE_BANDS) if age >= low)


def segment_attributes(text: str) -> tuple[str, ...]:
    """The attributes of a ``segment`` parameter ("gender,age"), checked: known, none twice, at least one."""
    names = tuple(part.strip() for part in str(text).split(","))
    unknown = [n for n in names if n not in USER_ATTRIBUTES]
    if unknown or len(set(names)) != len(names):
        raise InvalidParameterError(
            f"parameter 'segment' must be a comma list of distinct attributes, not '{text}'",
            f"choose from {', '.join(USER_ATTRIBUTES)}, e.g. gender,age",
        )
    return names


@dataclass(frozen=True)
class SegmentParams(ModelParams):
    segment: str = param(
        "gender,age",
        "the user attributes that make a segment, a comma list of gender, age (ML-1M's bands), occupation",
    )
    min_users: int = param(20, "a segment with fewer train users gets global popularity instead", min=1)

    def check(self) -> None:
        # one spelling per segmentation ("age, gender" is "gender,age"): recorded params and labels agree
        names = set(segment_attributes(self.segment))
        object.__setattr__(self, "segment", ",".join(a for a in USER_ATTRIBUTES if a in names))


class SegmentPopularModel(CandidateModel):
    name = "segment-popular"
    description = "most popular train items among the train users of the user's demographic segment"
    Params = SegmentParams
    needs_user_metadata = True

    def __init__(self, params=None, seed: int = 42):
        super().__init__(params, seed)
        self.segment_counts: np.ndarray | None = None  # n_segments x n_items: distinct segment train users per item
        self.global_counts: np.ndarray | None = None  # n_items: distinct train users per item
        self.user_segment: np.ndarray | None = None  # n_users: a row of segment_counts, or -1 (global popularity)
        self.segment_labels: np.ndarray | None = None  # n_segments strings, e.g. "gender=F,age=25-34", sorted
        self.segment_users: np.ndarray | None = None  # n_segments: train users in each

    def user_attributes(self) -> tuple[str, ...]:
        return segment_attributes(self.params.segment)

    def _fit(self, data: TrainingData, reporter) -> None:
        metadata = data.user_metadata
        if metadata is None:
            raise InvalidParameterError(
                "model 'segment-popular' needs the users' demographics",
                "pass TrainingData(..., user_metadata=UserMetadata(...)); `recsys train` reads the dataset's",
            )
        if metadata.n_users != self.n_users:
            raise InvalidParameterError(
                f"the user metadata describes {metadata.n_users:,} users, the train matrix has {self.n_users:,}",
                "give one entry per user index",
            )
        labels = user_labels(metadata, self.user_attributes())
        train_users = np.diff(data.user_items.indptr) > 0
        # segments with enough train users, in label order (so the arrays do not depend on user order)
        sizes: dict[str, int] = {}
        for label, trains in zip(labels, train_users):
            if label is not None and trains:
                sizes[label] = sizes.get(label, 0) + 1
        kept = sorted(label for label, size in sizes.items() if size >= self.params.min_users)
        row = {label: j for j, label in enumerate(kept)}
        self.user_segment = np.array([row.get(label, -1) for label in labels], dtype=np.int32)
        self.segment_labels = np.array(kept, dtype=str)
        self.segment_users = np.array([sizes[label] for label in kept], dtype=np.int64)
        seen = sp.csr_matrix(data.user_items, copy=True)
        seen.data = np.ones_like(seen.data)  # one per stored cell: distinct users, whatever the values
        members = np.flatnonzero(self.user_segment >= 0)
        membership = sp.csr_matrix(
            (np.ones(members.size), (self.user_segment[members], members)), shape=(len(kept), self.n_users)
        )
        counts = np.asarray((membership @ seen).todense(), dtype=np.float64)
        self.segment_counts = counts.reshape(len(kept), self.n_items)  # (0, n_items) when every segment backs off
        self.global_counts = item_counts(data.user_items)

    # -- scoring -----------------------------------------------------------------------
    def places(self, segment: int) -> np.ndarray:
        """float32 places from the bottom for one segment (-1: global): its count, then the global count,
        then the lower index."""
        if segment < 0:
            return ranked_places(self.global_counts)
        return ranked_places(self.segment_counts[segment], ties_by=self.global_counts)

    def score(self, users: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        segments = self.user_segment[np.asarray(users, dtype=np.int64)]
        scores = np.empty((len(segments), self.n_items), dtype=np.float32)
        for segment in np.unique(segments):
            scores[segments == segment] = self.places(int(segment))
        return scores

    def known_users(self, user_items: sp.csr_matrix) -> np.ndarray:
        # a user without a segment gets global popularity from the model itself, a user without train history
        # their segment's list: both are the model's answer, not a fallback's
        return np.ones(user_items.shape[0], dtype=bool)

    # -- persistence -------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        return {
            "segment_counts": self.segment_counts,
            "global_counts": self.global_counts,
            "user_segment": self.user_segment,
            "segment_labels": self.segment_labels,
            "segment_users": self.segment_users,
        }

    def expected_state(self) -> dict[str, tuple[tuple[int, ...], str]]:
        return {
            "segment_counts": ((-1, self.n_items), "f"),
            "global_counts": ((self.n_items,), "f"),
            "user_segment": ((self.n_users,), "i"),
            "segment_labels": ((-1,), "U"),
            "segment_users": ((-1,), "i"),
        }

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        counts, segments = state["segment_counts"], state["user_segment"]
        labels, users = state["segment_labels"], state["segment_users"]
        if not counts.shape[0] == labels.size == users.size or (segments.size and not -1 <= segments.min()):
            raise ValueError("segment arrays of different lengths, or a user in no valid segment")
        if segments.size and segments.max() >= labels.size:
            raise ValueError("a user's segment is beyond the segments saved")
        self.segment_counts = np.asarray(counts, dtype=np.float64)
        self.global_counts = np.asarray(state["global_counts"], dtype=np.float64)
        self.user_segment = np.asarray(segments, dtype=np.int32)
        self.segment_labels, self.segment_users = labels, np.asarray(users, dtype=np.int64)


def user_labels(metadata: UserMetadata, attributes: tuple[str, ...]) -> list[str | None]:
    """Each user's segment label ("gender=F,age=25-34"), or None when any of ``attributes`` is unknown."""
    columns = [
        [age_band(v) for v in metadata.values(a)] if a == "age" else list(metadata.values(a)) for a in attributes
    ]
    labels: list[str | None] = []
    for values in zip(*columns):
        known = all(v is not None and str(v).strip() for v in values)
        labels.append(",".join(f"{a}={str(v).strip()}" for a, v in zip(attributes, values)) if known else None)
    return labels
