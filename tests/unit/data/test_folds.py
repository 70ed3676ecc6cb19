"""K-fold assignment (recsys_cli/data/folds.py): hand-checkable cases, properties, refusals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.data.folds import FoldConfig, assign_folds, compute_folds, fold_name, fold_parts
from recsys_cli.data.split_strategies import TEST, TRAIN, canonical
from recsys_cli.errors import InvalidParameterError


def rows(user_counts: list[int]):
    """Canonical interactions: user u has user_counts[u] rows, items 0.. in order, one second apart."""
    users = np.repeat(np.arange(len(user_counts)), user_counts)
    items = np.concatenate([np.arange(n) for n in user_counts]) if user_counts else np.array([], dtype=int)
    return canonical(users, items, np.ones(len(users)), np.arange(len(users)))


def test_random_cuts_a_seeded_permutation_into_contiguous_chunks():
    data = rows([4, 3, 3])  # 10 rows
    assignment = assign_folds(data, 3, "random", seed=7)
    # the definition written out: permutation, then chunks of 4, 3, 3 (the first n mod K one longer)
    order = np.random.default_rng(7).permutation(10)
    expected = np.empty(10, dtype=np.int64)
    expected[order[:4]], expected[order[4:7]], expected[order[7:]] = 0, 1, 2
    assert assignment.tolist() == expected.tolist()
    assert np.bincount(assignment).tolist() == [4, 3, 3]


def test_random_per_user_deals_each_users_rows_like_cards():
    # users with 5, 3 and 1 rows, K = 2: the sequence (users in order, each user's rows shuffled) is
    # dealt 0, 1, 0, 1, ...; user 0 holds positions 0-4 (folds 0,1,0,1,0), user 1 positions 5-7
    # (folds 1,0,1), user 2 position 8 (fold 0)
    data = rows([5, 3, 1])
    assignment = assign_folds(data, 2, "random-per-user", seed=3)
    per_user = [np.bincount(assignment[data.user_idx == u], minlength=2).tolist() for u in range(3)]
    assert per_user == [[3, 2], [1, 2], [1, 0]]
    assert np.bincount(assignment).tolist() == [5, 4]
    # which of a user's rows goes where is the seed's: another seed moves them, not the counts
    other = assign_folds(data, 2, "random-per-user", seed=4)
    assert [np.bincount(other[data.user_idx == u], minlength=2).tolist() for u in range(3)] == per_user
    assert any(not np.array_equal(assign_folds(data, 2, "random-per-user", seed=s), assignment) for s in range(5, 10))


def test_each_fold_split_holds_its_fold_out_and_trains_on_the_rest():
    data = rows([6, 5, 4, 3])
    data, assignment, summaries = compute_folds(data, FoldConfig(3).resolve())
    tested = np.zeros(len(data), dtype=int)
    for fold in range(3):
        parts = fold_parts(assignment, fold)
        assert set(np.unique(parts)) <= {TRAIN, TEST}  # no val
        tested += parts == TEST
        assert summaries[fold]["test"]["interactions"] == int((assignment == fold).sum())
        assert summaries[fold]["train"]["interactions"] == len(data) - summaries[fold]["test"]["interactions"]
        assert summaries[fold]["val"]["interactions"] == 0
        assert (summaries[fold]["fold"], summaries[fold]["folds"]) == (fold + 1, 3)
    assert tested.tolist() == [1] * len(data)  # every row is test in exactly one fold


def test_the_same_data_and_seed_give_the_same_folds_whatever_the_file_order():
    rng = np.random.default_rng(0)
    u, i, ts = rng.integers(0, 30, 500), rng.integers(0, 50, 500), rng.integers(0, 100, 500)
    r = rng.integers(1, 6, 500).astype(float)
    shuffle = rng.permutation(500)
    for strategy in ("random", "random-per-user"):
        a = assign_folds(canonical(u, i, r, ts), 5, strategy, 11)
        b = assign_folds(canonical(u[shuffle], i[shuffle], r[shuffle], ts[shuffle]), 5, strategy, 11)
        assert a.tolist() == b.tolist()
        assert a.tolist() != assign_folds(canonical(u, i, r, ts), 5, strategy, 12).tolist()


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 12), min_size=2, max_size=25),
    folds=st.integers(2, 8),
    seed=st.integers(0, 2**32 - 1),
    strategy=st.sampled_from(["random", "random-per-user"]),
)
def test_fold_sizes_and_per_user_spread(counts, folds, seed, strategy):
    data = rows(counts)
    if folds > len(counts):
        with pytest.raises(InvalidParameterError, match="more than the"):
            compute_folds(data, FoldConfig(folds, strategy, seed).resolve())
        return
    _, assignment, _ = compute_folds(data, FoldConfig(folds, strategy, seed).resolve())
    assert assignment.min() >= 0 and assignment.max() < folds
    sizes = np.bincount(assignment, minlength=folds)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == len(data)
    if strategy == "random-per-user":
        for user in range(len(counts)):
            spread = np.bincount(assignment[data.user_idx == user], minlength=folds)
            assert spread.max() - spread.min() <= 1


def test_fold_names_and_recorded_params():
    config = FoldConfig(5, seed=3, min_rating=4).resolve()
    assert fold_name("cv", 2) == "cv.fold-2"
    assert config.strategy == "random"  # the default for folds, as scikit-surprise's KFold
    assert config.params("cv", 2) == {
        "strategy": "random",
        "seed": 3,
        "min_rating": 4.0,
        "folds": 5,
        "fold": 2,
        "group": "cv",
    }


@pytest.mark.parametrize(
    ("config", "options", "message"),
    [
        (1, {}, "--folds must be at least 2, not 1"),
        ("x", {}, "--folds must be a whole number"),
        (5, {"strategy": "temporal"}, "--folds takes --strategy random or random-per-user, not temporal"),
        (5, {"strategy": "leave-last"}, "not leave-last"),
        (5, {"test_fraction": 0.2}, "--test-fraction does not apply to --folds"),
        (5, {"val_fraction": 0.1}, "--val-fraction does not apply to --folds"),
        (5, {"n": 1}, "--n does not apply to --folds"),
        (5, {"seed": -1}, "--seed must be at least 0"),
    ],
)
def test_refused_configurations(config, options, message):
    with pytest.raises(InvalidParameterError, match=message.replace("+", r"\+")) as caught:
        FoldConfig.from_split_options(config, options).resolve()
    assert caught.value.hint or "whole number" in message or "at least 0" in message


def test_more_folds_than_rows_or_users_is_refused():
    with pytest.raises(InvalidParameterError, match="--folds 4 is more than the 3 interactions"):
        compute_folds(rows([1, 1, 1]), FoldConfig(4).resolve())
    with pytest.raises(InvalidParameterError, match="--folds 3 is more than the 2 users"):
        compute_folds(rows([5, 5]), FoldConfig(3).resolve())
    with pytest.raises(InvalidParameterError, match="the filters left no interactions"):
        compute_folds(rows([5, 5]), FoldConfig(2, min_rating=5).resolve())
