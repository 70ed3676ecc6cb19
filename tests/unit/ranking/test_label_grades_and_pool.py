"""The ranker's pieces on known answers: label grades from ratings, LightGBM's query size limit, and the
candidate pool (the union of the generators' lists, their ranks, scoring it in batches, the combined history).

`recsys train ranker` end to end is tests/cli/test_cli_ranker.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.errors import InvalidParameterError
from recsys_cli.models.base import TrainingData
from recsys_cli.ranking.lambdarank import MAX_GRADES, MAX_QUERY_ROWS, grade_labels, group_sizes
from recsys_cli.ranking.pool import SourceLists, combined_history, lists_from_rows, score_pool, union_pool


# -- label grades ------------------------------------------------------------------------------------
def test_grades_of_ml_style_ratings():
    labels = grade_labels(np.array([np.nan, 1.0, 2.0, 3.0, 4.0, 5.0, np.nan, 4.0]))
    assert labels.grades.tolist() == [0, 1, 2, 3, 4, 5, 0, 4]
    assert labels.grades.dtype == np.int32
    assert labels.gains == [0.0, 1.0, 1.25, 1.5, 1.75, 2.0]
    assert labels.levels == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert labels.scheme == "graded"


def test_grades_of_uneven_levels():
    # only the distinct levels present count, and the gain follows the rating, not the grade index
    labels = grade_labels(np.array([3.0, np.nan, 5.0, 4.5, 3.0]))
    assert labels.grades.tolist() == [1, 0, 3, 2, 1]
    assert labels.gains == [0.0, 1.0, 1.75, 2.0]
    assert labels.levels == [3.0, 4.5, 5.0]


def test_equal_ratings_give_binary_grades():
    labels = grade_labels(np.array([1.0, np.nan, 1.0, 1.0]))
    assert labels.grades.tolist() == [1, 0, 1, 1]
    assert labels.gains == [0.0, 1.0] and labels.levels == []
    none = grade_labels(np.full(3, np.nan))
    assert none.grades.tolist() == [0, 0, 0] and none.gains == [0.0, 1.0]


def test_too_many_distinct_ratings():
    assert MAX_GRADES == 31
    ratings = np.arange(40, dtype=np.float64) / 4
    with pytest.raises(InvalidParameterError) as raised:
        grade_labels(ratings)
    text = str(raised.value)
    assert "40 distinct ratings" in text and "31" in text and "--labels binary" in text
    fine = grade_labels(np.arange(31, dtype=np.float64))  # 31 grades: the most allowed
    assert fine.grades.max() == 31 and len(fine.gains) == 32 and fine.gains[1] == 1.0 and fine.gains[-1] == 2.0
    binary = grade_labels(np.append(ratings, np.nan), "binary")
    assert binary.scheme == "binary"
    assert binary.grades.tolist() == [1] * 40 + [0]
    assert binary.gains == [0.0, 1.0] and binary.levels == []


def test_binary_scheme_and_unknown_scheme():
    labels = grade_labels(np.array([np.nan, 1.0, 5.0, 3.5]), "binary")
    assert labels.grades.tolist() == [0, 1, 1, 1] and labels.scheme == "binary" and labels.gains == [0.0, 1.0]
    with pytest.raises(InvalidParameterError, match="unknown label scheme"):
        grade_labels(np.array([1.0]), "stars")


def test_a_query_over_lightgbms_row_limit_is_refused_before_training():
    assert list(group_sizes(np.repeat([0, 1], [MAX_QUERY_ROWS, 3]))) == [MAX_QUERY_ROWS, 3]
    with pytest.raises(InvalidParameterError, match="more than the 10,000 rows"):
        group_sizes(np.repeat([0, 1], [2, MAX_QUERY_ROWS + 1]))


# -- the candidate pool ------------------------------------------------------------------------------
def test_union_pool_known_answer():
    a = SourceLists(np.array([0, 1]), np.array([[3, 1, -1], [2, -1, -1]]))
    b = SourceLists(np.array([1, 2]), np.array([[2, 4], [0, -1]]))
    pool = union_pool([a, b], n_items=5)
    assert list(zip(pool.users.tolist(), pool.items.tolist())) == [(0, 1), (0, 3), (1, 2), (1, 4), (2, 0)]
    assert pool.ranks[0].tolist() == [2, 1, 1, 0, 0]
    assert pool.ranks[1].tolist() == [0, 0, 1, 2, 1]
    assert pool.ranks[0].dtype == np.int32 and pool.scores == [] and len(pool) == 5
    distinct, bounds = pool.user_bounds()
    assert distinct.tolist() == [0, 1, 2] and bounds.tolist() == [0, 2, 4, 5]


def test_union_pool_keeps_the_list_position_across_padding():
    pool = union_pool([SourceLists(np.array([4]), np.array([[7, -1, 2]]))], n_items=10)
    assert pool.items.tolist() == [2, 7] and pool.users.tolist() == [4, 4]
    assert pool.ranks[0].tolist() == [3, 1]


def test_lists_from_rows_known_answer():
    lists = lists_from_rows(np.array([1, 0, 0, 1, 3]), np.array([4, 3, 1, 2, 9]), np.array([2, 1, 2, 1, 1]))
    assert lists.users.tolist() == [0, 1, 3]
    assert lists.lists.tolist() == [[3, 1], [2, 4], [9, -1]]
    # round trip through the pool
    pool = union_pool([lists], n_items=10)
    assert list(zip(pool.users.tolist(), pool.items.tolist(), pool.ranks[0].tolist())) == [
        (0, 1, 2),
        (0, 3, 1),
        (1, 2, 1),
        (1, 4, 2),
        (3, 9, 1),
    ]


def test_score_pool_in_batches():
    pool = union_pool([SourceLists(np.array([0, 2, 5]), np.array([[1, 3], [0, -1], [4, 2]]))], n_items=6)

    def score(users):
        return users[:, None] * 10.0 + np.arange(6)[None, :]

    expected = (pool.users * 10 + pool.items).astype(np.float32)
    for batch in (1, 2, 10):
        scores = score_pool(pool, score, batch)
        assert scores.dtype == np.float32 and scores.tolist() == expected.tolist(), batch


def test_combined_history_keeps_implicit_ones():
    a = TrainingData(sp.csr_matrix(np.array([[1, 0], [0, 1]], dtype=np.float32)))
    b = TrainingData(sp.csr_matrix(np.array([[1, 1], [0, 0]], dtype=np.float32)))
    assert combined_history([a, b]).user_items.toarray().tolist() == [[1, 1], [0, 1]]
    rated = TrainingData(sp.csr_matrix(np.array([[4, 0], [0, 2]], dtype=np.float32)))
    assert combined_history([rated, b]).user_items.toarray().tolist() == [[5, 1], [0, 2]]
