"""Top-K selection and ranking metrics with the definitions pinned in DESIGN.md.

Everything is vectorised over users: one pass of numpy per K value, never a Python
loop per item, so full-ranking evaluation of every user stays cheap (``top_k`` walks
the score block a few rows at a time, about 256k cells, so that its masks stay in
cache). Callers with large catalogues batch users before calling ``top_k`` (it needs
the dense score block; ``ranking.batched_top_k`` does the batching); ``evaluate_lists``
only ever touches the K-wide lists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import InvalidParameterError

# Column order of the per-user table and the order of keys in ``metrics``.
PER_USER_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")
GLOBAL_METRICS = ("coverage", "novelty")
METRICS = PER_USER_METRICS + GLOBAL_METRICS


@dataclass(frozen=True)
class EvaluationResult:
    """Means over evaluated users (``metrics``) and the per-user values behind them.

    ``per_user`` holds ``user`` (row index into the truth matrix), ``n_relevant`` and one
    float array per ``"<metric>@<k>"`` for the per-user metrics; rows are the users with a
    non-empty relevant set, in index order, so two runs on the same truth line up row by
    row for a paired test. Coverage and novelty are properties of the whole set of lists
    and exist only in ``metrics``.
    """

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    ks: tuple[int, ...]
    n_users: int
    n_users_without_predictions: int

    def to_arrow(self):
        """The per-user values as a pyarrow Table (for Parquet beside a run)."""
        import pyarrow as pa

        return pa.table({name: pa.array(values) for name, values in self.per_user.items()})


def _check_k(k, what: str = "k") -> int:
    # bool is an int subclass; `--k true` must not silently mean K=1.
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)):
        raise InvalidParameterError(f"{what} must be an integer, got {k!r}", "pass a whole number such as 10")
    if k <= 0:
        raise InvalidParameterError(f"{what} must be at least 1, got {k}", "pass a positive K such as 10")
    return int(k)


def _binary_csr(matrix, name: str, shape: tuple[int, int]) -> sp.csr_matrix:
    """A canonical CSR copy whose stored entries are exactly the nonzero cells.

    Duplicates would count an item twice in |R_u| and explicit zeros are not relevant,
    so both are normalised away before any counting.
    """
    if not sp.issparse(matrix):
        raise InvalidParameterError(
            f"{name} must be a scipy sparse matrix, got {type(matrix).__name__}",
            "build it with scipy.sparse.csr_matrix((data, (rows, cols)), shape=(n_users, n_items))",
        )
    if matrix.shape != shape:
        raise InvalidParameterError(
            f"{name} has shape {matrix.shape}, expected {shape} (users x items)",
            "check that users and items are indexed the same way (a transposed matrix is a common cause)",
        )
    csr = sp.csr_matrix(matrix, copy=True)
    csr.sum_duplicates()
    csr.eliminate_zeros()
    csr.sort_indices()
    return csr


def top_k(scores: np.ndarray, k: int, exclude: sp.spmatrix | None = None) -> np.ndarray:
    """Each row's ``k`` best item indices: score descending, ties by item index ascending.

    Items stored in ``exclude`` (seen in training) and items scored ``-inf`` are never
    returned; a row with fewer than ``k`` eligible items is padded with ``-1`` at the end.
    ``scores`` is not modified, and not copied whole unless its rows need the exact path.
    numpy releases the GIL in the heavy steps, so threads can rank batches side by side
    (``recsys_cli.evaluation.ranking.batched_top_k``).
    """
    scores = np.asarray(scores)
    if scores.ndim != 2:
        raise InvalidParameterError(
            f"scores must be a 2-D users x items array, got {scores.ndim} dimension(s)",
            "pass one row of item scores per user",
        )
    if not np.issubdtype(scores.dtype, np.floating):
        scores = scores.astype(np.float64)
    scores = np.ascontiguousarray(scores)
    n_users, n_items = scores.shape
    k = _check_k(k)
    if k > n_items:
        raise InvalidParameterError(
            f"k={k} is larger than the catalogue ({n_items} items)", f"pass k <= {n_items}"
        )
    n_groups = _n_groups(n_items, k)
    if n_groups:
        group_max = _group_max(scores, n_groups)
        has_nan = bool(np.isnan(group_max).any())  # maximum propagates NaN: no extra pass
    else:
        has_nan = scores.size > 0 and bool(np.isnan(scores.max()))
    if has_nan:
        # NaN sorts above every number in numpy, so it would silently take the top slots.
        raise InvalidParameterError("scores contain NaN", "check the model's output (or use -inf for 'never')")
    seen = _binary_csr(exclude, "exclude", (n_users, n_items)) if exclude is not None else None
    if seen is not None and seen.nnz == 0:
        seen = None
    out = np.full((n_users, k), -1, dtype=np.int64)
    if n_users == 0:
        return out

    # Fast path. A per-row lower bound on the k-th best eligible score: items are dealt
    # into groups (item i -> group i % n_groups); a group holding no seen item has an
    # eligible maximum, and k such maxima >= b mean k eligible items >= b, so the k-th
    # largest clean-group maximum is a valid bound. With 8k groups it admits about 1.1k
    # items per row (for untied scores), which are then ordered exactly.
    # Rows without k finite clean groups (fewer than k eligible items, or very many seen)
    # and rows whose bound admits too many items (ties around the cut) take the exact path.
    exact = np.ones(n_users, dtype=bool)
    if n_groups:
        if seen is not None:
            group_max[_csr_rows(seen), seen.indices % n_groups] = -np.inf
        bound = np.partition(group_max, n_groups - k, axis=1)[:, n_groups - k]
        del group_max
        exact = bound == -np.inf
        bound[exact] = np.inf  # never used: those rows' candidates are dropped
        flat, counts = _candidates(scores, bound, seen, max(4 * k, 64), exact)
        out[~exact] = _order_candidates(scores, flat, counts, k)[~exact]
    rows = np.flatnonzero(exact)
    step = max(1, (1 << 18) // n_items)  # bounds the exact path's working memory (and keeps it in cache)
    for start in range(0, rows.size, step):
        chunk = rows[start : start + step]
        out[chunk] = _top_k_exact(scores, chunk, seen, k)
    return out


def _n_groups(n_items: int, k: int) -> int:
    """How many item groups bound the k-th score (0: the catalogue is too small to gain)."""
    groups = min(8 * k, n_items // 2)
    return groups if groups >= 2 * k else 0


def _group_max(scores: np.ndarray, n_groups: int) -> np.ndarray:
    """Per row, the maximum of each group of items ``{g, g + n_groups, g + 2 n_groups, ...}``."""
    n_users, n_items = scores.shape
    per_group = n_items // n_groups
    body = n_groups * per_group
    # A view (rows stay contiguous); reducing the middle axis is an element-wise SIMD maximum.
    out = scores[:, :body].reshape(n_users, per_group, n_groups).max(axis=1)
    if body < n_items:
        np.maximum(out[:, : n_items - body], scores[:, body:], out=out[:, : n_items - body])
    return out


def _row_counts(flat: np.ndarray, n_rows: int, n_items: int) -> np.ndarray:
    """Entries per row of sorted flat indices ``row * n_items + item``."""
    return np.diff(np.searchsorted(flat, np.arange(n_rows + 1, dtype=np.int64) * n_items))


def _candidates(scores, bound, seen, cap, drop) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (``row * n_items + item``, ascending) of the eligible items with
    ``scores >= bound[:, None]``, and their number per row.

    A few rows at a time, so the mask stays in cache. Rows in ``drop``, and rows with
    more than ``cap`` such items (which are added to ``drop``), contribute nothing.
    """
    n_users, n_items = scores.shape
    step = max(1, (1 << 18) // n_items)
    mask = np.empty((min(step, n_users), n_items), dtype=bool)
    parts = []
    for start in range(0, n_users, step):
        stop = min(start + step, n_users)
        hits = np.flatnonzero(np.greater_equal(scores[start:stop], bound[start:stop, None], out=mask[: stop - start]))
        if seen is not None:
            lo, hi = seen.indptr[start], seen.indptr[stop]
            seen_keys = np.repeat(np.arange(stop - start, dtype=np.int64), np.diff(seen.indptr[start : stop + 1]))
            seen_keys *= n_items
            seen_keys += seen.indices[lo:hi]
            at = np.searchsorted(hits, seen_keys)
            found = at < hits.size
            found[found] = hits[at[found]] == seen_keys[found]
            if found.any():
                hits = np.delete(hits, at[found])
        counts = _row_counts(hits, stop - start, n_items)
        skip = drop[start:stop] | (counts > cap)
        if skip.any():
            drop[start:stop] = skip
            hits = hits[np.repeat(~skip, counts)]
        parts.append(hits + start * n_items if start else hits)
    flat = np.concatenate(parts)
    return flat, _row_counts(flat, n_users, n_items)


def _order_candidates(scores, flat, counts, k) -> np.ndarray:
    """Each row's first k candidates by score descending, then item ascending (-1 padding).

    One unsigned key per candidate, score in the high bits and item index in the low
    bits, so a plain (unstable) sort applies the tie rule.
    """
    n_users, n_items = scores.shape
    item_bits = max(1, (n_items - 1).bit_length())
    rows = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    items = flat - rows * n_items
    keys = _descending_keys(scores.ravel()[flat], item_bits, items)
    width = max(int(counts.max(initial=0)), k)
    dense = np.full((n_users, width), np.iinfo(np.uint64).max, dtype=np.uint64)
    # row-major slot of each candidate: its place in the flat list, shifted to its row's start
    row_shift = np.arange(n_users, dtype=np.int64) * width - (np.cumsum(counts) - counts)
    slots = np.arange(rows.size, dtype=np.int64) + np.repeat(row_shift, counts)
    dense.ravel()[slots] = keys
    if width > 2 * k:
        dense = np.partition(dense, k - 1, axis=1)[:, :k]
    dense.sort(axis=1)
    out = (dense[:, :k] & np.uint64((1 << item_bits) - 1)).astype(np.int64)
    out[np.arange(k) >= counts[:, None]] = -1
    return out


def _top_k_exact(scores, rows, seen, k) -> np.ndarray:
    """``top_k`` of ``rows`` from a masked copy of them: exact whatever the ties."""
    n_items = scores.shape[1]
    work = scores[rows]
    if seen is not None:
        part = seen[rows]
        work[_csr_rows(part), part.indices] = -np.inf
    if work.dtype.itemsize <= 4:
        # Score and item index in one uint64 key: selecting the k smallest keys is the
        # whole rule, however many items tie at the cut.
        item_bits = max(1, (n_items - 1).bit_length())
        keys = _descending_keys(work, item_bits, np.arange(n_items))
        if k < n_items:
            keys = np.partition(keys, k - 1, axis=1)[:, :k]
        keys.sort(axis=1)
        items = (keys & np.uint64((1 << item_bits) - 1)).astype(np.int64)
        # -inf sorts last, so what is left of it is padding at the end of the row.
        items[(keys >> np.uint64(item_bits)) == _MINUS_INF_KEY] = -1
        return items
    # Wider floats do not fit beside the index: take the k-th value as a threshold and
    # fill the remaining places from the items tied at it, lowest index first.
    kth = np.partition(work, n_items - k, axis=1)[:, n_items - k][:, None]
    above = work > kth
    at = work == kth
    room = k - above.sum(axis=1, keepdims=True)
    chosen = above | (at & (np.cumsum(at, axis=1) <= room))
    # nonzero walks rows in order and columns ascending, and every row has exactly k.
    items = np.nonzero(chosen)[1].reshape(rows.size, k)
    chosen_scores = np.take_along_axis(work, items, axis=1)
    # A stable sort keeps the ascending item order among equal scores: the tie rule.
    order = np.argsort(-chosen_scores, axis=1, kind="stable")
    items = np.take_along_axis(items, order, axis=1)
    items[np.take_along_axis(chosen_scores, order, axis=1) == -np.inf] = -1
    return items


def _csr_rows(matrix: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))


# The key _descending_keys gives -inf (float32 bits 0xFF800000, negative: kept as is).
_MINUS_INF_KEY = np.uint64(0xFF800000)


def _descending_keys(values: np.ndarray, item_bits: int, items: np.ndarray) -> np.ndarray:
    """uint64 keys ``score_key << item_bits | item`` whose ascending order is score
    descending, then item ascending; ``values`` may be overwritten."""
    if values.dtype.itemsize <= 4:
        # IEEE bits with the sign handled so that unsigned order is descending numeric
        # order: negatives keep their bits, non-negatives flip the 31 low bits and sort
        # below them. Adding 0 first turns -0.0 into +0.0 (equal scores, equal keys).
        if values.dtype != np.float32:
            values = values.astype(np.float32)
        values += np.float32(0)
        bits = values.view(np.uint32)
        flip = bits >> np.uint32(31)
        flip -= np.uint32(1)
        flip >>= np.uint32(1)
        bits ^= flip
        keys = bits.astype(np.uint64)
    else:
        # Wider floats do not fit beside the item index: use each value's rank instead.
        distinct, rank = np.unique(values, return_inverse=True)
        keys = (distinct.size - 1 - rank.reshape(values.shape)).astype(np.uint64)
    keys <<= np.uint64(item_bits)
    keys |= items.astype(np.uint64, copy=False)
    return keys


def _check_lists(recommended, n_items: int) -> np.ndarray:
    rec = np.asarray(recommended)
    if rec.ndim != 2:
        raise InvalidParameterError(
            f"recommended must be a 2-D users x K array, got {rec.ndim} dimension(s)",
            "pass one row of item indices per user, padded with -1",
        )
    if rec.dtype == np.bool_ or not np.issubdtype(rec.dtype, np.integer):
        raise InvalidParameterError(
            f"recommended must hold integer item indices, got dtype {rec.dtype}",
            "pass item indices (as from top_k), not scores",
        )
    rec = rec.astype(np.int64, copy=False)
    if rec.size and (rec.min() < -1 or rec.max() >= n_items):
        raise InvalidParameterError(
            f"recommended holds item indices outside [0, {n_items}) other than the -1 padding",
            "index items the same way as the truth matrix's columns",
        )
    padding = rec == -1
    # Positions carry rank, so padding in the middle would shift every later item's rank.
    if rec.shape[1] > 1 and (padding[:, :-1] & ~padding[:, 1:]).any():
        raise InvalidParameterError(
            "recommended has -1 padding before a real item", "put the -1 padding at the end of each row"
        )
    ordered = np.sort(rec, axis=1)
    if ((ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)).any():
        raise InvalidParameterError(
            "recommended repeats an item within a user's list", "recommend each item at most once per user"
        )
    return rec


def _check_popularity(item_popularity, n_items: int) -> np.ndarray | None:
    if item_popularity is None:
        return None
    pop = np.asarray(item_popularity, dtype=np.float64)
    if pop.shape != (n_items,):
        raise InvalidParameterError(
            f"item_popularity has shape {pop.shape}, expected ({n_items},)",
            "pass one share per item column of the truth matrix",
        )
    if not np.isfinite(pop).all() or (pop < 0).any() or (pop > 1).any():
        raise InvalidParameterError(
            "item_popularity must hold shares in [0, 1]",
            "pass the share of training users who interacted with each item, not raw counts",
        )
    return pop


def evaluate_lists(
    recommended: np.ndarray,
    truth: sp.spmatrix,
    ks,
    *,
    n_catalog_items: int,
    item_popularity: np.ndarray | None = None,
) -> EvaluationResult:
    """Score top-K lists against the relevant sets in ``truth`` at every K in ``ks``.

    ``recommended`` is users x K_max item indices (rank order, ``-1`` padding at the end);
    ``truth`` is users x items, nonzero = relevant; rows align. Users with no relevant
    item are left out of every mean; users with only padding count with zeros.
    Coverage and novelty use the lists of the evaluated users only (so they describe the
    same population as the other metrics). Novelty is the mean self-information over
    every non-padding slot of those lists; it is left out when ``item_popularity`` is None.
    """
    if not sp.issparse(truth):
        raise InvalidParameterError(
            f"truth must be a scipy sparse matrix, got {type(truth).__name__}",
            "build it with scipy.sparse.csr_matrix((data, (rows, cols)), shape=(n_users, n_items))",
        )
    n_users, n_items = truth.shape
    rec = _check_lists(recommended, n_items)
    if rec.shape[0] != n_users:
        raise InvalidParameterError(
            f"recommended has {rec.shape[0]} rows but truth has {n_users} users",
            "pass one list per truth row, in the same user order (a row of -1 for users without predictions)",
        )
    truth = _binary_csr(truth, "truth", (n_users, n_items))
    width = rec.shape[1]
    if isinstance(ks, (int, np.integer)):
        ks = [ks]
    ks = sorted({_check_k(k, "each k") for k in ks})
    if not ks:
        raise InvalidParameterError("no K given", "pass at least one K, e.g. ks=[10]")
    if ks[-1] > width:
        raise InvalidParameterError(
            f"k={ks[-1]} is larger than the recommendation lists ({width} items per user)",
            f"pass k <= {width}, or generate top-{ks[-1]} lists",
        )
    n_catalog_items = _check_k(n_catalog_items, "n_catalog_items")
    popularity = _check_popularity(item_popularity, n_items)

    n_relevant_all = np.diff(truth.indptr)
    users = np.flatnonzero(n_relevant_all)
    if users.size == 0:
        raise InvalidParameterError(
            "truth has no relevant items for any user", "check the relevance rule and the evaluation part"
        )
    n_relevant = n_relevant_all[users]
    lists = rec[users, : ks[-1]]
    filled = lists >= 0

    # Membership test without a loop: encode (user, item) as one int64 key; the canonical
    # CSR's keys are already sorted, so searchsorted finds each recommended pair.
    truth_rows = np.repeat(np.arange(n_users, dtype=np.int64), n_relevant_all)
    truth_keys = truth_rows * n_items + truth.indices
    query = users[:, None].astype(np.int64) * n_items + np.where(filled, lists, 0)
    pos = np.minimum(np.searchsorted(truth_keys, query), truth_keys.size - 1)
    hits = (truth_keys[pos] == query) & filled

    ranks = np.arange(1, lists.shape[1] + 1, dtype=np.float64)
    discounts = 1.0 / np.log2(ranks + 1.0)
    ideal = np.cumsum(discounts)
    cum_hits = np.cumsum(hits, axis=1)
    cum_dcg = np.cumsum(hits * discounts, axis=1)
    cum_ap = np.cumsum(hits * (cum_hits / ranks), axis=1)
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.iinfo(np.int64).max)

    if popularity is not None:
        with np.errstate(divide="ignore"):
            self_information = -np.log2(popularity)

    metrics: dict[str, float] = {}
    per_user: dict[str, np.ndarray] = {"user": users.astype(np.int64), "n_relevant": n_relevant.astype(np.int64)}
    for k in ks:
        hits_k = cum_hits[:, k - 1].astype(np.float64)
        cutoff = np.minimum(k, n_relevant)
        values = {
            "precision": hits_k / k,
            "recall": hits_k / n_relevant,
            "ndcg": cum_dcg[:, k - 1] / ideal[cutoff - 1],
            "map": cum_ap[:, k - 1] / cutoff,
            "mrr": np.where(first_hit <= k, 1.0 / np.minimum(first_hit, k), 0.0),
            "hit_rate": (hits_k > 0).astype(np.float64),
        }
        for name in PER_USER_METRICS:
            per_user[f"{name}@{k}"] = values[name]
            metrics[f"{name}@{k}"] = float(values[name].mean())
        shown = lists[:, :k][filled[:, :k]]
        metrics[f"coverage@{k}"] = float(np.unique(shown).size / n_catalog_items)
        if popularity is not None:
            info = self_information[shown]
            if np.isinf(info).any():
                raise InvalidParameterError(
                    "novelty is undefined: a recommended item has no training interactions (share 0)",
                    "floor item_popularity at 1/n_training_users, or pass item_popularity=None to skip novelty",
                )
            # No recommendation at all carries no novelty, like a user without predictions.
            metrics[f"novelty@{k}"] = float(info.mean()) if info.size else 0.0

    return EvaluationResult(
        metrics=metrics,
        per_user=per_user,
        ks=tuple(ks),
        n_users=int(users.size),
        n_users_without_predictions=int((~filled[:, 0]).sum()),
    )
