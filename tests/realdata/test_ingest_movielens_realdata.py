"""`recsys ingest <card>` on the real MovieLens releases in ../shared/datasets: what it keeps (counts, titles
in Latin-1 and UTF-8, genres, demographics), the official zip's checksum, and another release's archive or
folder refused by its checksum, name or count. Skipped without the folder, required under CI=true (the
shared_datasets fixture); the tiny releases are tests/cli/test_cli_ingest_movielens.py.
"""

from __future__ import annotations

import hashlib
import shutil

import pytest

from recsys_cli.reporting import RecordingReporter
from tests.support import (
    assert_clean_failure,
    ingest_partial,
    query_table,
    run_json,
    snapshot,
    write_tiny_ml100k,
    zip_folder,
)

SMALL_ZIP_SHA256 = "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"


@pytest.fixture
def existing(tmp_path, workspace_dir):
    """A workspace holding one valid dataset (a tiny release), and its snapshot."""
    ingest_partial(workspace_dir, "ml-100k", write_tiny_ml100k(tmp_path / "tiny" / "ml-100k"), dataset_name="first")
    return snapshot(workspace_dir)


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
    titles = dict(
        query_table(workspace_dir, doc, "items", "SELECT item_id, title FROM {t} WHERE item_id IN ('543', '1005')")
    )
    assert titles == {
        "543": "Misérables, Les (1995)",
        "1005": "Double vie de Véronique, La (Double Life of Veronique, The) (1991)",
    }
    toy = query_table(
        workspace_dir, doc, "items", "SELECT year, genres, release_date::VARCHAR FROM {t} WHERE item_id = '1'"
    )
    assert toy == [(1995, ["Animation", "Children's", "Comedy"], "1995-01-01")]
    assert query_table(workspace_dir, doc, "items", "SELECT title, genres, year FROM {t} WHERE item_id = '267'") == [
        ("unknown", [], None)
    ]
    users = query_table(workspace_dir, doc, "users", "SELECT * EXCLUDE (user_idx) FROM {t} WHERE user_id IN ('1', '2')")
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
    rows = query_table(
        workspace_dir,
        doc,
        "items",
        "SELECT item_id, title, year, genres, imdb_id, tmdb_id FROM {t} WHERE item_id IN ('1', '73', '7789')"
        " ORDER BY item_idx",
    )
    assert rows == [
        ("1", "Toy Story (1995)", 1995, ["Adventure", "Animation", "Children", "Comedy", "Fantasy"], "0114709", 862),
        ("73", "Misérables, Les (1995)", 1995, ["Drama", "War"], "0113828", 48750),
        ("7789", "11'09\"01 - September 11 (2002)", 2002, ["Drama"], "0328802", 1926),
    ]
    # '(no genres listed)' means no genres; a title without a year has none
    assert query_table(workspace_dir, doc, "items", "SELECT count(*) FROM {t} WHERE len(genres) = 0") == [(34,)]
    assert query_table(workspace_dir, doc, "items", "SELECT year FROM {t} WHERE title = 'Babylon 5'") == [(None,)]
    assert query_table(
        workspace_dir, doc, "items", "SELECT year FROM {t} WHERE title = 'Death Note: Desu nôto (2006–2007)'"
    ) == [(2006,)]
    # tags.csv: 3,683 lines, gathered per movie (trimmed, lower-cased, distinct)
    tagged = "SELECT count(*), sum(len(tags)) FROM {t} WHERE len(tags) > 0"
    assert query_table(workspace_dir, doc, "items", tagged) == [(1572, 3574)]
    assert query_table(workspace_dir, doc, "items", "SELECT tags FROM {t} WHERE item_id = '1'") == [(["fun", "pixar"],)]


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
    titles = dict(
        query_table(workspace_dir, doc, "items", "SELECT item_id, title FROM {t} WHERE item_id IN ('73', '570')")
    )
    assert titles == {"73": "Misérables, Les (1995)", "570": "Slingshot, The (Kådisbellan ) (1993)"}
    assert query_table(workspace_dir, doc, "items", "SELECT year, genres FROM {t} WHERE item_id = '1'") == [
        (1995, ["Animation", "Children's", "Comedy"])
    ]
    users = query_table(workspace_dir, doc, "users", "SELECT * FROM {t} ORDER BY user_idx NULLS LAST LIMIT 2")
    assert users == [(0, "1", "F", 1, 10, "48067"), (1, "2", "M", 56, 16, "70072")]
    assert query_table(workspace_dir, doc, "users", "SELECT count(*) FROM {t}") == [(6040,)]


@pytest.mark.realdata
def test_a_damaged_official_zip_fails_its_checksum(cli, shared_datasets, workspace_dir, tmp_path, existing):
    damaged = tmp_path / "ml-latest-small.zip"
    data = bytearray((shared_datasets / "ml-latest-small" / "ml-latest-small.zip").read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))
    result = cli("ingest", "ml-latest-small", "--source", damaged)
    assert_clean_failure(result, "is not the official ml-latest-small.zip", "sha256")
    assert snapshot(workspace_dir) == existing


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
    assert_clean_failure(
        result,
        "this archive is ml-latest-small.zip",
        "not ml-32m's ml-32m.zip",
        f"`recsys ingest ml-latest-small --source {url}`",
    )
    assert snapshot(workspace_dir) == existing and not (workspace_dir / "cache").exists()


@pytest.mark.realdata
def test_another_releases_folder_is_refused_by_its_name(cli, shared_datasets, workspace_dir, existing):
    folder = shared_datasets / "ml-latest-small"
    result = cli("ingest", "ml-25m", "--source", folder)
    assert_clean_failure(
        result,
        f"{folder} is the folder of the MovieLens Latest (small) release (ml-latest-small)",
        f"`recsys ingest ml-latest-small --source {folder}`",
    )
    assert snapshot(workspace_dir) == existing


@pytest.mark.realdata
@pytest.mark.parametrize("form", ["folder", "zip"])
def test_another_release_under_another_name_fails_by_its_count(
    cli, shared_datasets, workspace_dir, tmp_path, existing, form
):
    # ml-latest-small's files re-packed under a neutral name: only the count tells
    folder = tmp_path / "my-copy"
    folder.mkdir()
    for name in ("ratings.csv", "movies.csv", "links.csv"):
        shutil.copy(shared_datasets / "ml-latest-small" / name, folder / name)
    source = folder if form == "folder" else zip_folder(folder, tmp_path / "copy.zip", "my-copy")
    result = cli("ingest", "ml-25m", "--source", source)
    assert_clean_failure(
        result,
        "ratings.csv holds 100,836 interactions by 610 users",
        "these are the counts of ml-latest-small, not ml-25m",
        f"`recsys ingest ml-latest-small --source {source}`",
    )
    assert snapshot(workspace_dir) == existing
