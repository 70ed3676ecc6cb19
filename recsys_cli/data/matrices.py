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


def interactions_matrix(
    path: Path, n_users: int, n_items: int, values: str = "rating", *, min_rating: float | None = None
):
    """A CSR matrix (n_users x n_items, float32) from an interactions Parquet file.

    ``values='ones'`` marks each (user, item) pair with 1 however often it occurs (implicit
    feedback; a rating of 0 is still an interaction); ``'rating'`` sums the ratings of repeated
    pairs, as scipy does. ``min_rating`` keeps only the rows rated at least that, row by row,
    before any summing (a relevance rule).
    """
    import numpy as np
    import pyarrow.compute as pc
    import scipy.sparse as sp

    if values not in VALUES:
        raise InvalidParameterError(f"values must be one of {', '.join(VALUES)}, not '{values}'")
    need_rating = values == "rating" or min_rating is not None
    table = read_parquet(path, columns=["user_idx", "item_idx"] + (["rating"] if need_rating else []))
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
    matrix = sp.csr_matrix((data, (users, items)), shape=(n_users, n_items), dtype=np.float32)
    matrix.sum_duplicates()
    if values == "ones":
        matrix.data[:] = 1.0  # a repeated interaction is still one interaction
    return matrix


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
