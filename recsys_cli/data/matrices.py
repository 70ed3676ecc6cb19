"""Interactions as a sparse user x item matrix: the shape every model and evaluator shares.

Rows are ``user_idx`` and columns ``item_idx`` of the *dataset* (not of the
split part), so the train, validation and test matrices of one split always
line up, and a model trained on one can be scored against another. This is the
orientation implicit >= 0.5 expects for ``fit`` (users x items).
"""

from __future__ import annotations

from pathlib import Path

from recsys_cli.data.faults import read_parquet
from recsys_cli.data.records import DatasetRecord
from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import InvalidParameterError, UnknownNameError
from recsys_cli.vocabulary import MATRIX_VALUES

PARTS = ("train", "val", "test")
VALUES = MATRIX_VALUES
REPEATED = ("sum", "latest")  # how the ratings of a user-item pair on several rows become one cell


def interactions_matrix(
    path: Path,
    n_users: int,
    n_items: int,
    values: str = "rating",
    *,
    min_rating: float | None = None,
    repeated: str = "sum",
):
    """A CSR matrix (n_users x n_items, float32) from an interactions Parquet file.

    ``values='ones'`` marks each (user, item) pair with 1 however often it occurs (implicit
    feedback; a rating of 0 is still an interaction); ``'rating'`` sums the ratings of repeated
    pairs, as scipy does (``repeated='sum'``: the confidence of the implicit models), or keeps the
    rating of the pair's latest row by ``ts``, a tie going to the later row (``repeated='latest'``:
    the user's current opinion, which a rating-prediction model learns; docs/models.md).
    ``min_rating`` keeps only the rows rated at least that, row by row, before any summing (a
    relevance rule).
    """
    import numpy as np
    import pyarrow.compute as pc
    import scipy.sparse as sp

    if values not in VALUES:
        raise InvalidParameterError(f"values must be one of {', '.join(VALUES)}, not '{values}'")
    if repeated not in REPEATED:
        raise InvalidParameterError(f"repeated must be one of {', '.join(REPEATED)}, not '{repeated}'")
    latest = values == "rating" and repeated == "latest"
    need_rating = values == "rating" or min_rating is not None
    columns = ["user_idx", "item_idx"] + (["rating"] if need_rating else []) + (["ts"] if latest else [])
    table = read_parquet(path, columns=columns)
    if min_rating is not None:
        table = table.filter(pc.greater_equal(table.column("rating"), float(min_rating)))
    users = table.column("user_idx").to_numpy()
    items = table.column("item_idx").to_numpy()
    if len(users) and (users.max() >= n_users or items.max() >= n_items):
        # an index past the dataset's vocabulary means the file is not from this dataset
        raise InvalidParameterError(
            f"{path.name} has indices beyond the dataset's {n_users} users x {n_items} items",
            "was the split made from another version of the dataset? Make the split again",
        )
    data = (
        np.ones(len(users), dtype=np.float32)
        if values == "ones"
        else table.column("rating").to_numpy().astype(np.float32)
    )
    if latest:
        users, items, data = _latest_rows(users, items, table.column("ts").to_numpy(), data)
    matrix = sp.csr_matrix((data, (users, items)), shape=(n_users, n_items), dtype=np.float32)
    matrix.sum_duplicates()
    if values == "ones":
        matrix.data[:] = 1.0  # a repeated interaction is still one interaction
    return matrix


def _latest_rows(users, items, ts, ratings):
    """One row per (user, item) pair: its latest by ``ts``, a tie going to the row later in the file (a split
    file orders tied rows by rating: the higher rating wins a tie, e.g. every repeat of a file without times)."""
    import numpy as np

    order = np.lexsort((np.arange(users.size), ts, items, users))
    users, items = users[order], items[order]
    last = np.ones(users.size, dtype=bool)  # the last row of each pair in that order
    last[:-1] = (users[1:] != users[:-1]) | (items[1:] != items[:-1])
    return users[last], items[last], ratings[order][last]


def interaction_ratings(path: Path):
    """Every row's ``user_idx``, ``item_idx`` (int64) and ``rating`` (float64), repeated pairs included:
    what rating errors (RMSE, MAE) are measured over."""
    import numpy as np

    table = read_parquet(path, columns=["user_idx", "item_idx", "rating"])
    return (
        table.column("user_idx").to_numpy().astype(np.int64),
        table.column("item_idx").to_numpy().astype(np.int64),
        table.column("rating").to_numpy().astype(np.float64),
    )


def interaction_times(path: Path):
    """Every row's ``item_idx`` and ``ts`` (int64 arrays), for models that use time."""
    import numpy as np

    table = read_parquet(path, columns=["item_idx", "ts"])
    return table.column("item_idx").to_numpy().astype(np.int64), table.column("ts").to_numpy().astype(np.int64)


def split_matrix(workspace: Workspace, dataset: str, split: str, part: str, values: str = "rating"):
    """The matrix of one part (train, val or test) of a registered split."""
    if part not in PARTS:
        raise InvalidParameterError(f"unknown split part '{part}'", f"parts are {', '.join(PARTS)}")
    with workspace.reading(), workspace.catalog() as catalog:
        record: DatasetRecord | None = catalog.dataset(dataset)
        if record is None:
            raise UnknownNameError("dataset", dataset, catalog.dataset_names())
        found = catalog.split(dataset, split)
        if found is None:
            raise UnknownNameError("split", split, [s.name for s in catalog.splits(dataset)])
        return interactions_matrix(
            workspace.resolve(found.path) / f"{part}.parquet", record.n_users, record.n_items, values
        )
