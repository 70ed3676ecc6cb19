"""`recsys sql`: read-only SQL over the registered datasets and splits."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import assert_clean_failure, run_json, snapshot


@pytest.fixture
def two_datasets(cli, tmp_path):
    (tmp_path / "a.csv").write_text("u,i,r\n1,10,5\n1,11,3\n2,10,4\n")
    (tmp_path / "b.csv").write_text("u,i\nx,p\ny,q\n")
    assert (
        cli(
            "ingest",
            "csv",
            tmp_path / "a.csv",
            "--name",
            "a",
            "--user-col",
            "u",
            "--item-col",
            "i",
            "--rating-col",
            "r",
        ).exit_code
        == 0
    )
    assert (
        cli("ingest", "csv", tmp_path / "b.csv", "--name", "b-2", "--user-col", "u", "--item-col", "i").exit_code == 0
    )


def test_views_per_dataset_and_catalog(cli, two_datasets):
    rows = run_json(cli, "sql", "SELECT count(*) AS n, avg(rating) AS r FROM a.interactions")
    assert rows == [{"n": 3, "r": 4.0}]
    rows = run_json(cli, "sql", 'SELECT user_id FROM "b-2".user_vocab ORDER BY user_idx')
    assert [r["user_id"] for r in rows] == ["x", "y"]
    rows = run_json(cli, "sql", "SELECT name, n_interactions FROM catalog.datasets ORDER BY name")
    assert rows == [{"name": "a", "n_interactions": 3}, {"name": "b-2", "n_interactions": 2}]


def test_dataset_option_sets_the_default_schema(cli, two_datasets):
    assert run_json(cli, "sql", "SELECT count(*) AS n FROM items", "--dataset", "b-2") == [{"n": 2}]


def test_ambiguous_view_names_the_fix(cli, two_datasets):
    result = cli("sql", "SELECT * FROM interactions")
    assert result.exit_code == 1
    assert "--dataset" in result.stderr


def test_split_parts_are_queryable(cli, two_datasets):
    assert cli("split", "a", "--name", "s", "--strategy", "random", "--test-fraction", "0.34").exit_code == 0
    rows = run_json(cli, "sql", "SELECT part, count(*) AS n FROM a.splits GROUP BY part ORDER BY part")
    assert {r["part"]: r["n"] for r in rows} == {"test": 1, "train": 2}


@pytest.mark.parametrize(
    "query, message",
    [
        ("DROP VIEW a.interactions", "only read-only"),
        ("CREATE TABLE t AS SELECT 1", "only read-only"),
        ("COPY (SELECT 1) TO 'out.csv'", "only read-only"),
        ("ATTACH 'other.db'", "only read-only"),
        ("SELECT * FROM read_csv('/etc/passwd')", "workspace's own files"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELEC 1", "syntax"),
        ("SELECT * FROM nope", "does not exist"),
    ],
)
def test_writes_and_outside_files_are_refused(cli, two_datasets, workspace_dir, tmp_path, query, message):
    before = snapshot(workspace_dir)
    result = cli("sql", query)
    assert result.exit_code == 1, result.stdout
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(workspace_dir) == before
    assert not (tmp_path / "out.csv").exists()


def test_formats(cli, two_datasets):
    csv_out = cli("sql", "SELECT user_idx, item_idx FROM a.interactions ORDER BY 1, 2", "--format", "csv").stdout
    assert csv_out.splitlines() == ["user_idx,item_idx", "0,0", "0,1", "1,0"]
    md = cli("sql", "SELECT 1 AS one", "--format", "markdown").stdout
    assert "| one |" in md
    table = cli("sql", "SELECT 42 AS answer", "--format", "table").stdout
    assert "answer" in table and "42" in table


def test_limit_truncates_and_says_so(cli, two_datasets):
    result = cli("sql", "SELECT * FROM range(50)", "--limit", "5", "--format", "json")
    assert result.exit_code == 0
    assert len(__import__("json").loads(result.stdout)) == 5
    assert "first 5 rows" in result.stderr


def test_limit_0_prints_every_row_and_the_truncation_warning_says_how(cli, two_datasets):
    query = "SELECT x, x * x AS square FROM range(2500) t(x)"
    cut = cli("sql", query, "--format", "csv")
    assert cut.exit_code == 0 and len(cut.stdout.splitlines()) == 1 + 1000
    assert "showing the first 1,000 rows; pass --limit 0 for all" in cut.stderr
    everything = cli("sql", query, "--format", "csv", "--limit", "0")
    assert everything.exit_code == 0, everything.stderr
    lines = everything.stdout.splitlines()
    assert lines[0] == "x,square" and len(lines) == 1 + 2500 and lines[-1] == "2499,6245001"
    assert everything.stderr == ""  # nothing cut, nothing to warn about
    assert len(run_json(cli, "sql", query, "--limit", "0")) == 2500


def test_no_workspace(cli):
    result = cli("sql", "SELECT 1")
    assert result.exit_code == 1 and "no recsys workspace" in result.stderr


def strict_json(text: str):
    """Parse JSON as a strict parser would: NaN and Infinity are not JSON."""
    import json

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_time_zone_aware_timestamps(cli, two_datasets):
    # DuckDB's own Python conversion of TIMESTAMPTZ needs pytz; Arrow's does not
    result = cli("sql", "SELECT to_timestamp(0) AS t, now() AS n", "--format", "json")
    assert result.exit_code == 0, result.stderr
    row = strict_json(result.stdout)[0]
    assert row["t"].startswith("1970-01-01T00:00:00")
    assert cli("sql", "SELECT now() AS n", "--format", "table").exit_code == 0


def test_every_type_is_valid_json(cli, two_datasets):
    query = (
        r"SELECT 1.50::DECIMAL(4, 2) AS d, 'nan'::DOUBLE AS nan, 'inf'::DOUBLE AS inf, '\xAA\x01'::BLOB AS b,"
        " INTERVAL 1 DAY + INTERVAL 90 MINUTE AS iv, DATE '2020-01-02' AS day, [1.0, 'nan'::DOUBLE] AS l,"
        " {'x': 'inf'::FLOAT} AS s, sum(x) AS total FROM range(4) t(x)"
    )
    result = cli("sql", query, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert strict_json(result.stdout) == [
        {
            "d": 1.5,
            "nan": None,
            "inf": None,
            "b": "aa01",
            "iv": "P1DT1H30M",
            "day": "2020-01-02",
            "l": [1.0, None],
            "s": {"x": None},
            "total": 6,
        }
    ]
    for fmt in ("csv", "table", "markdown"):
        assert cli("sql", query, "--format", fmt).exit_code == 0


def test_repeated_column_names_are_kept_apart_in_every_format(cli, two_datasets):
    query = "SELECT 1 AS a, 2 AS a, 3 AS b"
    assert strict_json(cli("sql", query, "--format", "json").stdout) == [{"a": 1, "a_2": 2, "b": 3}]
    assert cli("sql", query, "--format", "csv").stdout.splitlines() == ["a,a_2,b", "1,2,3"]
    assert "| a | a_2 | b |" in cli("sql", query, "--format", "markdown").stdout


def test_limit_stops_reading_a_huge_result(cli, two_datasets):
    result = cli("sql", "SELECT * FROM range(1000000000000)", "--limit", "3", "--format", "json")
    assert result.exit_code == 0
    assert strict_json(result.stdout) == [{"range": 0}, {"range": 1}, {"range": 2}]


@pytest.mark.parametrize(
    "limit, failing_row",
    [
        ((), 600),  # inside the 1,000 rows the default --limit reads: DuckDB must compute it
        (("--limit", "0"), 250_000),  # every row is read; the failure comes batches after the first
    ],
)
def test_an_error_while_streaming_is_a_clean_error(cli, two_datasets, limit, failing_row):
    # The failing row is one the command reads whatever DuckDB computes ahead of it. (A row beyond the
    # limit, as this test once had, failed or not depending on how far DuckDB ran ahead: flaky.)
    query = (
        f"SELECT x, CASE WHEN x = {failing_row} THEN error('row {failing_row} fails') ELSE x END AS y"
        " FROM range(300000) t(x)"
    )
    result = cli("sql", query, *limit, "--format", "csv")
    assert_clean_failure(result, f"row {failing_row} fails")
    assert result.stdout == ""  # the rows before it are not printed: the output is all or nothing


def test_first_line_finds_the_substance_of_a_message():
    from recsys_cli.data.sqltext import first_line

    pytz = (
        "Invalid Input Error: Required module 'pytz' failed to import, due to the following Python exception:\n"
        'Traceback (most recent call last):\n  File "<string>", line 3, in <module>\n'
        "ModuleNotFoundError: No module named 'pytz'"
    )
    assert first_line(pytz).endswith("exception: ModuleNotFoundError: No module named 'pytz'")
    binder = 'Binder Error: column "x" not found'
    assert first_line(binder + '\nCandidate bindings: "range"') == binder
    assert first_line("Error:\n\nthe cause\nmore") == "Error: the cause"
    assert len(first_line("x" * 1000)) == 200
    assert first_line(ValueError()) == "ValueError"


def test_duckdb_temp_folder_in_the_current_folder_is_not_readable(cli, two_datasets, workspace_dir, tmp_path):
    # DuckDB's default temp_directory is .tmp in the current folder, and a locked-down connection
    # still allowed it: a query could read whatever another program left there
    secret = tmp_path / ".tmp" / "secret.csv"  # the test runs in tmp_path (the isolated fixture)
    secret.parent.mkdir()
    secret.write_text("token\nhunter2\n")
    before = snapshot(workspace_dir)
    for path in (".tmp/secret.csv", str(secret)):
        result = cli("sql", f"SELECT * FROM read_csv('{path}')", "--format", "json")
        assert_clean_failure(result, "Permission Error")
        assert "workspace's own files" in result.stderr and "hunter2" not in result.stdout
    # DuckDB spills into a scratch folder inside the workspace instead, removed after the query
    [row] = run_json(cli, "sql", "SELECT current_setting('temp_directory') AS t, count(*) AS n FROM a.interactions")
    spill = row["t"]
    assert spill.startswith(f"{workspace_dir}/.staging/sql-") and row["n"] == 3
    assert not Path(spill).exists()
    assert snapshot(workspace_dir) == before
