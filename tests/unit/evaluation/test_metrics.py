"""The evaluator follows DESIGN.md's pinned definitions: hand-computed cases, and a
property test against a plain per-user implementation written from the definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.errors import InvalidParameterError
from recsys_cli.evaluation import EvaluationResult, evaluate_lists
from recsys_cli.topk import top_k


def csr(rows: list[list[int]], n_items: int) -> sp.csr_matrix:
    """A users x items 0/1 matrix from each user's list of item indices."""
    r = [u for u, items in enumerate(rows) for _ in items]
    c = [i for items in rows for i in items]
    return sp.csr_matrix((np.ones(len(c)), (r, c)), shape=(len(rows), n_items))


# --- top_k ---------------------------------------------------------------------------


def test_top_k_orders_by_score_then_item_id():
    scores = np.array(
        [
            [1.0, 3.0, 3.0, 2.0, 3.0],  # three items tied at the top: ids 1, 2, 4
            [5.0, 1.0, 2.0, 2.0, 2.0],  # tie straddles the cut at k=3: ids 2, 3 win over 4
            [0.0, 0.0, 0.0, 0.0, 0.0],  # everything tied: lowest ids
            [0.1, 0.4, 0.3, 0.2, 0.5],  # no ties: plain descending
        ]
    )
    assert top_k(scores, 3).tolist() == [[1, 2, 4], [0, 2, 3], [0, 1, 2], [4, 1, 2]]
    assert top_k(scores, 4).tolist() == [[1, 2, 4, 3], [0, 2, 3, 4], [0, 1, 2, 3], [4, 1, 2, 3]]
    assert top_k(scores, 1).tolist() == [[1], [0], [0], [4]]


def test_top_k_excludes_seen_items_and_pads():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0], [9.0, 8.0, 7.0, 6.0, 5.0]])
    # user 0 has seen item 2 (one of the tied best); user 1 has seen all but item 3
    seen = csr([[2], [0, 1, 2, 4]], 5)
    assert top_k(scores, 3, seen).tolist() == [[1, 4, 3], [3, -1, -1]]
    # the caller's scores are not modified
    assert scores[0, 2] == 3.0


def test_top_k_treats_minus_inf_as_never_and_ignores_explicit_zeros_in_exclude():
    scores = np.array([[-np.inf, 1.0, -np.inf, 0.0]])
    assert top_k(scores, 3).tolist() == [[1, 3, -1]]
    seen = sp.csr_matrix((np.array([0.0]), (np.array([0]), np.array([1]))), shape=(1, 4))
    assert top_k(scores, 2, seen).tolist() == [[1, 3]]  # a stored 0 is not "seen"


def test_top_k_rejects_bad_input():
    scores = np.zeros((2, 3))
    for bad_k in (0, -1):
        with pytest.raises(InvalidParameterError, match="k must be a positive whole number, got (0|-1)"):
            top_k(scores, bad_k)
    with pytest.raises(InvalidParameterError, match="larger than the catalogue") as err:
        top_k(scores, 4)
    assert "k <= 3" in err.value.hint
    with pytest.raises(InvalidParameterError, match="k must be a positive whole number, got 2.5"):
        top_k(scores, 2.5)
    with pytest.raises(InvalidParameterError, match="shape"):
        top_k(scores, 2, csr([[0], [1], [2]], 3))
    with pytest.raises(InvalidParameterError, match="transposed"):
        top_k(scores, 2, sp.csr_matrix((3, 2)))
    with pytest.raises(InvalidParameterError, match="NaN"):
        top_k(np.array([[np.nan, 1.0]]), 1)
    with pytest.raises(InvalidParameterError, match="2-D"):
        top_k(np.zeros(3), 1)


# --- evaluate_lists: one case computed by hand ---------------------------------------

# 6 items, 4 users:
#   u0: R = {0, 2, 5}  list [2, 1, 0, 3]  -> rel [1, 0, 1, 0]
#   u1: R = {4}        list [0, 1, 4, 3]  -> rel [0, 0, 1, 0]
#   u2: R = {}         list [5, 4, 3, 2]  -> not evaluated (and item 5 must not count for coverage)
#   u3: R = {1, 3}     no predictions     -> every metric 0, still in the means
TRUTH = csr([[0, 2, 5], [4], [], [1, 3]], 6)
LISTS = np.array([[2, 1, 0, 3], [0, 1, 4, 3], [5, 4, 3, 2], [-1, -1, -1, -1]])
POPULARITY = np.array([0.5, 0.25, 1.0, 0.125, 0.5, 0.25])  # -log2: 1, 2, 0, 3, 1, 2
L3 = 1 / math.log2(3)  # discount at rank 2 (rank 1: 1/log2 2 = 1; rank 3: 1/log2 4 = 0.5)


@pytest.fixture
def result() -> EvaluationResult:
    return evaluate_lists(LISTS, TRUTH, [2, 4], n_catalog_items=6, item_popularity=POPULARITY)


def test_hand_computed_at_2(result):
    m = result.metrics
    # u0: 1 hit in [2, 1]; u1: 0 hits in [0, 1]; u3: 0
    assert m["precision@2"] == pytest.approx((1 / 2 + 0 + 0) / 3)  # 0.1667
    assert m["recall@2"] == pytest.approx((1 / 3 + 0 + 0) / 3)  # 0.1111
    assert m["hit_rate@2"] == pytest.approx((1 + 0 + 0) / 3)
    # u0: dcg = 1/log2(2) = 1; idcg over min(2, 3) = 2 ranks = 1 + 1/log2(3)
    assert m["ndcg@2"] == pytest.approx((1 / (1 + L3)) / 3)  # 0.2044
    # u0: precision@1 * rel_1 = 1, divided by min(2, 3) = 2
    assert m["map@2"] == pytest.approx((1 / 2) / 3)
    # u0: first hit at rank 1; u1: first hit at rank 3 > 2, so 0
    assert m["mrr@2"] == pytest.approx((1 + 0 + 0) / 3)
    # union of evaluated top-2 lists: {2, 1} | {0, 1} = {0, 1, 2}: 3 of 6 items
    assert m["coverage@2"] == pytest.approx(3 / 6)
    # slots 2, 1, 0, 1 -> self-information 0, 2, 1, 2 -> mean 5/4
    assert m["novelty@2"] == pytest.approx(5 / 4)


def test_hand_computed_at_4(result):
    m = result.metrics
    # u0: 2 hits (ranks 1 and 3); u1: 1 hit (rank 3); u3: 0
    assert m["precision@4"] == pytest.approx((2 / 4 + 1 / 4 + 0) / 3)  # 0.25
    assert m["recall@4"] == pytest.approx((2 / 3 + 1 / 1 + 0) / 3)  # 0.5556
    assert m["hit_rate@4"] == pytest.approx((1 + 1 + 0) / 3)
    # u0: dcg = 1 + 1/log2(4) = 1.5, idcg over min(4, 3) = 3 ranks = 1 + 1/log2(3) + 0.5
    # u1: dcg = 1/log2(4) = 0.5, idcg over min(4, 1) = 1 rank = 1
    ndcg_u0 = 1.5 / (1 + L3 + 0.5)  # 0.7039
    assert m["ndcg@4"] == pytest.approx((ndcg_u0 + 0.5 + 0) / 3)
    # u0: (precision@1 * 1 + precision@3 * 1) / min(4, 3) = (1 + 2/3) / 3
    # u1: (precision@3 * 1) / min(4, 1) = 1/3
    assert m["map@4"] == pytest.approx(((1 + 2 / 3) / 3 + 1 / 3 + 0) / 3)  # 0.2963
    assert m["mrr@4"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    # {2, 1, 0, 3} | {0, 1, 4, 3} = {0, 1, 2, 3, 4}: 5 of 6 (u2's item 5 is not counted)
    assert m["coverage@4"] == pytest.approx(5 / 6)
    # u0 slots 2, 1, 0, 3 -> 0 + 2 + 1 + 3; u1 slots 0, 1, 4, 3 -> 1 + 2 + 1 + 3; 8 slots
    assert m["novelty@4"] == pytest.approx(13 / 8)


def test_per_user_values_and_key_order(result):
    pu = result.per_user
    assert pu["user"].tolist() == [0, 1, 3]  # u2 (empty truth) left out
    assert pu["n_relevant"].tolist() == [3, 1, 2]
    assert pu["precision@4"].tolist() == pytest.approx([0.5, 0.25, 0.0])
    assert pu["mrr@4"].tolist() == pytest.approx([1.0, 1 / 3, 0.0])
    assert pu["map@2"].tolist() == pytest.approx([0.5, 0.0, 0.0])
    # the means are exactly the means of the per-user values
    for name in ("precision", "recall", "ndcg", "map", "mrr", "hit_rate"):
        for k in (2, 4):
            assert result.metrics[f"{name}@{k}"] == pytest.approx(pu[f"{name}@{k}"].mean())
    assert list(result.metrics)[:8] == [
        f"{n}@2" for n in ("precision", "recall", "ndcg", "map", "mrr", "hit_rate", "coverage", "novelty")
    ]
    assert "coverage@2" not in pu and "novelty@2" not in pu
    assert (result.ks, result.n_users, result.n_users_without_predictions) == ((2, 4), 3, 1)
    table = result.to_arrow()
    assert table.num_rows == 3 and table.column_names[:3] == ["user", "n_relevant", "precision@2"]


def test_short_lists_still_divide_by_k_and_fewer_relevant_than_k():
    # one user, R = {0} (|R| = 1 < K = 3), list [0, -1, -1] after exclusions
    res = evaluate_lists(np.array([[0, -1, -1]]), csr([[0]], 4), [3], n_catalog_items=4)
    m = res.metrics
    assert m["precision@3"] == pytest.approx(1 / 3)  # hits / K, not hits / list length
    assert m["recall@3"] == 1.0
    assert m["ndcg@3"] == 1.0  # idcg over min(3, 1) = 1 rank
    assert m["map@3"] == 1.0  # precision@1 / min(3, 1)
    assert m["coverage@3"] == pytest.approx(1 / 4)
    assert "novelty@3" not in m  # no popularity given


def test_truth_duplicates_and_explicit_zeros_are_normalised():
    # item 1 stored twice (one relevant item, not two); item 2 stored as an explicit 0 (not relevant)
    truth = sp.csr_matrix((np.array([1.0, 1.0, 0.0]), (np.array([0, 0, 0]), np.array([1, 1, 2]))), shape=(1, 3))
    m = evaluate_lists(np.array([[2, 1]]), truth, [2], n_catalog_items=3).metrics
    assert m["recall@2"] == 1.0  # 1 hit / |R| = 1
    assert m["mrr@2"] == 0.5  # item 2 at rank 1 is not a hit


def test_top_k_then_evaluate_never_recommends_seen_items():
    scores = np.array([[4.0, 3.0, 2.0, 1.0], [4.0, 3.0, 2.0, 1.0]])
    seen = csr([[0], [0, 1]], 4)
    lists = top_k(scores, 2, seen)
    assert lists.tolist() == [[1, 2], [2, 3]]
    m = evaluate_lists(lists, csr([[0, 2], [3]], 4), [1, 2], n_catalog_items=4).metrics
    # u0: [1, 2] vs {0, 2}: hit at rank 2; u1: [2, 3] vs {3}: hit at rank 2
    assert m["hit_rate@1"] == 0.0
    assert m["mrr@2"] == pytest.approx(0.5)
    assert m["precision@2"] == pytest.approx(0.5)


def test_evaluate_rejects_bad_input():
    truth = csr([[0], [1]], 3)
    ok = np.array([[0, 1], [1, 2]])
    with pytest.raises(InvalidParameterError, match="each k must be a positive whole number, got 0"):
        evaluate_lists(ok, truth, [0], n_catalog_items=3)
    with pytest.raises(InvalidParameterError, match="larger than the recommendation lists") as err:
        evaluate_lists(ok, truth, [2, 5], n_catalog_items=3)
    assert "top-5" in err.value.hint
    with pytest.raises(InvalidParameterError, match="no K"):
        evaluate_lists(ok, truth, [], n_catalog_items=3)
    with pytest.raises(InvalidParameterError, match="3 rows but truth has 2"):
        evaluate_lists(np.array([[0, 1]] * 3), truth, [1], n_catalog_items=3)
    with pytest.raises(InvalidParameterError, match="outside"):
        evaluate_lists(np.array([[0, 3], [1, 2]]), truth, [1], n_catalog_items=3)
    with pytest.raises(InvalidParameterError, match="integer item indices"):
        evaluate_lists(ok.astype(float), truth, [1], n_catalog_items=3)
    with pytest.raises(InvalidParameterError, match="padding before"):
        evaluate_lists(np.array([[-1, 1], [1, 2]]), truth, [1], n_catalog_items=3)
    with pytest.raises(InvalidParameterError, match="repeats"):
        evaluate_lists(np.array([[1, 1], [1, 2]]), truth, [1], n_catalog_items=3)
    with pytest.raises(InvalidParameterError, match="sparse"):
        evaluate_lists(ok, truth.toarray(), [1], n_catalog_items=3)
    with pytest.raises(InvalidParameterError, match="n_catalog_items"):
        evaluate_lists(ok, truth, [1], n_catalog_items=0)
    with pytest.raises(InvalidParameterError, match="no relevant items"):
        evaluate_lists(ok, csr([[], []], 3), [1], n_catalog_items=3)
    with pytest.raises(InvalidParameterError, match="item_popularity has shape"):
        evaluate_lists(ok, truth, [1], n_catalog_items=3, item_popularity=np.ones(2))
    with pytest.raises(InvalidParameterError, match=r"shares in \[0, 1\]"):
        evaluate_lists(ok, truth, [1], n_catalog_items=3, item_popularity=np.array([1.0, 2.0, 1.0]))
    with pytest.raises(InvalidParameterError, match="novelty is undefined"):
        evaluate_lists(ok, truth, [1], n_catalog_items=3, item_popularity=np.array([1.0, 0.0, 1.0]))


# --- the property: vectorised == per-user reference ------------------------------------


def reference_top_k(scores, k, seen):
    out = []
    for u, row in enumerate(scores):
        eligible = [i for i in range(len(row)) if not seen[u][i]]
        ranked = sorted(eligible, key=lambda i: (-row[i], i))[:k]
        out.append(ranked + [-1] * (k - len(ranked)))
    return out


def reference_metrics(lists, relevant, ks, n_catalog, popularity):
    """Straight from DESIGN.md, one user at a time."""
    evaluated = [u for u in range(len(lists)) if relevant[u]]
    metrics = {}
    for k in ks:
        per = {name: [] for name in ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")}
        shown = []
        for u in evaluated:
            top = [i for i in lists[u][:k] if i >= 0]
            shown.extend(top)
            rel = [1 if i in relevant[u] else 0 for i in top]
            hits = sum(rel)
            n_rel = len(relevant[u])
            per["precision"].append(hits / k)
            per["recall"].append(hits / n_rel)
            per["hit_rate"].append(1.0 if hits > 0 else 0.0)
            dcg = sum(r / math.log2(i + 1) for i, r in enumerate(rel, start=1))
            idcg = sum(1 / math.log2(i + 1) for i in range(1, min(k, n_rel) + 1))
            per["ndcg"].append(dcg / idcg)
            ap = sum(sum(rel[:i]) / i * rel[i - 1] for i in range(1, len(rel) + 1))
            per["map"].append(ap / min(k, n_rel))
            first = next((i for i, r in enumerate(rel, start=1) if r), None)
            per["mrr"].append(1 / first if first else 0.0)
        for name, values in per.items():
            metrics[f"{name}@{k}"] = sum(values) / len(values)
        metrics[f"coverage@{k}"] = len(set(shown)) / n_catalog
        info = [-math.log2(popularity[i]) for i in shown]
        metrics[f"novelty@{k}"] = sum(info) / len(info) if info else 0.0
    return evaluated, metrics


@st.composite
def problems(draw):
    n_users = draw(st.integers(1, 7))
    n_items = draw(st.integers(1, 9))
    cells = st.lists(st.lists(st.booleans(), min_size=n_items, max_size=n_items), min_size=n_users, max_size=n_users)
    # small integers make ties common, which is where ordering bugs hide
    scores = draw(
        st.lists(st.lists(st.integers(0, 3), min_size=n_items, max_size=n_items), min_size=n_users, max_size=n_users)
    )
    seen = draw(cells)
    truth = draw(cells)
    k_max = draw(st.integers(1, n_items))
    ks = draw(st.lists(st.integers(1, k_max), min_size=1, max_size=3))
    popularity = draw(st.lists(st.sampled_from([0.05, 0.1, 0.25, 0.5, 1.0]), min_size=n_items, max_size=n_items))
    return scores, seen, truth, k_max, ks, popularity


@settings(max_examples=200, deadline=None)
@given(problems())
def test_vectorised_equals_reference(problem):
    scores, seen, truth, k_max, ks, popularity = problem
    n_items = len(scores[0])
    seen_csr = sp.csr_matrix(np.array(seen, dtype=float))
    lists = top_k(np.array(scores, dtype=float), k_max, seen_csr)
    assert lists.tolist() == reference_top_k(scores, k_max, seen)

    relevant = [{i for i, flag in enumerate(row) if flag} for row in truth]
    truth_csr = sp.csr_matrix(np.array(truth, dtype=float))
    if not any(relevant):
        with pytest.raises(InvalidParameterError):
            evaluate_lists(lists, truth_csr, ks, n_catalog_items=n_items, item_popularity=np.array(popularity))
        return
    res = evaluate_lists(lists, truth_csr, ks, n_catalog_items=n_items, item_popularity=np.array(popularity))
    evaluated, expected = reference_metrics(lists.tolist(), relevant, sorted(set(ks)), n_items, popularity)
    assert res.per_user["user"].tolist() == evaluated
    assert res.metrics.keys() == expected.keys()
    for key, value in expected.items():
        assert res.metrics[key] == pytest.approx(value, abs=1e-12), key
