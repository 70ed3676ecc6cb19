"""`recsys datasets list|show` in table and JSON form."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys_cli.data.records import SplitRecord
from recsys_cli.data.workspace import Workspace
from tests.support import ingest_partial, run_json, write_tiny_ml100k

CARDS = ["ml-100k", "ml-latest-small", "ml-1m", "ml-10m", "ml-20m", "ml-25m", "ml-32m"]


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write_tiny_ml100k(tmp_path / "ml-100k")


@pytest.fixture
def csv_file(tmp_path) -> Path:
    path = tmp_path / "plays.csv"
    path.write_text("user,item,plays\nu1,a,3\nu1,b,1\nu2,a,7\n")
    return path


def test_list_json_without_a_workspace(cli_default_workspace, tmp_path):
    doc = run_json(cli_default_workspace, "datasets", "list")
    assert [e["name"] for e in doc["datasets"]] == CARDS
    first = doc["datasets"][0]
    assert first == {
        "name": "ml-100k",
        "kind": "card",
        "title": "MovieLens 100K",
        "interactions": 100000,
        "checksum": "sha256",
        "ingested_as": [],
        "source": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    }
    checksums = {e["name"]: e["checksum"] for e in doc["datasets"]}
    assert (checksums["ml-10m"], checksums["ml-32m"]) == ("md5", None)
    assert not (tmp_path / "recsys-workspace").exists()  # reading creates nothing


def test_list_shows_ingested_datasets_with_and_without_a_card(cli, tiny, csv_file, workspace_dir):
    ingest_partial(workspace_dir, "ml-100k", tiny, dataset_name="small")
    run_json(cli, "ingest", "csv", csv_file, "--name", "plays", "--user-col", "user", "--item-col", "item")
    doc = run_json(cli, "datasets", "list")
    entries = {e["name"]: e for e in doc["datasets"]}
    assert entries["ml-100k"]["ingested_as"] == ["small"]
    assert entries["plays"]["kind"] == "dataset" and entries["plays"]["interactions"] == 3
    assert entries["plays"]["ingested_as"] == ["plays"] and entries["plays"]["title"] is None
    assert "small" not in entries  # listed under its card

    table = cli("datasets", "list", "--format", "table")
    assert table.exit_code == 0, table.stderr
    assert "MovieLens 100K" in table.stdout and "100,000" in table.stdout
    assert "no card (source:" in table.stdout and "plays" in table.stdout


def test_show_a_card_that_is_not_ingested(cli_default_workspace):
    cli = cli_default_workspace  # before any workspace exists
    doc = run_json(cli, "datasets", "show", "ml-1m")
    assert doc["dataset"] is None and doc["splits"] == []
    card = doc["card"]
    assert card["url"] == "https://files.grouplens.org/datasets/movielens/ml-1m.zip"
    assert card["sha256"] == "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"
    assert card["files"]["items"]["encoding"] == "latin-1"
    assert card["files"]["users"]["codes"]["age"]["1"] == "Under 18"
    assert "10.1145/2827872" in card["citation"]

    table = cli("datasets", "show", "ml-1m", "--format", "table")
    assert table.exit_code == 0, table.stderr
    for text in (
        "card ml-1m",
        "movies.dat",
        "'::'-separated",
        "latin-1",
        "Under 18",
        "programmer",
        "doi:10.1145/2827872",
        "not ingested",
    ):
        assert text in table.stdout, text


def test_show_an_ingested_card_with_its_statistics_and_splits(cli, tiny, workspace_dir):
    ingest_partial(workspace_dir, "ml-100k", tiny)
    with Workspace(workspace_dir).catalog(read_only=False) as catalog:
        catalog.put_split(
            SplitRecord(
                "ml-100k",
                "by-time",
                "temporal",
                {"test_fraction": 0.2},
                "splits/ml-100k/by-time/x",
                {"train": 3, "test": 1},
            )
        )
    doc = run_json(cli, "datasets", "show", "ml-100k")
    assert doc["card"]["name"] == "ml-100k"
    data = doc["dataset"]
    assert (data["interactions"], data["users"], data["items"], data["catalog_items"]) == (6, 3, 4, 5)
    assert data["density"] == pytest.approx(6 / (3 * 4))
    assert data["rating_histogram"] == {"1": 1, "2": 1, "3": 1, "4": 2, "5": 1}
    assert data["time_span"] == {"from": "1997-12-04", "to": "1997-12-04"}
    assert data["card"] == "ml-100k" and data["source"] == str(tiny)
    assert [s["name"] for s in doc["splits"]] == ["by-time"]
    assert doc["splits"][0]["params"] == {"test_fraction": 0.2}

    table = cli("datasets", "show", "ml-100k", "--format", "table")
    assert table.exit_code == 0, table.stderr
    for text in (
        "dataset ml-100k (in the workspace)",
        "1997-12-04 .. 1997-12-04",
        "1:1 2:1 3:1 4:2 5:1",
        "splits of ml-100k",
        "by-time",
        "temporal",
    ):
        assert text in table.stdout, text


def test_show_a_dataset_ingested_under_another_name_shows_its_card(cli, tiny, workspace_dir):
    ingest_partial(workspace_dir, "ml-100k", tiny, dataset_name="small")
    doc = run_json(cli, "datasets", "show", "small")
    assert doc["name"] == "small" and doc["card"]["name"] == "ml-100k"
    assert doc["dataset"]["interactions"] == 6


def test_a_csv_dataset_named_like_a_card_does_not_borrow_the_card(cli, csv_file):
    run_json(cli, "ingest", "csv", csv_file, "--name", "ml-100k", "--user-col", "user", "--item-col", "item")
    doc = run_json(cli, "datasets", "show", "ml-100k")
    assert doc["card"] is None and doc["dataset"]["interactions"] == 3


def test_show_a_dataset_without_a_card(cli, csv_file):
    run_json(
        cli,
        "ingest",
        "csv",
        csv_file,
        "--name",
        "plays",
        "--user-col",
        "user",
        "--item-col",
        "item",
        "--rating-col",
        "plays",
    )
    doc = run_json(cli, "datasets", "show", "plays")
    assert doc["card"] is None
    assert doc["dataset"]["interactions"] == 3 and doc["dataset"]["time_span"] is None
    table = cli("datasets", "show", "plays", "--format", "table")
    assert table.exit_code == 0 and "no timestamps" in table.stdout
    assert "card ml" not in table.stdout


def test_show_markdown_and_csv(cli_default_workspace):
    cli = cli_default_workspace  # before any workspace exists
    markdown = cli("datasets", "show", "ml-latest-small", "--format", "markdown")
    assert markdown.exit_code == 0 and "### card ml-latest-small" in markdown.stdout
    csv = cli("datasets", "list", "--format", "csv")
    assert csv.exit_code == 0 and csv.stdout.splitlines()[0] == "name,title,interactions,checksum,ingested as"


def test_show_csv_of_an_ingested_dataset_prints_its_statistics_as_raw_numbers(cli, tiny, workspace_dir):
    run_json(cli, "ingest", "synthetic", "--name", "syn", "--users", "50", "--items", "40", "--interactions", "1234")
    ingest_partial(workspace_dir, "ml-100k", tiny)
    for name, interactions in (("syn", "1234"), ("ml-100k", "6")):  # without and with a card
        result = cli("datasets", "show", name, "--format", "csv", "--table", "dataset")
        assert result.exit_code == 0, result.stderr
        everything = cli("datasets", "show", name, "--format", "csv").stdout
        if name == "ml-100k":  # the card's tables, then this one in its section
            assert "# table: dataset\n" + result.stdout in everything
        else:  # no card: the one table, plain
            assert everything == result.stdout
        rows = dict(line.split(",", 1) for line in result.stdout.splitlines())
        assert rows["statistic"] == "value"  # the statistics, not the card
        assert rows["interactions"] == interactions  # not "1,234"
        assert float(rows["density"]) == pytest.approx(run_json(cli, "datasets", "show", name)["dataset"]["density"])
    assert rows["ratings"] == "1:1 2:1 3:1 4:2 5:1" and rows["card"] == "ml-100k"
    doc = run_json(cli, "datasets", "show", "syn")["dataset"]
    assert doc["interactions"] == 1234 and isinstance(doc["density"], float)  # json: raw numbers too
    table = cli("datasets", "show", "syn", "--format", "table")
    assert "1,234" in table.stdout  # a person still reads formatted numbers


def test_show_csv_of_a_card_not_ingested_prints_the_card(cli_default_workspace):
    cli = cli_default_workspace  # before any workspace exists
    result = cli("datasets", "show", "ml-1m", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    names = [line.removeprefix("# table: ") for line in result.stdout.splitlines() if line.startswith("# table: ")]
    assert names == ["card", "files", "columns", "codes", "workspace"]  # every table of the card
    card = cli("datasets", "show", "ml-1m", "--format", "csv", "--table", "card").stdout
    assert card.splitlines()[0] == "field,value" and "# table" not in card
    assert "sha256,a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20" in card


@pytest.mark.parametrize("name, suggestion", [("ml100k", "ml-100k"), ("ml-latest", "ml-latest-small")])
def test_show_unknown_suggests_the_closest(cli_default_workspace, name, suggestion):
    cli = cli_default_workspace  # before any workspace exists
    result = cli("datasets", "show", name)
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert f"unknown dataset '{name}'" in result.stderr and f"did you mean '{suggestion}'" in result.stderr
    assert result.stdout == ""


def test_json_is_stable_plain_data(cli_default_workspace):
    cli = cli_default_workspace  # before any workspace exists
    doc = run_json(cli, "datasets", "show", "ml-100k")
    assert sorted(doc) == ["card", "dataset", "name", "splits"]
    assert sorted(doc["card"]) == sorted(
        [
            "name",
            "title",
            "description",
            "homepage",
            "url",
            "archive_size",
            "sha256",
            "md5",
            "checksum_note",
            "archive_root",
            "released",
            "rating_scale",
            "counts",
            "licence",
            "citation",
            "files",
            "other_files",
        ]
    )
    assert json.loads(json.dumps(doc)) == doc


def test_remove_drops_the_dataset_its_splits_and_their_files(cli, tiny, workspace_dir):
    doc = {"path": ingest_partial(workspace_dir, "ml-100k", tiny, dataset_name="small").dataset.path}
    assert cli("split", "small", "--name", "s", "--strategy", "leave-last").exit_code == 0
    split_path = run_json(cli, "sql", "SELECT path FROM catalog.splits")[0]["path"]
    removed = run_json(cli, "datasets", "remove", "small")
    assert removed == {"removed": "small", "dropped_splits": ["s"], "dropped_runs": [], "path": doc["path"]}
    assert not (workspace_dir / doc["path"]).exists() and not (workspace_dir / split_path).exists()
    assert run_json(cli, "sql", "SELECT count(*) AS n FROM catalog.datasets") == [{"n": 0}]


def test_remove_unknown_dataset_suggests_and_changes_nothing(cli, tiny, workspace_dir):
    from tests.support import snapshot

    ingest_partial(workspace_dir, "ml-100k", tiny, dataset_name="small")
    before = snapshot(workspace_dir)
    result = cli("datasets", "remove", "smal")
    assert result.exit_code == 1 and "did you mean 'small'" in result.stderr
    assert snapshot(workspace_dir) == before
