"""Read any interaction file (CSV, TSV, ``::``-separated, Parquet) into ``raw_interactions``.

Parsing is DuckDB's (no Python loops over lines). Bad lines are collected
with DuckDB's reject tables so the error can name the line, and
``on_bad_lines='skip'`` can say how many were dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from recsys_cli.data.canonical import sql_path
from recsys_cli.errors import FormatError, InputFileError, InvalidParameterError, MalformedLineError

BAD_LINE_MODES = ("error", "skip")
_TIME_TYPES = ("TIMESTAMP", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")


@dataclass
class ColumnMapping:
    """Which of the file's columns hold what: a name, or a 1-based position."""

    user: str
    item: str
    rating: str | None = None
    timestamp: str | None = None


@dataclass
class CsvDialect:
    sep: str | None = None  # None: let DuckDB's sniffer decide
    header: bool | None = None  # None: sniffed
    encoding: str = "utf-8"
    quote: str | None = None  # "" turns quoting off (MovieLens .dat files)
    columns: list[str] | None = None  # names for a headerless file


@dataclass
class LoadReport:
    rows: int = 0
    bad_lines_skipped: int = 0
    notes: list[str] = field(default_factory=list)


def check_readable(path: Path, what: str = "file") -> None:
    if not path.exists():
        raise InputFileError(f"{what} not found: {path}", "check the path (relative paths are from the current folder)")
    if path.is_dir():
        raise InputFileError(f"{what} is a folder, not a file: {path}")
    if path.stat().st_size == 0:
        raise InputFileError(f"{what} is empty: {path}", "the file has no bytes; was a download or export cut short?")


def is_parquet(path: Path) -> bool:
    if path.suffix.lower() in (".parquet", ".pq"):
        return True
    with open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


def csv_options(dialect: CsvDialect) -> str:
    options = [f"encoding = '{dialect.encoding}'"]
    if dialect.sep is not None:
        options.append(f"sep = {_literal(dialect.sep)}")
    if dialect.header is not None:
        options.append(f"header = {'true' if dialect.header else 'false'}")
    if dialect.quote is not None:
        options.append(f"quote = {_literal(dialect.quote)}")
        if dialect.quote == "":
            options.append("escape = ''")
    return ", ".join(options)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sniff_columns(con, path: Path, dialect: CsvDialect) -> list[tuple[str, str]]:
    """(name, type) of each column as DuckDB's sniffer sees them."""
    import duckdb

    try:
        rows = con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_csv({sql_path(path)},"
            f" {csv_options(dialect)}, ignore_errors = true))"
        ).fetchall()
    except duckdb.Error as exc:
        raise FormatError(f"cannot parse {path.name}: {_first_line(exc)}") from None
    if dialect.columns is not None:
        if len(rows) != len(dialect.columns):
            raise FormatError(
                f"{path.name} has {len(rows)} columns, expected {len(dialect.columns)} ({', '.join(dialect.columns)})",
                "is this the right file for this dataset, with the right separator?",
            )
        rows = [(name, typ) for name, (_old, typ) in zip(dialect.columns, rows)]
    return rows


def resolve_column(spec: str, columns: list[str], flag: str) -> str:
    if spec.isdigit():
        position = int(spec)
        if not 1 <= position <= len(columns):
            raise FormatError(
                f"{flag} {spec}: the file has only {len(columns)} columns", f"columns are: {', '.join(columns)}"
            )
        return columns[position - 1]
    if spec in columns:
        return spec
    lowered = {c.lower(): c for c in columns}
    if spec.lower() in lowered:
        return lowered[spec.lower()]
    raise FormatError(
        f"{flag} '{spec}' is not a column of the file",
        f"columns are: {', '.join(columns)} (or give a 1-based position)",
    )


def load_interactions(
    con,
    path: Path,
    mapping: ColumnMapping,
    dialect: CsvDialect | None = None,
    on_bad_lines: str = "error",
    into: str = "raw_interactions",
) -> LoadReport:
    """Create table ``into`` (user_id, item_id, rating DOUBLE, ts BIGINT) from ``path``."""
    if on_bad_lines not in BAD_LINE_MODES:
        raise InvalidParameterError(f"--on-bad-lines must be one of {', '.join(BAD_LINE_MODES)}, not '{on_bad_lines}'")
    check_readable(path)
    dialect = dialect or CsvDialect()
    if is_parquet(path):
        return _load_parquet(con, path, mapping, into)
    sniffed = sniff_columns(con, path, dialect)
    names = [n for n, _ in sniffed]
    types = dict(sniffed)
    try:
        user = resolve_column(mapping.user, names, "--user-col")
        item = resolve_column(mapping.item, names, "--item-col")
        rating = resolve_column(mapping.rating, names, "--rating-col") if mapping.rating else None
        ts = resolve_column(mapping.timestamp, names, "--timestamp-col") if mapping.timestamp else None
    except FormatError:
        if _line_count(path) <= 1:  # the sniffer cannot tell a lone header from a data row
            raise FormatError(f"{path.name} holds no interactions", "the file has at most one line (a header?)") from None
        raise

    def id_type(column: str) -> str:
        return "BIGINT" if types[column] in _INTEGER_TYPES else "VARCHAR"

    ts_is_time = ts is not None and types[ts] in _TIME_TYPES
    column_types = {name: "VARCHAR" for name in names}
    column_types[user] = id_type(user)
    column_types[item] = id_type(item)
    if rating:
        column_types[rating] = "DOUBLE"
    if ts:
        column_types[ts] = "TIMESTAMP" if ts_is_time else "DOUBLE"

    report = LoadReport()
    rejects = _read_csv(con, path, dialect, names, column_types, user, item, rating, ts, ts_is_time, into)
    if rejects and any(r[1] in (user, item) and r[2] == "CAST" for r in rejects):
        # The sniffer saw integer ids in its sample but the file has text ids further down.
        column_types[user] = column_types[item] = "VARCHAR"
        rejects = _read_csv(con, path, dialect, names, column_types, user, item, rating, ts, ts_is_time, into)
    if rejects:
        lines = sorted({r[0] for r in rejects})
        if on_bad_lines == "error":
            line, column, kind, text, message = min(rejects, key=lambda r: r[0])
            raise MalformedLineError(_describe_reject(path, line, column, kind, text, message, rating, ts), line)
        report.bad_lines_skipped = len(lines)
        report.notes.append(f"skipped {len(lines)} malformed line(s) of {path.name} (first: line {lines[0]})")
    nulls = con.execute(f"SELECT count(*) FROM {into} WHERE user_id IS NULL OR item_id IS NULL").fetchone()[0]
    if nulls:
        if on_bad_lines == "error":
            raise MalformedLineError(
                f"{path.name}: {nulls} line(s) have an empty user or item id", 0
            )
        con.execute(f"DELETE FROM {into} WHERE user_id IS NULL OR item_id IS NULL")
        report.bad_lines_skipped += nulls
        report.notes.append(f"skipped {nulls} line(s) of {path.name} with an empty user or item id")
    report.rows = con.execute(f"SELECT count(*) FROM {into}").fetchone()[0]
    if report.rows == 0:
        raise FormatError(f"{path.name} holds no interactions", "the file has a header or bad lines but no data rows")
    return report


def _read_csv(con, path, dialect, names, column_types, user, item, rating, ts, ts_is_time, into) -> list[tuple]:
    import duckdb

    types_sql = "{" + ", ".join(f"{_literal(n)}: '{t}'" for n, t in column_types.items()) + "}"
    header_flag = dialect.header
    options = csv_options(CsvDialect(dialect.sep, header_flag, dialect.encoding, dialect.quote))
    rating_sql = f'"{rating}"' if rating else "1.0"
    if ts is None:
        ts_sql = "0"
    elif ts_is_time:
        ts_sql = f'epoch("{ts}")::BIGINT'
    else:
        ts_sql = f'"{ts}"::BIGINT'
    if dialect.columns is not None or header_flag is False:
        names_sql = ", names = [" + ", ".join(_literal(n) for n in names) + "]"
    else:
        names_sql = ""
    try:
        con.execute("DROP TABLE IF EXISTS reject_errors")
        con.execute("DROP TABLE IF EXISTS reject_scans")
        con.execute(
            f"CREATE OR REPLACE TABLE {into} AS SELECT \"{user}\" AS user_id, \"{item}\" AS item_id,"
            f" {rating_sql}::DOUBLE AS rating, {ts_sql} AS ts"
            f" FROM read_csv({sql_path(path)}, {options}{names_sql}, types = {types_sql},"
            f" store_rejects = true, ignore_errors = true, null_padding = false)"
        )
        return con.execute(
            "SELECT line, column_name, error_type, csv_line, error_message FROM reject_errors ORDER BY line"
        ).fetchall()
    except duckdb.Error as exc:
        raise FormatError(f"cannot parse {path.name}: {_first_line(exc)}") from None


def _describe_reject(path, line, column, kind, text, message, rating, ts) -> str:
    snippet = (text or "").strip()
    if len(snippet) > 60:
        snippet = snippet[:57] + "..."
    if kind == "CAST" and column == rating:
        what = f"rating is not a number ({snippet!r})"
    elif kind == "CAST" and column == ts:
        what = f"timestamp is not a number or a date ({snippet!r})"
    elif kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
        what = f"{_first_line(message).lower()} ({snippet!r})"
    else:
        what = f"{_first_line(message)} ({snippet!r})"
    return f"{path.name} line {line}: {what}"


def _load_parquet(con, path: Path, mapping: ColumnMapping, into: str) -> LoadReport:
    import duckdb

    try:
        described = con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet({sql_path(path)}))"
        ).fetchall()
    except duckdb.Error as exc:
        raise FormatError(f"cannot read {path.name} as Parquet: {_first_line(exc)}") from None
    names = [n for n, _ in described]
    types = dict(described)
    user = resolve_column(mapping.user, names, "--user-col")
    item = resolve_column(mapping.item, names, "--item-col")
    rating = resolve_column(mapping.rating, names, "--rating-col") if mapping.rating else None
    ts = resolve_column(mapping.timestamp, names, "--timestamp-col") if mapping.timestamp else None
    if ts is None:
        ts_sql = "0"
    elif types[ts] in _TIME_TYPES:
        ts_sql = f'epoch("{ts}")::BIGINT'
    else:
        ts_sql = f'TRY_CAST("{ts}" AS BIGINT)'
    rating_sql = f'TRY_CAST("{rating}" AS DOUBLE)' if rating else "1.0"
    con.execute(
        f"CREATE OR REPLACE TABLE {into} AS SELECT \"{user}\" AS user_id, \"{item}\" AS item_id,"
        f" {rating_sql} AS rating, {ts_sql} AS ts FROM read_parquet({sql_path(path)})"
    )
    for column, label in ((rating, "rating"), (ts, "ts")):
        if column is None:
            continue
        bad = con.execute(f"SELECT count(*) FROM {into} WHERE {label} IS NULL").fetchone()[0]
        if bad:
            raise FormatError(f"{path.name}: {bad} row(s) have a non-numeric or missing {column}")
    report = LoadReport(rows=con.execute(f"SELECT count(*) FROM {into}").fetchone()[0])
    if report.rows == 0:
        raise FormatError(f"{path.name} holds no interactions")
    return report


def _line_count(path: Path, limit: int = 2) -> int:
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                count += 1
                if count >= limit:
                    break
    return count


def _first_line(exc: BaseException | str) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
