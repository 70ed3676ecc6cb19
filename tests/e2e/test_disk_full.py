"""A full disk while a command writes: one line naming the workspace whose disk is full (scratch lives in
its `.staging/` too, so no other disk is to blame), and the workspace as it was (catalog and files).

ENOSPC is injected where each library raises it: Python and pyarrow as an OSError with errno 28
(pyarrow without a file name), DuckDB as an IOException whose message alone says so.
"""

from __future__ import annotations

import errno
from pathlib import Path

import duckdb
import pytest

from tests.support import assert_refused, build_ranker_workspace, build_template, copy_workspace

PYARROW_ENOSPC = OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")
DUCKDB_ENOSPC = duckdb.IOException(
    'IO Error: Could not write file "/somewhere/.staging/x/features.parquet": No space left on device'
)


def full(error: BaseException):
    def fail(*args, **kwargs):
        raise error

    return fail


def after(real, error: BaseException):
    """``real``, then the disk is full: the files it wrote are left half-way, as on a real full disk."""

    def fail(*args, **kwargs):
        real(*args, **kwargs)
        raise error

    return fail


def refused_as_full(cli, root: Path, args) -> None:
    result = assert_refused(cli, root, args, only_progress_before=True)
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: the disk holding the workspace {root} is full (hint: free some space"), error
    assert "-w" in error and ".staging" not in error


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A synthetic dataset, a split with a label window, two runs with val candidates and a ranker."""
    return build_template(tmp_path_factory, "disk-full", build_ranker_workspace)[0]


@pytest.fixture
def ws(template, workspace_dir) -> Path:
    return copy_workspace(template, workspace_dir)


def test_ingest_into_a_new_workspace_leaves_no_workspace(cli, workspace_dir, tmp_path, monkeypatch):
    import recsys_cli.datasets.ingest as ingest

    (tmp_path / "r.csv").write_text("u,i\n1,2\n2,3\n")
    monkeypatch.setattr(ingest, "write_canonical", after(ingest.write_canonical, OSError(errno.ENOSPC, "full")))
    args = ["ingest", "csv", tmp_path / "r.csv", "--name", "d", "--user-col", "u", "--item-col", "i"]
    result = cli(*args)
    assert result.exit_code == 1 and f"the disk holding the workspace {workspace_dir} is full" in result.stderr
    assert not workspace_dir.exists()


def test_replacing_a_dataset_when_its_catalog_row_cannot_be_written(cli, ws, monkeypatch):
    from recsys_cli.data.catalog import Catalog

    monkeypatch.setattr(Catalog, "put_dataset", full(DUCKDB_ENOSPC))
    new_data = ["ingest", "synthetic", "--name", "syn", "--users", "50", "--items", "20", "--interactions", "300"]
    refused_as_full(cli, ws, [*new_data, "--replace"])


def test_split_whose_parts_fill_the_disk(cli, ws, monkeypatch):
    import recsys_cli.data.splits as splits

    monkeypatch.setattr(splits, "write_parts", after(splits.write_parts, PYARROW_ENOSPC))
    refused_as_full(cli, ws, ["split", "syn", "--name", "s2", "--strategy", "random"])


def test_ranker_whose_features_fill_the_disk_in_its_scratch(cli, ws, monkeypatch):
    import recsys_cli.ranking.features as features

    monkeypatch.setattr(features, "_feature_query", full(DUCKDB_ENOSPC))
    refused_as_full(cli, ws, ["train", "ranker", "als", "--with", "pop", "--trees", "5"])
    assert not any((ws / ".staging").iterdir())  # its scratch folder went with it


def test_the_error_is_a_workspace_error_for_python_callers(tmp_path):
    from recsys_cli.data.workspace import Workspace
    from recsys_cli.errors import DiskFullError, WorkspaceError

    workspace = Workspace(tmp_path / "ws")
    with pytest.raises(DiskFullError) as caught, workspace.writing():
        raise OSError(errno.EDQUOT, "Disk quota exceeded")
    assert isinstance(caught.value, WorkspaceError) and caught.value.root == str(workspace.root)
    with pytest.raises(OSError) as other, workspace.writing():  # any other OSError stays what it is
        raise PermissionError(errno.EACCES, "Permission denied")
    assert not isinstance(other.value, DiskFullError)
