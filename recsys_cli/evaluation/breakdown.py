"""Every metric broken down by buckets (docs/metrics.md, "Who is served badly").

A bucket is either a group of users (``user-activity``: by train-history length) or a group of items
(``item-popularity``: head/torso/tail; ``genre``: the items of one genre). A user bucket evaluates its
users' lists against their relevant sets; an item bucket evaluates every user's list against the
relevant items of the bucket only (users without one are left out of that row). Each row carries the
accuracy metrics of ``evaluate_lists`` and the beyond-accuracy metrics of its users' lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from recsys_cli.evaluation.beyond import TIERS, beyond_accuracy
from recsys_cli.evaluation.metrics import evaluate_lists
from recsys_cli.topk import binary_csr

# Train-history lengths (interactions in train): (name, lowest, highest or None). "0" holds the
# evaluated users without history (cold start), so every evaluated user is in exactly one bucket.
ACTIVITY_BUCKETS = (("0", 0, 0), ("1-5", 1, 5), ("6-20", 6, 20), ("21-100", 21, 100), (">100", 101, None))


@dataclass(frozen=True)
class Bucket:
    """One row of a breakdown: ``users`` evaluated in it, ``relevant`` interactions it holds, and
    ``metrics`` (empty when it has no user)."""

    name: str
    users: int
    relevant: int
    metrics: dict[str, float | None] = field(default_factory=dict)


def activity_groups(history_lengths) -> list[tuple[str, np.ndarray]]:
    """(bucket name, users mask) for each train-history bucket of ACTIVITY_BUCKETS."""
    lengths = np.asarray(history_lengths)
    groups = []
    for name, low, high in ACTIVITY_BUCKETS:
        mask = lengths >= low
        if high is not None:
            mask &= lengths <= high
        groups.append((name, mask))
    return groups


def tier_groups(tiers) -> list[tuple[str, np.ndarray]]:
    """(tier name, items mask) for head, torso and tail (``tiers`` as from ``popularity_tiers``)."""
    tiers = np.asarray(tiers)
    return [(name, tiers == code) for code, name in enumerate(TIERS)]


def genre_groups(item_genres: sp.spmatrix, names: list[str]) -> list[tuple[str, np.ndarray]]:
    """(genre, items mask) for each column of the items x genres matrix; an item with several genres
    is in several groups."""
    matrix = sp.csc_matrix(item_genres)
    groups = []
    for j, name in enumerate(names):
        mask = np.zeros(matrix.shape[0], dtype=bool)
        mask[matrix.indices[matrix.indptr[j] : matrix.indptr[j + 1]]] = True
        groups.append((name, mask))
    return groups


def evaluate_buckets(
    lists,
    truth: sp.spmatrix,
    ks,
    groups: list[tuple[str, np.ndarray]],
    *,
    axis: str,
    n_catalog_items: int,
    item_popularity=None,
    item_counts,
    tail_items,
    item_genres: sp.spmatrix | None = None,
) -> list[Bucket]:
    """One Bucket per group. ``axis`` ``"users"``: each mask selects truth rows (users); ``"items"``:
    truth columns (relevant items). Metrics follow ``evaluate_lists`` and ``beyond_accuracy`` on the
    selected truth; a group without a relevant interaction gives a row with 0 users and no metrics."""
    if axis not in ("users", "items"):
        raise ValueError(f"axis must be 'users' or 'items', got {axis!r}")
    truth = binary_csr(truth, "truth", truth.shape)
    buckets = []
    for name, mask in groups:
        keep = sp.diags(np.asarray(mask, dtype=np.float64))
        part = (keep @ truth if axis == "users" else truth @ keep).tocsr()
        part.eliminate_zeros()
        if part.nnz == 0:
            buckets.append(Bucket(name, 0, 0))
            continue
        result = evaluate_lists(lists, part, ks, n_catalog_items=n_catalog_items, item_popularity=item_popularity)
        users = result.per_user["user"]
        metrics: dict[str, float | None] = dict(result.metrics)
        metrics.update(
            beyond_accuracy(lists, users, ks, item_counts=item_counts, tail_items=tail_items, item_genres=item_genres)
        )
        buckets.append(Bucket(name, result.n_users, int(part.nnz), metrics))
    return buckets
