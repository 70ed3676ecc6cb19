"""The cold-users split ("given N"): a seeded share of the users with more than N interactions is held out,
each keeping their first N interactions by time (ties by item) in train, every later one going to test
(or val); users with N or fewer are counted and left wholly in train; the same data and seed give the same
parts whatever the row order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.data.splits import (
    TEST,
    TRAIN,
    VAL,
    SplitConfig,
    canonical,
    compute_split,
    round_half_up,
    split_notes,
)
from recsys_cli.errors import InvalidParameterError


def cold_split(data_rows, **options):
    data = canonical(*(np.asarray(a) for a in data_rows))
    return compute_split(data, SplitConfig(strategy="cold-users", **options).resolve())


# (user, item, ts): user 0 has two rows at ts 20 (items 3 and 1: item 1 counts as first), user 1 has
# exactly given + 1 = 3 rows, user 2 has 2 (ineligible with given 2), user 3 has one (ineligible)
HAND = [
    (0, 5, 10), (0, 3, 20), (0, 1, 20), (0, 7, 30), (0, 2, 40),
    (1, 4, 100), (1, 6, 50), (1, 0, 70),
    (2, 1, 5), (2, 2, 6),
    (3, 9, 1),
]  # fmt: skip


def hand_rows(order=None):
    rows = HAND if order is None else [HAND[i] for i in order]
    users, items, ts = (np.array(column) for column in zip(*rows))
    return users, items, np.ones(len(rows)), ts


def test_first_given_by_time_stay_in_train_ties_by_item_the_rest_to_test():
    # 2 eligible users; 0.9 of 2 rounds to 2: both are held out, so the parts are known by hand
    data, parts, summary = cold_split(hand_rows(), given=2, test_fraction=0.9)
    got = {(int(u), int(i)): int(p) for u, i, p in zip(data.user_idx, data.item_idx, parts)}
    assert got == {
        (0, 5): TRAIN, (0, 1): TRAIN, (0, 3): TEST, (0, 7): TEST, (0, 2): TEST,  # ts 20: item 1 before 3
        (1, 6): TRAIN, (1, 0): TRAIN, (1, 4): TEST,  # by time, not by item
        (2, 1): TRAIN, (2, 2): TRAIN, (3, 9): TRAIN,  # ineligible: wholly in train
    }  # fmt: skip
    assert summary["held_out_users"] == {"test": 2, "val": 0}
    assert (summary["given"], summary["eligible_users"], summary["ineligible_users"]) == (2, 2, 2)


def test_ineligible_users_are_counted_and_said_so():
    _, _, summary = cold_split(hand_rows(), given=2, test_fraction=0.9)
    notes, warnings = split_notes(summary)
    held = "test: 2 of 2 eligible users held out, their first 2 interactions by time in train and the other 4 in test"
    left = "2 users have 2 or fewer interactions, so none could be held out with 2 given: they are left wholly in train"
    assert held in notes and f"{left} (eligible: 2)" in warnings
    # given 0: every user is eligible, nobody is left out, and new users without train rows are no warning
    data, parts, summary = cold_split(hand_rows(), given=0, test_fraction=0.5)
    held = np.unique(data.user_idx[parts == TEST])
    assert held.size == 2 and (parts[np.isin(data.user_idx, held)] == TEST).all()
    assert summary["ineligible_users"] == 0 and summary["test_users_not_in_train"] == 2
    assert not [w for w in split_notes(summary)[1] if "users" in w]


def test_the_draw_is_a_seeded_permutation_of_the_sorted_eligible_users():
    rng = np.random.default_rng(3)
    users = rng.integers(0, 40, 600)
    rows = (users, rng.integers(0, 50, 600), np.ones(600), rng.integers(0, 10_000, 600))
    data, parts, summary = cold_split(rows, given=5, test_fraction=0.3, val_fraction=0.2, seed=11)
    counts = np.bincount(data.user_idx)
    eligible = np.flatnonzero(counts > 5)
    order = np.random.default_rng(11).permutation(eligible)
    n_test, n_val = int(round_half_up(0.3 * eligible.size)), int(round_half_up(0.2 * eligible.size))
    test_users = set(np.unique(data.user_idx[parts == TEST]).tolist())
    val_users = set(np.unique(data.user_idx[parts == VAL]).tolist())
    assert test_users == set(order[:n_test].tolist()) and val_users == set(order[n_test : n_test + n_val].tolist())
    assert summary["held_out_users"] == {"test": n_test, "val": n_val}
    assert summary["ineligible_users"] == int(((counts > 0) & (counts <= 5)).sum())


@settings(max_examples=40, deadline=None)
@given(
    data_seed=st.integers(0, 1000),
    seed=st.integers(0, 2**32 - 1),
    n_given=st.integers(0, 6),
    test_fraction=st.sampled_from([0.1, 0.2, 0.35]),
    val_fraction=st.sampled_from([0.0, 0.1, 0.25]),
)
def test_each_held_out_user_keeps_exactly_their_first_n(data_seed, seed, n_given, test_fraction, val_fraction):
    rng = np.random.default_rng(data_seed)
    n = 500
    rows = (rng.integers(0, 60, n), rng.integers(0, 30, n), np.ones(n), rng.integers(0, 50, n))  # many ts ties
    options = {"given": n_given, "test_fraction": test_fraction, "val_fraction": val_fraction, "seed": seed}
    try:
        data, parts, summary = cold_split(rows, **options)
    except InvalidParameterError:  # too few eligible users for a non-empty part: refused, not computed
        return
    for user in np.unique(data.user_idx):
        mine = parts[data.user_idx == user]  # in canonical order: by ts, then item
        held = set(mine[n_given:].tolist()) if mine.size > n_given else set()
        if held - {TRAIN}:
            assert len(held) == 1 and (mine[:n_given] == TRAIN).all()  # the first N in train, the rest in one part
        else:
            assert (mine == TRAIN).all()
    eligible = int((np.bincount(data.user_idx) > n_given).sum())
    assert summary["eligible_users"] == eligible
    assert summary["held_out_users"] == {
        "test": int(round_half_up(test_fraction * eligible)),
        "val": int(round_half_up(val_fraction * eligible)),
    }


def test_same_seed_same_parts_whatever_the_row_order_and_another_seed_differs():
    rng = np.random.default_rng(5)
    rows = (rng.integers(0, 50, 900), rng.integers(0, 70, 900), rng.integers(1, 6, 900), rng.integers(0, 99, 900))
    shuffle = np.random.default_rng(0).permutation(900)
    first = cold_split(rows, seed=4)
    again = cold_split(tuple(a[shuffle] for a in rows), seed=4)
    assert np.array_equal(first[1], again[1])
    assert all(np.array_equal(getattr(first[0], c), getattr(again[0], c)) for c in ("user_idx", "item_idx", "ts"))
    assert not np.array_equal(first[1], cold_split(rows, seed=5)[1])


def test_defaults_and_options():
    config = SplitConfig(strategy="cold-users").resolve()
    assert (config.test_fraction, config.val_fraction, config.seed, config.given) == (0.2, 0.0, 42, 3)
    assert config.params()["given"] == 3  # recorded with the split
    assert SplitConfig(strategy="cold-users", given=0).resolve().given == 0
    with pytest.raises(InvalidParameterError, match="--given does not apply to the leave-last strategy"):
        SplitConfig(strategy="leave-last", given=3).resolve()
    with pytest.raises(InvalidParameterError, match="--given must be at least 0, not -1"):
        SplitConfig(strategy="cold-users", given=-1).resolve()
    with pytest.raises(InvalidParameterError, match="--given must be"):
        SplitConfig(strategy="cold-users", given=2.5).resolve()
    with pytest.raises(InvalidParameterError, match="--n does not apply to the cold-users strategy"):
        SplitConfig(strategy="cold-users", n=1).resolve()


def test_no_eligible_user_is_refused_with_a_hint():
    with pytest.raises(InvalidParameterError, match="cold-users split leaves test empty") as info:
        cold_split(hand_rows(), given=5)
    assert "lower --given" in info.value.hint
