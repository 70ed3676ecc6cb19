"""The ranker's features: a registry of named SQL features and one DuckDB query that computes them.

Every candidate pair (``user_idx, item_idx``) gets one float32 column per
feature, NULL where the feature is undefined (LightGBM's "missing"). The
features read only the files they are given: the candidates, the history
(the interactions *before* the window being featurised, chosen by the
orchestrator), and the items and users tables; "recent" and "days ago" are
relative to ``as_of``, the history's last timestamp, never to the window's own
times, so nothing of the window leaks in.

Registry order (the output's column order): the candidate sources
(``candidate_score``, ``candidate_rank``, ``source_count``, ``source_scores``),
item popularity and ratings, user activity and ratings, pair features from the
history (``item_rating_gap``, ``genre_affinity``, ``cooc_recent``), then
demographics.

``requires`` names what the data must have: ``ratings`` (more than one distinct
rating value), ``time`` (more than one distinct timestamp), ``genres`` (an item
with a non-empty genre list), ``sources`` (a candidate source beyond the
primary), and ``demographics:<attribute>`` for ``gender``, ``age`` (a numeric
``age`` column, or an ``age_group`` text such as ``25-34``) and
``occupation``, so that a users table with only ``gender`` gets just the gender
feature. ``source_scores`` is a family: it gives ``score_<source>`` and
``rank_<source>`` for every source beyond the primary (see
:func:`feature_columns`).
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from recsys_cli.data.canonical import configure
from recsys_cli.data.faults import damaged_in_duckdb, is_disk_full, read_parquet
from recsys_cli.data.sqltext import first_line, sql_ident, sql_literal
from recsys_cli.errors import (
    FormatError,
    InputFileError,
    InvalidParameterError,
    SqlError,
    UnknownNameError,
)
from recsys_cli.ranking.feature_registry import DEMOGRAPHICS, FAMILY, FEATURES, Feature
from recsys_cli.settings import ENV_FEATURE_MEMORY, feature_memory_limit

# DuckDB spills joins and sorts to disk past this (the candidate stage bounds ingest the same way)

_REQUIREMENT_TEXT = {
    "ratings": "ratings (more than one distinct rating value in the history)",
    "time": "timestamps (more than one distinct ts in the history)",
    "genres": "genres (an item with a non-empty genres list)",
    "sources": "a candidate source beyond the primary",
}


@dataclass(frozen=True)
class Capabilities:
    ratings: bool
    time: bool
    genres: bool
    demographics: tuple[str, ...]  # the attributes of DEMOGRAPHICS the users table has (non-NULL somewhere)
    extra_sources: int  # sources beyond the primary

    def provides(self, requirement: str) -> bool:
        if requirement.startswith("demographics:"):
            return requirement.split(":", 1)[1] in self.demographics
        if requirement == "sources":
            return self.extra_sources > 0
        return bool(getattr(self, requirement))

    def supports(self, feature: Feature) -> bool:
        return all(self.provides(r) for r in feature.requires)


@dataclass(frozen=True)
class FeatureReport:
    rows: int
    users: int
    columns: tuple[str, ...]  # the feature columns, after user_idx and item_idx
    seconds: float

    def to_dict(self) -> dict:
        return {"rows": self.rows, "users": self.users, "columns": list(self.columns), "seconds": self.seconds}


# -- choosing features --------------------------------------------------------------------


def capabilities(
    history_paths, items_path, users_path, n_sources: int, *, connection=None, spill: Path | None = None
) -> Capabilities:
    """What the data supports (see the module docstring for the rules). Without a ``connection``, DuckDB
    may spill into the folder ``spill`` (made and removed here), or nowhere."""
    con = _connection(connection)
    try:
        if connection is None:
            con.execute(f"SET temp_directory = {sql_literal(str(spill) if spill is not None else '')}")
        history = _parquet(_path_list(history_paths))
        ratings, times = con.execute(f"SELECT count(DISTINCT rating), count(DISTINCT ts) FROM {history}").fetchone()
        genres = False
        if items_path is not None and "genres" in _schema(con, _parquet([_existing(items_path)])):
            genres = con.execute(
                f"SELECT count(*) FILTER (WHERE len(genres) > 0) > 0 FROM {_parquet([_existing(items_path)])}"
            ).fetchone()[0]
        users = _users_sql(con, users_path)
        present = con.execute(f"SELECT count(gender), count(age_bucket), count(occupation) FROM ({users})").fetchone()
    except duckdb.Error as exc:
        raise _sql_error(exc, [*_path_list(history_paths), items_path, users_path]) from None
    finally:
        if connection is None:
            con.close()
            if spill is not None:
                shutil.rmtree(spill, ignore_errors=True)
    demographics = tuple(a for a, n in zip(DEMOGRAPHICS, present) if n)
    return Capabilities(ratings > 1, times > 1, bool(genres), demographics, max(int(n_sources) - 1, 0))


def resolve_features(requested: list[str] | None, caps: Capabilities) -> list[str]:
    """``requested`` validated against the registry and the data, duplicates dropped; None: all supported."""
    if requested is None:
        return [name for name, feature in FEATURES.items() if caps.supports(feature)]
    names: list[str] = []
    for raw in requested:
        feature = _feature(raw)
        missing = [r for r in feature.requires if not caps.provides(r)]
        if missing:
            need = " and ".join(_requirement_text(r) for r in missing)
            supported = [n for n, f in FEATURES.items() if caps.supports(f)]
            raise InvalidParameterError(
                f"feature '{feature.name}' needs {need}, which this dataset lacks",
                f"leave it out; the features this data supports: {', '.join(supported)}",
            )
        if feature.name not in names:
            names.append(feature.name)
    return names


def source_column_names(sources: list[str]) -> list[str]:
    """Each source's name for column names: lowercase [a-z0-9_], made unique by its index."""
    out: list[str] = []
    for i, source in enumerate(sources):
        name = re.sub(r"[^a-z0-9_]+", "_", str(source).lower()).strip("_") or f"source{i}"
        out.append(f"{name}_{i}" if name in out else name)
    return out


def feature_columns(names: list[str], sources: list[str]) -> list[str]:
    """The output's feature columns in order (``source_scores`` expands to score_/rank_ per extra source)."""
    columns: list[str] = []
    for name in names:
        if name == FAMILY:
            for source in source_column_names(sources)[1:]:
                columns += [f"score_{source}", f"rank_{source}"]
        else:
            columns.append(name)
    return columns


# -- computing them ------------------------------------------------------------------------


def compute_features(
    candidates_path,
    history_paths,
    items_path,
    users_path,
    out_path,
    *,
    names: list[str],
    sources: list[str],
    as_of: int,
    connection=None,
    threads: int | None = None,
    memory_limit: str | None = None,
) -> FeatureReport:
    """Write ``user_idx, item_idx`` + :func:`feature_columns` (float32) for every candidate, sorted by user and item.

    One DuckDB query: each feature's SELECT is a CTE, LEFT JOINed onto the candidates by its level's keys.
    The file is written under a temporary name and renamed into place.
    """
    started = time.perf_counter()
    features = [_feature(name) for name in dict.fromkeys(names)]
    if not sources:
        raise InvalidParameterError("no candidate sources given", "pass the source names, primary first")
    if isinstance(as_of, bool) or not isinstance(as_of, int):
        raise InvalidParameterError(f"as_of must be unix seconds (an int), got {as_of!r}")
    out = Path(out_path)
    con = _connection(connection)
    staged = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    spill = out.parent / f".{out.name}.{os.getpid()}.spill"
    try:
        if connection is None:
            # DuckDB's default is 80% of RAM: at 20M candidate rows it took 19.7 GB of 24
            configure(con, spill, memory_limit or feature_memory_limit())
        if threads is not None:
            con.execute(f"SET threads = {int(threads)}")
        query = _feature_query(con, candidates_path, history_paths, items_path, users_path, features, sources, as_of)
        out.parent.mkdir(parents=True, exist_ok=True)
        con.execute(f"COPY ({query}) TO {sql_literal(staged)} (FORMAT parquet, COMPRESSION zstd)")
        rows, users = con.execute(f"SELECT count(*), count(DISTINCT user_idx) FROM {_parquet([staged])}").fetchone()
        os.replace(staged, out)
    except duckdb.Error as exc:
        raise _sql_error(exc, [candidates_path, *_path_list(history_paths), items_path, users_path]) from None
    finally:
        staged.unlink(missing_ok=True)
        if connection is None:
            con.close()
            shutil.rmtree(spill, ignore_errors=True)
    columns = tuple(feature_columns([f.name for f in features], sources))
    return FeatureReport(int(rows), int(users), columns, round(time.perf_counter() - started, 3))


def _feature_query(con, candidates_path, history_paths, items_path, users_path, features, sources, as_of) -> str:
    candidates = _parquet([_existing(candidates_path)])
    have = _schema(con, candidates)
    needed = ["user_idx", "item_idx"] + [f"{kind}_{i}" for i in range(len(sources)) for kind in ("score", "rank")]
    lacking = [c for c in needed if c not in have]
    if lacking:
        raise FormatError(
            f"the candidates file {candidates_path} lacks the columns {', '.join(lacking)}",
            f"it must have score_<i> and rank_<i> for each of the {len(sources)} sources",
        )
    items = _NO_ITEMS
    if items_path is not None:
        items_file = _parquet([_existing(items_path)])
        genres = "genres" if "genres" in _schema(con, items_file) else "NULL::VARCHAR[]"
        items = f"SELECT item_idx, {genres} AS genres FROM {items_file}"
    views = {
        "candidates": f"SELECT * FROM {candidates}",
        "history": f"SELECT user_idx, item_idx, rating, ts FROM {_parquet(_path_list(history_paths))}",
        "items": items,
        "users": _users_sql(con, users_path),
    }
    # each input is read once; but DuckDB 1.2 returns no rows at all when a MATERIALIZED CTE is
    # empty by construction (WHERE false), so the stand-ins for a missing table stay plain
    ctes = [
        f"{name} AS {'' if sql in (_NO_ITEMS, _NO_USERS) else 'MATERIALIZED '}({sql})" for name, sql in views.items()
    ]
    select = ["c.user_idx", "c.item_idx"]
    joins = []
    for feature in features:
        alias = sql_ident(f"f_{feature.name}")
        ctes.append(f"{alias} AS ({feature.sql.replace('{as_of}', str(int(as_of)))})")
        keys = {"pair": ("user_idx", "item_idx"), "item": ("item_idx",), "user": ("user_idx",)}[feature.level]
        joins.append(f"LEFT JOIN {alias} ON " + " AND ".join(f"{alias}.{k} = c.{k}" for k in keys))
        if feature.name == FAMILY:
            for i, source in enumerate(source_column_names(sources)[1:], start=1):
                for kind in ("score", "rank"):
                    select.append(f"CAST({alias}.{kind}_{i} AS FLOAT) AS {sql_ident(f'{kind}_{source}')}")
        else:
            select.append(f"CAST({alias}.{feature.name} AS FLOAT) AS {sql_ident(feature.name)}")
    return (
        "WITH "
        + ",\n".join(ctes)
        + "\nSELECT "
        + ", ".join(select)
        + "\nFROM candidates c\n"
        + "\n".join(joins)
        + "\nORDER BY c.user_idx, c.item_idx"
    )


_NO_ITEMS = "SELECT NULL::INTEGER AS item_idx, NULL::VARCHAR[] AS genres WHERE false"
_NO_USERS = (
    "SELECT NULL::INTEGER AS user_idx, NULL::VARCHAR AS gender, NULL::DOUBLE AS age, "
    "NULL::VARCHAR AS age_bucket, NULL::VARCHAR AS occupation WHERE false"
)


def _users_sql(con, users_path) -> str:
    """The users table reduced to ``user_idx, gender, age, age_bucket, occupation`` (NULL where absent)."""
    if users_path is None:
        return _NO_USERS
    source = _parquet([_existing(users_path)])
    schema = _schema(con, source)

    def text(column: str) -> str:
        return f"NULLIF(trim(CAST({sql_ident(column)} AS VARCHAR)), '')" if column in schema else "NULL::VARCHAR"

    age, bucket = "NULL::DOUBLE", "NULL::VARCHAR"
    if "age" in schema and _numeric(schema["age"]):  # exact ages (ML-100K) or bucket codes (ML-1M)
        age, bucket = "CAST(age AS DOUBLE)", "CAST(CAST(floor(age / 10) AS BIGINT) AS VARCHAR)"
    elif "age" in schema or "age_group" in schema:  # a text bucket such as '25-34', '56+', 'Under 18'
        group = text("age" if "age" in schema else "age_group")
        age = (
            f"CASE WHEN lower({group}) LIKE 'under%' THEN 0 "
            f"ELSE TRY_CAST(regexp_extract({group}, '[0-9]+') AS DOUBLE) END"
        )
        bucket = group
    return (
        f"SELECT user_idx, {text('gender')} AS gender, {age} AS age, {bucket} AS age_bucket, "
        f"{text('occupation')} AS occupation FROM {source}"
    )


# -- helpers -------------------------------------------------------------------------------


def _feature(name: str) -> Feature:
    name = str(name).strip()
    if name not in FEATURES:
        close = difflib.get_close_matches(name, list(FEATURES), n=1, cutoff=0.5)
        hint = (f"did you mean '{close[0]}'? " if close else "") + f"valid features: {', '.join(FEATURES)}"
        raise UnknownNameError("feature", name, list(FEATURES), hint=hint)
    return FEATURES[name]


def _requirement_text(requirement: str) -> str:
    if requirement.startswith("demographics:"):
        return f"a users table with a {requirement.split(':', 1)[1]} column"
    return _REQUIREMENT_TEXT.get(requirement, requirement)


def _numeric(column_type: str) -> bool:
    return column_type.upper().split("(")[0] in {
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "HUGEINT",
        "UTINYINT",
        "USMALLINT",
        "UINTEGER",
        "UBIGINT",
        "FLOAT",
        "DOUBLE",
        "DECIMAL",
    }


def _connection(connection):
    return connection if connection is not None else duckdb.connect()


def _path_list(paths) -> list[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found = [_existing(p) for p in paths]
    if not found:
        raise InvalidParameterError("no history files given", "pass the Parquet files of the history")
    return found


def _existing(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"no such file: {path}")
    return path


def _parquet(paths: Iterable[Path]) -> str:
    return f"read_parquet([{', '.join(sql_literal(p) for p in paths)}], union_by_name = true)"


def _schema(con, relation: str) -> dict[str, str]:
    return {name: kind for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()}


def _sql_error(exc: Exception, inputs=()) -> Exception:
    """What a failed feature query means: a damaged input file, memory, or columns; a full disk is the
    workspace's to name (the caller's scratch), so it stays DuckDB's own error."""
    if is_disk_full(exc):
        return exc
    damaged = damaged_in_duckdb(exc, [Path(p) for p in inputs if p is not None])
    if damaged is not None:
        return damaged
    if isinstance(exc, duckdb.OutOfMemoryException) or "Out of Memory" in str(exc):
        return SqlError(
            f"computing features ran out of memory: {first_line(exc)}",
            f"raise DuckDB's limit (now {feature_memory_limit()}) with {ENV_FEATURE_MEMORY}=8GB, "
            "or use fewer candidates per user",
        )
    return SqlError(
        f"computing features failed: {first_line(exc)}",
        "check that the candidates, history, items and users files have the documented columns",
    )


def read_features(path: Path, columns: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Users, items and the float32 feature matrix (NULL as NaN) of a features Parquet."""
    table = read_parquet(path)
    matrix = (
        np.column_stack([table.column(c).to_numpy(zero_copy_only=False).astype(np.float32) for c in columns])
        if columns
        else np.zeros((table.num_rows, 0), np.float32)
    )
    return (
        table.column("user_idx").to_numpy().astype(np.int64),
        table.column("item_idx").to_numpy().astype(np.int64),
        matrix,
    )
