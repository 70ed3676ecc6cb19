"""Score recommendation lists made by any tool: ``recsys evaluate --predictions FILE --truth FILE``.

Both files are CSV (a header line is required; DuckDB detects the separator and
quoting) or Parquet (by the extension ``.parquet``/``.pq`` or the ``PAR1`` magic bytes).

predictions: ``user_id, item_id, score`` and optionally ``rank``. A user's list is
    ordered by ``rank`` ascending when the column exists (then score descending, then
    item id), else by score descending with ties going to the lower item id.
truth: ``user_id, item_id`` and optionally ``rating``; every row is relevant, or with
    ``relevant_min_rating`` every row rated at least that (a user and item listed twice
    are relevant if either row is).

Column names are matched ignoring case. Ids are compared as text with surrounding spaces
trimmed, so the integer 1 in one file matches the string "1" in the other, while "01"
or 1.0 do not match 1. Item ids are ordered as integers when every item id in both files
is an integer (an optional minus sign and digits), else as text (Unicode code point
order); that order is the tie-break of equal scores. A user listing the same item twice
is an error: the list would hold a duplicate, and which row wins is not ours to guess.

The lists go through ``evaluate_lists`` (docs/metrics.md): nothing about the metrics
is re-implemented here. What does not fit the truth file is reported, never silently
dropped: prediction users absent from the truth (ignored), truth users without
predictions (they score 0), predicted items the truth never mentions, lists shorter than
the largest K. Novelty needs training popularity, which files do not carry: it is not
computed. Coverage divides by ``n_catalog_items`` when given, else by the number of
distinct items in the two files together; the protocol says which.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys_cli.data.canonical import sql_path, to_arrow
from recsys_cli.data.sqltext import first_line, sql_ident
from recsys_cli.datasets.interaction_file import check_readable, is_parquet
from recsys_cli.errors import FormatError, InputFileError, InvalidParameterError
from recsys_cli.evaluation.metrics import evaluate_lists
from recsys_cli.topk import check_k, check_ks
from recsys_cli.vocabulary import DEFAULT_KS

PREDICTION_COLUMNS = ("user_id", "item_id", "score")
TRUTH_COLUMNS = ("user_id", "item_id")
# An id that is an integer: the whole trimmed text, at most 38 digits (fits HUGEINT).
_INTEGER_ID = "'-?[0-9]{1,38}'"


@dataclass
class FileEvaluation:
    """Means over evaluated users (keys ``<metric>@<k>``), the protocol behind them, and per-user values.

    ``per_user`` is ``EvaluationResult.to_arrow()`` with the original ``user_id`` (text) as its
    second column; ``warnings`` says in words what the protocol's counts mean when they are not 0.
    """

    metrics: dict[str, float]
    protocol: dict[str, Any]
    per_user: Any  # pyarrow.Table
    warnings: list[str] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "metrics": self.metrics}


def evaluate_files(
    predictions: Path,
    truth: Path,
    ks=DEFAULT_KS,
    relevant_min_rating: float | None = None,
    n_catalog_items: int | None = None,
) -> FileEvaluation:
    """Evaluate the lists in ``predictions`` against the relevant items in ``truth`` at every K."""
    import duckdb

    ks = check_ks(ks)
    k_max = ks[-1]
    relevant_min_rating = _check_min_rating(relevant_min_rating)
    if n_catalog_items is not None:
        n_catalog_items = check_k(n_catalog_items, "n_catalog_items (the catalogue size)")
    predictions, truth = Path(predictions), Path(truth)
    use_rating = relevant_min_rating is not None

    with duckdb.connect() as con:
        has_rank = _read_files(con, predictions, truth, use_rating)
        _check_files(con, predictions, truth, has_rank, use_rating)
        items_as_integers, n_users, n_items = _index_ids(con, n_catalog_items)
        placed, lengths, relevant, user_ids = _ranked_lists(con, has_rank, k_max, relevant_min_rating)
        counts = _file_counts(con, n_users, k_max)

    lists, list_length, truth_csr = _to_arrays(placed, lengths, relevant, n_users, n_items, k_max)
    rule = f"truth rows with rating >= {relevant_min_rating:g}" if use_rating else "every truth row"
    has_relevant = _users_with_relevant_items(truth_csr, rule)
    catalog = n_catalog_items if n_catalog_items is not None else n_items
    result = evaluate_lists(lists, truth_csr, ks, n_catalog_items=catalog)

    counts.update(_list_counts(result, has_relevant, list_length, k_max))
    protocol = _protocol(
        predictions,
        truth,
        rule=rule,
        has_rank=has_rank,
        items_as_integers=items_as_integers,
        ks=ks,
        result=result,
        catalog=catalog,
        catalog_given=n_catalog_items is not None,
        counts=counts,
    )
    warnings = _warnings(counts, k_max)
    return FileEvaluation(
        metrics=result.metrics, protocol=protocol, per_user=_per_user(result, user_ids), warnings=warnings
    )


# -- the steps of evaluate_files -----------------------------------------------------------------


def _check_min_rating(relevant_min_rating) -> float | None:
    """The minimum relevant rating as a float (None stays None); a clear error when it is not a finite number."""
    import numpy as np

    if relevant_min_rating is None:
        return None
    if isinstance(relevant_min_rating, bool) or not isinstance(relevant_min_rating, (int, float, np.number)):
        raise InvalidParameterError(f"the minimum relevant rating must be a number, got {relevant_min_rating!r}")
    if not math.isfinite(relevant_min_rating):
        raise InvalidParameterError("the minimum relevant rating must be a finite number")
    return float(relevant_min_rating)


def _read_files(con, predictions: Path, truth: Path, use_rating: bool) -> bool:
    """Both files into tables ``pred`` and ``truth`` (ids as trimmed text); returns whether predictions have a rank."""
    pred_cols = _load(con, predictions, "predictions", PREDICTION_COLUMNS, ("rank",), "pred_raw")
    truth_cols = _load(con, truth, "truth", TRUTH_COLUMNS, ("rating",), "truth_raw")
    has_rank = pred_cols["rank"] is not None
    if use_rating and truth_cols["rating"] is None:
        raise FormatError(
            f"the truth file {truth.name} has no rating column, which a minimum relevant rating needs",
            "add a rating column, or leave out the minimum rating (every truth row is then relevant)",
        )

    numbers = {"score": pred_cols["score"]}
    if has_rank:
        numbers["rank"] = pred_cols["rank"]
    _normalise(con, "pred_raw", "pred", pred_cols, numbers)
    _normalise(con, "truth_raw", "truth", truth_cols, {"rating": truth_cols["rating"]} if use_rating else {})
    return has_rank


def _check_files(con, predictions: Path, truth: Path, has_rank: bool, use_rating: bool) -> None:
    """Ids present, numbers finite, no item twice in a user's list."""
    _check_ids(con, "pred", predictions, "predictions")
    _check_ids(con, "truth", truth, "truth")
    for column in ("score", "rank") if has_rank else ("score",):
        _check_numbers(con, "pred", column, predictions, "predictions")
    if use_rating:
        _check_numbers(con, "truth", "rating", truth, "truth")
    _check_duplicates(con, predictions)


def _index_ids(con, n_catalog_items: int | None) -> tuple[bool, int, int]:
    """Dense indices: items over both files, users over the truth file, in id order.

    Returns (item ids ordered as integers, number of users, number of items).
    """
    con.execute(
        "CREATE TABLE items AS SELECT DISTINCT item_id FROM"
        " (SELECT item_id FROM truth UNION ALL SELECT item_id FROM pred)"
    )
    items_as_integers = _all_integers(con, "items", "item_id")
    con.execute(
        "CREATE TABLE item_vocab AS SELECT item_id, (row_number() OVER (ORDER BY"
        f" {_id_order('item_id', items_as_integers)}) - 1)::BIGINT AS item_idx FROM items"
    )
    con.execute("CREATE TABLE users AS SELECT DISTINCT user_id FROM truth")
    users_as_integers = _all_integers(con, "users", "user_id")
    con.execute(
        "CREATE TABLE user_vocab AS SELECT user_id, (row_number() OVER (ORDER BY"
        f" {_id_order('user_id', users_as_integers)}) - 1)::BIGINT AS user_idx FROM users"
    )
    n_items = _scalar(con, "SELECT count(*) FROM item_vocab")
    n_users = _scalar(con, "SELECT count(*) FROM user_vocab")
    if n_catalog_items is not None and n_catalog_items < n_items:
        raise InvalidParameterError(
            f"the catalogue size {n_catalog_items:,} is smaller than the {n_items:,} distinct items"
            " in the predictions and truth files",
            "pass the number of items in the whole catalogue, or leave it out to use the items in the files",
        )
    return items_as_integers, n_users, n_items


def _ranked_lists(con, has_rank: bool, k_max: int, relevant_min_rating: float | None):
    """Every user's list in order (table ``ranked``); returns (placed, lengths, relevant, user ids).

    placed: the first ``k_max`` rows of each list (user_idx, item_idx, pos); lengths: each list's length;
    relevant: the relevant (user_idx, item_idx) pairs; user ids: the original ids in user_idx order.
    """
    order = "p.rank ASC, p.score DESC, v.item_idx ASC" if has_rank else "p.score DESC, v.item_idx ASC"
    con.execute(
        "CREATE TABLE ranked AS SELECT u.user_idx, v.item_idx,"
        f" (row_number() OVER (PARTITION BY u.user_idx ORDER BY {order}) - 1)::BIGINT AS pos"
        " FROM pred p JOIN user_vocab u USING (user_id) JOIN item_vocab v USING (item_id)"
    )
    placed = to_arrow(con.sql(f"SELECT user_idx, item_idx, pos FROM ranked WHERE pos < {k_max}"))
    lengths = to_arrow(con.sql("SELECT user_idx, count(*)::BIGINT AS n FROM ranked GROUP BY user_idx"))
    relevant_filter = f"WHERE t.rating >= {relevant_min_rating!r}" if relevant_min_rating is not None else ""
    relevant = to_arrow(
        con.sql(
            "SELECT u.user_idx, v.item_idx FROM truth t JOIN user_vocab u USING (user_id)"
            f" JOIN item_vocab v USING (item_id) {relevant_filter}"
        )
    )
    user_ids = to_arrow(con.sql("SELECT user_id FROM user_vocab ORDER BY user_idx")).column(0).to_pylist()
    return placed, lengths, relevant, user_ids


def _file_counts(con, n_users: int, k_max: int) -> dict[str, int]:
    """What the files hold and what of it does not fit the truth (the protocol's counts)."""
    return {
        "prediction_rows": _scalar(con, "SELECT count(*) FROM pred"),
        "truth_rows": _scalar(con, "SELECT count(*) FROM truth"),
        "truth_users": n_users,
        "prediction_users_not_in_truth": _scalar(
            con, "SELECT count(DISTINCT user_id) FROM pred ANTI JOIN user_vocab USING (user_id)"
        ),
        "prediction_rows_ignored": _scalar(con, "SELECT count(*) FROM pred ANTI JOIN user_vocab USING (user_id)"),
        "predicted_items": _scalar(con, "SELECT count(DISTINCT item_id) FROM pred"),
        "predicted_items_not_in_truth": _scalar(
            con,
            "SELECT count(DISTINCT item_id) FROM pred ANTI JOIN (SELECT DISTINCT item_id FROM truth) USING (item_id)",
        ),
        "prediction_rows_beyond_k_max": _scalar(con, f"SELECT count(*) FROM ranked WHERE pos >= {k_max}"),
        "duplicate_truth_rows": _scalar(con, "SELECT count(*) - count(DISTINCT (user_id, item_id)) FROM truth"),
    }


def _to_arrays(placed, lengths, relevant, n_users: int, n_items: int, k_max: int):
    """(lists: users x k_max item indices padded with -1, each list's length, the relevant items as CSR)."""
    import numpy as np
    import scipy.sparse as sp

    lists = np.full((n_users, k_max), -1, dtype=np.int64)
    lists[placed.column("user_idx").to_numpy(), placed.column("pos").to_numpy()] = placed.column("item_idx").to_numpy()
    list_length = np.zeros(n_users, dtype=np.int64)
    list_length[lengths.column("user_idx").to_numpy()] = lengths.column("n").to_numpy()
    truth_rows = relevant.column("user_idx").to_numpy()
    truth_csr = sp.csr_matrix(
        (np.ones(truth_rows.size), (truth_rows, relevant.column("item_idx").to_numpy())), shape=(n_users, n_items)
    )
    truth_csr.sum_duplicates()
    return lists, list_length, truth_csr


def _users_with_relevant_items(truth_csr, rule: str):
    """Which users have a relevant item; an error when none has."""
    import numpy as np

    has_relevant = np.diff(truth_csr.indptr) > 0
    if not has_relevant.any():
        raise InvalidParameterError(
            f"no truth row is relevant ({rule})", "lower the minimum relevant rating, or check the truth file"
        )
    return has_relevant


def _list_counts(result, has_relevant, list_length, k_max: int) -> dict[str, int]:
    """The protocol's counts that need the evaluation: users without relevant items or lists, short lists."""
    return {
        "truth_users_without_relevant_items": int((~has_relevant).sum()),
        "evaluated_users_without_predictions": result.n_users_without_predictions,
        "lists_shorter_than_k_max": int((has_relevant & (list_length > 0) & (list_length < k_max)).sum()),
    }


def _protocol(
    predictions: Path,
    truth: Path,
    *,
    rule: str,
    has_rank: bool,
    items_as_integers: bool,
    ks,
    result,
    catalog: int,
    catalog_given: bool,
    counts: dict[str, int],
) -> dict[str, Any]:
    return {
        "predictions": str(predictions),
        "truth": str(truth),
        "relevance": rule,
        "ordering": (
            "rank ascending, then score descending, then item id ascending"
            if has_rank
            else "score descending, ties by item id ascending"
        ),
        "item_id_order": "as integers" if items_as_integers else "as text",
        "id_matching": "as text with spaces trimmed (1 and '1' match; 1.0 and '01' do not match 1)",
        "ks": list(ks),
        "users_evaluated": result.n_users,
        "coverage_denominator": (
            f"{catalog:,} items (the catalogue size given)"
            if catalog_given
            else f"{catalog:,} distinct items in the truth and predictions files"
        ),
        "novelty": "not computed: prediction files carry no training popularity",
        **counts,
    }


def _per_user(result, user_ids: list[str]):
    """The per-user table with the original ``user_id`` (text) as its second column."""
    import pyarrow as pa

    table = result.to_arrow()
    ids = [user_ids[i] for i in table.column("user").to_numpy()]
    return table.add_column(1, "user_id", pa.array(ids, type=pa.string()))


# -- reading -------------------------------------------------------------------------------------


def _load(con, path: Path, role: str, required: tuple[str, ...], optional: tuple[str, ...], into: str) -> dict:
    """Read ``path`` into table ``into``; returns {role column: the file's column name or None}."""
    import duckdb

    check_readable(path, f"{role} file")
    if not os.access(path, os.R_OK):
        raise InputFileError(f"{role} file cannot be read: {path}", "check the file's permissions")
    parquet = is_parquet(path)
    source = (
        f"read_parquet({sql_path(path)})"
        if parquet
        # every column as text: numbers are converted below, where a bad value can be named
        else f"read_csv({sql_path(path)}, header = true, all_varchar = true)"
    )
    try:
        con.execute(f"CREATE TABLE {into} AS SELECT * FROM {source}")
    except duckdb.Error as exc:
        what = "as Parquet" if parquet else "as CSV"
        raise FormatError(
            f"cannot read the {role} file {path.name} {what}: {first_line(exc)}",
            "check that the file is complete and is CSV (UTF-8, with a header line) or Parquet",
        ) from None
    found = [row[0] for row in con.execute(f"DESCRIBE {into}").fetchall()]
    by_name = {}
    for name in reversed(found):  # the first of two names differing only in case wins
        by_name[name.strip().lower()] = name
    columns = {name: by_name.get(name) for name in required + optional}
    missing = [name for name in required if columns[name] is None]
    if missing:
        wanted = ", ".join(required) + "".join(f" [, {name}]" for name in optional)
        raise FormatError(
            f"the {role} file {path.name} has no column {', '.join(missing)} (columns found: {', '.join(found)})",
            f"name the columns {wanted}" + ("" if parquet else " in a header line (the separator is detected)"),
        )
    if _scalar(con, f"SELECT count(*) FROM {into}") == 0:
        raise InputFileError(f"the {role} file {path.name} has no rows", "the file holds only a header")
    return columns


def _normalise(con, raw: str, into: str, columns: dict, numbers: dict) -> None:
    """Trimmed text ids (NULL when empty), DOUBLE numbers beside their original text, the row (from 1)."""
    selects = [
        "rowid + 1 AS row",
        f"nullif(trim(CAST({sql_ident(columns['user_id'])} AS VARCHAR)), '') AS user_id",
        f"nullif(trim(CAST({sql_ident(columns['item_id'])} AS VARCHAR)), '') AS item_id",
    ]
    for name, column in numbers.items():
        selects.append(f"TRY_CAST({sql_ident(column)} AS DOUBLE) AS {name}")
        selects.append(f"CAST({sql_ident(column)} AS VARCHAR) AS {name}_text")
    con.execute(f"CREATE TABLE {into} AS SELECT {', '.join(selects)} FROM {raw}")


def _first_bad(con, table: str, condition: str, value: str = "NULL") -> tuple[int, int, Any] | None:
    """(how many rows, the first such row, a value from it) for rows matching ``condition``."""
    found = con.execute(
        f"SELECT count(*) OVER (), row, {value} FROM {table} WHERE {condition} ORDER BY row LIMIT 1"
    ).fetchone()
    return None if found is None else (int(found[0]), int(found[1]), found[2])


def _check_ids(con, table: str, path: Path, role: str) -> None:
    bad = _first_bad(con, table, "user_id IS NULL OR item_id IS NULL")
    if bad:
        count, row, _ = bad
        raise FormatError(
            f"the {role} file {path.name} has {count:,} row(s) without a user or item id (first: row {row:,})",
            "rows are counted from 1, after the header; fill in or remove those rows",
        )


def _check_numbers(con, table: str, column: str, path: Path, role: str) -> None:
    """Every value of ``column`` present, numeric and not NaN (infinities are numbers)."""
    where = f"the {role} file {path.name}"
    bad = _first_bad(con, table, f"{column}_text IS NULL OR trim({column}_text) = ''")
    if bad:
        raise FormatError(
            f"{where} has {bad[0]:,} row(s) without a {column} (first: row {bad[1]:,})",
            "rows are counted from 1, after the header; every row needs a number there",
        )
    bad = _first_bad(con, table, f"{column} IS NULL", f"{column}_text")
    if bad:
        raise FormatError(
            f"{where} has {bad[0]:,} non-numeric {column}(s) (first: row {bad[1]:,}, {bad[2]!r})",
            f"the {column} column must hold numbers; is the separator or the column right?",
        )
    bad = _first_bad(con, table, f"isnan({column})")
    if bad:
        raise FormatError(
            f"{where} has {bad[0]:,} NaN {column}(s) (first: row {bad[1]:,})",
            "NaN cannot be ranked: drop those rows, or give them a number"
            + (" (e.g. -inf for 'last')" if column == "score" else ""),
        )


def _check_duplicates(con, path: Path) -> None:
    found = con.execute(
        "SELECT sum(n - 1) OVER (), user_id, item_id, n FROM"
        " (SELECT user_id, item_id, count(*) AS n, min(row) AS first FROM pred GROUP BY user_id, item_id HAVING n > 1)"
        " ORDER BY first LIMIT 1"
    ).fetchone()
    if found:
        extra, user, item, times = found
        raise FormatError(
            f"the predictions file {path.name} lists an item more than once for a user: {int(extra):,} duplicate"
            f" row(s) (first: user '{user}', item '{item}', {times} times)",
            "keep one row per user and item (e.g. the one with the best score)",
        )


def _all_integers(con, table: str, column: str) -> bool:
    query = f"SELECT coalesce(bool_and(regexp_full_match({column}, {_INTEGER_ID})), false) FROM {table}"
    return bool(_scalar(con, query))


def _id_order(column: str, as_integers: bool) -> str:
    # As integers, '01' and '1' are equal: the text breaks that tie, so the order is total.
    return f"CAST({column} AS HUGEINT), {column}" if as_integers else column


def _scalar(con, query: str) -> int:
    return int(con.execute(query).fetchone()[0])


def _warnings(counts: dict[str, int], k_max: int) -> list[str]:
    notes = []
    if counts["prediction_users_not_in_truth"]:
        notes.append(
            f"{counts['prediction_users_not_in_truth']:,} user(s) in the predictions are not in the truth file:"
            f" ignored ({counts['prediction_rows_ignored']:,} row(s))"
        )
    if counts["evaluated_users_without_predictions"]:
        notes.append(
            f"{counts['evaluated_users_without_predictions']:,} evaluated user(s) have no predictions: they score 0"
        )
    if counts["lists_shorter_than_k_max"]:
        notes.append(
            f"{counts['lists_shorter_than_k_max']:,} evaluated user(s) have fewer than {k_max} predictions"
            " (precision@K still divides by K)"
        )
    # Most recommended items are not in a held-out truth; none of them is a sign of mismatched ids.
    if counts["predicted_items"] and counts["predicted_items_not_in_truth"] == counts["predicted_items"]:
        notes.append(
            f"none of the {counts['predicted_items']:,} predicted items appears in the truth file:"
            " do both files use the same item ids?"
        )
    if counts["truth_users_without_relevant_items"]:
        notes.append(
            f"{counts['truth_users_without_relevant_items']:,} truth user(s) have no relevant item: not evaluated"
        )
    return notes
