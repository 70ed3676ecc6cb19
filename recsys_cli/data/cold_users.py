"""The cold-users split ("given N"), as pure numpy: which users are held out, and which of their rows.

A new user has told the system only a little: the protocol keeps each held-out user's first ``given``
interactions by time in train (what the system has seen of them) and moves all the rest to test (or
val), so the model is asked to rank what a user went on to do from ``given`` interactions alone
(docs/metrics.md, "Cold-start protocols").

- Eligible users have at least ``given + 1`` interactions (after the filters): anyone with fewer would
  have nothing left to test. The others are counted, left wholly in train and reported by the split.
- The draw is a seeded permutation of the eligible users' indices, sorted first, so it never depends
  on the order of rows: the first ``n_test`` go to test, the next ``n_val`` to val (the caller rounds
  the counts, with the rule every strategy shares: :func:`recsys_cli.data.split_strategies.round_half_up`).
- "First by time" is the rows' canonical order (user, ts, item_idx, rating): equal timestamps are
  broken by the lower item index, as leave-last breaks them.

No workspace here, and no import of ``split_strategies`` (which calls this module): rows are marked
with boolean masks and the caller writes its own part codes.
"""

from __future__ import annotations

from typing import Any

DEFAULT_GIVEN = 3  # a handful of ratings: what a sign-up questionnaire asks for


def eligible_users(counts, given: int):
    """(the sorted indices of the users with more than ``given`` rows, how many users with rows have fewer);
    ``counts`` is each user index's number of rows."""
    import numpy as np

    present = counts > 0
    eligible = np.flatnonzero(counts > given)
    return eligible, int(np.count_nonzero(present)) - int(eligible.size)


def held_out_rows(user_idx, place, eligible, n_test: int, n_val: int, given: int, seed: int) -> tuple[Any, Any]:
    """Boolean masks over the rows of canonically sorted ``user_idx``: (to test, to val).

    ``place`` is each row's place in its user's history (0 for the earliest: rows are grouped by user, in
    time order). ``n_test`` users of ``eligible`` are drawn for test and the next ``n_val`` for val; each
    drawn user's rows after their first ``given`` go to that part."""
    import numpy as np

    order = np.random.default_rng(seed).permutation(np.asarray(eligible, dtype=np.int64))
    test_users, val_users = order[:n_test], order[n_test : n_test + n_val]
    beyond_given = place >= given
    drawn_for = np.zeros(int(user_idx.max(initial=-1)) + 1, dtype=np.int8)  # 0: not drawn, 1: test, 2: val
    drawn_for[test_users] = 1
    drawn_for[val_users] = 2
    row_draw = drawn_for[user_idx]
    return beyond_given & (row_draw == 1), beyond_given & (row_draw == 2)
