"""The ranker's candidate pool: the union of several generators' top-N lists.

Each source (a candidate run) contributes its top-N per user. The pool is the union of
those pairs, sorted by user then item so the ranker's query groups are contiguous. Every
pair is then scored by every source, including pairs that source did not list, so the
ranker can combine the generators; ``rank_<i>`` stays empty (NULL) where source ``i``
did not list the pair, since a full-catalogue rank for every pair would cost a full sort.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recsys_cli.data.faults import read_parquet
from recsys_cli.models.base import CandidateModel, TrainingData


@dataclass
class SourceLists:
    """One source's top-N lists: ``lists[j]`` are the items of ``users[j]`` in rank order (-1 padding)."""

    users: np.ndarray
    lists: np.ndarray


@dataclass
class Pool:
    """Candidate pairs sorted by (user, item), with each source's rank (0 where it did not list the pair)."""

    users: np.ndarray  # int64, per pair
    items: np.ndarray  # int64, per pair
    ranks: list[np.ndarray]  # per source, int32 per pair, 0 = not in that source's top-N
    scores: list[np.ndarray]  # per source, float32 per pair

    def __len__(self) -> int:
        return int(self.users.size)

    def user_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """The pool's distinct users and where each one's rows start (plus the end)."""
        distinct, starts = np.unique(self.users, return_index=True)
        return distinct, np.append(starts, self.users.size)


def union_pool(sources: list[SourceLists], n_items: int) -> Pool:
    """The union of every source's lists, one row per distinct (user, item), sorted."""
    keys_per_source, ranks_per_source = [], []
    for source in sources:
        filled = source.lists >= 0
        users = np.repeat(np.asarray(source.users, dtype=np.int64), filled.sum(axis=1))
        keys_per_source.append(users * n_items + source.lists[filled].astype(np.int64))
        ranks_per_source.append((np.nonzero(filled)[1] + 1).astype(np.int32))
    keys = np.unique(np.concatenate(keys_per_source)) if keys_per_source else np.zeros(0, np.int64)
    ranks = []
    for source_keys, source_ranks in zip(keys_per_source, ranks_per_source):
        rank = np.zeros(keys.size, dtype=np.int32)
        rank[np.searchsorted(keys, source_keys)] = source_ranks
        ranks.append(rank)
    return Pool(keys // n_items, keys % n_items, ranks, [])


def score_pool(pool: Pool, score, batch_users: int) -> np.ndarray:
    """One source's score for every pair: ``score(users) -> users x items``, a batch of users at a time."""
    out = np.empty(len(pool), dtype=np.float32)
    distinct, bounds = pool.user_bounds()
    for start in range(0, distinct.size, batch_users):
        batch = distinct[start : start + batch_users]
        block = np.asarray(score(batch), dtype=np.float32)
        first, last = bounds[start], bounds[min(start + batch_users, distinct.size)]
        # row of each pair inside the block: pairs are sorted by user, so a running index works
        rows = np.repeat(np.arange(batch.size), np.diff(bounds[start : start + batch.size + 1]))
        out[first:last] = block[rows, pool.items[first:last]]
    return out


def lists_from_rows(users: np.ndarray, items: np.ndarray, ranks: np.ndarray) -> SourceLists:
    """Rows of a candidates Parquet (user, item, rank) back into per-user lists."""
    order = np.lexsort((ranks, users))
    users, items, ranks = users[order], items[order], ranks[order]
    distinct, inverse = np.unique(users, return_inverse=True)
    width = int(ranks.max(initial=0))
    lists = np.full((distinct.size, max(width, 1)), -1, dtype=np.int64)
    lists[inverse, ranks - 1] = items
    return SourceLists(distinct, lists)


def write_pool(pool: Pool, path: Path, extra: dict | None = None) -> None:
    """The pool as the features' ``candidates`` input: user_idx, item_idx, score_<i>, rank_<i> (NULL = not
    listed), then any ``extra`` columns (name -> array)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {
        "user_idx": pa.array(pool.users.astype(np.int32)),
        "item_idx": pa.array(pool.items.astype(np.int32)),
    }
    for i, (scores, ranks) in enumerate(zip(pool.scores, pool.ranks)):
        columns[f"score_{i}"] = pa.array(scores, type=pa.float32())
        columns[f"rank_{i}"] = pa.array(ranks, type=pa.int32(), mask=ranks == 0)
    columns.update({name: pa.array(values) for name, values in (extra or {}).items()})
    pq.write_table(pa.table(columns), path, compression="zstd")


def combined_history(datas: list[TrainingData]) -> TrainingData:
    """Several parts as one history: the sum of their matrices (ones stay ones)."""
    user_items = sp.csr_matrix(datas[0].user_items, copy=True)
    for data in datas[1:]:
        user_items = (user_items + data.user_items).tocsr()
    user_items.sort_indices()
    if all(d.user_items.nnz == 0 or (d.user_items.data == 1).all() for d in datas):
        # implicit feedback: a pair in two parts is still one interaction, as within one part
        user_items.data = np.ones_like(user_items.data)
    times = [d for d in datas if d.item_idx is not None]
    if len(times) != len(datas):
        return TrainingData(user_items)
    return TrainingData(user_items, np.concatenate([d.item_idx for d in datas]), np.concatenate([d.ts for d in datas]))


def refit(model: CandidateModel, data: TrainingData, reporter) -> CandidateModel:
    """A fresh copy of ``model`` (same class, parameters and seed) fitted on ``data``."""
    fresh = type(model)(model.params, seed=model.seed)
    fresh.fit(data, reporter)
    return fresh


def read_lists(path: Path) -> SourceLists:
    """A candidates Parquet (user_idx, item_idx, rank) as per-user lists."""
    table = read_parquet(path, columns=["user_idx", "item_idx", "rank"])
    return lists_from_rows(*(table.column(c).to_numpy().astype(np.int64) for c in ("user_idx", "item_idx", "rank")))


def window_ratings(path: Path, pool: Pool, n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each pool pair's rating in the window (NaN: not interacted), and the window's users and counts."""
    table = read_parquet(path, columns=["user_idx", "item_idx", "rating"])
    users = table.column("user_idx").to_numpy().astype(np.int64)
    keys = users * n_items + table.column("item_idx").to_numpy().astype(np.int64)
    # a pair repeated in the window counts once (its last rating), as in the test window's truth
    keys, last = np.unique(keys[::-1], return_index=True)
    ratings = table.column("rating").to_numpy().astype(np.float64)[::-1][last]
    users = keys // n_items
    pool_keys = pool.users * n_items + pool.items
    at = np.minimum(np.searchsorted(keys, pool_keys), max(keys.size - 1, 0))
    found = keys.size > 0 and keys[at] == pool_keys
    out = np.full(len(pool), np.nan)
    if keys.size:
        out[found] = ratings[at[found]]
    window_users, counts = np.unique(users, return_counts=True)
    return out, window_users, counts


def pool_recall(pool: Pool, hits: np.ndarray, window_users: np.ndarray, counts: np.ndarray) -> float:
    """Mean over the window's users of the share of their interactions the pool holds: the ranker's ceiling."""
    found = np.zeros(int(window_users.max(initial=-1)) + 1)
    np.add.at(found, pool.users[hits], 1.0)
    return float(np.mean(found[window_users] / counts)) if counts.size else 0.0
