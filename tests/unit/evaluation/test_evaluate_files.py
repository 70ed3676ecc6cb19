"""evaluate_files: lists from any tool's CSV or Parquet, scored with the pinned metrics.

One example is computed by hand (the arithmetic is in the comments); the same data as
CSV and as Parquet must give identical numbers. Then string ids, the counts in the
protocol, the rank column, ties by item id, and every bad input with its narrow error.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys_cli.errors import FormatError, InputFileError, InvalidParameterError
from recsys_cli.evaluation.predictions import FileEvaluation, evaluate_files

# truth: user -> (item, rating)
#   u1: 10 (5), 20 (3), 30 (4)
#   u2: 40 (5)
#   u3: 10 (2)
#   u4: 50 (5)                       no predictions -> scores 0, still in the means
TRUTH = [(1, 10, 5.0), (1, 20, 3.0), (1, 30, 4.0), (2, 40, 5.0), (3, 10, 2.0), (4, 50, 5.0)]
# predictions: user, item, score
#   u1: 20 .9, 10 .8, then 60 and 30 tied at .5 -> item 30 first: list [20, 10, 30, 60]
#   u2: 40 .1, 10 .7                       -> list [10, 40] (shorter than K_max = 4)
#   u3: 10 1.0                             -> list [10]     (shorter than K_max = 4)
#   u9: not in the truth file              -> ignored, counted
PREDICTIONS = [
    (1, 60, 0.5),
    (1, 20, 0.9),
    (1, 30, 0.5),
    (1, 10, 0.8),
    (2, 40, 0.1),
    (2, 10, 0.7),
    (3, 10, 1.0),
    (9, 10, 1.0),
]
L3 = 1 / math.log2(3)  # discount at rank 2


def write_csv(path: Path, header: list[str], rows, sep: str = ",") -> Path:
    lines = [sep.join(header)] + [sep.join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_parquet(path: Path, header: list[str], rows) -> Path:
    columns = list(zip(*rows)) if rows else [[] for _ in header]
    pq.write_table(pa.table({name: list(values) for name, values in zip(header, columns)}), path)
    return path


@pytest.fixture
def csv_files(tmp_path):
    return (
        write_csv(tmp_path / "pred.csv", ["user_id", "item_id", "score"], PREDICTIONS),
        write_csv(tmp_path / "truth.csv", ["user_id", "item_id", "rating"], TRUTH),
    )


@pytest.fixture
def parquet_files(tmp_path):
    return (
        write_parquet(tmp_path / "pred.parquet", ["user_id", "item_id", "score"], PREDICTIONS),
        # no extension: recognised by its magic bytes
        write_parquet(tmp_path / "truth_export", ["user_id", "item_id", "rating"], TRUTH),
    )


def check_hand_computed(m: dict[str, float]) -> None:
    # 4 evaluated users; relevant sets {10, 20, 30}, {40}, {10}, {50}
    # @2: u1 [20, 10] 2 hits; u2 [10, 40] 1 hit at rank 2; u3 [10] 1 hit; u4 nothing
    assert m["precision@2"] == pytest.approx((1 + 0.5 + 0.5 + 0) / 4)
    assert m["recall@2"] == pytest.approx((2 / 3 + 1 + 1 + 0) / 4)
    assert m["hit_rate@2"] == pytest.approx(3 / 4)
    # u1: dcg = idcg = 1 + 1/log2 3; u2: dcg 1/log2 3, idcg 1; u3: 1
    assert m["ndcg@2"] == pytest.approx((1 + L3 + 1 + 0) / 4)
    assert m["mrr@2"] == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    # u1: (p@1 + p@2) / min(2, 3) = 1; u2: p@2 / 1 = 0.5; u3: 1
    assert m["map@2"] == pytest.approx((1 + 0.5 + 1 + 0) / 4)
    # top-2 lists {20, 10} | {10, 40} | {10} = 3 of the 6 items in the files (10 20 30 40 50 60)
    assert m["coverage@2"] == pytest.approx(3 / 6)
    # @4: u1 [20, 10, 30, 60] 3 hits; u2 1 hit; u3 1 hit
    assert m["precision@4"] == pytest.approx((3 / 4 + 1 / 4 + 1 / 4 + 0) / 4)
    assert m["recall@4"] == pytest.approx((1 + 1 + 1 + 0) / 4)
    # u1: dcg = 1 + 1/log2 3 + 1/2 = idcg over min(4, 3) ranks
    assert m["ndcg@4"] == pytest.approx((1 + L3 + 1 + 0) / 4)
    assert m["coverage@4"] == pytest.approx(5 / 6)  # {10, 20, 30, 40, 60}
    assert not any(key.startswith("novelty") for key in m)


def test_hand_computed_from_csv_and_parquet_agree(csv_files, parquet_files):
    from_csv = evaluate_files(*csv_files, ks=(4, 2))
    from_parquet = evaluate_files(*parquet_files, ks=[2, 4])
    assert isinstance(from_csv, FileEvaluation)
    check_hand_computed(from_csv.metrics)
    assert from_csv.metrics == from_parquet.metrics
    names = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate", "coverage")
    assert list(from_csv.metrics)[:7] == [f"{name}@2" for name in names]

    p = from_csv.protocol
    assert p["ks"] == [2, 4] and p["users_evaluated"] == 4
    assert p["predictions"] == str(csv_files[0]) and p["truth"] == str(csv_files[1])
    assert p["relevance"] == "every truth row"
    assert "6 distinct items" in p["coverage_denominator"]
    assert "not computed" in p["novelty"]
    assert p["prediction_users_not_in_truth"] == 1 and p["prediction_rows_ignored"] == 1
    assert p["evaluated_users_without_predictions"] == 1  # u4
    assert p["predicted_items_not_in_truth"] == 1  # item 60
    assert p["lists_shorter_than_k_max"] == 2  # u2, u3
    assert p["prediction_rows"] == 8 and p["truth_rows"] == 6 and p["truth_users"] == 4
    assert p["prediction_rows_beyond_k_max"] == 0 and p["duplicate_truth_rows"] == 0
    assert p["predicted_items"] == 5  # 10 20 30 40 60
    assert from_csv.warnings == [
        "1 user(s) in the predictions are not in the truth file: ignored (1 row(s))",
        "1 evaluated user(s) have no predictions: they score 0",
        "2 evaluated user(s) have fewer than 4 predictions (precision@K still divides by K)",
    ]
    assert {k: v for k, v in from_parquet.protocol.items() if k not in ("predictions", "truth")} == {
        k: v for k, v in p.items() if k not in ("predictions", "truth")
    }

    table = from_csv.per_user
    assert table.column_names[:3] == ["user", "user_id", "n_relevant"]
    assert table.column("user_id").to_pylist() == ["1", "2", "3", "4"]
    assert table.column("precision@4").to_pylist() == pytest.approx([0.75, 0.25, 0.25, 0.0])


def test_relevance_rule_catalog_size_and_k_cut(csv_files):
    result = evaluate_files(*csv_files, ks=[2], relevant_min_rating=4, n_catalog_items=12)
    # relevant: u1 {10, 30}, u2 {40}, u4 {50}; u3 (rating 2) is not evaluated
    # @2: u1 [20, 10] 1 hit; u2 [10, 40] 1 hit; u4 nothing
    assert result.metrics["precision@2"] == pytest.approx((0.5 + 0.5 + 0) / 3)
    assert result.metrics["recall@2"] == pytest.approx((0.5 + 1 + 0) / 3)
    # u3's list is not counted: {20, 10} | {10, 40}
    assert result.metrics["coverage@2"] == pytest.approx(3 / 12)
    p = result.protocol
    assert p["relevance"] == "truth rows with rating >= 4" and p["users_evaluated"] == 3
    assert p["truth_users_without_relevant_items"] == 1
    assert "12 items (the catalogue size given)" == p["coverage_denominator"]
    assert p["prediction_rows_beyond_k_max"] == 2  # u1's 30 and 60
    assert p["lists_shorter_than_k_max"] == 0
    assert result.per_user.column("user_id").to_pylist() == ["1", "2", "4"]


def test_string_ids_match_integers_across_files_and_order_as_text(tmp_path):
    # truth as CSV text ids, predictions as Parquet with integer users and text items
    truth = write_csv(tmp_path / "t.csv", ["user_id", "item_id"], [("7", "9"), ("7", "b"), ("alice", "B")])
    pred = write_parquet(
        tmp_path / "p.parquet",
        ["user_id", "item_id", "score"],
        # user 7 (an integer here, text in the truth): 10, 9, b and B all tied -> text order 10, 9, B, b
        [(7, "b", 1.0), (7, "9", 1.0), (7, "B", 1.0), (7, "10", 1.0)],
    )
    result = evaluate_files(pred, truth, ks=[1, 4])
    assert result.protocol["item_id_order"] == "as text"
    # u7: [10, 9, B, b]: hits at ranks 2 and 4; alice: no predictions
    assert result.metrics["mrr@4"] == pytest.approx((1 / 2 + 0) / 2)
    assert result.metrics["precision@1"] == 0.0
    assert result.metrics["map@4"] == pytest.approx(((1 / 2 + 2 / 4) / 2 + 0) / 2)
    assert result.protocol["prediction_users_not_in_truth"] == 0
    assert result.protocol["predicted_items_not_in_truth"] == 1  # "10"
    assert result.per_user.column("user_id").to_pylist() == ["7", "alice"]


def test_no_predicted_item_in_truth_warns_of_mismatched_ids(tmp_path):
    truth = write_csv(tmp_path / "t.csv", ["user_id", "item_id"], [(1, "m1"), (2, "m2")])
    pred = write_csv(tmp_path / "p.csv", ["user_id", "item_id", "score"], [(1, 1, 0.5), (2, 2, 0.5)])
    result = evaluate_files(pred, truth, ks=[1])
    assert result.metrics["precision@1"] == 0.0
    assert result.protocol["predicted_items_not_in_truth"] == 2
    assert any("none of the 2 predicted items" in note for note in result.warnings)


def test_ties_by_integer_item_id_and_rank_column(tmp_path):
    truth = write_csv(tmp_path / "t.csv", ["user_id", "item_id"], [(1, 9)])
    # 10 and 9 tied: as integers 9 comes first (as text "10" would)
    tied = write_csv(tmp_path / "p.csv", ["user_id", "item_id", "score"], [(1, 10, 0.5), (1, 9, 0.5)])
    result = evaluate_files(tied, truth, ks=[1])
    assert result.protocol["item_id_order"] == "as integers"
    assert result.metrics["precision@1"] == 1.0
    # a rank column orders the list whatever the scores say: 10 at rank 1, 9 at rank 2
    ranked = write_csv(
        tmp_path / "r.tsv", ["user_id", "item_id", "score", "rank"], [(1, 9, 0.9, 2), (1, 10, 0.1, 1)], sep="\t"
    )
    result = evaluate_files(ranked, truth, ks=[1, 2])
    assert result.metrics["precision@1"] == 0.0 and result.metrics["mrr@2"] == 0.5
    assert result.protocol["ordering"].startswith("rank ascending")
    # without the rank column the same scores put 9 first
    plain = write_csv(tmp_path / "s.csv", ["user_id", "item_id", "score"], [(1, 9, 0.9), (1, 10, 0.1)], sep=";")
    assert evaluate_files(plain, truth, ks=[1]).metrics["precision@1"] == 1.0


def test_column_names_ignore_case_and_ids_are_trimmed(tmp_path):
    truth = write_csv(tmp_path / "t.csv", ["USER_ID", "Item_Id"], [(1, 5)])
    pred = tmp_path / "p.csv"
    pred.write_text('User_Id,ITEM_ID,Score\n" 1"," 5 ",2.5\n')
    assert evaluate_files(pred, truth, ks=[1]).metrics["precision@1"] == 1.0


# --- bad input: each with its narrow error ------------------------------------------------


def test_missing_empty_and_header_only_files(tmp_path, csv_files):
    pred, truth = csv_files
    with pytest.raises(InputFileError, match="predictions file not found"):
        evaluate_files(tmp_path / "nope.csv", truth)
    with pytest.raises(InputFileError, match="truth file not found"):
        evaluate_files(pred, tmp_path / "nope.parquet")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match="empty"):
        evaluate_files(empty, truth)
    header_only = write_csv(tmp_path / "h.csv", ["user_id", "item_id", "score"], [])
    with pytest.raises(InputFileError, match="has no rows"):
        evaluate_files(header_only, truth)
    with pytest.raises(InputFileError, match="folder"):
        evaluate_files(pred, tmp_path)


def test_unreadable_files(tmp_path, csv_files):
    pred, truth = csv_files
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\x00garbage" * 10)
    with pytest.raises(FormatError, match="cannot read the predictions file broken.parquet as Parquet"):
        evaluate_files(broken, truth)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("user_id,item_id\n1,caf\xe9\n".encode("latin-1"))
    with pytest.raises(FormatError, match="cannot read the truth file latin.csv as CSV"):
        evaluate_files(pred, latin)


def test_missing_columns_are_named_with_the_columns_found(tmp_path, csv_files):
    pred, truth = csv_files
    no_score = write_csv(tmp_path / "p.csv", ["user_id", "item_id", "weight"], [(1, 10, 0.5)])
    with pytest.raises(FormatError, match=r"no column score \(columns found: user_id, item_id, weight\)") as err:
        evaluate_files(no_score, truth)
    assert "header line" in err.value.hint
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("1,10,0.5\n2,20,0.25\n")
    with pytest.raises(FormatError, match="no column user_id, item_id, score"):
        evaluate_files(headerless, truth)
    no_item = write_parquet(tmp_path / "t.parquet", ["user_id", "movie"], [(1, 10)])
    with pytest.raises(FormatError, match=r"t.parquet has no column item_id \(columns found: user_id, movie\)"):
        evaluate_files(pred, no_item)
    no_rating = write_csv(tmp_path / "t.csv", ["user_id", "item_id"], [(1, 10)])
    with pytest.raises(FormatError, match="no rating column"):
        evaluate_files(pred, no_rating, relevant_min_rating=4)


@pytest.mark.parametrize(
    "score, message",
    [
        ("abc", r"1 non-numeric score\(s\) \(first: row 2, 'abc'\)"),
        ("nan", r"1 NaN score\(s\) \(first: row 2\)"),
        ("", r"1 row\(s\) without a score \(first: row 2\)"),
    ],
)
def test_bad_scores(tmp_path, csv_files, score, message):
    pred = write_csv(tmp_path / "p.csv", ["user_id", "item_id", "score"], [(1, 10, 0.5), (1, 20, score), (2, 40, 1)])
    with pytest.raises(FormatError, match=message):
        evaluate_files(pred, csv_files[1])


def test_nan_score_in_parquet_and_bad_rank_and_rating(tmp_path, csv_files):
    pred, truth = csv_files
    nan_parquet = write_parquet(tmp_path / "p.parquet", ["user_id", "item_id", "score"], [(1, 10, float("nan"))])
    with pytest.raises(FormatError, match="NaN score"):
        evaluate_files(nan_parquet, truth)
    bad_rank = write_csv(tmp_path / "r.csv", ["user_id", "item_id", "score", "rank"], [(1, 10, 0.5, "first")])
    with pytest.raises(FormatError, match="non-numeric rank"):
        evaluate_files(bad_rank, truth)
    bad_rating = write_csv(tmp_path / "t.csv", ["user_id", "item_id", "rating"], [(1, 10, "five")])
    with pytest.raises(FormatError, match="non-numeric rating"):
        evaluate_files(pred, bad_rating, relevant_min_rating=4)
    # without a minimum rating the rating column is not used, so it is not checked
    assert evaluate_files(pred, bad_rating, ks=[1]).protocol["relevance"] == "every truth row"
    no_id = write_csv(tmp_path / "i.csv", ["user_id", "item_id", "score"], [(1, 10, 0.5), (2, "", 0.5)])
    with pytest.raises(FormatError, match=r"1 row\(s\) without a user or item id \(first: row 2\)"):
        evaluate_files(no_id, truth)


def test_duplicate_predictions_are_an_error(tmp_path, csv_files):
    rows = [(1, 10, 0.5), (1, 20, 0.4), (1, 10, 0.3), (2, 40, 1.0), (2, 40, 1.0), (2, 40, 0.2)]
    pred = write_csv(tmp_path / "p.csv", ["user_id", "item_id", "score"], rows)
    with pytest.raises(FormatError, match=r"3 duplicate row\(s\) \(first: user '1', item '10', 2 times\)") as err:
        evaluate_files(pred, csv_files[1])
    assert "one row per user and item" in err.value.hint


def test_bad_parameters(csv_files):
    for bad in ([0], [10, -1], []):
        with pytest.raises(InvalidParameterError):
            evaluate_files(*csv_files, ks=bad)
    with pytest.raises(InvalidParameterError, match="each k must be a positive whole number, got 0"):
        evaluate_files(*csv_files, ks=0)
    with pytest.raises(InvalidParameterError, match="finite"):
        evaluate_files(*csv_files, relevant_min_rating=float("nan"))
    with pytest.raises(InvalidParameterError, match="smaller than the 6 distinct items"):
        evaluate_files(*csv_files, n_catalog_items=5)
    with pytest.raises(InvalidParameterError, match="no truth row is relevant"):
        evaluate_files(*csv_files, relevant_min_rating=6)
