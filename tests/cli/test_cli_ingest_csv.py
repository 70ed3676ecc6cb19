"""`recsys ingest csv`: any interaction file, and every bad input it must refuse cleanly."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from tests.support import run_json, snapshot


def write(path, text: str):
    path.write_text(text)
    return path


def ingest(cli, path, *extra):
    return cli("ingest", "csv", path, "--name", "d", "--user-col", "u", "--item-col", "i", *extra)


def test_numeric_ids_get_dense_indices_ordered_by_original_id(cli, tmp_path, workspace_dir):
    src = write(tmp_path / "r.csv", "u,i,r,t\n30,7,4,100\n10,7,3,50\n20,5,5,70\n10,5,1,10\n")
    doc = run_json(
        cli,
        "ingest",
        "csv",
        src,
        "--name",
        "d",
        "--user-col",
        "u",
        "--item-col",
        "i",
        "--rating-col",
        "r",
        "--timestamp-col",
        "t",
    )
    assert (doc["interactions"], doc["users"], doc["items"]) == (4, 3, 2)
    base = workspace_dir / doc["path"]
    vocab = pq.read_table(base / "vocab/users.parquet").to_pylist()
    assert vocab == [
        {"user_idx": 0, "user_id": "10"},
        {"user_idx": 1, "user_id": "20"},
        {"user_idx": 2, "user_id": "30"},
    ]
    table = pq.read_table(base / "interactions.parquet")
    assert str(table.schema.field("user_idx").type) == "int32"
    assert str(table.schema.field("rating").type) == "float"
    assert str(table.schema.field("ts").type) == "int64"
    # sorted by (user_idx, ts)
    assert table.to_pylist() == [
        {"user_idx": 0, "item_idx": 0, "rating": 1.0, "ts": 10},
        {"user_idx": 0, "item_idx": 1, "rating": 3.0, "ts": 50},
        {"user_idx": 1, "item_idx": 0, "rating": 5.0, "ts": 70},
        {"user_idx": 2, "item_idx": 1, "rating": 4.0, "ts": 100},
    ]


def test_string_ids_tsv_without_header_by_position(cli, tmp_path, workspace_dir):
    src = write(
        tmp_path / "r.tsv",
        "alice\tbook-1\t2021-03-01 10:00:00\nbob\tbook-2\t2021-03-02 11:00:00\nalice\tbook-2\t2021-03-03 12:00:00\n",
    )
    doc = run_json(
        cli,
        "ingest",
        "csv",
        src,
        "--name",
        "s",
        "--user-col",
        "1",
        "--item-col",
        "2",
        "--timestamp-col",
        "3",
        "--sep",
        "\\t",
        "--no-header",
    )
    assert (doc["interactions"], doc["users"], doc["items"]) == (3, 2, 2)
    rows = pq.read_table(workspace_dir / doc["path"] / "interactions.parquet").to_pylist()
    assert rows[0]["ts"] == 1614592800  # 2021-03-01 10:00:00 UTC
    assert {r["rating"] for r in rows} == {1.0}  # no rating column: implicit feedback
    items = pq.read_table(workspace_dir / doc["path"] / "vocab/items.parquet").to_pylist()
    assert [r["item_id"] for r in items] == ["book-1", "book-2"]


def test_parquet_input(cli, tmp_path):
    import pyarrow as pa

    table = pa.table({"user": ["x", "y", "y"], "item": [1, 2, 3], "score": [1.5, 2.0, 3.0]})
    pq.write_table(table, tmp_path / "r.parquet")
    doc = run_json(
        cli,
        "ingest",
        "csv",
        tmp_path / "r.parquet",
        "--name",
        "p",
        "--user-col",
        "user",
        "--item-col",
        "item",
        "--rating-col",
        "score",
    )
    assert (doc["interactions"], doc["users"], doc["items"]) == (3, 2, 3)


def test_double_colon_separator(cli, tmp_path):
    src = write(tmp_path / "ratings.dat", "1::10::5::978300760\n1::11::3::978302109\n2::10::4::978301968\n")
    doc = run_json(
        cli,
        "ingest",
        "csv",
        src,
        "--name",
        "dat",
        "--user-col",
        "1",
        "--item-col",
        "2",
        "--rating-col",
        "3",
        "--timestamp-col",
        "4",
        "--sep",
        "::",
        "--no-header",
    )
    assert doc["interactions"] == 3


def test_ids_that_look_numeric_only_at_the_start_stay_strings(cli, tmp_path):
    lines = [f"{i},{i % 7}" for i in range(30000)] + ["user-x,item-y"]
    src = write(tmp_path / "r.csv", "u,i\n" + "\n".join(lines) + "\n")
    doc = run_json(cli, "ingest", "csv", src, "--name", "d", "--user-col", "u", "--item-col", "i")
    assert doc["interactions"] == 30001
    assert doc["items"] == 8


def test_force_replaces_and_reports(cli, tmp_path, workspace_dir):
    src = write(tmp_path / "r.csv", "u,i\n1,2\n2,3\n")
    assert ingest(cli, src).exit_code == 0
    first = run_json(cli, "sql", "SELECT path FROM catalog.datasets")[0]["path"]
    src2 = write(tmp_path / "r2.csv", "u,i\n1,2\n2,3\n3,3\n")
    result = ingest(cli, src2, "--force", "--format", "json")
    assert result.exit_code == 0
    doc = json.loads(result.stdout)
    assert doc["replaced"] is True and doc["interactions"] == 3
    assert not (workspace_dir / first).exists(), "the replaced generation is removed"
    assert "replaced" in result.stderr


BAD_INPUTS = {
    "missing path": (None, "not found"),
    "empty file": ("", "is empty"),
    "wrong columns": ("a,b,c\n1,2,3\n", "--user-col 'u' is not a column"),
    "malformed line": ("u,i,r\n1,2,3\n1,3\n2,3,4\n", "line 3"),
    "non-numeric rating": ("u,i,r\n1,2,3\n1,3,great\n", "line 3: rating is not a number"),
    "non-numeric timestamp": ("u,i,r,t\n1,2,3,100\n1,3,4,yesterday-ish\n", "line 3: timestamp is not a number"),
    "header only": ("u,i,r,t\n", "no interactions"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_one_line_exit_1_and_workspace_unchanged(cli, tmp_path, workspace_dir, case):
    assert ingest(cli, write(tmp_path / "ok.csv", "u,i\n1,2\n")).exit_code == 0
    before = snapshot(workspace_dir)
    content, expected = BAD_INPUTS[case]
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    extra = ["--rating-col", "r"] if content and content.startswith("u,i,r") else []
    if content and content.startswith("u,i,r,t"):
        extra += ["--timestamp-col", "t"]
    result = cli("ingest", "csv", path, "--name", "bad", "--user-col", "u", "--item-col", "i", *extra)
    assert result.exit_code == 1, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2  # the progress line, then one error line
    assert result.stderr.strip().splitlines()[-1].startswith("error:")
    assert snapshot(workspace_dir) == before


def test_existing_name_without_force_is_refused(cli, tmp_path, workspace_dir):
    src = write(tmp_path / "r.csv", "u,i\n1,2\n")
    assert ingest(cli, src).exit_code == 0
    before = snapshot(workspace_dir)
    result = ingest(cli, src)
    assert result.exit_code == 1
    assert "already exists" in result.stderr and "--force" in result.stderr
    assert snapshot(workspace_dir) == before


def test_skip_bad_lines_reports_the_count(cli, tmp_path):
    src = write(tmp_path / "r.csv", "u,i,r\n1,2,3\n1,3\n2,3,x\n2,4,4\n")
    result = ingest(cli, src, "--rating-col", "r", "--on-bad-lines", "skip", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["bad_lines_skipped"] == 2 and doc["interactions"] == 2
    assert "skipped 2 malformed line(s)" in result.stderr


def test_first_failed_command_leaves_no_workspace(cli, tmp_path, workspace_dir):
    result = ingest(cli, write(tmp_path / "bad.csv", "a,b\n1,2\n"))
    assert result.exit_code == 1
    assert not workspace_dir.exists()


@pytest.mark.parametrize("name, message", [("../evil", "invalid dataset name"), ("catalog", "is reserved")])
def test_invalid_dataset_name(cli, tmp_path, workspace_dir, name, message):
    result = cli(
        "ingest", "csv", write(tmp_path / "r.csv", "u,i\n1,2\n"), "--name", name, "--user-col", "u", "--item-col", "i"
    )
    assert result.exit_code == 1 and message in result.stderr
    assert not workspace_dir.exists()


# -- timestamps that are dates ------------------------------------------------------------------
DATES = "u,i,r,ts\n1,2,3,2020-01-01\n1,3,4,2020-01-02\n2,3,4,2020-01-03\n2,4,4,soon\n"


def test_date_timestamps_name_only_the_line_that_is_no_date(cli, tmp_path):
    src = write(tmp_path / "dts.csv", DATES)
    result = ingest(cli, src, "--rating-col", "r", "--timestamp-col", "ts")
    assert result.exit_code == 1
    assert "dts.csv line 5: timestamp is not a number or a date ('2,4,4,soon')" in result.stderr


def test_date_timestamps_skip_keeps_the_good_lines(cli, tmp_path, workspace_dir):
    src = write(tmp_path / "dts.csv", DATES)
    result = ingest(
        cli, src, "--rating-col", "r", "--timestamp-col", "ts", "--on-bad-lines", "skip", "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["interactions"], doc["bad_lines_skipped"]) == (3, 1)
    rows = pq.read_table(workspace_dir / doc["path"] / "interactions.parquet").to_pylist()
    assert [r["ts"] for r in rows] == [1577836800, 1577923200, 1578009600]


def test_epochs_and_dates_mixed_in_one_column(cli, tmp_path, workspace_dir):
    # the sniffer's sample (20480 lines) says dates; an epoch further down is no bad line
    lines = [f"{n % 50},{n % 7},2020-01-{1 + n % 28:02d}" for n in range(30000)] + ["7,8,86400"]
    src = write(tmp_path / "mix.csv", "u,i,ts\n" + "\n".join(lines) + "\n")
    doc = run_json(
        cli, "ingest", "csv", src, "--name", "d", "--user-col", "u", "--item-col", "i", "--timestamp-col", "ts"
    )
    assert doc["interactions"] == 30001
    ts = pq.read_table(workspace_dir / doc["path"] / "interactions.parquet", columns=["ts"]).column(0).to_pylist()
    assert 86400 in ts and min(ts) == 86400 and max(ts) == 1577836800 + 27 * 86400


# -- rows the canonical files cannot hold -------------------------------------------------------
def test_non_finite_ratings_are_bad_lines(cli, tmp_path, workspace_dir):
    src = write(tmp_path / "r.csv", "u,i,r\n1,2,3\n1,3,nan\n2,3,inf\n2,4,4\n")
    result = ingest(cli, src, "--rating-col", "r")
    assert result.exit_code == 1
    assert "2 line(s) have a missing or non-finite rating" in result.stderr
    doc = run_json(
        cli,
        "ingest",
        "csv",
        src,
        "--name",
        "d",
        "--user-col",
        "u",
        "--item-col",
        "i",
        "--rating-col",
        "r",
        "--on-bad-lines",
        "skip",
    )
    assert (doc["interactions"], doc["bad_lines_skipped"]) == (2, 2)
    ratings = pq.read_table(workspace_dir / doc["path"] / "interactions.parquet").column("rating").to_pylist()
    assert ratings == [3.0, 4.0]


def assert_catalog_matches_files(cli, workspace_dir, name):
    record = run_json(cli, "sql", f"SELECT * FROM catalog.datasets WHERE name = '{name}'")[0]
    base = workspace_dir / record["path"]
    assert record["n_interactions"] == pq.read_metadata(base / "interactions.parquet").num_rows
    assert record["n_users"] == pq.read_metadata(base / "vocab/users.parquet").num_rows
    assert record["n_items"] == pq.read_metadata(base / "vocab/items.parquet").num_rows
    for vocab in ("users", "items"):
        ids = pq.read_table(base / f"vocab/{vocab}.parquet").column(1).to_pylist()
        assert None not in ids and "" not in ids
    return record


def bad_parquet(path):
    import pyarrow as pa

    pq.write_table(
        pa.table(
            {
                "user": ["x", None, "y", "y", "z"],
                "item": [1, 2, 3, None, 5],
                "score": [1.0, 2.0, float("nan"), 3.0, 4.0],
                "when": ["2020-01-01", "100", "2020-01-03", "2020-01-04", "1970-01-02 00:00:00"],
            }
        ),
        path,
    )
    return path


def parquet_args(path, *extra):
    return (
        "ingest",
        "csv",
        path,
        "--name",
        "p",
        "--user-col",
        "user",
        "--item-col",
        "item",
        "--rating-col",
        "score",
        "--timestamp-col",
        "when",
        *extra,
    )


def test_parquet_bad_rows_are_named(cli, tmp_path, workspace_dir):
    result = cli(*parquet_args(bad_parquet(tmp_path / "r.parquet")))
    assert result.exit_code == 1
    assert "r.parquet row 2: an empty user or item id (3 bad rows in all)" in result.stderr
    assert not workspace_dir.exists()


def test_parquet_skip_drops_bad_rows_and_the_catalog_counts_what_was_written(cli, tmp_path, workspace_dir):
    result = cli(*parquet_args(bad_parquet(tmp_path / "r.parquet"), "--on-bad-lines", "skip", "--format", "json"))
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["interactions"], doc["users"], doc["items"], doc["bad_lines_skipped"]) == (2, 2, 2, 3)
    assert "skipped 2 row(s) of r.parquet with an empty user or item id" in result.stderr
    assert "skipped 1 row(s) of r.parquet with a missing or non-finite rating" in result.stderr
    record = assert_catalog_matches_files(cli, workspace_dir, "p")
    rows = pq.read_table(workspace_dir / record["path"] / "interactions.parquet").to_pylist()
    # string dates and epochs in a text column are read like a CSV's
    assert sorted(r["ts"] for r in rows) == [86400, 1577836800]


def test_csv_skip_catalog_counts_what_was_written(cli, tmp_path, workspace_dir):
    src = write(tmp_path / "r.csv", "u,i,r,t\n1,2,3,100\n,3,4,200\n2,,4,300\n2,4,nan,400\n3,4,5,500\n3,5,5,\n")
    result = ingest(cli, src, "--rating-col", "r", "--timestamp-col", "t", "--on-bad-lines", "skip", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["bad_lines_skipped"] == 4
    record = assert_catalog_matches_files(cli, workspace_dir, "d")
    assert record["n_interactions"] == 2


def test_parquet_string_dates_as_timestamps(cli, tmp_path, workspace_dir):
    import pyarrow as pa

    table = pa.table({"u": [1, 2], "i": [3, 4], "t": ["2021-03-01 10:00:00", "2021-03-02"]})
    pq.write_table(table, tmp_path / "r.parquet")
    doc = run_json(
        cli,
        "ingest",
        "csv",
        tmp_path / "r.parquet",
        "--name",
        "d",
        "--user-col",
        "u",
        "--item-col",
        "i",
        "--timestamp-col",
        "t",
    )
    rows = pq.read_table(workspace_dir / doc["path"] / "interactions.parquet").to_pylist()
    assert [r["ts"] for r in rows] == [1614592800, 1614643200]


def test_csv_flags_for_a_parquet_file_are_ignored_with_a_warning(cli, tmp_path):
    import pyarrow as pa

    pq.write_table(pa.table({"u": [1, 2], "i": [3, 4]}), tmp_path / "r.parquet")
    result = cli(
        "ingest",
        "csv",
        tmp_path / "r.parquet",
        "--name",
        "d",
        "--user-col",
        "u",
        "--item-col",
        "i",
        "--sep",
        ";",
        "--no-header",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert "warning: ignored --sep, --header/--no-header: r.parquet is a Parquet file" in result.stderr


# -- flags ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "sep, text",
    [
        ("\\", "u\\i\n1\\2\n"),
        ("§", "u§i\n1§2\n"),
        ("tab", "u\ti\n1\t2\n"),
        ("\\t", "u\ti\n1\t2\n"),
        ("|", "u|i\n1|2\n"),
    ],
)
def test_separators_are_taken_literally_except_tab(cli, tmp_path, sep, text):
    src = tmp_path / "r.txt"
    src.write_bytes(text.encode())
    result = ingest(cli, src, "--sep", sep, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["interactions"] == 1


def test_empty_separator_is_a_usage_error(cli, tmp_path):
    result = ingest(cli, write(tmp_path / "r.csv", "u,i\n1,2\n"), "--sep", "")
    assert result.exit_code == 2
    assert "separator is empty" in result.stderr


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--item-col", "u"], "column 'u' is used for both user and item"),
        (["--item-col", "i", "--rating-col", "1"], "column 'u' is used for both user and rating"),
        (
            ["--item-col", "i", "--rating-col", "r", "--timestamp-col", "R"],
            "column 'r' is used for both rating and timestamp",
        ),
    ],
)
def test_one_column_cannot_play_two_roles(cli, tmp_path, workspace_dir, flags, message):
    src = write(tmp_path / "r.csv", "u,i,r\n1,2,3\n")
    result = cli("ingest", "csv", src, "--name", "d", "--user-col", "u", *flags)
    assert result.exit_code == 1
    assert message in result.stderr
    assert not workspace_dir.exists()


def test_column_names_with_quotes(cli, tmp_path):
    src = write(tmp_path / "r.csv", "u\"x,i'y,r\n1,2,3\n2,3,4\n")
    doc = run_json(
        cli, "ingest", "csv", src, "--name", "d", "--user-col", 'u"x', "--item-col", "i'y", "--rating-col", "r"
    )
    assert doc["interactions"] == 2


@pytest.mark.parametrize(
    "flag, value", [("--encoding", "utf-8' , sep = 'x"), ("--encoding", "ascii"), ("--on-bad-lines", "sometimes")]
)
def test_choice_flags_refuse_other_values(cli, tmp_path, workspace_dir, flag, value):
    result = ingest(cli, write(tmp_path / "r.csv", "u,i\n1,2\n"), flag, value)
    assert result.exit_code == 2
    assert not workspace_dir.exists()


def test_choice_flags_are_listed_in_help(cli):
    out = cli("ingest", "csv", "--help").stdout
    assert "utf-8|latin-1|utf-16" in out and "error|skip" in out
    assert "error|skip" in cli("ingest", "card", "--help").stdout


def test_latin1_encoding(cli, tmp_path):
    src = tmp_path / "r.csv"
    src.write_bytes("u,i\nJosé,Café\n".encode("latin-1"))
    doc = run_json(
        cli, "ingest", "csv", src, "--name", "d", "--user-col", "u", "--item-col", "i", "--encoding", "latin-1"
    )
    assert doc["interactions"] == 1
