"""`recsys evaluate RUN --by ...`: a run's evaluation broken down by user or item buckets, with the
beyond-accuracy metrics (docs/metrics.md, "Who is served badly").

The workspace side of ``recsys_cli.evaluation.breakdown``: reads the dataset's item genres and turns
the train part into history lengths, item counts and popularity tiers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from recsys_cli.data.metadata import read_item_metadata
from recsys_cli.errors import InvalidParameterError
from recsys_cli.evaluation.beyond import HEAD_SHARE, TAIL_SHARE, TIERS, beyond_accuracy, genre_matrix, popularity_tiers
from recsys_cli.evaluation.breakdown import (
    ACTIVITY_BUCKETS,
    activity_groups,
    evaluate_buckets,
    genre_groups,
    tier_groups,
)
from recsys_cli.vocabulary import BREAKDOWNS

DEFINITIONS = {
    "user-activity": "evaluated users by their number of train interactions (distinct items): "
    + ", ".join(name for name, _, _ in ACTIVITY_BUCKETS)
    + " (0: no train history, cold start)",
    "item-popularity": f"relevant items by train popularity: head = most popular items holding >= "
    f"{HEAD_SHARE:.0%} of train interactions, tail = least popular holding <= {TAIL_SHARE:.0%} "
    "(and items never in train), torso = the rest; each row scores every list against that tier's "
    "relevant items only",
    "genre": "relevant items by genre (an item with several genres counts in each); each row scores every "
    "list against that genre's relevant items only",
}


def check_breakdown(by: str | None) -> None:
    if by is not None and by not in BREAKDOWNS:
        raise InvalidParameterError(f"cannot break an evaluation down by '{by}'", f"use one of {', '.join(BREAKDOWNS)}")


def read_item_genres(context, by: str | None):
    """(items x genres matrix, genre names) of the run's dataset; (None, []) when no item has a genre.
    An error for ``--by genre`` then. Call under the workspace's readers' lock."""
    metadata = read_item_metadata(context.dataset_folder, context.dataset.n_items)
    matrix, names = genre_matrix(metadata.genres, context.dataset.n_items)
    if not names:
        if by == "genre":
            raise InvalidParameterError(
                f"dataset '{context.dataset.name}' has no item genres to break the evaluation down by",
                "use --by user-activity or --by item-popularity, or ingest a dataset with genres (MovieLens)",
            )
        return None, []
    return matrix, names


def breakdown(
    by: str,
    *,
    lists: np.ndarray,
    truth,
    users: np.ndarray,
    ks,
    user_items,
    n_catalog_items: int,
    item_popularity: np.ndarray,
    item_genres,
    genre_names: list[str],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the beyond-accuracy metrics over every evaluated user's list, the breakdown document)."""
    item_counts = np.bincount(user_items.indices, minlength=user_items.shape[1])
    tiers = popularity_tiers(item_counts)
    tail = tiers == TIERS.index("tail")
    common = {"item_counts": item_counts, "tail_items": tail, "item_genres": item_genres}
    beyond = beyond_accuracy(lists, users, ks, **common)
    if by == "user-activity":
        groups, axis = activity_groups(np.diff(user_items.indptr)), "users"
    elif by == "item-popularity":
        groups, axis = tier_groups(tiers), "items"
    else:
        groups, axis = genre_groups(item_genres, genre_names), "items"
    buckets = evaluate_buckets(
        lists,
        truth,
        ks,
        groups,
        axis=axis,
        n_catalog_items=n_catalog_items,
        item_popularity=item_popularity,
        **common,
    )
    document = {
        "by": by,
        "definition": DEFINITIONS[by],
        "items_per_tier": {name: int((tiers == code).sum()) for code, name in enumerate(TIERS)},
        "buckets": [
            {"bucket": b.name, "users": b.users, "relevant": b.relevant, "metrics": b.metrics} for b in buckets
        ],
    }
    return beyond, document
