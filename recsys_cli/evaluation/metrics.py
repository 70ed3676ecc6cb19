"""The ranking metrics pinned in DESIGN.md (docs/metrics.md), vectorised over users.

One pass of numpy per K value, never a Python loop per item; ``evaluate_lists`` only ever
touches the K-wide lists (``recsys_cli.topk`` makes them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import InvalidParameterError
from recsys_cli.topk import binary_csr, check_k, check_ks

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


def history_shares(user_items) -> np.ndarray:
    """Each item's share of the history's users: novelty's popularity. Floored at one user, since
    an item without history interactions would have infinite self-information."""
    n_users = int((np.diff(user_items.indptr) > 0).sum())
    counts = np.bincount(user_items.indices, minlength=user_items.shape[1])
    return np.maximum(counts, 1) / max(n_users, 1)


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
    rec, truth, ks, n_catalog_items, popularity = _check_inputs(
        recommended, truth, ks, n_catalog_items, item_popularity
    )
    n_relevant_all = np.diff(truth.indptr)
    users = _evaluated_users(n_relevant_all)
    n_relevant = n_relevant_all[users]
    lists = rec[users, : ks[-1]]
    filled = lists >= 0
    hits = _hits(truth, n_relevant_all, users, lists, filled)
    sums = _RunningSums.of(hits)
    self_information = _self_information(popularity)

    metrics: dict[str, float] = {}
    per_user: dict[str, np.ndarray] = {"user": users.astype(np.int64), "n_relevant": n_relevant.astype(np.int64)}
    for k in ks:
        values = sums.per_user_values(k, n_relevant)
        for name in PER_USER_METRICS:
            per_user[f"{name}@{k}"] = values[name]
            metrics[f"{name}@{k}"] = float(values[name].mean())
        metrics.update(_catalogue_metrics(lists, filled, k, n_catalog_items, self_information))

    return EvaluationResult(
        metrics=metrics,
        per_user=per_user,
        ks=tuple(ks),
        n_users=int(users.size),
        n_users_without_predictions=int((~filled[:, 0]).sum()),
    )


# -- the steps of evaluate_lists -----------------------------------------------------------------


def _check_inputs(recommended, truth, ks, n_catalog_items, item_popularity):
    """The checked inputs: (lists, canonical binary CSR truth, sorted K's, catalogue size, popularity or None)."""
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
    truth = binary_csr(truth, "truth", (n_users, n_items))
    width = rec.shape[1]
    ks = check_ks(ks)
    if ks[-1] > width:
        raise InvalidParameterError(
            f"k={ks[-1]} is larger than the recommendation lists ({width} items per user)",
            f"pass k <= {width}, or generate top-{ks[-1]} lists",
        )
    n_catalog_items = check_k(n_catalog_items, "n_catalog_items")
    popularity = _check_popularity(item_popularity, n_items)
    return rec, truth, ks, n_catalog_items, popularity


def _evaluated_users(n_relevant_all: np.ndarray) -> np.ndarray:
    """The users with at least one relevant item; an error when there are none."""
    users = np.flatnonzero(n_relevant_all)
    if users.size == 0:
        raise InvalidParameterError(
            "truth has no relevant items for any user", "check the relevance rule and the evaluation part"
        )
    return users


def _hits(truth, n_relevant_all: np.ndarray, users: np.ndarray, lists: np.ndarray, filled: np.ndarray) -> np.ndarray:
    """Whether each list place holds a relevant item (users x K_max)."""
    # Membership test without a loop: encode (user, item) as one int64 key; the canonical
    # CSR's keys are already sorted, so searchsorted finds each recommended pair.
    n_users, n_items = truth.shape
    truth_rows = np.repeat(np.arange(n_users, dtype=np.int64), n_relevant_all)
    truth_keys = truth_rows * n_items + truth.indices
    query = users[:, None].astype(np.int64) * n_items + np.where(filled, lists, 0)
    pos = np.minimum(np.searchsorted(truth_keys, query), truth_keys.size - 1)
    return (truth_keys[pos] == query) & filled


@dataclass
class _RunningSums:
    """Per-user running sums over list places, from which every per-user metric at any K is read."""

    ranks: np.ndarray
    ideal: np.ndarray
    cum_hits: np.ndarray
    cum_dcg: np.ndarray
    cum_ap: np.ndarray
    first_hit: np.ndarray

    @classmethod
    def of(cls, hits: np.ndarray) -> _RunningSums:
        ranks = np.arange(1, hits.shape[1] + 1, dtype=np.float64)
        discounts = 1.0 / np.log2(ranks + 1.0)
        ideal = np.cumsum(discounts)
        cum_hits = np.cumsum(hits, axis=1)
        cum_dcg = np.cumsum(hits * discounts, axis=1)
        cum_ap = np.cumsum(hits * (cum_hits / ranks), axis=1)
        first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, np.iinfo(np.int64).max)
        return cls(ranks, ideal, cum_hits, cum_dcg, cum_ap, first_hit)

    def per_user_values(self, k: int, n_relevant: np.ndarray) -> dict[str, np.ndarray]:
        """Every per-user metric at ``k``, one value per evaluated user."""
        hits_k = self.cum_hits[:, k - 1].astype(np.float64)
        cutoff = np.minimum(k, n_relevant)
        return {
            "precision": hits_k / k,
            "recall": hits_k / n_relevant,
            "ndcg": self.cum_dcg[:, k - 1] / self.ideal[cutoff - 1],
            "map": self.cum_ap[:, k - 1] / cutoff,
            "mrr": np.where(self.first_hit <= k, 1.0 / np.minimum(self.first_hit, k), 0.0),
            "hit_rate": (hits_k > 0).astype(np.float64),
        }


def _self_information(popularity: np.ndarray | None) -> np.ndarray | None:
    """-log2 of each item's training share (inf for an item never seen); None without popularity."""
    if popularity is None:
        return None
    with np.errstate(divide="ignore"):
        return -np.log2(popularity)


def _catalogue_metrics(lists, filled, k: int, n_catalog_items: int, self_information) -> dict[str, float]:
    """coverage@k, and novelty@k when there is popularity, over the evaluated users' lists."""
    metrics: dict[str, float] = {}
    shown = lists[:, :k][filled[:, :k]]
    metrics[f"coverage@{k}"] = float(np.unique(shown).size / n_catalog_items)
    if self_information is not None:
        info = self_information[shown]
        if np.isinf(info).any():
            raise InvalidParameterError(
                "novelty is undefined: a recommended item has no training interactions (share 0)",
                "floor item_popularity at 1/n_training_users, or pass item_popularity=None to skip novelty",
            )
        # No recommendation at all carries no novelty, like a user without predictions.
        metrics[f"novelty@{k}"] = float(info.mean()) if info.size else 0.0
    return metrics
