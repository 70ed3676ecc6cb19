"""`recsys ingest csv`: any interaction file, and every bad input it must refuse cleanly."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from conftest import run_json, snapshot


def write(path, text: str):
    path.write_text(text)
    return path


def ingest(cli, path, *extra):
    return cli("ingest", "csv", path, "--name", "d", "--user-col", "u", "--item-col", "i", *extra)


def test_numeric_ids_get_dense_indices_ordered_by_original_id(cli, tmp_path, workspace_dir):
    src = write(tmp_path / "r.csv", "u,i,r,t\n30,7,4,100\n10,7,3,50\n20,5,5,70\n10,5,1,10\n")
    doc = run_json(cli, "ingest", "csv", src, "--name", "d", "--user-col", "u", "--item-col", "i",
                   "--rating-col", "r", "--timestamp-col", "t")
    assert (doc["interactions"], doc["users"], doc["items"]) == (4, 3, 2)
    base = workspace_dir / doc["path"]
    vocab = pq.read_table(base / "vocab/users.parquet").to_pylist()
    assert vocab == [{"user_idx": 0, "user_id": "10"}, {"user_idx": 1, "user_id": "20"}, {"user_idx": 2, "user_id": "30"}]
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
    src = write(tmp_path / "r.tsv", "alice\tbook-1\t2021-03-01 10:00:00\nbob\tbook-2\t2021-03-02 11:00:00\nalice\tbook-2\t2021-03-03 12:00:00\n")
    doc = run_json(cli, "ingest", "csv", src, "--name", "s", "--user-col", "1", "--item-col", "2",
                   "--timestamp-col", "3", "--sep", "\\t", "--no-header")
    assert (doc["interactions"], doc["users"], doc["items"]) == (3, 2, 2)
    rows = pq.read_table(workspace_dir / doc["path"] / "interactions.parquet").to_pylist()
    assert rows[0]["ts"] == 1614592800  # 2021-03-01 10:00:00 UTC
    assert {r["rating"] for r in rows} == {1.0}  # no rating column: implicit feedback
    items = pq.read_table(workspace_dir / doc["path"] / "vocab/items.parquet").to_pylist()
    assert [r["item_id"] for r in items] == ["book-1", "book-2"]


def test_parquet_input(cli, tmp_path):
    import pyarrow as pa

    pq.write_table(pa.table({"user": ["x", "y", "y"], "item": [1, 2, 3], "score": [1.5, 2.0, 3.0]}), tmp_path / "r.parquet")
    doc = run_json(cli, "ingest", "csv", tmp_path / "r.parquet", "--name", "p", "--user-col", "user",
                   "--item-col", "item", "--rating-col", "score")
    assert (doc["interactions"], doc["users"], doc["items"]) == (3, 2, 3)


def test_double_colon_separator(cli, tmp_path):
    src = write(tmp_path / "ratings.dat", "1::10::5::978300760\n1::11::3::978302109\n2::10::4::978301968\n")
    doc = run_json(cli, "ingest", "csv", src, "--name", "dat", "--user-col", "1", "--item-col", "2",
                   "--rating-col", "3", "--timestamp-col", "4", "--sep", "::", "--no-header")
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


def test_invalid_dataset_name(cli, tmp_path, workspace_dir):
    result = cli("ingest", "csv", write(tmp_path / "r.csv", "u,i\n1,2\n"), "--name", "../evil",
                 "--user-col", "u", "--item-col", "i")
    assert result.exit_code == 1 and "invalid dataset name" in result.stderr
    assert not workspace_dir.exists()
