"""Beyond-accuracy metrics of a set of top-K lists (docs/metrics.md, "Beyond accuracy").

``diversity`` (intra-list diversity over item genres), ``arp`` (average recommendation popularity),
``long_tail_share`` (share of tail items in a list) and ``gini`` (inequality of item exposure across
every list). Arrays in, numbers out: the caller gives train interaction counts per item, the tail
items and, for diversity, an items x genres 0/1 matrix.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import InvalidParameterError

BEYOND_METRICS = ("diversity", "arp", "long_tail_share", "gini")

# Item popularity tiers, most popular first, and the share of train interactions the head and the
# tail each hold at most (head: at least; docs/metrics.md pins the tie rule).
TIERS = ("head", "torso", "tail")
HEAD_SHARE = 0.2
TAIL_SHARE = 0.2

# Users per block of the intra-list diversity computation (a block is users x K x K floats).
_DIVERSITY_CELLS = 4_000_000


def popularity_tiers(item_counts, head_share: float = HEAD_SHARE, tail_share: float = TAIL_SHARE) -> np.ndarray:
    """Each item's tier (0 head, 1 torso, 2 tail) from its number of train interactions.

    Head: the items with at least ``h`` interactions, ``h`` the largest count such that those items
    together hold at least ``head_share`` of all train interactions. Tail: the items outside the head
    with at most ``t`` interactions, ``t`` the largest count such that the items with at most ``t``
    together hold at most ``tail_share`` of them (items without train interactions are always tail).
    Torso: the rest. Items with equal counts are always in the same tier.
    """
    counts = _check_counts(item_counts)
    total = counts.sum()
    values, inverse = np.unique(counts, return_inverse=True)  # ascending
    # interactions held by the items with count >= v, and with count <= v, for each distinct v
    held = np.bincount(inverse.ravel(), weights=counts.astype(np.float64), minlength=values.size)
    at_least = np.cumsum(held[::-1])[::-1]
    at_most = np.cumsum(held)
    h = values[np.flatnonzero(at_least >= head_share * total).max()]
    eligible = np.flatnonzero(at_most <= tail_share * total)
    t = values[eligible.max()] if eligible.size else -1
    tiers = np.ones(counts.size, dtype=np.int8)
    tiers[counts <= t] = 2
    tiers[counts == 0] = 2
    tiers[(counts >= h) & (counts > 0)] = 0
    return tiers


def genre_matrix(item_genres, n_items: int) -> tuple[sp.csr_matrix, list[str]]:
    """(items x genres 0/1 CSR, genre names sorted) from one list of genre names per item (None or
    empty: no genre)."""
    if len(item_genres) != n_items:
        raise InvalidParameterError(
            f"item_genres has {len(item_genres)} entries, expected {n_items}", "pass one genre list per item"
        )
    names = sorted({g for genres in item_genres if genres for g in genres if g})
    column = {name: j for j, name in enumerate(names)}
    rows, cols = [], []
    for i, genres in enumerate(item_genres):
        for j in sorted({column[g] for g in genres or () if g}):
            rows.append(i)
            cols.append(j)
    matrix = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float64), (np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64))),
        shape=(n_items, len(names)),
    )
    return matrix, names


def beyond_accuracy(
    lists,
    users,
    ks,
    *,
    item_counts,
    tail_items,
    item_genres: sp.spmatrix | None = None,
) -> dict[str, float | None]:
    """``<metric>@<k>`` for every K in ``ks``, over the top-K lists (``lists[users, :k]``, ``-1`` padding)
    of ``users``. Diversity is left out without ``item_genres`` (or when no item has a genre); a
    metric no list can define (no recommended item; no pair of items with genres) is None."""
    lists = np.asarray(lists, dtype=np.int64)
    users = np.asarray(users, dtype=np.int64)
    counts = _check_counts(item_counts).astype(np.float64)
    n_items = counts.size
    tail = np.asarray(tail_items, dtype=bool)
    if tail.shape != (n_items,):
        raise InvalidParameterError(f"tail_items has shape {tail.shape}, expected ({n_items},)", "one flag per item")
    if lists.ndim != 2 or (lists.size and (lists.min() < -1 or lists.max() >= n_items)):
        raise InvalidParameterError("lists must be users x K item indices in [0, items) or -1", "pass top_k's lists")
    genres = None
    if item_genres is not None and item_genres.nnz:
        if item_genres.shape[0] != n_items:
            raise InvalidParameterError(
                f"item_genres has {item_genres.shape[0]} rows, expected {n_items}", "one row per item"
            )
        genres = (sp.csr_matrix(item_genres) != 0).astype(np.float64).toarray()
    metrics: dict[str, float | None] = {}
    for k in sorted(set(int(k) for k in ks)):
        top = lists[users, :k]
        filled = top >= 0
        safe = np.where(filled, top, 0)
        n_shown = filled.sum(axis=1)
        has_list = n_shown > 0
        if genres is not None:
            metrics[f"diversity@{k}"] = _mean_or_none(*_intra_list_diversity(safe, filled, genres))
        arp = np.where(filled, counts[safe], 0.0).sum(axis=1)
        metrics[f"arp@{k}"] = _mean_or_none(arp[has_list] / n_shown[has_list], has_list.sum())
        in_tail = (filled & tail[safe]).sum(axis=1)
        metrics[f"long_tail_share@{k}"] = _mean_or_none(in_tail[has_list] / n_shown[has_list], has_list.sum())
        exposure = np.bincount(top[filled], minlength=n_items)
        metrics[f"gini@{k}"] = gini_index(exposure) if exposure.sum() else None
    return metrics


def gini_index(values) -> float:
    """Gini index of non-negative ``values`` (0: all equal; (n-1)/n: all on one): sum over the values
    sorted ascending, j = 1..n, of (2j - n - 1) * v_j, divided by n * sum(v)."""
    v = np.sort(np.asarray(values, dtype=np.float64))
    n = v.size
    if n == 0 or v.sum() == 0:
        raise InvalidParameterError("the Gini index needs at least one positive value", "pass exposure counts")
    j = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * j - n - 1) * v).sum() / (n * v.sum()))


def _intra_list_diversity(items: np.ndarray, filled: np.ndarray, genres: np.ndarray) -> tuple[np.ndarray, int]:
    """(1 - mean pairwise genre Jaccard per list with at least one pair of items that have genres, how many)."""
    n_users, k = items.shape
    values = []
    block = max(1, _DIVERSITY_CELLS // max(k * k, 1))
    upper = np.triu(np.ones((k, k), dtype=bool), 1)
    for start in range(0, n_users, block):
        a = genres[items[start : start + block]] * filled[start : start + block, :, None]  # users x K x genres
        size = a.sum(axis=2)
        inter = a @ a.transpose(0, 2, 1)
        union = size[:, :, None] + size[:, None, :] - inter
        valid = (size[:, :, None] > 0) & (size[:, None, :] > 0) & upper
        jaccard = np.divide(inter, union, out=np.zeros_like(inter), where=valid)
        pairs = valid.sum(axis=(1, 2))
        some = pairs > 0
        values.append(1.0 - jaccard.sum(axis=(1, 2))[some] / pairs[some])
    out = np.concatenate(values) if values else np.zeros(0)
    return out, out.size


def _mean_or_none(values: np.ndarray, n: int) -> float | None:
    return float(np.mean(values)) if n else None


def _check_counts(item_counts) -> np.ndarray:
    counts = np.asarray(item_counts)
    if counts.ndim != 1 or (counts.size and (not np.isfinite(counts).all() or (counts < 0).any())):
        raise InvalidParameterError(
            "item_counts must be one non-negative number of train interactions per item",
            "pass np.bincount of the train matrix's item indices",
        )
    return counts
