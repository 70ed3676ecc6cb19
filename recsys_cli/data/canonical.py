"""The canonical dataset layout, written from raw tables by DuckDB.

Every ingest path (a dataset card, any CSV/Parquet file, the synthetic
generator) first loads *raw* tables into a DuckDB connection:

``raw_interactions(user_id, item_id, rating DOUBLE, ts BIGINT)``
    ids of any type (integers stay integers, strings stay strings); rating and
    ts may be NULL-free constants when the source has none.
``raw_items(item_id, title, year, genres VARCHAR[], ...)``  optional
``raw_users(user_id, ...)``                                  optional

and then calls :func:`write_canonical`, which assigns dense 0-based indices
(ordered by the original id, so the mapping is deterministic) and writes::

    interactions.parquet  user_idx INT32, item_idx INT32, rating FLOAT, ts INT64
                          sorted by (user_idx, ts, item_idx)
    items.parquet         item_idx INT32 (NULL for catalogue items nobody
                          interacted with), item_id VARCHAR, title, year, genres, ...
    users.parquet         user_idx INT32, user_id VARCHAR, demographics ...
    vocab/users.parquet   user_idx, user_id (original id as a string)
    vocab/items.parquet   item_idx, item_id
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recsys_cli.data.sqltext import sql_ident, sql_literal

# zstd level 1: within 5% of the default level's size at 20M rows, and 0.4 s faster to write
PARQUET = "(FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)"

INTERACTIONS_FILE = "interactions.parquet"
ITEMS_FILE = "items.parquet"
USERS_FILE = "users.parquet"
USER_VOCAB_FILE = "vocab/users.parquet"
ITEM_VOCAB_FILE = "vocab/items.parquet"


def sql_path(path: Path) -> str:
    """A path as a single-quoted SQL string literal."""
    return sql_literal(str(path))


def to_arrow(relation):
    """A DuckDB relation as a pyarrow Table (the method's name changed in DuckDB 1.4)."""
    method = getattr(relation, "to_arrow_table", None) or relation.fetch_arrow_table
    return method()


def configure(con, scratch: Path, memory_limit: str = "3GB") -> None:
    """Bound DuckDB's memory and let it spill into the staging folder."""
    scratch.mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = {sql_path(scratch)}")
    con.execute(f"SET memory_limit = {sql_literal(memory_limit)}")


def _has_table(con, name: str) -> bool:
    return bool(
        con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT internal", [name]).fetchone()[0]
        or con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = ?", [name]).fetchone()[0]
    )


def _columns(con, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]


def _join_key(con, left: str, right: str, column: str) -> tuple[str, str]:
    """Expressions to join two tables on ``column`` even when one side is text."""
    types = {}
    for table in (left, right):
        types[table] = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall())[column]
    if types[left] == types[right]:
        return f"{left}.{column}", f"{right}.{column}"
    return f"{left}.{column}::VARCHAR", f"{right}.{column}::VARCHAR"


def write_canonical(con, out_dir: Path) -> dict[str, Any]:
    """Write the canonical files into ``out_dir`` and return the dataset's statistics."""
    (out_dir / "vocab").mkdir(parents=True, exist_ok=True)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE user_vocab AS SELECT"
        " (row_number() OVER (ORDER BY user_id) - 1)::INTEGER AS user_idx, user_id"
        " FROM (SELECT DISTINCT user_id FROM raw_interactions)"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE item_vocab AS SELECT"
        " (row_number() OVER (ORDER BY item_id) - 1)::INTEGER AS item_idx, item_id"
        " FROM (SELECT DISTINCT item_id FROM raw_interactions)"
    )
    con.execute(
        f"COPY (SELECT uv.user_idx, iv.item_idx, r.rating::FLOAT AS rating, r.ts::BIGINT AS ts"
        f" FROM raw_interactions r JOIN user_vocab uv ON r.user_id = uv.user_id"
        f" JOIN item_vocab iv ON r.item_id = iv.item_id"
        f" ORDER BY uv.user_idx, ts, iv.item_idx) TO {sql_path(out_dir / INTERACTIONS_FILE)} {PARQUET}"
    )
    con.execute(
        f"COPY (SELECT user_idx, user_id::VARCHAR AS user_id FROM user_vocab ORDER BY user_idx)"
        f" TO {sql_path(out_dir / USER_VOCAB_FILE)} {PARQUET}"
    )
    con.execute(
        f"COPY (SELECT item_idx, item_id::VARCHAR AS item_id FROM item_vocab ORDER BY item_idx)"
        f" TO {sql_path(out_dir / ITEM_VOCAB_FILE)} {PARQUET}"
    )
    n_catalog_items = _write_items(con, out_dir / ITEMS_FILE)
    _write_users(con, out_dir / USERS_FILE)
    stats = dataset_stats(con)
    stats["n_catalog_items"] = n_catalog_items
    return stats


def _write_items(con, path: Path) -> int:
    if _has_table(con, "raw_items"):
        extra = [c for c in _columns(con, "raw_items") if c not in ("item_id", "title", "year", "genres")]
        left, right = _join_key(con, "raw_items", "item_vocab", "item_id")
        extra_sql = "".join(f", raw_items.{sql_ident(c)}" for c in extra)
        # FULL JOIN: keep catalogue items nobody rated (item_idx NULL) and rated
        # items the catalogue lacks (title NULL).
        select = (
            "SELECT item_vocab.item_idx,"
            " coalesce(raw_items.item_id::VARCHAR, item_vocab.item_id::VARCHAR) AS item_id,"
            " raw_items.title::VARCHAR AS title, raw_items.year::INTEGER AS year,"
            " coalesce(raw_items.genres, []::VARCHAR[]) AS genres"
            + extra_sql
            + f" FROM raw_items FULL OUTER JOIN item_vocab ON {left} = {right}"
        )
    else:
        select = (
            "SELECT item_idx, item_id::VARCHAR AS item_id, NULL::VARCHAR AS title,"
            " NULL::INTEGER AS year, []::VARCHAR[] AS genres FROM item_vocab"
        )
    con.execute(f"CREATE OR REPLACE TEMP TABLE canonical_items AS {select}")
    con.execute(
        f"COPY (SELECT * FROM canonical_items ORDER BY item_idx NULLS LAST, item_id) TO {sql_path(path)} {PARQUET}"
    )
    return con.execute("SELECT count(*) FROM canonical_items").fetchone()[0]


def _write_users(con, path: Path) -> None:
    if _has_table(con, "raw_users"):
        extra = [c for c in _columns(con, "raw_users") if c != "user_id"]
        left, right = _join_key(con, "raw_users", "user_vocab", "user_id")
        extra_sql = "".join(f", raw_users.{sql_ident(c)}" for c in extra)
        select = (
            "SELECT user_vocab.user_idx,"
            " coalesce(raw_users.user_id::VARCHAR, user_vocab.user_id::VARCHAR) AS user_id"
            + extra_sql
            + f" FROM raw_users FULL OUTER JOIN user_vocab ON {left} = {right}"
        )
    else:
        select = "SELECT user_idx, user_id::VARCHAR AS user_id FROM user_vocab"
    con.execute(f"COPY ({select} ORDER BY 1 NULLS LAST, 2) TO {sql_path(path)} {PARQUET}")


def dataset_stats(con, table: str = "raw_interactions") -> dict[str, Any]:
    """Counts, density, rating histogram and time span, from the loaded raw table.

    Users and items are counted from the vocabularies, so this is one cheap
    pass over the interactions (no COUNT DISTINCT over millions of rows).
    """
    n, ts_min, ts_max, r_min, r_max = con.execute(
        f"SELECT count(*), min(ts), max(ts), min(rating), max(rating) FROM {table}"
    ).fetchone()
    users = con.execute("SELECT count(*) FROM user_vocab").fetchone()[0]
    items = con.execute("SELECT count(*) FROM item_vocab").fetchone()[0]
    histogram = con.execute(f"SELECT rating, count(*) FROM {table} GROUP BY rating ORDER BY rating LIMIT 51").fetchall()
    # more than 50 distinct values is a continuous signal (play counts): no histogram
    histogram_out = {} if len(histogram) > 50 else {_rating_key(r): int(c) for r, c in histogram}
    return {
        "n_interactions": int(n),
        "n_users": int(users),
        "n_items": int(items),
        "density": (n / (users * items)) if users and items else 0.0,
        "rating_histogram": histogram_out,
        "rating_min": None if r_min is None else float(r_min),
        "rating_max": None if r_max is None else float(r_max),
        "ts_min": None if ts_min is None else int(ts_min),
        "ts_max": None if ts_max is None else int(ts_max),
        "has_timestamps": bool(ts_min is not None and ts_max is not None and ts_max > ts_min),
    }


def _rating_key(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
