"""Full ranking for many users: score a batch of users, drop what they saw, keep the top K.

``batched_top_k`` is how every model is evaluated over the whole catalogue: the dense
users x items score block only ever exists for one batch (per thread), and ``top_k``
applies the ranking rules of docs/metrics.md (score descending, ties by item index,
seen items and ``-inf`` never returned, ``-1`` padding).

numpy releases the GIL in the steps that dominate ``top_k`` (the group maximum, the
comparisons, ``flatnonzero``, the partitions and sorts), so with ``n_threads=2`` one
batch is ranked while the next is scored; ``score_fn`` must then be safe to call from
two threads at once (a matrix product over read-only factors is).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsys_cli.errors import InvalidParameterError
from recsys_cli.evaluation.metrics import _check_k, top_k

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
    k = _check_k(k)
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
        if k > n_items:
            raise InvalidParameterError(
                f"k={k} is larger than the catalogue ({n_items} items)", f"pass k <= {n_items}"
            )
    if batch_size is None:
        batch_size = default_batch_size(n_items) if n_items is not None else 1024
    batch_size = _check_k(batch_size, "batch_size")
    batches = [users[start : start + batch_size] for start in range(0, users.size, batch_size)]

    def rank(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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

    lists = np.full((users.size, k), -1, dtype=np.int64)
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
                    scores = np.full((users.size, k), np.nan, dtype=batch_scores.dtype)
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

    k = _check_k(k)
    if np.unique(scores).size != scores.size or not np.isfinite(scores).all():
        return full(users)  # ties or -inf: the general rules apply
    head = np.argsort(-scores, kind="stable")[:k + spare]
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
