"""Top-K items for many users from a run's model: exact (batched scoring) or through the index.

Every path shares the same rules: items the user saw in training are never
returned, ties go to the lower item index, and users the model cannot score
(no training history) get the most popular items instead, counted so every
caller can say how many did.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import InvalidParameterError
from recsys_cli.models.base import CandidateModel
from recsys_cli.models.popular import item_counts, ranked_places
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.topk import batched_top_k, check_k, top_k_of_one_order
from recsys_cli.vocabulary import COLD_START_RULES


@dataclass
class Retrieved:
    lists: np.ndarray  # users x k item indices, -1 padding
    scores: np.ndarray  # users x k float32, NaN at padding
    fallback_users: int  # users served the popularity fallback
    short_lists: int = 0  # users given fewer than k items (too few unseen items, or an index that found fewer)
    search_k: int | None = None  # the Annoy search_k used (None: exact)


def popularity_places(user_items: sp.csr_matrix) -> np.ndarray:
    """Train popularity as float32 places (n_items for the top item): exact whatever the counts."""
    return ranked_places(item_counts(user_items))


def seen_pattern(user_items: sp.csr_matrix) -> sp.csr_matrix:
    """Every stored cell as 1: what a user has seen, even where the value is a rating of 0.

    A matrix of ones (how runs train by default) is already that pattern and is returned as it is.
    """
    if (user_items.data == 1).all():
        return user_items
    seen = user_items.copy()
    seen.data = np.ones_like(seen.data)
    return seen


def popularity_order(user_items: sp.csr_matrix) -> np.ndarray:
    """Item indices from most to least popular in train (ties to the lower index): the fallback list."""
    places = popularity_places(user_items)
    return np.lexsort((np.arange(places.size), -places))


def exact_top_k(
    model: CandidateModel,
    users: np.ndarray,
    user_items: sp.csr_matrix,
    k: int,
    *,
    cold_start: str = "popular",
    reporter: Reporter = SILENT,
    label: str = "scoring",
    pool: np.ndarray | None = None,
) -> Retrieved:
    """Full ranking over every item for ``users`` (dataset indices), in batches; with ``pool`` (a bool
    per item), over the pool's items only (the cold-items protocol: every other item scores -inf)."""
    k = check_k(k, n_items=user_items.shape[1])
    users = np.asarray(users, dtype=np.int64)
    score, known = model_scorer(model, user_items, cold_start, pool)
    shared = model.shared_scores()
    if shared is not None and pool is not None:
        shared = np.where(pool, shared, -np.inf).astype(np.float32)
    with reporter.task(label, total=len(users)) as task:
        if shared is not None and known[users].all():
            lists, scores = top_k_of_one_order(shared, users, k, seen_pattern(user_items))
            task.advance(len(users))
        else:
            lists, scores = batched_top_k(score, users, k, seen_pattern(user_items), progress=task.advance)
    # a user whose history leaves fewer than k unseen items gets a short list, as an index can give
    short = int((lists[:, -1] < 0).sum()) if lists.size else 0
    return Retrieved(lists, scores, int((~known[users]).sum()) if cold_start == "popular" else 0, short)


def model_scorer(
    model: CandidateModel, user_items: sp.csr_matrix, cold_start: str = "popular", pool: np.ndarray | None = None
) -> tuple[Callable[[np.ndarray], np.ndarray], np.ndarray]:
    """``score(users) -> users x items`` float32 with the cold-start rule applied, and the known-user mask.

    Users the model cannot score get the popularity places (``popular``) or ``-inf`` (``none``),
    so every caller that scores (full ranking, the ranker's pair scores) treats them alike.
    Items outside ``pool`` (a bool per item, when given) score ``-inf`` for everyone: never ranked.
    """
    if cold_start not in COLD_START_RULES:
        raise InvalidParameterError(f"cold start must be one of {', '.join(COLD_START_RULES)}, not '{cold_start}'")
    known = model.known_users(user_items)
    fallback = popularity_places(user_items)
    outside = None if pool is None else np.flatnonzero(~np.asarray(pool, dtype=bool))

    def score(batch: np.ndarray) -> np.ndarray:
        block = np.asarray(model.score(batch, user_items), dtype=np.float32)
        cold = ~known[batch]
        if cold.any():
            block[cold] = fallback if cold_start == "popular" else -np.inf
        if outside is not None:
            block[:, outside] = -np.inf
        return block

    return score, known
