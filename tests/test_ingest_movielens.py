"""`recsys ingest <card>`: real MovieLens releases, and every way a bad source must fail cleanly."""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path

import duckdb
import pytest
from conftest import run_json, snapshot
from releases import ingest_partial, write_tiny_ml100k, zip_folder

from recsys_cli.data.workspace import Workspace
from recsys_cli.datasets.ingest import ingest_card
from recsys_cli.datasets.movielens import CountMismatchError
from recsys_cli.reporting import RecordingReporter

SMALL_ZIP_SHA256 = "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"


def query(workspace_dir: Path, doc: dict, table: str, sql: str) -> list[tuple]:
    path = workspace_dir / doc["path"] / f"{table}.parquet"
    return duckdb.connect().execute(sql.replace("{t}", f"read_parquet('{path}')")).fetchall()


def assert_clean_failure(result, *phrases: str) -> None:
    """Exit 1, one error line (the last on stderr) naming what went wrong, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0], result.stderr
    for phrase in phrases:
        assert phrase in errors[0], errors[0]


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write_tiny_ml100k(tmp_path / "tiny" / "ml-100k")


@pytest.fixture
def existing(tiny, workspace_dir):
    """A workspace holding one valid dataset, and its snapshot."""
    ingest_partial(workspace_dir, "ml-100k", tiny, dataset_name="first")
    return snapshot(workspace_dir)


def cli_has_allow_count_mismatch() -> bool:
    """Whether `recsys ingest card` offers --allow-count-mismatch yet (wired in recsys_cli/cli/ingest.py)."""
    import inspect

    from recsys_cli.cli import ingest

    return "allow_count_mismatch" in inspect.signature(ingest.card_command).parameters


# -- real releases -----------------------------------------------------------------------------------
@pytest.mark.realdata
@pytest.mark.parametrize("form", ["folder", "parent folder", "zip"])
def test_ml100k(cli, shared_datasets, workspace_dir, tmp_path, form):
    folder = shared_datasets / "ml-100k"
    source = {"folder": folder, "parent folder": shared_datasets}.get(form)
    if form == "zip":
        source = zip_folder(folder, tmp_path / "ml-100k.zip", "ml-100k")
    doc = run_json(cli, "ingest", "ml-100k", "--source", source)
    assert (doc["interactions"], doc["users"], doc["items"], doc["catalog_items"]) == (100000, 943, 1682, 1682)
    assert doc["card"] == "ml-100k" and doc["bad_lines_skipped"] == 0
    assert doc["source_sha256"] == (hashlib.sha256(source.read_bytes()).hexdigest() if form == "zip" else None)
    titles = dict(query(workspace_dir, doc, "items", "SELECT item_id, title FROM {t} WHERE item_id IN ('543', '1005')"))
    assert titles == {"543": "Misérables, Les (1995)",
                      "1005": "Double vie de Véronique, La (Double Life of Veronique, The) (1991)"}
    toy = query(workspace_dir, doc, "items", "SELECT year, genres, release_date::VARCHAR FROM {t} WHERE item_id = '1'")
    assert toy == [(1995, ["Animation", "Children's", "Comedy"], "1995-01-01")]
    assert query(workspace_dir, doc, "items", "SELECT title, genres, year FROM {t} WHERE item_id = '267'") == [
        ("unknown", [], None)
    ]
    users = query(workspace_dir, doc, "users", "SELECT * EXCLUDE (user_idx) FROM {t} WHERE user_id IN ('1', '2')")
    assert users == [("1", "M", 24, "technician", "85711"), ("2", "F", 53, "other", "94043")]


@pytest.mark.realdata
def test_ml_latest_small_from_the_official_zip(cli, shared_datasets, workspace_dir):
    archive = shared_datasets / "ml-latest-small" / "ml-latest-small.zip"
    result = cli("ingest", "ml-latest-small", "--source", archive, "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "verified the sha256 of ml-latest-small.zip" in result.stderr
    doc = run_json(cli, "datasets", "show", "ml-latest-small")["dataset"]
    assert (doc["interactions"], doc["users"], doc["items"], doc["catalog_items"]) == (100836, 610, 9724, 9742)
    assert doc["source_sha256"] == SMALL_ZIP_SHA256
    assert doc["time_span"] == {"from": "1996-03-29", "to": "2018-09-24"}
    rows = query(workspace_dir, doc, "items",
                 "SELECT item_id, title, year, genres, imdb_id, tmdb_id FROM {t} WHERE item_id IN ('1', '73', '7789')"
                 " ORDER BY item_idx")
    assert rows == [
        ("1", "Toy Story (1995)", 1995, ["Adventure", "Animation", "Children", "Comedy", "Fantasy"], "0114709", 862),
        ("73", "Misérables, Les (1995)", 1995, ["Drama", "War"], "0113828", 48750),
        ("7789", "11'09\"01 - September 11 (2002)", 2002, ["Drama"], "0328802", 1926),
    ]
    # '(no genres listed)' means no genres; a title without a year has none
    assert query(workspace_dir, doc, "items", "SELECT count(*) FROM {t} WHERE len(genres) = 0") == [(34,)]
    assert query(workspace_dir, doc, "items", "SELECT year FROM {t} WHERE title = 'Babylon 5'") == [(None,)]
    assert query(workspace_dir, doc, "items",
                 "SELECT year FROM {t} WHERE title = 'Death Note: Desu nôto (2006–2007)'") == [(2006,)]


@pytest.mark.realdata
def test_ml_latest_small_from_its_crlf_csvs(cli, shared_datasets):
    doc = run_json(cli, "ingest", "ml-latest-small", "--source", shared_datasets / "ml-latest-small")
    assert (doc["interactions"], doc["users"], doc["items"], doc["catalog_items"]) == (100836, 610, 9724, 9742)
    assert doc["source_sha256"] is None


@pytest.mark.realdata
def test_ml1m_latin1_titles_and_coded_demographics(cli, shared_datasets, workspace_dir, tmp_path):
    # The real ratings.dat is not available: a few synthetic lines next to copies of the real files.
    folder = tmp_path / "ml-1m"
    folder.mkdir()
    for name in ("movies.dat", "users.dat"):
        shutil.copy(shared_datasets / "ml-1m" / name, folder / name)
    (folder / "ratings.dat").write_text(
        "1::1193::5::978300760\n1::661::3::978302109\n2::1357::5::978298709\n3::1::4::978297000\n"
    )
    reporter = RecordingReporter()
    ingest_partial(workspace_dir, "ml-1m", folder, reporter=reporter)
    warnings = [m for kind, m in reporter.messages if kind == "warn"]
    assert any("the MovieLens 1M release has 1,000,209" in m for m in warnings)  # a partial release is flagged
    doc = run_json(cli, "datasets", "show", "ml-1m")["dataset"]
    assert (doc["interactions"], doc["users"], doc["items"], doc["catalog_items"]) == (4, 3, 4, 3883)
    titles = dict(query(workspace_dir, doc, "items", "SELECT item_id, title FROM {t} WHERE item_id IN ('73', '570')"))
    assert titles == {"73": "Misérables, Les (1995)", "570": "Slingshot, The (Kådisbellan ) (1993)"}
    assert query(workspace_dir, doc, "items", "SELECT year, genres FROM {t} WHERE item_id = '1'") == [
        (1995, ["Animation", "Children's", "Comedy"])
    ]
    users = query(workspace_dir, doc, "users", "SELECT * FROM {t} ORDER BY user_idx NULLS LAST LIMIT 2")
    assert users == [(0, "1", "F", 1, 10, "48067"), (1, "2", "M", 56, 16, "70072")]
    assert query(workspace_dir, doc, "users", "SELECT count(*) FROM {t}") == [(6040,)]


@pytest.mark.realdata
def test_a_damaged_official_zip_fails_its_checksum(cli, shared_datasets, workspace_dir, tmp_path, existing):
    damaged = tmp_path / "ml-latest-small.zip"
    data = bytearray((shared_datasets / "ml-latest-small" / "ml-latest-small.zip").read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    result = cli("ingest", "ml-latest-small", "--source", damaged)
    assert_clean_failure(result, "is not the official ml-latest-small.zip", "sha256")
    assert snapshot(workspace_dir) == existing


# -- the tiny release: what ingest keeps -------------------------------------------------------------------
def test_tiny_release_from_folder_and_zip(cli, tiny, workspace_dir, tmp_path):
    ingest_partial(workspace_dir, "ml-100k", tiny)
    doc = run_json(cli, "datasets", "show", "ml-100k")["dataset"]
    assert (doc["interactions"], doc["users"], doc["items"], doc["catalog_items"]) == (6, 3, 4, 5)
    genres = query(workspace_dir, doc, "items", "SELECT item_id, genres, year FROM {t} ORDER BY item_id")
    assert genres == [
        ("1", ["Animation", "Children's", "Comedy"], 1995), ("2", ["Drama", "Musical"], 1995),
        ("3", [], None), ("4", ["Fantasy"], 1995), ("5", ["Action"], 1996),
    ]
    archive = zip_folder(tiny, tmp_path / "tiny.zip", "ml-100k")
    reporter = RecordingReporter()
    ingest_partial(workspace_dir, "ml-100k", archive, dataset_name="zipped", reporter=reporter)
    assert any("re-packed archive" in m for kind, m in reporter.messages if kind == "warn")
    assert run_json(cli, "datasets", "show", "zipped")["dataset"]["interactions"] == 6


@pytest.mark.realdata
def test_file_url_of_the_official_bytes_is_downloaded_verified_and_cached(cli, workspace_dir, shared_datasets):
    archive = shared_datasets / "ml-latest-small" / "ml-latest-small.zip"
    result = cli("ingest", "ml-latest-small", "--source", archive.as_uri(), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "sha256 verified" in result.stderr
    cached = list((workspace_dir / "cache" / "downloads").iterdir())
    assert len(cached) == 1 and cached[0].name.endswith("-ml-latest-small.zip")
    result = cli("ingest", "ml-latest-small", "--source", archive.as_uri(), "--force", "--format", "json")
    assert result.exit_code == 0 and "using the cached download" in result.stderr


# -- bad inputs: exit 1, one line, workspace untouched ------------------------------------------------------
def test_missing_path_creates_nothing(cli, workspace_dir, tmp_path):
    result = cli("ingest", "ml-100k", "--source", tmp_path / "nope")
    assert_clean_failure(result, "source not found")
    assert not workspace_dir.exists()


def test_missing_path(cli, workspace_dir, tmp_path, existing):
    assert_clean_failure(cli("ingest", "ml-100k", "--source", tmp_path / "nope.zip"), "source not found")
    assert snapshot(workspace_dir) == existing


def test_unknown_card_suggests_the_closest(cli, workspace_dir, tiny, existing):
    result = cli("ingest", "ml100k", "--source", tiny)
    assert_clean_failure(result, "unknown dataset card 'ml100k'", "did you mean 'ml-100k'")
    assert snapshot(workspace_dir) == existing


@pytest.mark.parametrize("damage", ["crc", "truncated", "not a zip"])
def test_damaged_zip(cli, workspace_dir, tiny, tmp_path, existing, damage):
    archive = zip_folder(tiny, tmp_path / "bad.zip", "ml-100k", compression=zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    if damage == "crc":
        data[data.find(b"881250950")] = ord("7")
    elif damage == "truncated":
        data = data[: len(data) // 2]
    else:
        data = bytearray(b"<html>not found</html>\n")
    archive.write_bytes(bytes(data))
    result = cli("ingest", "ml-100k", "--source", archive)
    assert_clean_failure(result, "damaged" if damage == "crc" else "not a readable zip archive")
    assert snapshot(workspace_dir) == existing


def test_checksum_mismatch_of_a_download(cli, workspace_dir, tiny, tmp_path, existing):
    archive = zip_folder(tiny, tmp_path / "ml-100k.zip", "ml-100k")
    result = cli("ingest", "ml-100k", "--source", archive.as_uri())
    assert_clean_failure(result, "is not the official ml-100k.zip", "hint:")
    assert snapshot(workspace_dir) == existing  # the bad download is deleted
    assert not (workspace_dir / "cache").exists()  # and no empty cache folder is left behind


def test_checksum_mismatch_of_a_local_zip_of_the_official_size(cli, workspace_dir, tiny, tmp_path, existing):
    official_size = 4924029
    archive = tmp_path / "ml-100k.zip"
    pad = 0
    for _ in range(2):  # a stored padding entry grows the archive byte for byte
        zip_folder(tiny, archive, "ml-100k", extra=[(zipfile.ZipInfo("ml-100k/padding"), b"\0" * pad)],
                   compression=zipfile.ZIP_STORED)
        pad += official_size - archive.stat().st_size
    assert archive.stat().st_size == official_size
    result = cli("ingest", "ml-100k", "--source", archive)
    assert_clean_failure(result, "is not the official ml-100k.zip", "damaged")
    assert snapshot(workspace_dir) == existing


def test_zip_slip(cli, workspace_dir, tiny, tmp_path, existing):
    archive = zip_folder(tiny, tmp_path / "evil.zip", "ml-100k", extra=[(zipfile.ZipInfo("../../evil"), "x")])
    result = cli("ingest", "ml-100k", "--source", archive)
    assert_clean_failure(result, "archive entry '../../evil' would land outside the target folder")
    assert snapshot(workspace_dir) == existing
    assert not (tmp_path / "evil").exists() and not (workspace_dir.parent / "evil").exists()


def test_folder_without_the_interactions_file(cli, workspace_dir, tiny, existing):
    (tiny / "u.data").unlink()
    result = cli("ingest", "ml-100k", "--source", tiny)
    assert_clean_failure(result, "has no u.data", "found: u.item, u.user")
    assert snapshot(workspace_dir) == existing


def test_wrong_number_of_columns(cli, workspace_dir, tiny, existing):
    (tiny / "u.data").write_text("1\t1\t5\n2\t1\t4\n")
    result = cli("ingest", "ml-100k", "--source", tiny)
    assert_clean_failure(result, "u.data has 3 columns, expected 4")
    assert snapshot(workspace_dir) == existing


def test_wrong_header(cli, workspace_dir, tmp_path, existing):
    folder = tmp_path / "ml-latest-small"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,tag,timestamp\n1,1,funny,964982703\n")
    result = cli("ingest", "ml-latest-small", "--source", folder)
    assert_clean_failure(result, "ratings.csv starts with the header 'userId,movieId,tag,timestamp'")
    assert snapshot(workspace_dir) == existing


def test_malformed_line_names_it_and_skip_counts_it(cli, workspace_dir, tiny, existing):
    lines = (tiny / "u.data").read_text().splitlines()
    lines[2] = "2\t1\tfour\t881250951"
    (tiny / "u.data").write_text("\n".join(lines) + "\n")
    result = cli("ingest", "ml-100k", "--source", tiny, "--name", "second")
    assert_clean_failure(result, "u.data line 3", "rating is not a number")
    assert snapshot(workspace_dir) == existing
    done = ingest_partial(workspace_dir, "ml-100k", tiny, dataset_name="second", on_bad_lines="skip")
    assert (done.bad_lines_skipped, done.dataset.n_interactions) == (1, 5)


def test_malformed_item_line_names_it_and_skip_counts_it(workspace_dir, tiny, existing):
    from recsys_cli.errors import MalformedLineError

    with open(tiny / "u.item", "ab") as handle:
        handle.write(b"6|Broken (1997)|01-Jan-1997\n")
    # through the Python API: the tiny release needs allow_count_mismatch to get as far as u.item
    with pytest.raises(MalformedLineError, match="u.item line 6.*expected the card's 24"):
        ingest_partial(workspace_dir, "ml-100k", tiny, dataset_name="second")
    assert snapshot(workspace_dir) == existing
    done = ingest_partial(workspace_dir, "ml-100k", tiny, dataset_name="second", on_bad_lines="skip")
    assert (done.bad_lines_skipped, done.dataset.n_catalog_items) == (1, 5)


def test_existing_name_needs_force(cli, workspace_dir, tiny, existing):
    result = cli("ingest", "ml-100k", "--source", tiny, "--name", "first")
    assert_clean_failure(result, "dataset 'first' already exists")
    assert snapshot(workspace_dir) == existing
    assert ingest_partial(workspace_dir, "ml-100k", tiny, dataset_name="first", force=True).replaced is True


# -- the published interaction count, and another release's archive or folder -------------------------------
def test_a_partial_release_fails_its_count(cli, workspace_dir, tiny, existing):
    result = cli("ingest", "ml-100k", "--source", tiny, "--name", "second")
    assert_clean_failure(result, "u.data holds 6 interactions by 3 users; the MovieLens 100K release has 100,000",
                         "not the complete ml-100k release", "hint: pass --allow-count-mismatch")
    assert snapshot(workspace_dir) == existing
    with pytest.raises(CountMismatchError):
        ingest_card(Workspace(workspace_dir), "ml-100k", tiny, dataset_name="second")
    assert snapshot(workspace_dir) == existing


def test_skipped_lines_count_towards_the_published_count(workspace_dir, tiny, monkeypatch):
    import dataclasses

    from recsys_cli.datasets import cards

    real = cards.load_card("ml-100k")
    # the tiny release's own counts: 6 lines in u.data, one of them malformed and skipped
    monkeypatch.setattr(cards, "load_card", lambda name: dataclasses.replace(real, counts={"interactions": 6}))
    lines = (tiny / "u.data").read_text().splitlines()
    lines[2] = "2\t1\tfour\t881250951"
    (tiny / "u.data").write_text("\n".join(lines) + "\n")
    done = ingest_card(Workspace(workspace_dir), "ml-100k", tiny, on_bad_lines="skip")
    assert (done.bad_lines_skipped, done.dataset.n_interactions) == (1, 5)


@pytest.mark.skipif(not cli_has_allow_count_mismatch(),
                    reason="--allow-count-mismatch is not wired into recsys_cli/cli/ingest.py yet")
def test_cli_flag_allows_a_partial_release(cli, tiny):
    result = cli("ingest", "ml-100k", "--source", tiny, "--allow-count-mismatch", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert "the MovieLens 100K release has 100,000" in result.stderr  # still said, as a warning
    assert run_json(cli, "datasets", "show", "ml-100k")["dataset"]["interactions"] == 6


@pytest.mark.realdata
def test_another_releases_zip_fails_by_its_checksum(cli, shared_datasets, workspace_dir, existing):
    archive = shared_datasets / "ml-latest-small" / "ml-latest-small.zip"
    result = cli("ingest", "ml-20m", "--source", archive)
    assert_clean_failure(
        result,
        "ml-latest-small.zip: this archive is ml-latest-small.zip (its sha256 is the ml-latest-small card's)",
        "not ml-20m's ml-20m.zip",
        f"hint: to ingest it, run `recsys ingest ml-latest-small --source {archive}`",
    )
    assert snapshot(workspace_dir) == existing


@pytest.mark.realdata
def test_another_releases_download_fails_by_its_checksum(cli, shared_datasets, workspace_dir, existing):
    url = (shared_datasets / "ml-latest-small" / "ml-latest-small.zip").as_uri()
    result = cli("ingest", "ml-32m", "--source", url)  # a card with no checksum of its own
    assert_clean_failure(result, "this archive is ml-latest-small.zip", "not ml-32m's ml-32m.zip",
                         f"`recsys ingest ml-latest-small --source {url}`")
    assert snapshot(workspace_dir) == existing and not (workspace_dir / "cache").exists()


@pytest.mark.realdata
def test_another_releases_folder_is_refused_by_its_name(cli, shared_datasets, workspace_dir, existing):
    folder = shared_datasets / "ml-latest-small"
    result = cli("ingest", "ml-25m", "--source", folder)
    assert_clean_failure(result, f"{folder} is the folder of the MovieLens Latest (small) release (ml-latest-small)",
                         f"`recsys ingest ml-latest-small --source {folder}`")
    assert snapshot(workspace_dir) == existing


@pytest.mark.realdata
@pytest.mark.parametrize("form", ["folder", "zip"])
def test_another_release_under_another_name_fails_by_its_count(cli, shared_datasets, workspace_dir, tmp_path,
                                                               existing, form):
    # ml-latest-small's files re-packed under a neutral name: only the count tells
    folder = tmp_path / "my-copy"
    folder.mkdir()
    for name in ("ratings.csv", "movies.csv", "links.csv"):
        shutil.copy(shared_datasets / "ml-latest-small" / name, folder / name)
    source = folder if form == "folder" else zip_folder(folder, tmp_path / "copy.zip", "my-copy")
    result = cli("ingest", "ml-25m", "--source", source)
    assert_clean_failure(result, "ratings.csv holds 100,836 interactions by 610 users",
                         "these are the counts of ml-latest-small, not ml-25m",
                         f"`recsys ingest ml-latest-small --source {source}`")
    assert snapshot(workspace_dir) == existing
