"""Beyond-accuracy metrics, popularity tiers and bucket breakdowns (docs/metrics.md, "Who is served
badly"): hand-computed cases, and a property test against plain per-list implementations written from
the definitions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.errors import InvalidParameterError
from recsys_cli.evaluation import evaluate_lists
from recsys_cli.evaluation.beyond import beyond_accuracy, genre_matrix, gini_index, popularity_tiers
from recsys_cli.evaluation.breakdown import activity_groups, evaluate_buckets, genre_groups, tier_groups

# item 0 {A}, 1 {A, B}, 2 {B}, 3 no genre, 4 {C}; train counts 10, 5, 3, 0, 2 (20 in all)
GENRES = [["A"], ["A", "B"], ["B"], [], ["C"]]
COUNTS = np.array([10, 5, 3, 0, 2])
LISTS = np.array([[0, 1, 2], [2, 3, -1], [4, -1, -1]])


def csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


# --- hand-computed --------------------------------------------------------------------------------


def test_popularity_tiers_by_hand():
    # head: the largest h with items of count >= h holding >= 20% (4 of 20): h = 10 -> item 0
    # tail: the largest t with items of count <= t holding <= 20%: t = 2 (0 + 2 = 2; t = 3 would hold 5)
    assert popularity_tiers(COUNTS).tolist() == [0, 1, 1, 2, 2]
    # ties stay together: four items of 5 (20 in all): the head needs one of them, so takes all four
    assert popularity_tiers([5, 5, 5, 5]).tolist() == [0, 0, 0, 0]
    # [8, 4, 4, 2, 1, 1]: total 20; head: count >= 8 holds 8 >= 4 -> {0}; tail: count <= 2 holds 4 <= 4
    assert popularity_tiers([8, 4, 4, 2, 1, 1]).tolist() == [0, 1, 1, 2, 2, 2]


def test_genre_matrix_sorts_names_and_ignores_duplicates_and_missing():
    matrix, names = genre_matrix([["B", "A", "B"], None, [], ["C"]], 4)
    assert names == ["A", "B", "C"]
    assert matrix.toarray().tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 0], [0, 0, 1]]
    with pytest.raises(InvalidParameterError, match="expected 5"):
        genre_matrix([["A"]], 5)


def test_beyond_accuracy_by_hand():
    genres, _ = genre_matrix(GENRES, 5)
    tail = popularity_tiers(COUNTS) == 2  # items 3, 4
    got = beyond_accuracy(LISTS, [0, 1, 2], [2, 3], item_counts=COUNTS, tail_items=tail, item_genres=genres)
    assert list(got) == [f"{m}@{k}" for k in (2, 3) for m in ("diversity", "arp", "long_tail_share", "gini")]
    # @3, user 0 [0, 1, 2]: Jaccard (0,1) = 1/2, (0,2) = 0, (1,2) = 1/2 -> 1 - 1/3 = 2/3;
    # user 1 [2, 3]: item 3 has no genre, no pair -> left out; user 2 [4]: one item -> left out
    assert got["diversity@3"] == pytest.approx(2 / 3)
    # arp: (10+5+3)/3 = 6, (3+0)/2 = 1.5, 2/1 = 2 -> 9.5/3
    assert got["arp@3"] == pytest.approx(9.5 / 3)
    # long tail: 0/3, 1/2, 1/1 -> 0.5
    assert got["long_tail_share@3"] == pytest.approx(0.5)
    # exposure over 5 items: 1, 1, 2, 1, 1 -> sorted 1 1 1 1 2; (-4 -2 +0 +2 +8) / (5 * 6) = 4/30
    assert got["gini@3"] == pytest.approx(4 / 30)
    # @2: user 0 [0, 1] -> 1 - 1/2; user 1 [2, 3] no pair; arp 7.5, 1.5, 2; tail 0, 1/2, 1; exposure all 1
    assert got["diversity@2"] == pytest.approx(0.5)
    assert got["arp@2"] == pytest.approx(11 / 3)
    assert got["long_tail_share@2"] == pytest.approx(0.5)
    assert got["gini@2"] == pytest.approx(0.0)


def test_beyond_accuracy_undefined_cases():
    tail = np.zeros(5, dtype=bool)
    # no genres at all: diversity left out; only padding: nothing to average
    got = beyond_accuracy([[-1, -1]], [0], [2], item_counts=COUNTS, tail_items=tail, item_genres=None)
    assert got == {"arp@2": None, "long_tail_share@2": None, "gini@2": None}
    genres, _ = genre_matrix(GENRES, 5)
    got = beyond_accuracy([[3, 4]], [0], [2], item_counts=COUNTS, tail_items=tail, item_genres=genres)
    assert got["diversity@2"] is None  # item 3 has no genre: no pair
    with pytest.raises(InvalidParameterError, match="item_counts"):
        beyond_accuracy([[0]], [0], [1], item_counts=[-1, 2], tail_items=[False, False])
    with pytest.raises(InvalidParameterError, match="tail_items"):
        beyond_accuracy([[0]], [0], [1], item_counts=[1, 2], tail_items=[False])


def test_gini_extremes():
    assert gini_index([3, 3, 3]) == pytest.approx(0.0)
    assert gini_index([0, 0, 0, 7]) == pytest.approx(3 / 4)  # (n - 1) / n: all exposure on one item
    with pytest.raises(InvalidParameterError):
        gini_index([0, 0])


def test_activity_groups_edges():
    lengths = np.array([0, 1, 5, 6, 20, 21, 100, 101, 5000])
    groups = activity_groups(lengths)
    assert [name for name, _ in groups] == ["0", "1-5", "6-20", "21-100", ">100"]
    assert [np.flatnonzero(mask).tolist() for _, mask in groups] == [[0], [1, 2], [3, 4], [5, 6], [7, 8]]


def test_evaluate_buckets_by_users_and_items_by_hand():
    genres, names = genre_matrix(GENRES, 5)
    truth = csr([[1, 3], [2], [0]], 5)
    common = {"n_catalog_items": 5, "item_counts": COUNTS, "tail_items": popularity_tiers(COUNTS) == 2}
    # users 0 and 1 have histories of 3 and 30, user 2 none
    rows = evaluate_buckets(LISTS, truth, [3], activity_groups([3, 30, 0]), axis="users", **common)
    assert [(b.name, b.users, b.relevant) for b in rows] == [
        ("0", 1, 1),
        ("1-5", 1, 2),
        ("6-20", 0, 0),  # an empty bucket is a row, not a crash
        ("21-100", 1, 1),
        (">100", 0, 0),
    ]
    assert rows[2].metrics == {}
    # "1-5" is user 0 alone: list [0, 1, 2], relevant {1, 3}: recall 1/2, precision 1/3
    alone = evaluate_lists(LISTS, csr([[1, 3], [], []], 5), [3], n_catalog_items=5).metrics
    assert rows[1].metrics["recall@3"] == pytest.approx(0.5) == alone["recall@3"]
    assert rows[1].metrics["precision@3"] == pytest.approx(1 / 3)
    assert rows[1].metrics["arp@3"] == pytest.approx(6.0)
    assert rows[0].metrics["hit_rate@3"] == 0.0  # user 2's [4] misses item 0
    # items: head {0}, torso {1, 2}, tail {3, 4}; head row = user 2 alone (relevant 0, list [4])
    rows = evaluate_buckets(LISTS, truth, [3], tier_groups(popularity_tiers(COUNTS)), axis="items", **common)
    assert [(b.name, b.users, b.relevant) for b in rows] == [("head", 1, 1), ("torso", 2, 2), ("tail", 1, 1)]
    # torso: user 0 relevant {1} hit at rank 2; user 1 relevant {2} hit at rank 1 -> recall 1, mrr (1/2 + 1)/2
    assert rows[1].metrics["recall@3"] == pytest.approx(1.0)
    assert rows[1].metrics["mrr@3"] == pytest.approx(0.75)
    # tail: user 0's relevant item 3 is not in [0, 1, 2]
    assert rows[2].metrics["recall@3"] == 0.0
    # genres: A = items {0, 1}, B = {1, 2}, C = {4}; item 3 (relevant for user 0) has none
    rows = evaluate_buckets(LISTS, truth, [3], genre_groups(genres, names), axis="items", item_genres=genres, **common)
    assert [(b.name, b.users, b.relevant) for b in rows] == [("A", 2, 2), ("B", 2, 2), ("C", 0, 0)]
    assert rows[1].metrics["diversity@3"] == pytest.approx(2 / 3)  # users 0 and 1; only user 0 has a pair


# --- the property: vectorised == plain reference ---------------------------------------------------------


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b)


def reference_beyond(lists, users, ks, counts, tail, genres):
    """Straight from docs/metrics.md, one list at a time."""
    out = {}
    for k in ks:
        div, arp, lt, exposure = [], [], [], [0] * len(counts)
        for u in users:
            items = [i for i in lists[u][:k] if i >= 0]
            pairs = [(a, b) for a, b in itertools.combinations(items, 2) if genres[a] and genres[b]]
            if pairs:
                div.append(1 - sum(jaccard(genres[a], genres[b]) for a, b in pairs) / len(pairs))
            if items:
                arp.append(sum(counts[i] for i in items) / len(items))
                lt.append(sum(1 for i in items if tail[i]) / len(items))
            for i in items:
                exposure[i] += 1
        if any(genres):
            out[f"diversity@{k}"] = sum(div) / len(div) if div else None
        out[f"arp@{k}"] = sum(arp) / len(arp) if arp else None
        out[f"long_tail_share@{k}"] = sum(lt) / len(lt) if lt else None
        n, total = len(exposure), sum(exposure)
        # the mean absolute difference form: sum over all ordered pairs |x_i - x_j| / (2 n^2 mean)
        out[f"gini@{k}"] = sum(abs(x - y) for x in exposure for y in exposure) / (2 * n * total) if total else None
    return out


def reference_tiers(counts):
    total = sum(counts)
    values = sorted(set(counts))
    h = max(v for v in values if sum(c for c in counts if c >= v) >= 0.2 * total)
    low = [v for v in values if sum(c for c in counts if c <= v) <= 0.2 * total]
    t = max(low) if low else -1
    return [0 if (c >= h and c > 0) else 2 if (c <= t or c == 0) else 1 for c in counts]


@st.composite
def problems(draw):
    n_items = draw(st.integers(1, 8))
    n_users = draw(st.integers(1, 6))
    k_max = draw(st.integers(1, n_items))
    lists = []
    for _ in range(n_users):
        length = draw(st.integers(0, k_max))
        items = draw(st.permutations(range(n_items)))[:length]
        lists.append(list(items) + [-1] * (k_max - length))
    users = sorted(draw(st.sets(st.integers(0, n_users - 1), min_size=1)))
    ks = sorted(set(draw(st.lists(st.integers(1, k_max), min_size=1, max_size=3))))
    counts = draw(st.lists(st.integers(0, 6), min_size=n_items, max_size=n_items))
    genres = draw(st.lists(st.sets(st.sampled_from("ABC"), max_size=3), min_size=n_items, max_size=n_items))
    return lists, users, ks, counts, genres


@settings(max_examples=200, deadline=None)
@given(problems())
def test_vectorised_equals_reference(problem):
    lists, users, ks, counts, genres = problem
    if sum(counts):
        assert popularity_tiers(counts).tolist() == reference_tiers(counts)
    tail = [c == 0 or c % 2 == 1 for c in counts]  # any flags will do for the share
    matrix, _ = genre_matrix([sorted(g) for g in genres], len(counts))
    got = beyond_accuracy(
        np.array(lists), users, ks, item_counts=np.array(counts), tail_items=np.array(tail), item_genres=matrix
    )
    expected = reference_beyond(lists, users, ks, counts, tail, genres)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert (got[key] is None) == (value is None), key
        if value is not None:
            assert got[key] == pytest.approx(value, abs=1e-12), key
