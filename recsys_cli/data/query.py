"""Read-only SQL over everything the catalog registers.

A fresh in-memory DuckDB gets, for each dataset, a schema of the same name
with views over its Parquet files::

    "<dataset>".interactions   user_idx, item_idx, rating, ts
    "<dataset>".items          item_idx, item_id, title, year, genres, ...
    "<dataset>".users          user_idx, user_id, demographics ...
    "<dataset>".user_vocab / item_vocab
    "<dataset>".splits         split, part ('train'|'val'|'test'), user_idx, item_idx, rating, ts

and ``catalog.datasets`` / ``catalog.splits`` with the catalog's rows. With
one dataset (or ``dataset=``) its schema is the default, so ``SELECT count(*)
FROM interactions`` works. Only SELECT statements run, and DuckDB is locked
to reading files inside the workspace, so a query can neither change the
workspace nor reach anything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys_cli.data.canonical import (
    INTERACTIONS_FILE,
    ITEM_VOCAB_FILE,
    ITEMS_FILE,
    USER_VOCAB_FILE,
    USERS_FILE,
    sql_path,
    to_arrow,
)
from recsys_cli.data.faults import damaged_in_duckdb, is_disk_full
from recsys_cli.data.sqltext import first_line, sql_ident, sql_literal
from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import DiskFullError, SqlError, UnknownNameError

SPLIT_PARTS = ("train", "val", "test")
_ALLOWED = {"SELECT", "EXPLAIN"}


@dataclass
class QueryResult:
    columns: list[str]  # unique: a repeated name gets a suffix (a, a_2)
    rows: list[tuple[Any, ...]]
    truncated: bool = False


def open_views(workspace: Workspace, dataset: str | None = None, *, spill: Path | None = None):
    """An in-memory DuckDB connection with the workspace's views, locked to reading. DuckDB spills to
    ``spill`` (a scratch folder in the workspace), or nowhere: its default is ``.tmp`` in the current
    folder, which a locked connection may still read. Returns the connection, the dataset names, the
    default schema and every file the views read."""
    import duckdb

    with workspace.catalog() as catalog:
        datasets = catalog.datasets()
        splits = catalog.splits()
        dataset_rows = to_arrow(catalog.con.sql("SELECT * FROM datasets ORDER BY name"))
        split_rows = to_arrow(catalog.con.sql("SELECT * FROM splits ORDER BY dataset, name"))
    names = [d.name for d in datasets]
    if dataset is not None and dataset not in names:
        raise UnknownNameError("dataset", dataset, names)
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "temp_directory": str(spill) if spill is not None else "",
        }
    )
    try:
        files = _create_views(con, workspace, datasets, splits, dataset_rows, split_rows)
        default = dataset or (names[0] if len(names) == 1 else None)
        if default is not None:
            con.execute(f"USE {sql_ident(default)}")
        # only the top folders the views read (datasets/, splits/), not the whole workspace: DuckDB 1.2
        # refuses a file under an allowed folder that holds another allowed one (the spill folder)
        tops = sorted({Path(file).relative_to(workspace.root).parts[0] for file in files})
        allowed = ", ".join(sql_literal(str(workspace.root / top) + "/") for top in tops)
        con.execute(f"SET allowed_directories = [{allowed}]")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con, names, default, files


def _create_views(con, workspace: Workspace, datasets, splits, dataset_rows, split_rows) -> list[Path]:
    """The catalog tables and each dataset's schema of views; returns every file the views read."""
    con.execute("CREATE SCHEMA catalog")
    con.register("_datasets", dataset_rows)
    con.register("_splits", split_rows)
    con.execute("CREATE TABLE catalog.datasets AS SELECT * FROM _datasets")
    con.execute("CREATE TABLE catalog.splits AS SELECT * FROM _splits")
    con.unregister("_datasets")
    con.unregister("_splits")
    files: list[Path] = []
    for record in datasets:
        schema = sql_ident(record.name)
        base = workspace.resolve(record.path)
        con.execute(f"CREATE SCHEMA {schema}")
        for view, file in (
            ("interactions", INTERACTIONS_FILE),
            ("items", ITEMS_FILE),
            ("users", USERS_FILE),
            ("user_vocab", USER_VOCAB_FILE),
            ("item_vocab", ITEM_VOCAB_FILE),
        ):
            files.append(base / file)
            _create_view(con, f"{schema}.{view}", f"SELECT * FROM read_parquet({sql_path(base / file)})", [base / file])
        split_files = [
            (s.name, part, workspace.resolve(s.path) / f"{part}.parquet")
            for s in splits
            if s.dataset == record.name
            for part in SPLIT_PARTS
        ]
        parts = [
            f"SELECT {sql_literal(name)} AS split, {sql_literal(part)} AS part, * FROM read_parquet({sql_path(path)})"
            for name, part, path in split_files
        ] or [
            "SELECT NULL::VARCHAR AS split, NULL::VARCHAR AS part, NULL::INTEGER AS user_idx,"
            " NULL::INTEGER AS item_idx, NULL::FLOAT AS rating, NULL::BIGINT AS ts WHERE false"
        ]
        files.extend(path for _, _, path in split_files)
        _create_view(con, f"{schema}.splits", " UNION ALL ".join(parts), [path for _, _, path in split_files])
    return files


def _create_view(con, name: str, select: str, files: list[Path]) -> None:
    """DuckDB reads each file's footer here: one it cannot parse is a damaged workspace file."""
    import duckdb

    try:
        con.execute(f"CREATE VIEW {name} AS {select}")
    except duckdb.Error as exc:
        damaged = damaged_in_duckdb(exc, files)
        if damaged is not None:
            raise damaged from None
        raise


def run_query(workspace: Workspace, sql: str, *, dataset: str | None = None, limit: int | None = None) -> QueryResult:
    """Run one read-only statement; with ``limit``, fetch at most ``limit`` rows and say if there were more."""
    # Held from before the catalog is read until the last row is fetched: no
    # writer deletes a generation this query's views point at meanwhile.
    with workspace.reading(), workspace.scratch_for_reading("sql") as spill:
        return _run(workspace, sql, dataset, limit, spill)


def _run(workspace: Workspace, sql: str, dataset: str | None, limit: int | None, spill: Path | None = None):
    import duckdb
    import pyarrow as pa

    con, names, default, files = open_views(workspace, dataset, spill=spill)
    try:
        try:
            statements = con.extract_statements(sql)
        except duckdb.Error as exc:
            raise SqlError(f"SQL syntax error: {first_line(exc)}", "check the query") from None
        if len(statements) != 1:
            raise SqlError(f"expected one statement, got {len(statements)}", "run one query at a time")
        kind = statements[0].type.name
        if kind not in _ALLOWED:
            raise SqlError(f"only read-only queries are allowed, not {kind}")
        try:
            # Arrow, not fetchall(): DuckDB's Python conversion of TIMESTAMPTZ needs pytz,
            # which is no dependency of ours; Arrow's uses zoneinfo.
            reader = _arrow_reader(con.sql(sql), limit + 1 if limit is not None else 100_000)
            columns = unique_names(reader.schema.names)
            rows: list[tuple[Any, ...]] = []
            for batch in reader:  # a stream: stop reading once there is one row too many
                rows.extend(zip(*(_values(column) for column in batch.columns)))
                if limit is not None and len(rows) > limit:
                    break
        except (duckdb.Error, OSError, pa.ArrowException) as exc:
            # an error met while streaming (error(), a failed cast in row 5000) comes
            # through Arrow as an OSError or ArrowException carrying DuckDB's message
            if is_disk_full(exc):  # DuckDB spilling into the workspace's scratch
                raise DiskFullError(workspace.root) from None
            damaged = damaged_in_duckdb(exc, files)
            if damaged is not None:
                raise damaged from None
            raise SqlError(first_line(exc), _hint_for(exc, names, default)) from None
    finally:
        con.close()
    truncated = limit is not None and len(rows) > limit
    return QueryResult(columns, rows[:limit] if truncated else rows, truncated)


def _arrow_reader(relation, batch_size: int):
    """A streaming pyarrow RecordBatchReader (the method's name changed in DuckDB 1.4)."""
    method = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
    return method(batch_size)


def _values(column) -> list[Any]:
    import pyarrow as pa

    if pa.types.is_decimal(column.type) and column.type.scale == 0:
        # HUGEINT, and sum() of integers, arrive as 38-digit decimals: give back the integers
        return [None if v is None else int(v) for v in column.to_pylist()]
    try:
        return column.to_pylist()
    except (ValueError, OverflowError):
        # a date beyond Python's year 9999 ('infinity'::DATE) cannot be a datetime: keep it as text
        return [_scalar(v) for v in column]


def _scalar(value) -> Any:
    import pyarrow as pa

    try:
        return value.as_py()
    except (ValueError, OverflowError):
        return value.cast(pa.string()).as_py()


def unique_names(names: list[str]) -> list[str]:
    """Column names made unique, in order: a repeated ``a`` becomes ``a_2``, ``a_3``...

    SQL allows ``SELECT 1 AS a, 2 AS a``, but JSON objects and CSV readers
    keep only one of each name, so every output format gets the renamed ones.
    """
    taken = set(names)
    seen: set[str] = set()
    out = []
    for name in names:
        if name in seen:
            n = 2
            while f"{name}_{n}" in taken:
                n += 1
            name = f"{name}_{n}"
            taken.add(name)
        seen.add(name)
        out.append(name)
    return out


def _hint_for(exc: Exception, names: list[str], default: str | None) -> str:
    text = str(exc)
    if "does not exist" in text and "Table" in text and default is None and names:
        example = names[0]
        return (
            f'there are {len(names)} datasets: qualify the view, e.g. "{example}".interactions,'
            f" or pass --dataset {example}"
        )
    if "does not exist" in text and "Table" in text:
        return (
            "views: interactions, items, users, user_vocab, item_vocab, splits (per dataset schema), "
            "catalog.datasets, catalog.splits"
        )
    if "Permission" in text or "disabled by configuration" in text:
        return "queries may read only the workspace's own files"
    return "check the query"
