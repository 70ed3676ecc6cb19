"""recsys_cli/data/faults.py: damaged workspace files and a full disk, named as the user can act on them."""

from __future__ import annotations

import errno
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys_cli.data.faults import damaged_file, damaged_in_duckdb, is_disk_full, naming_full_disk, read_parquet
from recsys_cli.errors import DamagedFileError, DiskFullError

GENERATION = "20260101T000000-abcdef"


@pytest.fixture
def root(tmp_path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "catalog.duckdb").write_bytes(b"")  # what makes the folder a workspace
    return root


def write(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"user_idx": np.arange(5000, dtype=np.int32), "ts": np.arange(5000)}), path)
    return path


@pytest.mark.parametrize(
    "relative, hint",
    [
        (f"datasets/d/{GENERATION}/interactions.parquet", "recsys ingest ... --name d --replace"),
        (f"datasets/d/{GENERATION}/vocab/users.parquet", "ingest dataset 'd' again"),
        (f"splits/d/s/{GENERATION}/train.parquet", "recsys split d --name s --strategy ... --replace"),
        (f"runs/r/{GENERATION}/model.npz", "recsys train candidates ... --run r --force"),
        (f"runs/r/candidates-val/{GENERATION}/candidates.parquet", "make the candidates-val of run 'r' again"),
        (f"pipelines/p/{GENERATION}/per_user.parquet", "recsys run RECIPE --run p"),
        (".staging/ranker-1-0123456789ab/features-val.parquet", "run the command again"),
    ],
)
def test_a_damaged_file_is_named_in_the_workspace_with_the_command_that_makes_it(root, relative, hint):
    path = write(root / relative)
    error = damaged_file(path)
    assert error.message == f"the workspace file {relative} is damaged: rerun the command that made it"
    assert hint in error.hint and error.path == relative and not error.missing
    path.unlink()
    assert damaged_file(path).message.endswith("is missing: rerun the command that made it")


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],
        lambda data: b"",
        lambda data: b"not parquet\n" * 100,
        lambda data: data[:-200] + bytes(b ^ 0xFF for b in data[-200:-8]) + data[-8:],  # the footer
    ],
    ids=["half", "empty", "garbage", "footer"],
)
def test_read_parquet_turns_what_bad_bytes_raise_into_a_damaged_file(root, damage):
    path = write(root / f"splits/d/s/{GENERATION}/train.parquet")
    assert read_parquet(path, ["ts"]).num_rows == 5000
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DamagedFileError, match=f"splits/d/s/{GENERATION}/train.parquet is damaged"):
        read_parquet(path, ["ts"])
    path.unlink()
    with pytest.raises(DamagedFileError, match="is missing"):
        read_parquet(path)


def test_a_file_outside_any_workspace_is_named_by_its_path(tmp_path):
    path = write(tmp_path / "loose.parquet")
    path.write_bytes(b"x")
    with pytest.raises(DamagedFileError, match=f"the workspace file {path} is damaged"):
        read_parquet(path)


def test_duckdb_errors_name_a_damaged_file_only_when_they_name_it(root):
    path = write(root / f"datasets/d/{GENERATION}/items.parquet")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(duckdb.Error) as caught:
        duckdb.connect().sql(f"SELECT * FROM read_parquet('{path}')").fetchall()
    assert damaged_in_duckdb(caught.value, [path]).path == f"datasets/d/{GENERATION}/items.parquet"
    assert damaged_in_duckdb(caught.value, [root / "other.parquet"]) is None
    # a query's own error, even one that quotes a path, is not damage
    assert damaged_in_duckdb(duckdb.BinderException(f"Binder Error: column x not in '{path}'"), [path]) is None
    assert damaged_in_duckdb(OSError(f"Invalid Input Error: No magic bytes found at end of file '{path}'"), [path])
    full = duckdb.IOException(f'IO Error: Could not write file "{path}": No space left on device')
    assert damaged_in_duckdb(full, [path]) is None and is_disk_full(full)


def test_a_full_disk_from_each_library_names_the_workspace(root):
    for error in (
        OSError(errno.ENOSPC, "No space left on device", "/ws/.staging/x"),
        OSError(errno.EDQUOT, "Disk quota exceeded"),
        OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device"),  # pyarrow
        duckdb.IOException('IO Error: Could not write file "x": No space left on device'),
    ):
        with (
            pytest.raises(DiskFullError, match=f"the disk holding the workspace {root} is full"),
            naming_full_disk(root),
        ):
            raise error
    for error in (
        OSError(errno.EACCES, "Permission denied"),
        duckdb.IOException("IO Error: Cannot open file"),
        KeyError("x"),
    ):
        assert not is_disk_full(error)
        with pytest.raises(type(error)), naming_full_disk(root):
            raise error
