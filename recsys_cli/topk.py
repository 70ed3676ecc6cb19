"""Top-K selection with the ranking rules of docs/metrics.md, for one score block or batched over users.

Score descending, ties by item index ascending, seen items and ``-inf`` never returned,
``-1`` padding. Retrieval, the index's recall bench, the ranker's pool and evaluation all
rank with these functions, so every list in the workbench follows the same rules.

``top_k`` walks the score block a few rows at a time (about 256k cells, so that its masks
stay in cache). ``batched_top_k`` is how every model is ranked over the whole catalogue:
the dense users x items score block only ever exists for one batch (per thread). numpy
releases the GIL in the steps that dominate ``top_k`` (the group maximum, the comparisons,
``flatnonzero``, the partitions and sorts), so with ``n_threads=2`` one batch is ranked
while the next is scored; ``score_fn`` must then be safe to call from two threads at once
(a matrix product over read-only factors is).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsys_cli.errors import InvalidParameterError


def check_k(k, what: str = "k", *, n_items: int | None = None) -> int:
    """``k`` as an int: a whole number >= 1, and at most ``n_items`` when that is given."""
    # bool is an int subclass; `--k true` must not silently mean K=1.
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise InvalidParameterError(f"{what} must be a positive whole number, got {k!r}", "pass e.g. 10")
    if n_items is not None and k > n_items:
        raise InvalidParameterError(
            f"{what}={k} is larger than the catalogue ({n_items:,} items)", f"pass {what} <= {n_items:,}"
        )
    return int(k)


def check_ks(ks: int | Iterable[int], what: str = "each k", *, n_items: int | None = None) -> tuple[int, ...]:
    """Distinct K values in ascending order, each checked as ``check_k`` does; at least one."""
    if isinstance(ks, (int, np.integer)):
        ks = [ks]
    values = sorted({check_k(k, what, n_items=n_items) for k in ks})
    if not values:
        raise InvalidParameterError("no K given", "pass at least one K, e.g. 10,20,100")
    return tuple(values)


def binary_csr(matrix, name: str, shape: tuple[int, int]) -> sp.csr_matrix:
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
    (``batched_top_k``).
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
    k = check_k(k, n_items=n_items)
    n_groups = _n_groups(n_items, k)
    if n_groups:
        group_max = _group_max(scores, n_groups)
        has_nan = bool(np.isnan(group_max).any())  # maximum propagates NaN: no extra pass
    else:
        has_nan = scores.size > 0 and bool(np.isnan(scores.max()))
    if has_nan:
        # NaN sorts above every number in numpy, so it would silently take the top slots.
        raise InvalidParameterError("scores contain NaN", "check the model's output (or use -inf for 'never')")
    seen = binary_csr(exclude, "exclude", (n_users, n_items)) if exclude is not None else None
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


# One score block holds at most this many cells (float32: 64 MiB) unless batch_size says otherwise.
BLOCK_CELLS = 1 << 24


def default_batch_size(n_items: int) -> int:
    """Users per batch so that one dense score block stays near ``BLOCK_CELLS`` cells."""
    return int(max(16, min(4096, BLOCK_CELLS // max(n_items, 1))))


def batched_top_k(
    score_fn: Callable[[np.ndarray], np.ndarray],
    users,
    k: int,
    exclude_csr: sp.spmatrix | None = None,
    *,
    batch_size: int | None = None,
    n_threads: int = 2,
    progress: Callable[[int], object] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The top ``k`` items of every user in ``users``, scored ``batch_size`` users at a time.

    ``score_fn(users_batch)`` returns a dense ``len(users_batch) x n_items`` float block
    (float32 is fastest). Row ``u`` of ``exclude_csr`` holds the items user ``u`` saw; they
    are never returned. Returns ``(lists, scores)``: ``len(users) x k`` item indices
    (``-1`` padding, in the order of ``users``) and their scores (the block's dtype, NaN at
    padding). ``progress(n)`` is called from the calling thread after each batch of ``n``
    users. With ``n_threads > 1`` batches are scored and ranked in worker threads; results
    do not depend on the number of threads or the batch size.
    """
    k = check_k(k)
    users, exclude_csr, n_items = _check_batched_inputs(users, k, exclude_csr, n_threads)
    if batch_size is None:
        batch_size = default_batch_size(n_items) if n_items is not None else 1024
    batch_size = check_k(batch_size, "batch_size")
    batches = [users[start : start + batch_size] for start in range(0, users.size, batch_size)]

    def rank(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _rank_batch(score_fn, batch, k, exclude_csr, n_items)

    return _rank_batches(rank, batches, users.size, k, n_threads, progress)


def _check_batched_inputs(users, k: int, exclude_csr, n_threads):
    """(users as int64, ``exclude_csr`` as CSR or None, the number of items or None when there is no exclusion)."""
    users = np.asarray(users)
    if users.ndim != 1 or (users.size and not np.issubdtype(users.dtype, np.integer)):
        raise InvalidParameterError("users must be a 1-D array of user indices", "pass e.g. np.arange(n_users)")
    users = users.astype(np.int64, copy=False)
    if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or n_threads < 1:
        raise InvalidParameterError(f"n_threads must be a whole number >= 1, got {n_threads!r}")
    n_items = None
    if exclude_csr is not None:
        if not sp.issparse(exclude_csr):
            raise InvalidParameterError(
                f"exclude_csr must be a scipy sparse matrix, got {type(exclude_csr).__name__}",
                "build it with scipy.sparse.csr_matrix((data, (rows, cols)), shape=(n_users, n_items))",
            )
        exclude_csr = sp.csr_matrix(exclude_csr)
        n_items = exclude_csr.shape[1]
        if users.size and (users.min() < 0 or users.max() >= exclude_csr.shape[0]):
            raise InvalidParameterError(
                f"users holds indices outside [0, {exclude_csr.shape[0]}), the rows of exclude_csr",
                "index users the same way as the rows of the exclusion matrix",
            )
        check_k(k, n_items=n_items)
    return users, exclude_csr, n_items


def _rank_batch(score_fn, batch: np.ndarray, k: int, exclude_csr, n_items) -> tuple[np.ndarray, np.ndarray]:
    """Score one batch of users and keep each one's top ``k`` (lists, scores with NaN at padding)."""
    block = np.asarray(score_fn(batch))
    if block.ndim != 2 or block.shape[0] != batch.size or (n_items is not None and block.shape[1] != n_items):
        expected = f"({batch.size}, {n_items if n_items is not None else 'n_items'})"
        raise InvalidParameterError(
            f"score_fn returned an array of shape {block.shape} for {batch.size} users, expected {expected}",
            "return one row of item scores per user in the batch",
        )
    if not np.issubdtype(block.dtype, np.floating):
        block = block.astype(np.float64)
    lists = top_k(block, k, exclude_csr[batch] if exclude_csr is not None else None)
    values = np.take_along_axis(block, np.maximum(lists, 0), axis=1)
    values[lists < 0] = np.nan
    return lists, values


def _rank_batches(rank, batches: list[np.ndarray], n_users: int, k: int, n_threads: int, progress):
    """Run ``rank`` over the batches (in ``n_threads`` threads) and gather the results in order."""
    lists = np.full((n_users, k), -1, dtype=np.int64)
    scores = None
    done = 0
    # Batches already run in parallel: a multi-threaded BLAS under each would oversubscribe the
    # cores (measured at 20M shape: 28% slower with BLAS on 2 threads under 2 batch threads).
    blas = threadpool_limits(1, "blas") if n_threads > 1 else nullcontext()
    with blas, ThreadPoolExecutor(max_workers=min(n_threads, max(len(batches), 1))) as pool:
        # map() runs at most n_threads batches at a time, so at most n_threads blocks exist;
        # results come back in order, here in the calling thread.
        results = pool.map(rank, batches) if n_threads > 1 else map(rank, batches)
        try:
            for batch, (batch_lists, batch_scores) in zip(batches, results):
                if scores is None:
                    scores = np.full((n_users, k), np.nan, dtype=batch_scores.dtype)
                lists[done : done + batch.size] = batch_lists
                scores[done : done + batch.size] = batch_scores
                done += batch.size
                if progress is not None:
                    progress(batch.size)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    if scores is None:
        scores = np.full((0, k), np.nan, dtype=np.float32)
    return lists, scores


def top_k_of_one_order(
    scores: np.ndarray, users, k: int, exclude_csr: sp.csr_matrix, *, spare: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`batched_top_k` when every user has the same, distinct ``scores`` (popularity).

    A user's list is then the first ``k`` items of one global order that they did not see: found
    among the top ``k + spare`` for all users at once, by full ranking only for users who saw more
    than ``spare`` of those. Same lists and scores as ``batched_top_k``; no dense users x items block.
    """
    scores = np.asarray(scores)
    users = np.asarray(users, dtype=np.int64)

    def full(batch_users):
        return batched_top_k(lambda batch: np.repeat(scores[None, :], batch.size, axis=0), batch_users, k, exclude_csr)

    k = check_k(k)
    if np.unique(scores).size != scores.size or not np.isfinite(scores).all():
        return full(users)  # ties or -inf: the general rules apply
    head = np.argsort(-scores, kind="stable")[: k + spare]
    column = np.full(scores.size, -1, dtype=np.int64)
    column[head] = np.arange(head.size)
    rows = exclude_csr[users]
    owner = np.repeat(np.arange(users.size), np.diff(rows.indptr))
    at = column[rows.indices]
    free = np.ones((users.size, head.size), dtype=bool)
    free[owner[at >= 0], at[at >= 0]] = False
    rank = np.cumsum(free, axis=1)
    lists = np.full((users.size, k), -1, dtype=np.int64)
    row, col = np.nonzero(free & (rank <= k))
    lists[row, rank[row, col] - 1] = head[col]
    values = np.full((users.size, k), np.nan, dtype=scores.dtype)
    values[row, rank[row, col] - 1] = scores[head[col]]
    short = np.flatnonzero(rank[:, -1] < k) if head.size else np.arange(users.size)
    if short.size:
        lists[short], values[short] = full(users[short])
    return lists, values
