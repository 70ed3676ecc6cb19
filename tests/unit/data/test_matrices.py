"""Split parts as user x item matrices that line up across parts."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_cli.data.matrices import split_matrix
from recsys_cli.data.splits import SplitConfig, make_split
from recsys_cli.data.workspace import Workspace
from recsys_cli.datasets.ingest import ingest_file
from recsys_cli.datasets.interaction_file import ColumnMapping
from recsys_cli.errors import InvalidParameterError, UnknownNameError


@pytest.fixture
def ws(tmp_path) -> Workspace:
    # users a, b, c; items x, y, z; b rated y twice (both kept in the dataset)
    (tmp_path / "r.csv").write_text(
        "u,i,r,t\na,x,5,1\na,y,3,2\na,z,4,3\nb,x,2,1\nb,y,1,2\nb,y,4,5\nc,z,5,9\nc,x,1,10\n"
    )
    workspace = Workspace(tmp_path / "ws")
    ingest_file(workspace, tmp_path / "r.csv", "d", ColumnMapping("u", "i", "r", "t"))
    make_split(workspace, "d", "last", SplitConfig(strategy="leave-last", n=1))
    return workspace


def test_parts_share_the_dataset_shape_and_sum_to_the_whole(ws):
    train = split_matrix(ws, "d", "last", "train")
    test = split_matrix(ws, "d", "last", "test")
    assert train.shape == test.shape == (3, 3)  # users x items, as implicit >= 0.5 fits
    whole = (train + test).toarray()
    # rows a, b, c; columns x, y, z (indices follow the original ids' order)
    assert whole.tolist() == [[5, 3, 4], [2, 5, 0], [1, 0, 5]]
    # each user's last interaction is the test part: a->z (t=3), b->y (t=5), c->x (t=10)
    assert test.toarray().tolist() == [[0, 0, 4], [0, 4, 0], [1, 0, 0]]


def test_ones_counts_interactions(ws):
    train = split_matrix(ws, "d", "last", "train", values="ones")
    assert train.toarray().tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    assert train.dtype == np.float32


@pytest.mark.parametrize(
    "args, error",
    [
        (("nope", "last", "train"), UnknownNameError),
        (("d", "nope", "train"), UnknownNameError),
        (("d", "last", "holdout"), InvalidParameterError),
    ],
)
def test_bad_names(ws, args, error):
    with pytest.raises(error):
        split_matrix(ws, *args)
