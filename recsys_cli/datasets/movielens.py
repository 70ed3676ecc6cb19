"""Card-driven parsing of a release's files into the raw tables (MovieLens and alike).

``raw_interactions`` comes from :func:`load_interactions`; ``raw_items`` and
``raw_users`` are built here, all in DuckDB SQL: the card names each column's
type and the field it becomes, how genres are spelled (a ``|``-list or 0/1
flags) and which file to join for external ids. Item and user ids get the
same type as in ``raw_interactions`` so the canonical writer joins them
without casts.

The interaction count must equal the card's published ``counts.interactions``:
the files a card reads (ratings.csv) are common to several releases, so the
count is what tells a wrong, partial or modified release from the real one.
A caller that means to ingest such a release passes ``allow_count_mismatch``.
Users and items counts only warn (they follow from the interactions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from recsys_cli.data.canonical import sql_path
from recsys_cli.data.sqltext import first_line, sql_ident, sql_literal
from recsys_cli.datasets.cards import Card, FileFormat, other_cards
from recsys_cli.datasets.interaction_file import ColumnMapping, CsvDialect, check_readable, load_interactions
from recsys_cli.errors import FormatError, MalformedLineError
from recsys_cli.reporting import Reporter

# The year in parentheses at the end of a title: "Toy Story (1995)", and a
# series' first year in "Death Note: Desu nôto (2006–2007)".
YEAR_PATTERN = r"\((\d{4})(?:[-–]\d{4})?\)\s*$"
_USER_ORDER = ("user_id", "gender", "age", "occupation", "zip_code")


class CountMismatchError(FormatError):
    """A release whose interaction count is not the card's published one."""

    default_hint = (
        "pass --allow-count-mismatch (Python: allow_count_mismatch=True) to ingest a partial or modified release anyway"
    )


@dataclass
class ReleaseReport:
    bad_lines_skipped: int = 0
    notes: list[str] = field(default_factory=list)


def load_release(
    con,
    card: Card,
    files: dict[str, Path],
    on_bad_lines: str,
    reporter: Reporter,
    *,
    allow_count_mismatch: bool = False,
    source: str | Path | None = None,
) -> ReleaseReport:
    """Fill raw_interactions (and raw_items, raw_users where the release has them).

    Raises CountMismatchError, before the other files are read, when the interaction
    count is not the card's, unless ``allow_count_mismatch`` (then it warns).
    ``source`` is only named in the error's hint.
    """
    report = ReleaseReport()
    spec = card.files["interactions"]
    path = files["interactions"]
    check_header(spec, path)
    mapping = ColumnMapping(
        user=spec.column_for("user_id"),
        item=spec.column_for("item_id"),
        rating=spec.column_for("rating"),
        timestamp=spec.column_for("timestamp"),
    )
    dialect = CsvDialect(
        sep=spec.separator, header=spec.header, encoding=spec.encoding, quote=spec.quote, columns=spec.column_names
    )
    with reporter.task(f"reading {spec.file}") as task:
        loaded = load_interactions(con, path, mapping, dialect, on_bad_lines)
        task.advance()
    report.bad_lines_skipped += loaded.bad_lines_skipped
    report.notes.extend(loaded.notes)
    # skipped lines were in the file: the published count counts them too
    check_counts(con, card, loaded.rows + loaded.bad_lines_skipped, reporter, allow_count_mismatch, source)

    types = dict(con.execute("SELECT column_name, column_type FROM (DESCRIBE raw_interactions)").fetchall())
    if "items" in files:
        with reporter.task(f"reading {card.files['items'].file}") as task:
            skipped = read_table(con, card.files["items"], files["items"], "file_items", on_bad_lines, report)
            build_items(con, card.files["items"], types["item_id"], report)
            if "links" in files:
                skipped += read_table(con, card.files["links"], files["links"], "file_links", on_bad_lines, report)
                join_links(con, card.files["links"], types["item_id"])
            report.bad_lines_skipped += skipped
            task.advance()
    if "tags" in files:
        if "items" in files:
            with reporter.task(f"reading {card.files['tags'].file}") as task:
                report.bad_lines_skipped += read_table(
                    con, card.files["tags"], files["tags"], "file_tags", on_bad_lines, report
                )
                join_tags(con, card.files["tags"], types["item_id"])
                task.advance()
        else:
            report.notes.append(f"{card.files['tags'].file} is not read: the dataset has no items table to hold tags")
    if "users" in files:
        with reporter.task(f"reading {card.files['users'].file}") as task:
            report.bad_lines_skipped += read_table(
                con, card.files["users"], files["users"], "file_users", on_bad_lines, report
            )
            build_users(con, card.files["users"], types["user_id"], report)
            task.advance()
    if "items" in files and card.counts.get("items"):
        (items,) = con.execute("SELECT count(*) FROM raw_items").fetchone()
        if items != card.counts["items"]:
            file = card.files["items"].file
            reporter.warn(f"{file} holds {items:,} items; the {card.title} release has {card.counts['items']:,}")
    return report


def check_counts(
    con, card: Card, lines: int, reporter: Reporter, allow_mismatch: bool, source: str | Path | None
) -> None:
    """Refuse (or, when allowed, warn about) a release whose interaction count differs from the card's."""
    expected = card.counts
    if not expected.get("interactions"):
        return
    file = card.files["interactions"].file
    (users,) = con.execute("SELECT count(DISTINCT user_id) FROM raw_interactions").fetchone()
    if lines != expected["interactions"]:
        message = (
            f"{file} holds {lines:,} interactions by {users:,} users; "
            f"the {card.title} release has {expected['interactions']:,}"
            + (f" by {expected['users']:,}" if expected.get("users") else "")
        )
        if allow_mismatch:
            reporter.warn(message)
            return

        same = next((o for o in other_cards(card) if o.counts.get("interactions") == lines), None)
        if same is not None:  # e.g. ml-latest-small's ratings.csv passed for ml-25m
            raise CountMismatchError(
                f"{message}: these are the counts of {same.name}, not {card.name}",
                f"to ingest it, run `recsys ingest {same.name} --source {source or 'PATH'}`",
            )
        raise CountMismatchError(f"{message}: not the complete {card.name} release")
    if expected.get("users") and users != expected["users"]:
        reporter.warn(f"{file} has {users:,} users; the {card.title} release has {expected['users']:,}")


# -- reading one described file ---------------------------------------------------------------
def check_header(spec: FileFormat, path: Path) -> None:
    """A file with a header must name the card's columns: catches a wrong file early."""
    if not spec.header:
        return
    check_readable(path)
    with open(path, "rb") as handle:
        first = handle.readline(64 * 1024)
    text = first.decode(spec.encoding, errors="replace").lstrip("\ufeff").rstrip("\r\n")
    found = [name.strip().strip(spec.quote or '"') for name in text.split(spec.separator)]
    if found != spec.column_names:
        raise FormatError(
            f"{path.name} starts with the header '{text[:80]}', expected '{spec.separator.join(spec.column_names)}'",
            "is this the right file for this release?",
        )


def read_table(con, spec: FileFormat, path: Path, into: str, on_bad_lines: str, report: ReleaseReport) -> int:
    """Create table ``into`` with the card's columns and types; returns the number of lines skipped."""
    import duckdb

    check_readable(path)
    check_header(spec, path)
    escape = spec.escape if spec.escape is not None else spec.quote
    options = [
        f"sep = {sql_literal(spec.separator)}",
        f"header = {'true' if spec.header else 'false'}",
        f"encoding = {sql_literal(spec.encoding)}",
        f"quote = {sql_literal(spec.quote)}",
        f"escape = {sql_literal(escape)}",
        "columns = {" + ", ".join(f"{sql_literal(c.name)}: {sql_literal(c.type)}" for c in spec.columns) + "}",
        "store_rejects = true",
        "ignore_errors = true",
        "null_padding = false",
    ]
    if spec.date_format:
        options.append(f"dateformat = {sql_literal(spec.date_format)}")
    try:
        con.execute("DROP TABLE IF EXISTS reject_errors")
        con.execute("DROP TABLE IF EXISTS reject_scans")
        con.execute(f"CREATE OR REPLACE TABLE {into} AS SELECT * FROM read_csv({sql_path(path)}, {', '.join(options)})")
        rejects = con.execute(
            "SELECT line, column_name, error_type, csv_line, error_message FROM reject_errors ORDER BY line"
        ).fetchall()
    except duckdb.Error as exc:
        raise FormatError(
            f"cannot parse {path.name}: {first_line(exc)}", "is this the right file for this release?"
        ) from None
    if not rejects:
        return 0
    if on_bad_lines == "error":
        line, column, kind, text, message = rejects[0]
        snippet = (text or "").strip()
        snippet = snippet if len(snippet) <= 60 else snippet[:57] + "..."
        if kind in ("MISSING COLUMNS", "TOO MANY COLUMNS"):
            what = f"{first_line(message).lower()}, expected the card's {len(spec.columns)}"
        elif kind == "CAST":
            what = f"{column} is not a valid {next((c.type for c in spec.columns if c.name == column), 'value')}"
        else:
            what = first_line(message)
        raise MalformedLineError(f"{path.name} line {line}: {what} ({snippet!r})", line)
    lines = sorted({r[0] for r in rejects})
    report.notes.append(f"skipped {len(lines)} malformed line(s) of {path.name} (first: line {lines[0]})")
    return len(lines)


# -- building the raw tables -------------------------------------------------------------------
def _genres_sql(spec: FileFormat) -> str:
    genres = spec.genres
    if genres is None:
        return "[]::VARCHAR[]"
    if genres.column:
        value = f"NULLIF(trim({sql_ident(genres.column)}), '')"
        if genres.none:
            value = f"NULLIF({value}, {sql_literal(genres.none)})"
        return f"coalesce(string_split({value}, {sql_literal(genres.separator)}), []::VARCHAR[])"
    # one 0/1 column per genre; concat_ws skips the NULLs of unset flags
    parts = ", ".join(
        f"CASE WHEN {sql_ident(flag)} = 1 THEN {sql_literal(flag)} END" for flag in genres.flags if flag != genres.none
    )
    return f"coalesce(string_split(NULLIF(concat_ws('|', {parts}), ''), '|'), []::VARCHAR[])"


def _dedupe(con, table: str, key: str, what: str, report: ReleaseReport) -> None:
    n, distinct = con.execute(f"SELECT count(*), count(DISTINCT {key}) FROM {table}").fetchone()
    if n != distinct:
        con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT DISTINCT ON ({key}) * FROM {table} ORDER BY {key}")
        report.notes.append(f"{what}: kept the first of {n - distinct} repeated id(s)")


def build_items(con, spec: FileFormat, item_type: str, report: ReleaseReport) -> None:
    item = spec.column_for("item_id")
    title = spec.column_for("title")
    title_sql = f"{sql_ident(title)}::VARCHAR" if title else "NULL::VARCHAR"
    select = [
        f"TRY_CAST({sql_ident(item)} AS {item_type}) AS item_id",
        f"{title_sql} AS title",
        f"TRY_CAST(regexp_extract({title_sql}, {sql_literal(YEAR_PATTERN)}, 1) AS INTEGER) AS year",
        f"{_genres_sql(spec)} AS genres",
    ]
    select += [
        f"{sql_ident(c.name)} AS {sql_ident(c.field)}"
        for c in spec.columns
        if c.field and c.field not in ("item_id", "title")
    ]
    con.execute(
        f"CREATE OR REPLACE TABLE raw_items AS SELECT {', '.join(select)} FROM file_items"
        f" WHERE TRY_CAST({sql_ident(item)} AS {item_type}) IS NOT NULL"
    )
    _dedupe(con, "raw_items", "item_id", spec.file, report)


def join_links(con, spec: FileFormat, item_type: str) -> None:
    """Add the external ids (IMDb, TMDB) of links.csv to raw_items."""
    item = spec.column_for("item_id")
    extra = [c for c in spec.columns if c.field and c.field != "item_id"]
    columns = ", ".join(f"{sql_ident(c.name)} AS {sql_ident(c.field)}" for c in extra)
    joined = ", ".join("l." + sql_ident(c.field) for c in extra)
    con.execute(
        f"CREATE OR REPLACE TABLE raw_items AS SELECT raw_items.*, {joined}"
        f" FROM raw_items LEFT JOIN (SELECT DISTINCT ON (item_id)"
        f" TRY_CAST({sql_ident(item)} AS {item_type}) AS item_id, {columns} FROM file_links ORDER BY item_id) l"
        " ON raw_items.item_id = l.item_id"
    )


def join_tags(con, spec: FileFormat, item_type: str) -> None:
    """Add each item's tags to raw_items as a sorted list of distinct tags (trimmed, lower-cased, inner
    whitespace collapsed): "Dark Comedy" and "dark  comedy " are one tag. Items without tags get []."""
    item, tag = sql_ident(spec.column_for("item_id")), sql_ident(spec.column_for("tag"))
    normal = f"lower(trim(regexp_replace({tag}::VARCHAR, '\\s+', ' ', 'g')))"
    con.execute(
        "CREATE OR REPLACE TABLE raw_items AS SELECT raw_items.*, coalesce(t.tags, []::VARCHAR[]) AS tags"
        f" FROM raw_items LEFT JOIN (SELECT item_id, list_sort(list(DISTINCT normal)) AS tags FROM"
        f" (SELECT TRY_CAST({item} AS {item_type}) AS item_id, {normal} AS normal FROM file_tags)"
        " WHERE item_id IS NOT NULL AND normal <> '' GROUP BY item_id) t ON raw_items.item_id = t.item_id"
    )


def build_users(con, spec: FileFormat, user_type: str, report: ReleaseReport) -> None:
    user = spec.column_for("user_id")
    kept = [c for c in spec.columns if c.field and c.field != "user_id"]
    kept.sort(key=lambda c: _USER_ORDER.index(c.field) if c.field in _USER_ORDER else len(_USER_ORDER))
    select = [f"TRY_CAST({sql_ident(user)} AS {user_type}) AS user_id"]
    select += [f"{sql_ident(c.name)} AS {sql_ident(c.field)}" for c in kept]
    con.execute(
        f"CREATE OR REPLACE TABLE raw_users AS SELECT {', '.join(select)} FROM file_users"
        f" WHERE TRY_CAST({sql_ident(user)} AS {user_type}) IS NOT NULL"
    )
    _dedupe(con, "raw_users", "user_id", spec.file, report)
