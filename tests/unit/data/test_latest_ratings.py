"""What a rating model learns from a pair rated more than once: the latest rating (by time, a tie going
to the later row), never the sum that the implicit models take as confidence."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys_cli.data.matrices import interaction_ratings, interactions_matrix
from recsys_cli.errors import InvalidParameterError


@pytest.fixture
def part(tmp_path):
    # user 0 rated item 1 three times (ts 5, 9, 2: the latest is 2.0 at ts 9); user 1 rated item 0 twice at
    # the same time (the later row wins: 4.0); user 2 rated item 2 once
    table = pa.table(
        {
            "user_idx": pa.array([0, 0, 1, 0, 1, 2], pa.int32()),
            "item_idx": pa.array([1, 1, 0, 1, 0, 2], pa.int32()),
            "rating": pa.array([5.0, 2.0, 1.0, 3.0, 4.0, 0.0], pa.float32()),
            "ts": pa.array([5, 9, 7, 2, 7, 1], pa.int64()),
        }
    )
    path = tmp_path / "train.parquet"
    pq.write_table(table, path)
    return path


def test_latest_rating_per_pair(part):
    latest = interactions_matrix(part, 3, 3, "rating", repeated="latest")
    assert latest.nnz == 3  # one cell per pair, the rating 0 of user 2 kept as a rated cell
    assert latest[0, 1] == 2.0 and latest[1, 0] == 4.0 and latest[2, 2] == 0.0
    assert latest.has_canonical_format


def test_sum_stays_the_default(part):
    summed = interactions_matrix(part, 3, 3, "rating")
    assert summed[0, 1] == 10.0 and summed[1, 0] == 5.0
    # ones ignore how repeated pairs are valued
    assert interactions_matrix(part, 3, 3, "ones", repeated="latest").toarray().max() == 1.0


def test_unknown_rule_is_refused(part):
    with pytest.raises(InvalidParameterError, match="repeated must be one of sum, latest"):
        interactions_matrix(part, 3, 3, "rating", repeated="mean")


def test_every_row_is_kept_for_the_errors(part):
    users, items, ratings = interaction_ratings(part)
    assert users.tolist() == [0, 0, 1, 0, 1, 2] and items.tolist() == [1, 1, 0, 1, 0, 2]
    assert ratings.tolist() == [5.0, 2.0, 1.0, 3.0, 4.0, 0.0] and ratings.dtype.kind == "f"
