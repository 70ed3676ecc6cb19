"""top_k's fast paths give exactly the reference ranking, and batched_top_k equals one big top_k.

The reference is written from docs/metrics.md, one row at a time: eligible items (not
seen, not -inf) sorted by (score descending, item index ascending), cut at K, padded
with -1. The data is built to hit every path of top_k: the grouped lower bound (catalogues
of at least 4K items), rows that fall back to the exact path (fewer than K eligible items,
very many seen items, ties around the cut), and the exact path itself (small catalogues).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.errors import InvalidParameterError
from recsys_cli.topk import _n_groups, batched_top_k, default_batch_size, top_k


def reference_top_k(scores: np.ndarray, k: int, seen: np.ndarray | None = None) -> np.ndarray:
    out = np.full((scores.shape[0], k), -1, dtype=np.int64)
    for u, row in enumerate(scores.tolist()):
        eligible = [i for i, s in enumerate(row) if s != -np.inf and (seen is None or not seen[u, i])]
        ranked = sorted(eligible, key=lambda i: (-row[i], i))[:k]
        out[u, : len(ranked)] = ranked
    return out


def as_csr(mask: np.ndarray) -> sp.csr_matrix:
    return sp.csr_matrix(mask.astype(np.float64))


# A few values, so ties are everywhere; -0.0 equals 0.0, so it must tie with it by index.
TIE_VALUES = [-np.inf, -2.0, -0.0, 0.0, 0.5, 1.0, 3.0, np.inf]


@st.composite
def ranking_problems(draw):
    n_users = draw(st.integers(1, 6))
    k = draw(st.integers(1, 6))
    # Mostly catalogues big enough for the grouped bound (n_items >= 4k), some smaller.
    n_items = draw(st.integers(k, 90))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16]))
    style = draw(st.sampled_from(["ties", "mixed", "distinct"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if style == "ties":
        weights = [0.15, 0.1, 0.1, 0.25, 0.1, 0.15, 0.1, 0.05]
        scores = rng.choice(np.array(TIE_VALUES), size=(n_users, n_items), p=weights)
    elif style == "mixed":
        scores = np.round(rng.standard_normal((n_users, n_items)), 1)
        scores[rng.random((n_users, n_items)) < 0.2] = -np.inf
    else:
        scores = rng.permutation(n_users * n_items).reshape(n_users, n_items) / 7.0
    # Per-row patterns that force the fallbacks: all -inf, all tied, fewer eligible than k.
    for u in range(n_users):
        pattern = draw(st.sampled_from(["none", "none", "all_inf", "all_tied", "few_finite"]))
        if pattern == "all_inf":
            scores[u] = -np.inf
        elif pattern == "all_tied":
            scores[u] = 1.0
        elif pattern == "few_finite":
            keep = rng.permutation(n_items)[: rng.integers(0, k)]
            row = np.full(n_items, -np.inf)
            row[keep] = scores[u, keep]
            scores[u] = row
    density = draw(st.sampled_from([0.0, 0.05, 0.3, 0.9]))
    seen = rng.random((n_users, n_items)) < density
    return scores.astype(dtype), seen, k


@settings(max_examples=400, deadline=None)
@given(ranking_problems())
def test_top_k_equals_reference(problem):
    scores, seen, k = problem
    before = scores.copy()
    expected = reference_top_k(scores, k, seen)
    assert top_k(scores, k, as_csr(seen)).tolist() == expected.tolist()
    assert top_k(scores, k).tolist() == reference_top_k(scores, k).tolist()
    np.testing.assert_array_equal(scores, before)  # never modified


@pytest.mark.parametrize("k", [1, 10, 100])
@pytest.mark.parametrize("kind", ["gauss32", "gauss64", "ints", "sparse_positive", "heavy_seen"])
def test_top_k_equals_reference_on_bigger_blocks(kind, k):
    rng = np.random.default_rng(k)
    n_users, n_items = 40, 2500
    seen = rng.random((n_users, n_items)) < 0.02
    if kind in ("gauss32", "heavy_seen"):
        scores = rng.standard_normal((n_users, n_items)).astype(np.float32)
    elif kind == "gauss64":
        scores = rng.standard_normal((n_users, n_items))
    elif kind == "ints":  # thousands of items tied at the cut
        scores = rng.integers(0, 10, (n_users, n_items)).astype(np.float32)
    else:  # a few positive scores, the rest exactly 0 (as from a sparse neighbourhood model)
        scores = np.where(rng.random((n_users, n_items)) < 0.01, rng.random((n_users, n_items)), 0).astype(np.float32)
    if kind == "heavy_seen":  # some users saw almost everything: few clean groups
        seen[::3] = rng.random((len(seen[::3]), n_items)) < 0.97
        # and the seen items are the ones the model likes best
        scores[seen] += 5
    scores[5] = -np.inf
    scores[6, 10:] = -np.inf
    assert _n_groups(n_items, k)  # the grouped bound is in play
    assert top_k(scores, k, as_csr(seen)).tolist() == reference_top_k(scores, k, seen).tolist()


def test_top_k_edge_inputs():
    scores = np.array([[0.0, -0.0, 1.0, np.inf, -np.inf, 1.0, 0.0, -1.0]], dtype=np.float32)
    # +inf is the best score; -0.0 ties with 0.0 (by index); -inf is never returned
    assert top_k(scores, 8).tolist() == [[3, 2, 5, 0, 1, 6, 7, -1]]
    assert top_k(scores, 2).tolist() == [[3, 2]]
    # integer scores, Fortran order and non-contiguous views rank the same
    ints = np.arange(24).reshape(3, 8) % 5
    expected = reference_top_k(ints.astype(float), 3)
    assert top_k(ints, 3).tolist() == expected.tolist()
    assert top_k(np.asfortranarray(ints.astype(np.float32)), 3).tolist() == expected.tolist()
    wide = np.repeat(ints.astype(np.float32), 2, axis=1)[:, ::2]
    assert top_k(wide, 3).tolist() == expected.tolist()
    # k == n_items, and zero users
    assert top_k(ints, 8).tolist() == reference_top_k(ints.astype(float), 8).tolist()
    assert top_k(np.zeros((0, 5)), 2).shape == (0, 2)
    # NaN anywhere is refused, also where the grouped bound is used and on a seen item
    big = np.zeros((3, 400), dtype=np.float32)
    big[2, 399] = np.nan
    assert _n_groups(400, 10)
    with pytest.raises(InvalidParameterError, match="NaN"):
        top_k(big, 10, as_csr(big != 0))


# --- batched_top_k -------------------------------------------------------------------------


@pytest.fixture
def factors():
    rng = np.random.default_rng(0)
    users = rng.standard_normal((120, 8)).astype(np.float32)
    items = rng.standard_normal((700, 8)).astype(np.float32)
    seen = sp.random(120, 700, density=0.05, format="csr", random_state=1)
    return users, items, seen


@pytest.mark.parametrize("n_threads", [1, 2, 3])
@pytest.mark.parametrize("batch_size", [1, 7, 64, 1000])
def test_batched_equals_one_top_k(factors, n_threads, batch_size):
    user_vectors, item_vectors, seen = factors
    # Precomputed, so a batch's scores do not depend on its size (BLAS rounding does).
    all_scores = np.round(user_vectors @ item_vectors.T, 1)  # and ties
    users = np.array([5, 3, 119, 0, 42, 42, 77] + list(range(60, 100)))
    expected = top_k(all_scores[users], 20, seen[users])
    assert expected.tolist() == reference_top_k(all_scores[users], 20, seen[users].toarray() != 0).tolist()
    done = []
    lists, scores = batched_top_k(
        lambda batch: all_scores[batch],
        users,
        20,
        seen,
        batch_size=batch_size,
        n_threads=n_threads,
        progress=done.append,
    )
    assert lists.tolist() == expected.tolist()
    assert scores.dtype == np.float32
    np.testing.assert_array_equal(scores, np.take_along_axis(all_scores[users], lists, axis=1))
    assert sum(done) == len(users) and len(done) == -(-len(users) // batch_size)


def test_batched_pads_with_nan_scores_and_runs_score_fn_in_threads():
    threads = set()

    def score(batch):
        threads.add(threading.get_ident())
        block = np.tile(np.arange(10, dtype=np.float32), (len(batch), 1))
        block[:, 3:] = -np.inf  # only 3 eligible items
        return block

    seen = sp.csr_matrix(([1.0], ([0], [2])), shape=(4, 10))
    lists, scores = batched_top_k(score, np.arange(4), 5, seen, batch_size=1, n_threads=2)
    assert lists.tolist() == [[1, 0, -1, -1, -1]] + [[2, 1, 0, -1, -1]] * 3
    assert np.isnan(scores[:, 3:]).all() and scores[1, :3].tolist() == [2.0, 1.0, 0.0]
    assert threading.get_ident() not in threads  # scored in the workers


def test_batched_empty_and_bad_input(factors):
    user_vectors, item_vectors, seen = factors

    def score(batch):
        return user_vectors[batch] @ item_vectors.T

    lists, scores = batched_top_k(score, np.array([], dtype=np.int64), 5, seen)
    assert lists.shape == (0, 5) and scores.shape == (0, 5)
    with pytest.raises(InvalidParameterError, match="shape"):
        batched_top_k(lambda batch: np.zeros((len(batch), 3)), np.arange(4), 2, seen)
    with pytest.raises(InvalidParameterError, match="outside"):
        batched_top_k(score, np.array([0, 120]), 5, seen)
    with pytest.raises(InvalidParameterError, match="larger than the catalogue"):
        batched_top_k(score, np.arange(3), 701, seen)
    with pytest.raises(InvalidParameterError, match="batch_size must be a positive whole number, got 0"):
        batched_top_k(score, np.arange(3), 5, seen, batch_size=0)
    with pytest.raises(InvalidParameterError, match="n_threads"):
        batched_top_k(score, np.arange(3), 5, seen, n_threads=0)
    with pytest.raises(InvalidParameterError, match="NaN"):
        batched_top_k(lambda batch: np.full((len(batch), 700), np.nan), np.arange(3), 5, seen, n_threads=2)

    def failing(batch):
        raise RuntimeError("model broke")

    with pytest.raises(RuntimeError, match="model broke"):
        batched_top_k(failing, np.arange(50), 5, seen, batch_size=2, n_threads=2)
    assert default_batch_size(27_000) * 27_000 <= 1 << 24 and default_batch_size(10) == 4096


def test_one_global_order_gives_what_full_ranking_gives_including_users_who_saw_most_of_it():
    """Popularity: every user's scores are the same distinct places, so the top K is the first K
    unseen items of one order. Lists and scores must equal batched_top_k's, fallbacks included."""
    from recsys_cli.runs.retrieval import popularity_places
    from recsys_cli.topk import top_k_of_one_order

    rng = np.random.default_rng(0)
    for trial in range(60):
        n_users, n_items = int(rng.integers(1, 40)), int(rng.integers(1, 80))
        seen = sp.random(
            n_users, n_items, density=float(rng.choice([0.05, 0.5, 0.95, 1.0])), format="csr", random_state=trial
        )
        seen.data[:] = 1
        users = np.sort(rng.choice(n_users, size=int(rng.integers(1, n_users + 1)), replace=False))
        k, spare = int(rng.integers(1, n_items + 1)), int(rng.integers(0, 4))
        places = popularity_places(seen)
        reference = batched_top_k(
            lambda batch, places=places: np.repeat(places[None, :], batch.size, axis=0), users, k, seen
        )
        lists, scores = top_k_of_one_order(places, users, k, seen, spare=spare)
        assert np.array_equal(lists, reference[0]), trial
        assert np.array_equal(scores, reference[1], equal_nan=True), trial


def test_one_order_with_ties_takes_the_general_rules():
    from recsys_cli.topk import top_k_of_one_order

    scores = np.array([1.0, 2.0, 2.0, 0.5], dtype=np.float32)
    seen = sp.csr_matrix((2, 4), dtype=np.float32)
    lists, _ = top_k_of_one_order(scores, np.array([0, 1]), 2, seen)
    reference, _ = batched_top_k(
        lambda batch: np.repeat(scores[None, :], batch.size, axis=0), np.array([0, 1]), 2, seen
    )
    assert np.array_equal(lists, reference) and lists[0].tolist() == [1, 2]


def test_full_ranking_of_a_popularity_model_takes_the_one_order_path_and_matches_the_general_one():
    from recsys_cli.models.base import TrainingData
    from recsys_cli.models.registry import create_model, model_class
    from recsys_cli.runs.retrieval import exact_top_k, model_scorer, seen_pattern

    seen = sp.random(300, 120, density=0.2, format="csr", random_state=4, dtype=np.float32)
    seen.data[:] = 1
    model = create_model(model_class("popular"))
    model.fit(TrainingData(seen))
    assert model.shared_scores() is not None
    users = np.arange(0, 300, 2)
    fast = exact_top_k(model, users, seen, 25)
    score, _ = model_scorer(model, seen)
    lists, scores = batched_top_k(score, users, 25, seen_pattern(seen))
    assert np.array_equal(fast.lists, lists) and np.array_equal(fast.scores, scores, equal_nan=True)
