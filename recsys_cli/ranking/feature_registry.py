"""The registry of the ranker's features: name, description, level, what the data must have, and its SQL.

Registry order is the output's column order (see ``features.py``, which computes them, and
``feature_sql.py``, which holds each feature's SELECT).
"""

from __future__ import annotations

from dataclasses import dataclass

from recsys_cli.ranking import feature_sql as q

LEVELS = ("pair", "item", "user")
DEMOGRAPHICS = ("gender", "age", "occupation")
FAMILY = "source_scores"


@dataclass(frozen=True)
class Feature:
    name: str
    description: str  # one line, for `recsys features list`
    level: str  # "pair", "item" or "user": the keys its SQL returns
    requires: tuple[str, ...]  # "ratings", "time", "genres", "sources", "demographics:<attribute>"
    sql: str  # one SELECT over candidates/history/items/users, with {as_of} placeholders

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "level": self.level,
            "requires": list(self.requires),
            "description": self.description,
            "sql": self.sql,
        }


def _registry(*features: Feature) -> dict[str, Feature]:
    return {feature.name: feature for feature in features}


FEATURES: dict[str, Feature] = _registry(
    # candidate sources
    Feature("candidate_score", "the primary candidate generator's score", "pair", (), q.CANDIDATE_SCORE),
    Feature(
        "candidate_rank",
        "the pair's rank in the primary generator's top-N (NULL if outside it)",
        "pair",
        (),
        q.CANDIDATE_RANK,
    ),
    Feature("source_count", "how many candidate sources have the pair in their top-N", "pair", (), q.SOURCE_COUNT),
    Feature(
        FAMILY,
        "family: score_<source> and rank_<source> of every source beyond the primary",
        "pair",
        ("sources",),
        q.SOURCE_SCORES,
    ),
    # items
    Feature("item_count", "the item's interactions in the history (0 if none)", "item", (), q.ITEM_COUNT),
    Feature("item_count_7d", "the item's interactions in the 7 days up to as_of", "item", ("time",), q.ITEM_COUNT_7D),
    Feature(
        "item_count_30d", "the item's interactions in the 30 days up to as_of", "item", ("time",), q.ITEM_COUNT_30D
    ),
    Feature(
        "item_trend",
        "the item's share of the last 7 days' interactions / its share of the last 30 days'",
        "item",
        ("time",),
        q.ITEM_TREND,
    ),
    Feature(
        "item_recent_share",
        "the item's share of the most recent 10% of the history (by ts; scale-free)",
        "item",
        ("time",),
        q.ITEM_RECENT_SHARE,
    ),
    Feature(
        "item_age_days",
        "days from the item's first interaction in the history to as_of",
        "item",
        ("time",),
        q.ITEM_AGE_DAYS,
    ),
    Feature(
        "item_mean_rating",
        "the item's mean rating in the history (NULL if unrated)",
        "item",
        ("ratings",),
        q.ITEM_MEAN_RATING,
    ),
    Feature(
        "item_rating_std",
        "the sample standard deviation of the item's ratings (NULL below 2)",
        "item",
        ("ratings",),
        q.ITEM_RATING_STD,
    ),
    # users
    Feature("user_count", "the user's interactions in the history (0 if none)", "user", (), q.USER_COUNT),
    Feature(
        "user_recency_days", "days from the user's last interaction to as_of", "user", ("time",), q.USER_RECENCY_DAYS
    ),
    Feature(
        "user_span_days", "days between the user's first and last interactions", "user", ("time",), q.USER_SPAN_DAYS
    ),
    Feature("user_mean_rating", "the user's mean rating in the history", "user", ("ratings",), q.USER_MEAN_RATING),
    # pairs, from the history
    Feature("item_rating_gap", "item_mean_rating - user_mean_rating", "pair", ("ratings",), q.ITEM_RATING_GAP),
    Feature(
        "genre_affinity",
        "mean over the item's genres of the share of the user's items with that genre",
        "pair",
        ("genres",),
        q.GENRE_AFFINITY,
    ),
    Feature(
        "cooc_recent",
        "sum over the user's 5 latest items of the users whose 20 latest items hold it and the candidate "
        "(bounded lists keep the self-join linear in users)",
        "pair",
        (),
        q.COOC_RECENT,
    ),
    Feature(
        "item_count_user_30d",
        "the item's interactions in the 30 days before the user's own last interaction (the user's 'now')",
        "pair",
        ("time",),
        q.ITEM_COUNT_USER_30D,
    ),
    # demographics
    Feature("user_age", "the user's age (or age bucket's lower bound)", "user", ("demographics:age",), q.USER_AGE),
    Feature(
        "item_same_gender_share",
        "share of the item's history users with the user's gender",
        "pair",
        ("demographics:gender",),
        q.ITEM_SAME_GENDER_SHARE,
    ),
    Feature(
        "item_same_age_share",
        "share of the item's history users in the user's age bucket (age // 10)",
        "pair",
        ("demographics:age",),
        q.ITEM_SAME_AGE_SHARE,
    ),
    Feature(
        "item_same_occupation_share",
        "share of the item's history users with the user's occupation",
        "pair",
        ("demographics:occupation",),
        q.ITEM_SAME_OCCUPATION_SHARE,
    ),
)
