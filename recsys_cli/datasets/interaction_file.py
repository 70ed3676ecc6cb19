"""Read any interaction file (CSV, TSV, ``::``-separated, Parquet) into ``raw_interactions``.

Parsing is DuckDB's (no Python loops over lines). Lines that do not parse
are collected with DuckDB's reject tables so the error can name the line,
and ``on_bad_lines='skip'`` can say how many were dropped. Then CSV and
Parquet share one check of the loaded rows: an empty user or item id, a
missing or non-finite rating, a missing or unreadable timestamp make a row
bad, because the canonical writer would drop it (ids) or store garbage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from recsys_cli.data.canonical import sql_path
from recsys_cli.data.sqltext import first_line, sql_ident, sql_literal
from recsys_cli.errors import FormatError, InputFileError, InvalidParameterError, MalformedLineError

BAD_LINE_MODES = ("error", "skip")
_TIME_TYPES = ("TIMESTAMP", "DATE", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S")
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT")
_NUMBER_TYPES = _INTEGER_TYPES + ("FLOAT", "DOUBLE", "REAL")
# the value in a reject's message, the same in DuckDB 1.2 to 2.0; if it changes, lines go unnamed
_CAST_VALUE = re.compile(r'Could not convert string "(.*)" to ', re.S)
# DuckDB's reject type for bytes that are not text in the encoding (named INVALID UNICODE before 1.3)
_ENCODING_REJECTS = ("INVALID ENCODING", "INVALID UNICODE")
_ENCODING_HINT = "if the file is in another encoding than utf-8, name it: --encoding latin-1 or --encoding utf-16"
_ROLES = (("user", "--user-col"), ("item", "--item-col"), ("rating", "--rating-col"), ("timestamp", "--timestamp-col"))


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


@dataclass
class _Columns:
    """The file's columns that play each role (None: the file has no such column)."""

    user: str
    item: str
    rating: str | None
    ts: str | None


def check_bad_lines_mode(value: str) -> None:
    if value not in BAD_LINE_MODES:
        raise InvalidParameterError(f"--on-bad-lines must be one of {', '.join(BAD_LINE_MODES)}, not '{value}'")


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
    options = [f"encoding = {sql_literal(dialect.encoding)}"]
    if dialect.sep is not None:
        options.append(f"sep = {sql_literal(dialect.sep)}")
    if dialect.header is not None:
        options.append(f"header = {'true' if dialect.header else 'false'}")
    if dialect.quote is not None:
        options.append(f"quote = {sql_literal(dialect.quote)}")
        if dialect.quote == "":
            options.append("escape = ''")
    return ", ".join(options)


def sniff_columns(con, path: Path, dialect: CsvDialect) -> list[tuple[str, str]]:
    """(name, type) of each column as DuckDB's sniffer sees them."""
    import duckdb

    try:
        rows = con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_csv({sql_path(path)},"
            f" {csv_options(dialect)}, ignore_errors = true))"
        ).fetchall()
    except duckdb.Error as exc:
        raise FormatError(f"cannot parse {path.name}: {first_line(exc)}") from None
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


def resolve_mapping(mapping: ColumnMapping, columns: list[str]) -> _Columns:
    """The column of each role; one column cannot play two roles (a user id is no rating)."""
    specs = (mapping.user, mapping.item, mapping.rating, mapping.timestamp)
    resolved: dict[str, str | None] = {}
    for (role, flag), spec in zip(_ROLES, specs):
        column = resolve_column(spec, columns, flag) if spec else None
        if column is not None:
            for other, taken in resolved.items():
                if taken == column:
                    raise FormatError(
                        f"column '{column}' is used for both {other} and {role}",
                        "give --user-col, --item-col, --rating-col and --timestamp-col different columns",
                    )
        resolved[role] = column
    return _Columns(resolved["user"], resolved["item"], resolved["rating"], resolved["timestamp"])


def load_interactions(
    con,
    path: Path,
    mapping: ColumnMapping,
    dialect: CsvDialect | None = None,
    on_bad_lines: str = "error",
    into: str = "raw_interactions",
) -> LoadReport:
    """Create table ``into`` (user_id, item_id, rating DOUBLE, ts BIGINT) from ``path``.

    Every row of ``into`` has both ids, a finite rating and a timestamp, so
    the canonical files hold exactly the rows the statistics count.
    """
    check_bad_lines_mode(on_bad_lines)
    check_readable(path)
    dialect = dialect or CsvDialect()
    if is_parquet(path):
        report = _load_parquet(con, path, mapping, dialect, on_bad_lines, into)
    else:
        try:
            report = _load_csv(con, path, mapping, dialect, on_bad_lines, into)
        except FormatError as error:
            raise _encoding_error(path, dialect) or error from None
    report.rows = con.execute(f"SELECT count(*) FROM {into}").fetchone()[0]
    if report.rows == 0:
        raise FormatError(f"{path.name} holds no interactions", "the file has a header or bad lines but no data rows")
    return report


# -- CSV ----------------------------------------------------------------------------------------
def _load_csv(con, path: Path, mapping: ColumnMapping, dialect: CsvDialect, on_bad_lines: str, into: str) -> LoadReport:
    sniffed = sniff_columns(con, path, dialect)
    names = [n for n, _ in sniffed]
    types = dict(sniffed)
    try:
        cols = resolve_mapping(mapping, names)
    except FormatError:
        if _line_count(path) <= 1:  # the sniffer cannot tell a lone header from a data row
            raise FormatError(
                f"{path.name} holds no interactions", "the file has at most one line (a header?)"
            ) from None
        raise

    def id_type(column: str) -> str:
        return "BIGINT" if types[column] in _INTEGER_TYPES else "VARCHAR"

    column_types = {name: "VARCHAR" for name in names}
    column_types[cols.user] = id_type(cols.user)
    column_types[cols.item] = id_type(cols.item)
    if cols.rating:
        column_types[cols.rating] = "DOUBLE"
    if cols.ts:
        # number or time: DuckDB parses the column while reading (fast); text: the
        # values are converted in SQL, a number if they are one, else a date
        sniffed_ts = types[cols.ts]
        column_types[cols.ts] = (
            "DOUBLE" if sniffed_ts in _NUMBER_TYPES else "TIMESTAMP" if sniffed_ts in _TIME_TYPES else "VARCHAR"
        )

    for _attempt in range(3):
        rejects = _read_csv(con, path, dialect, names, column_types, cols, into)
        cast_failures = {r[1] for r in rejects if r[2] == "CAST"}
        retry = False
        if cast_failures & {cols.user, cols.item} and "BIGINT" in (column_types[cols.user], column_types[cols.item]):
            # The sniffer saw integer ids in its sample but the file has text ids further down.
            column_types[cols.user] = column_types[cols.item] = "VARCHAR"
            retry = True
        if cols.ts in cast_failures and column_types[cols.ts] != "VARCHAR":
            # epochs in a column sniffed as dates, or dates below a sample of epochs
            column_types[cols.ts] = "VARCHAR"
            retry = True
        if not retry:
            break

    report = LoadReport()
    reject_lines = sorted({r[0] for r in rejects})
    problems = _row_problems(con, into, cols)
    if on_bad_lines == "error":
        located = list(rejects)
        if problems.get("ts") and column_types[cols.ts] == "VARCHAR":
            located += _unreadable_ts_lines(con, path, dialect, names, column_types, cols.ts, set(reject_lines))
        if located:
            line, column, kind, text, message = min(located, key=lambda r: r[0])
            hint = _ENCODING_HINT if kind in _ENCODING_REJECTS else None
            raise MalformedLineError(_describe_reject(path, line, column, kind, text, message, cols), line, hint)
        _raise_for_rows(path, problems, "line(s)")
    if reject_lines:
        report.bad_lines_skipped = len(reject_lines)
        not_text = len({r[0] for r in rejects if r[2] in _ENCODING_REJECTS})
        encoding = f"; {not_text} not {dialect.encoding} text: {_ENCODING_HINT}" if not_text else ""
        report.notes.append(
            f"skipped {len(reject_lines)} malformed line(s) of {path.name} (first: line {reject_lines[0]}{encoding})"
        )
    _drop_bad_rows(con, into, path, problems, "line(s)", report)
    return report


def _ts_sql(column: str, read_as: str) -> str:
    """BIGINT epoch seconds from a column read as DOUBLE, a time type or VARCHAR; NULL when unreadable."""
    ident = sql_ident(column)
    if read_as in _NUMBER_TYPES or read_as == "DECIMAL" or read_as.startswith("DECIMAL("):
        return f"TRY_CAST({ident} AS BIGINT)"  # NaN, infinities and overflow: NULL, a bad row
    if read_as in _TIME_TYPES:
        return f"TRY_CAST(epoch({ident}) AS BIGINT)"
    text = ident if read_as == "VARCHAR" else f"{ident}::VARCHAR"
    return (
        f"coalesce(TRY_CAST(TRY_CAST({text} AS DOUBLE) AS BIGINT),"
        f" TRY_CAST(epoch(TRY_CAST({text} AS TIMESTAMP)) AS BIGINT))"
    )


def _csv_source(path: Path, dialect: CsvDialect, names: list[str], column_types: dict[str, str]) -> str:
    types_sql = "{" + ", ".join(f"{sql_literal(n)}: {sql_literal(t)}" for n, t in column_types.items()) + "}"
    options = csv_options(CsvDialect(dialect.sep, dialect.header, dialect.encoding, dialect.quote))
    if dialect.columns is not None or dialect.header is False:
        options += ", names = [" + ", ".join(sql_literal(n) for n in names) + "]"
    return (
        f"read_csv({sql_path(path)}, {options}, types = {types_sql},"
        f" store_rejects = true, ignore_errors = true, null_padding = false)"
    )


def _scan(con, path: Path, statement: str) -> list[tuple]:
    """Run ``statement`` (which reads the CSV with store_rejects) and return the rejected lines."""
    import duckdb

    try:
        con.execute("DROP TABLE IF EXISTS reject_errors")
        con.execute("DROP TABLE IF EXISTS reject_scans")
        con.execute(statement).fetchall()  # a SELECT runs only when fetched
        return con.execute(
            "SELECT line, column_name, error_type, csv_line, error_message FROM reject_errors ORDER BY line"
        ).fetchall()
    except duckdb.Error as exc:
        raise FormatError(f"cannot parse {path.name}: {first_line(exc)}") from None


def _read_csv(con, path, dialect, names, column_types, cols: _Columns, into: str) -> list[tuple]:
    rating_sql = f"{sql_ident(cols.rating)}::DOUBLE" if cols.rating else "1.0::DOUBLE"
    ts_sql = _ts_sql(cols.ts, column_types[cols.ts]) if cols.ts else "0::BIGINT"
    return _scan(
        con,
        path,
        f"CREATE OR REPLACE TABLE {into} AS SELECT {sql_ident(cols.user)} AS user_id, "
        f"{sql_ident(cols.item)} AS item_id, {rating_sql} AS rating, {ts_sql} AS ts "
        f"FROM {_csv_source(path, dialect, names, column_types)}",
    )


def _unreadable_ts_lines(con, path, dialect, names, column_types, ts: str, known: set[int]) -> list[tuple]:
    """Rejects for the lines whose timestamp is neither a number nor a date (run on the way to an error).

    DuckDB names lines only for values its reader fails to cast, so the file
    is read once more with the column typed as what most of its values are
    (a line rejected by a reader is slow: the minority type keeps them few),
    and the value in each rejected line goes through the load's conversion.
    """
    ident = sql_ident(ts)
    numbers, times = con.execute(
        f"SELECT count(TRY_CAST({ident} AS DOUBLE)), count(TRY_CAST({ident} AS TIMESTAMP))"
        f" FROM {_csv_source(path, dialect, names, column_types)}"
    ).fetchone()
    read_as = "DOUBLE" if numbers >= times else "TIMESTAMP"
    source = _csv_source(path, dialect, names, column_types | {ts: read_as})
    rejects = _scan(con, path, f"SELECT count({ident}) FROM {source}")
    candidates = []
    for reject in rejects:
        match = _CAST_VALUE.search(reject[4] or "")
        if reject[1] == ts and reject[2] == "CAST" and reject[0] not in known and match:
            candidates.append((reject, match.group(1)))
    if not candidates:
        return []
    failed = con.execute(
        f"SELECT i FROM (SELECT generate_subscripts($1::VARCHAR[], 1) AS i, unnest($1::VARCHAR[]) AS t)"
        f" WHERE {_ts_sql('t', 'VARCHAR')} IS NULL ORDER BY i",
        [[value for _reject, value in candidates]],
    ).fetchall()
    return [candidates[i - 1][0] for (i,) in failed]


def _describe_reject(path, line, column, kind, text, message, cols: _Columns) -> str:
    snippet = (text or "").strip()
    if len(snippet) > 60:
        snippet = snippet[:57] + "..."
    if kind == "CAST" and column == cols.rating:
        what = f"rating is not a number ({snippet!r})"
    elif kind == "CAST" and column == cols.ts:
        what = f"timestamp is not a number or a date ({snippet!r})"
    elif kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
        what = f"{first_line(message).lower()} ({snippet!r})"
    else:
        what = f"{first_line(message)} ({snippet!r})"
    return f"{path.name} line {line}: {what}"


# -- checks shared by CSV and Parquet -----------------------------------------------------------
# (key, condition on a raw_interactions row, what it says about the row)
_ROW_CHECKS = (
    ("ids", "user_id IS NULL OR item_id IS NULL", "an empty user or item id"),
    ("rating", "rating IS NULL OR NOT isfinite(rating)", "a missing or non-finite rating"),
    ("ts", "ts IS NULL", "a missing timestamp, or one that is neither a number nor a date"),
)


def _active_checks(cols: _Columns) -> list[tuple[str, str, str]]:
    return [c for c in _ROW_CHECKS if c[0] == "ids" or (c[0] == "rating" and cols.rating) or (c[0] == "ts" and cols.ts)]


def _row_problems(con, table: str, cols: _Columns) -> dict[str, int]:
    """How many rows fail each check, each row counted once (under its first failed check); one scan."""
    checks = _active_checks(cols)
    counts = []
    for i, (_key, condition, _what) in enumerate(checks):
        earlier = " OR ".join(f"({c[1]})" for c in checks[:i])
        counts.append(f"count(*) FILTER (WHERE ({condition})" + (f" AND NOT ({earlier}))" if earlier else ")"))
    row = con.execute(f"SELECT {', '.join(counts)} FROM {table}").fetchone()
    return {key: int(n) for (key, _c, _w), n in zip(checks, row) if n}


def _raise_for_rows(path: Path, problems: dict[str, int], unit: str) -> None:
    for key, _condition, what in _ROW_CHECKS:
        if problems.get(key):
            raise MalformedLineError(f"{path.name}: {problems[key]} {unit} have {what}", 0)


def _drop_bad_rows(con, table: str, path: Path, problems: dict[str, int], unit: str, report: LoadReport) -> None:
    for key, condition, what in _ROW_CHECKS:
        if problems.get(key):
            con.execute(f"DELETE FROM {table} WHERE {condition}")
            report.bad_lines_skipped += problems[key]
            report.notes.append(f"skipped {problems[key]} {unit} of {path.name} with {what}")


# -- Parquet ------------------------------------------------------------------------------------
def _load_parquet(
    con, path: Path, mapping: ColumnMapping, dialect: CsvDialect, on_bad_lines: str, into: str
) -> LoadReport:
    import duckdb

    report = LoadReport()
    given = (
        ("--sep", dialect.sep is not None),
        ("--header/--no-header", dialect.header is not None),
        ("--encoding", dialect.encoding.lower() not in ("utf-8", "utf8")),
    )
    ignored = [flag for flag, was_given in given if was_given]
    if ignored:
        report.notes.append(f"ignored {', '.join(ignored)}: {path.name} is a Parquet file, which says its own layout")
    source = f"read_parquet({sql_path(path)})"
    try:
        described = con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {source})").fetchall()
    except duckdb.Error as exc:
        raise FormatError(f"cannot read {path.name} as Parquet: {first_line(exc)}") from None
    names = [n for n, _ in described]
    types = dict(described)
    cols = resolve_mapping(mapping, names)
    select = (
        f"{sql_ident(cols.user)} AS user_id, {sql_ident(cols.item)} AS item_id,"
        f" {f'TRY_CAST({sql_ident(cols.rating)} AS DOUBLE)' if cols.rating else '1.0::DOUBLE'} AS rating,"
        f" {_ts_sql(cols.ts, types[cols.ts]) if cols.ts else '0::BIGINT'} AS ts"
    )
    try:
        con.execute(f"CREATE OR REPLACE TABLE {into} AS SELECT {select} FROM {source}")
        problems = _row_problems(con, into, cols)
        if problems and on_bad_lines == "error":
            _raise_for_first_bad_row(con, path, select, cols, sum(problems.values()))
    except duckdb.Error as exc:
        raise FormatError(f"cannot read {path.name}: {first_line(exc)}") from None
    _drop_bad_rows(con, into, path, problems, "row(s)", report)
    return report


def _raise_for_first_bad_row(con, path: Path, select: str, cols: _Columns, total: int) -> None:
    """Name the first bad row (1-based) of a Parquet file, with the value that makes it bad."""
    checks = _active_checks(cols)
    # the file's own columns win over the aliases of the same SELECT, so the raw values are read here
    raw = [f"{sql_ident(c)}::VARCHAR" if c else "NULL" for c in (cols.rating, cols.ts)]
    any_failed = " OR ".join(f"({c[1]})" for c in checks)
    row = con.execute(
        f"SELECT _row, {', '.join(f'({c[1]})' for c in checks)}, _rating_text, _ts_text FROM ("
        f"SELECT file_row_number + 1 AS _row, {select}, {raw[0]} AS _rating_text, {raw[1]} AS _ts_text"
        f" FROM read_parquet({sql_path(path)}, file_row_number = true)) WHERE {any_failed} ORDER BY _row LIMIT 1"
    ).fetchone()
    key, _condition, what = next(check for check, failed in zip(checks, row[1:]) if failed)
    value = {"rating": row[-2], "ts": row[-1]}.get(key)
    detail = f" ({value!r})" if value is not None else ""
    more = f" ({total} bad rows in all)" if total > 1 else ""
    raise MalformedLineError(f"{path.name} row {row[0]}: {what}{detail}{more}", row[0])


def _encoding_error(path: Path, dialect: CsvDialect, sample_bytes: int = 1 << 20) -> FormatError | None:
    """When a CSV read as utf-8 failed: a clearer error if the file's first bytes are not utf-8 (a latin-1
    header makes the sniffer see no header, and then a column "is not in the file"); None otherwise.

    Only the start is read: this runs on the way to an error, and the lines DuckDB rejects for their
    bytes already say so themselves."""
    if dialect.encoding.lower().replace("_", "-") not in ("utf-8", "utf8"):
        return None
    with open(path, "rb") as handle:
        sample = handle.read(sample_bytes)
    # utf-8 never has a newline byte inside a character, so the sample decodes line by line
    lines = sample.split(b"\n")
    if len(sample) == sample_bytes and len(lines) > 1:
        lines = lines[:-1]  # a line cut by the sample's end
    for number, line in enumerate(lines, start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as error:
            snippet = line.decode("utf-8", errors="replace").strip()[:60]
            return FormatError(
                f"{path.name} is not utf-8 text: line {number} has the byte 0x{line[error.start]:02x} ({snippet!r})",
                _ENCODING_HINT,
            )
    return None


def _line_count(path: Path, limit: int = 2) -> int:
    count = 0
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                count += 1
                if count >= limit:
                    break
    return count
