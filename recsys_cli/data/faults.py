"""What goes wrong with a workspace's files on disk, as errors that say so instead of a library's words.

A damaged file: Parquet that pyarrow or DuckDB cannot read as what a command wrote (cut short by a
full disk or a copy, overwritten, deleted). The reader names the file relative to the workspace and
the command that makes it again (:class:`DamagedFileError`, exit 1). Only the read of a workspace
file is wrapped, and only the errors a reader raises for bad bytes are translated: a bug elsewhere
still surfaces as one.

A full disk: ENOSPC (or EDQUOT) while a command writes into the workspace, from Python, pyarrow or
DuckDB. Scratch lives in the workspace's ``.staging`` too, so the error names the workspace, not a
staging file (:class:`DiskFullError`).

Kernels read workspace files by path and know no workspace, so the workspace a file belongs to is
found from the path itself: the nearest folder above it holding ``catalog.duckdb``.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from recsys_cli.errors import DamagedFileError, DiskFullError

_CATALOG_FILE = "catalog.duckdb"  # what makes a folder a workspace (Workspace.catalog_path)
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_TEXT = (
    "No space left on device",
    "Disk quota exceeded",
)  # DuckDB reports errno in its message only
# DuckDB's exceptions for a file it cannot parse or read to the end (plain ``Error`` for bad pages)
_DUCKDB_READ_ERRORS = ("InvalidInputException", "IOException", "Error")


# -- damaged files -----------------------------------------------------------------------------------
def read_parquet(path: Path, columns: list[str] | None = None):
    """``pyarrow.parquet.read_table`` of a workspace file; a damaged or missing one is a DamagedFileError."""
    import pyarrow.parquet as pq

    with reading_file(path):
        return pq.read_table(path, columns=columns)


@contextmanager
def reading_file(path: Path) -> Iterator[None]:
    """Around a pyarrow read of the workspace file ``path``: what pyarrow raises for bad bytes (or a
    missing column: not what our writer wrote) becomes a DamagedFileError naming it."""
    import pyarrow as pa

    try:
        yield
    except FileNotFoundError:
        raise damaged_file(path) from None
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise damaged_file(path) from None
    except OSError as exc:
        # pyarrow's own OSErrors (a cut stream, bad thrift) carry no errno; those that do are the machine's
        if exc.errno is None:
            raise damaged_file(path) from None
        raise


def damaged_in_duckdb(error: BaseException, paths: Iterable[Path]) -> DamagedFileError | None:
    """The DamagedFileError for a DuckDB read error that names one of ``paths``, else None (DuckDB names
    the file it could not parse; an error over several files that names none stays the caller's)."""
    if not _is_duckdb_read_error(error) or is_disk_full(error):
        return None
    text = str(error)
    for path in paths:
        if str(path) in text:
            return damaged_file(path)
    return None


def _is_duckdb_read_error(error: BaseException) -> bool:
    kind = type(error)
    if kind.__module__.split(".")[0] in ("duckdb", "_duckdb"):
        return kind.__name__ in _DUCKDB_READ_ERRORS
    # errors met while streaming reach Arrow's reader as an OSError or ArrowException with DuckDB's text
    return isinstance(error, (OSError, ValueError)) and str(error).startswith(("Invalid Input Error", "IO Error"))


def damaged_file(path: Path) -> DamagedFileError:
    """The error for the unreadable (or missing) file ``path``, named relative to its workspace."""
    path = Path(path).absolute()
    root = _workspace_of(path)
    parts = path.relative_to(root).parts if root is not None else ()
    shown = "/".join(parts) if parts else str(path)
    return DamagedFileError(shown, _remake_hint(parts), missing=not path.exists())


def _workspace_of(path: Path) -> Path | None:
    for folder in path.parents:
        if (folder / _CATALOG_FILE).is_file():
            return folder
    return None


def _remake_hint(parts: tuple[str, ...]) -> str:
    """Which command writes the file at ``parts`` (relative to the workspace; layout in workspace.py)."""
    top, name = (parts[0], parts[1]) if len(parts) > 2 else ("", "")
    if top == "datasets":
        return f"ingest dataset '{name}' again from its source: recsys ingest ... --name {name} --replace"
    if top == "splits" and len(parts) > 3:
        return f"make the split again with its options: recsys split {name} --name {parts[2]} --strategy ... --replace"
    if top == "runs" and len(parts) == 4:  # runs/<run>/<generation>/<file>: the trained model
        return f"train run '{name}' again: recsys train candidates ... --run {name} --force"
    if top == "runs":  # runs/<run>/<kind>/<generation>/...: built from the run
        return f"make the {parts[2]} of run '{name}' again (or train the run again with --force)"
    if top == "pipelines":
        return f"run the recipe again: recsys run RECIPE --run {name}"
    return "run the command again"


# -- a full disk ---------------------------------------------------------------------------------------
def is_disk_full(error: BaseException) -> bool:
    """ENOSPC or EDQUOT from Python or pyarrow (errno), or from DuckDB (only in its message)."""
    if isinstance(error, OSError) and error.errno in _NO_SPACE:
        return True
    kind = type(error)
    if kind.__module__.split(".")[0] in ("duckdb", "_duckdb") or isinstance(error, OSError):
        return any(text in str(error) for text in _NO_SPACE_TEXT)
    return False


@contextmanager
def naming_full_disk(root: Path) -> Iterator[None]:
    """Around writes into the workspace at ``root``: a full disk is a DiskFullError naming the workspace."""
    try:
        yield
    except Exception as error:
        if is_disk_full(error):
            raise DiskFullError(root) from None
        raise
