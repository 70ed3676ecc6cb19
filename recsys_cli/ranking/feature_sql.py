"""The SQL of every ranker feature, grouped by level (see ``features.py`` for the registry).

Each text is one SELECT over four views: ``candidates`` (``user_idx, item_idx,
score_<i>, rank_<i>``), ``history`` (``user_idx, item_idx, rating, ts``: only the
interactions before the window being featurised), ``items`` (``item_idx,
genres``) and ``users`` (``user_idx, gender, age, age_bucket, occupation``, NULL
where the dataset lacks the attribute). It returns its key columns (``user_idx``
and/or ``item_idx``, by level) and one column named after the feature (the
``source_scores`` family: its ``score_<i>, rank_<i>`` columns). ``{as_of}`` is
the history's last timestamp (unix seconds): every "days ago" and "recent" is
relative to it, never to the window's own times. A key missing from a
feature's result gets NULL in the output (LightGBM's "missing"), so the SQL
starts from the candidates' keys wherever absence means 0 (counts), and from
the history wherever absence means "undefined" (a mean rating).
"""

from __future__ import annotations

DAY = 86_400
WEEK = 7 * DAY
MONTH = 30 * DAY

CANDIDATE_ITEMS = "(SELECT DISTINCT item_idx FROM candidates)"
CANDIDATE_USERS = "(SELECT DISTINCT user_idx FROM candidates)"
CANDIDATE_PAIRS = "(SELECT DISTINCT user_idx, item_idx FROM candidates)"

# -- pair level, from the candidate sources -------------------------------------------------
CANDIDATE_SCORE = "SELECT user_idx, item_idx, score_0 AS candidate_score FROM candidates"
CANDIDATE_RANK = "SELECT user_idx, item_idx, rank_0 AS candidate_rank FROM candidates"
# rank_<i> is NULL where the pair is not in source i's top-N; list_count counts non-NULLs
SOURCE_COUNT = "SELECT user_idx, item_idx, list_count([*COLUMNS('^rank_[0-9]+$')]) AS source_count FROM candidates"
SOURCE_SCORES = "SELECT user_idx, item_idx, COLUMNS('^(score|rank)_[1-9][0-9]*$') FROM candidates"

# -- item level -----------------------------------------------------------------------------


def _item_count(name: str, window: str = "") -> str:
    return f"""SELECT c.item_idx, count(h.item_idx) AS {name}
FROM {CANDIDATE_ITEMS} c
LEFT JOIN history h ON h.item_idx = c.item_idx{window}
GROUP BY c.item_idx"""


ITEM_COUNT = _item_count("item_count")
ITEM_COUNT_7D = _item_count("item_count_7d", f" AND h.ts > {{as_of}} - {WEEK}")
ITEM_COUNT_30D = _item_count("item_count_30d", f" AND h.ts > {{as_of}} - {MONTH}")
ITEM_TREND = f"""WITH totals AS (
    SELECT count(*) FILTER (WHERE ts > {{as_of}} - {WEEK}) AS n7, count(*) AS n30
    FROM history WHERE ts > {{as_of}} - {MONTH}),
counts AS (
    SELECT item_idx, count(*) FILTER (WHERE ts > {{as_of}} - {WEEK}) AS k7, count(*) AS k30
    FROM history WHERE ts > {{as_of}} - {MONTH} GROUP BY item_idx)
SELECT counts.item_idx, (k7 / NULLIF(n7, 0)) / (k30 / n30) AS item_trend
FROM counts CROSS JOIN totals"""
ITEM_RECENT_SHARE = f"""WITH recent AS (
    SELECT item_idx FROM history WHERE ts >= (SELECT quantile_disc(ts, 0.9) FROM history))
SELECT c.item_idx, count(r.item_idx) / NULLIF((SELECT count(*) FROM recent), 0) AS item_recent_share
FROM {CANDIDATE_ITEMS} c
LEFT JOIN recent r ON r.item_idx = c.item_idx
GROUP BY c.item_idx"""
ITEM_AGE_DAYS = f"SELECT item_idx, ({{as_of}} - min(ts)) / {DAY} AS item_age_days FROM history GROUP BY item_idx"
ITEM_MEAN_RATING = "SELECT item_idx, avg(rating) AS item_mean_rating FROM history GROUP BY item_idx"
ITEM_RATING_STD = "SELECT item_idx, stddev_samp(rating) AS item_rating_std FROM history GROUP BY item_idx"

# -- user level -----------------------------------------------------------------------------
USER_COUNT = f"""SELECT c.user_idx, count(h.user_idx) AS user_count
FROM {CANDIDATE_USERS} c
LEFT JOIN history h ON h.user_idx = c.user_idx
GROUP BY c.user_idx"""
USER_RECENCY_DAYS = (
    f"SELECT user_idx, ({{as_of}} - max(ts)) / {DAY} AS user_recency_days FROM history GROUP BY user_idx"
)
USER_SPAN_DAYS = f"SELECT user_idx, (max(ts) - min(ts)) / {DAY} AS user_span_days FROM history GROUP BY user_idx"
USER_MEAN_RATING = "SELECT user_idx, avg(rating) AS user_mean_rating FROM history GROUP BY user_idx"

# -- pair level, from the history -----------------------------------------------------------
ITEM_RATING_GAP = f"""SELECT k.user_idx, k.item_idx, i.mean - u.mean AS item_rating_gap
FROM {CANDIDATE_PAIRS} k
JOIN (SELECT item_idx, avg(rating) AS mean FROM history GROUP BY item_idx) i ON i.item_idx = k.item_idx
JOIN (SELECT user_idx, avg(rating) AS mean FROM history GROUP BY user_idx) u ON u.user_idx = k.user_idx"""
# mean over the item's genres g of (user's distinct history items with g) / (user's distinct
# history items) = sum of those counts / (items * genres); NULL without genres or history
GENRE_AFFINITY = f"""WITH item_genres AS (
    SELECT DISTINCT item_idx, genre FROM (SELECT item_idx, unnest(genres) AS genre FROM items)
    WHERE genre IS NOT NULL),
user_items AS (SELECT DISTINCT user_idx, item_idx FROM history),
user_sizes AS (SELECT user_idx, count(*) AS n FROM user_items GROUP BY user_idx),
user_genres AS (
    SELECT ui.user_idx, g.genre, count(*) AS k
    FROM user_items ui JOIN item_genres g ON g.item_idx = ui.item_idx GROUP BY ui.user_idx, g.genre)
SELECT k.user_idx, k.item_idx,
       sum(coalesce(ug.k, 0)) / (any_value(s.n) * count(*)) AS genre_affinity
FROM {CANDIDATE_PAIRS} k
JOIN item_genres g ON g.item_idx = k.item_idx
JOIN user_sizes s ON s.user_idx = k.user_idx
LEFT JOIN user_genres ug ON ug.user_idx = k.user_idx AND ug.genre = g.genre
GROUP BY k.user_idx, k.item_idx"""
# Co-occurrence inside bounded recent lists: each user contributes the ordered pairs of their
# 20 most recent distinct items (at most 380), so the self-join grows linearly with the users
# instead of with the square of a popular item's audience; each candidate then sums over its
# user's 5 most recent items. Ties in ts are broken by the smaller item_idx.
COOC_RECENT = f"""WITH last_seen AS (
    SELECT user_idx, item_idx, max(ts) AS ts FROM history GROUP BY user_idx, item_idx),
recent AS (
    SELECT user_idx, item_idx, row_number() OVER (PARTITION BY user_idx ORDER BY ts DESC, item_idx) AS pos
    FROM last_seen QUALIFY pos <= 20),
together AS (
    SELECT a.item_idx AS anchor, b.item_idx AS other, count(*) AS n
    FROM recent a JOIN recent b ON b.user_idx = a.user_idx AND b.item_idx <> a.item_idx
    WHERE b.item_idx IN {CANDIDATE_ITEMS}
    GROUP BY a.item_idx, b.item_idx)
SELECT k.user_idx, k.item_idx, coalesce(sum(t.n), 0) AS cooc_recent
FROM {CANDIDATE_PAIRS} k
LEFT JOIN recent r ON r.user_idx = k.user_idx AND r.pos <= 5
LEFT JOIN together t ON t.anchor = r.item_idx AND t.other = k.item_idx
GROUP BY k.user_idx, k.item_idx"""

# "Now" for a user is their own last history interaction, not the history's end: in a per-user
# split one user's label window can lie years before another's. The item's running count is
# looked up with two ASOF joins (at the user's last ts and 30 days before it), which stays
# O(pairs log items) where a range join would touch every history row of the item per pair.
_USER_LAST = "SELECT user_idx, max(ts) AS last_ts FROM history GROUP BY user_idx"
_ITEM_RUNNING = """SELECT DISTINCT item_idx, ts,
       count(*) OVER (PARTITION BY item_idx ORDER BY ts RANGE UNBOUNDED PRECEDING) AS n
FROM history"""
ITEM_COUNT_USER_30D = f"""WITH user_last AS ({_USER_LAST}),
running AS ({_ITEM_RUNNING}),
pairs AS (
    SELECT k.user_idx, k.item_idx, u.last_ts, u.last_ts - {MONTH} AS month_before
    FROM {CANDIDATE_PAIRS} k JOIN user_last u ON u.user_idx = k.user_idx),
upto AS (
    SELECT p.user_idx, p.item_idx, p.month_before, r.n
    FROM pairs p ASOF LEFT JOIN running r ON r.item_idx = p.item_idx AND r.ts <= p.last_ts)
SELECT u.user_idx, u.item_idx, coalesce(u.n, 0) - coalesce(r.n, 0) AS item_count_user_30d
FROM upto u ASOF LEFT JOIN running r ON r.item_idx = u.item_idx AND r.ts <= u.month_before"""

# -- demographics ---------------------------------------------------------------------------
USER_AGE = "SELECT user_idx, age AS user_age FROM users WHERE age IS NOT NULL"


def same_attribute_share(attribute: str, name: str) -> str:
    """Share of the item's distinct history users (those with a known ``attribute``) whose
    ``attribute`` equals the candidate user's; NULL when either side is unknown."""
    return f"""WITH item_users AS (SELECT DISTINCT item_idx, user_idx FROM history),
by_value AS (
    SELECT iu.item_idx, u.{attribute} AS value, count(*) AS n
    FROM item_users iu JOIN users u ON u.user_idx = iu.user_idx
    WHERE u.{attribute} IS NOT NULL GROUP BY iu.item_idx, u.{attribute}),
totals AS (SELECT item_idx, sum(n) AS total FROM by_value GROUP BY item_idx)
SELECT k.user_idx, k.item_idx, coalesce(b.n, 0) / t.total AS {name}
FROM {CANDIDATE_PAIRS} k
JOIN users u ON u.user_idx = k.user_idx AND u.{attribute} IS NOT NULL
JOIN totals t ON t.item_idx = k.item_idx
LEFT JOIN by_value b ON b.item_idx = k.item_idx AND b.value = u.{attribute}"""


ITEM_SAME_GENDER_SHARE = same_attribute_share("gender", "item_same_gender_share")
ITEM_SAME_AGE_SHARE = same_attribute_share("age_bucket", "item_same_age_share")
ITEM_SAME_OCCUPATION_SHARE = same_attribute_share("occupation", "item_same_occupation_share")
