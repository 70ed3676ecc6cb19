"""Sources: folders, local zips and file:// URLs, checksums, unsafe and damaged archives. No network."""

from __future__ import annotations

import dataclasses
import hashlib
import stat
import zipfile
from pathlib import Path

import pytest

from recsys_cli.datasets import ingest, sources
from recsys_cli.datasets.cards import load_card
from recsys_cli.errors import ArchiveError, ChecksumError, DownloadError, InputFileError
from recsys_cli.reporting import RecordingReporter
from tests.support import zip_folder


def write_release(folder: Path) -> Path:
    """A tiny release in the ml-100k layout (the files the card reads)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "u.data").write_text("1\t1\t5\t881250949\n1\t2\t3\t881250950\n2\t1\t4\t881250951\n")
    flags = "|".join(["0"] * 19)
    (folder / "u.item").write_bytes(
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags}\n2|Misérables, Les (1995)|01-Jan-1995||http://y|{flags}\n".encode(
            "latin-1"
        )
    )
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n")
    return folder


def zip_release(folder: Path, target: Path, root: str = "ml-100k", extra=(), compression=zipfile.ZIP_DEFLATED) -> Path:
    return zip_folder(folder, target, root, extra, compression)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def card_for(archive: Path | None = None, **changes):
    """The ml-100k card, pointed at a local archive's digest and size (or changed otherwise)."""
    card = load_card("ml-100k")
    if archive is not None:
        changes = {"sha256": sha256(archive), "archive_size": archive.stat().st_size, **changes}
    return dataclasses.replace(card, **changes)


@pytest.fixture
def release(tmp_path) -> Path:
    return write_release(tmp_path / "release" / "ml-100k")


# -- planning --------------------------------------------------------------------------------------
def test_missing_path(tmp_path):
    with pytest.raises(InputFileError, match="source not found"):
        sources.plan_source(load_card("ml-100k"), tmp_path / "nope.zip")


def test_missing_file_url(tmp_path):
    with pytest.raises(InputFileError, match="source not found"):
        sources.plan_source(load_card("ml-100k"), (tmp_path / "nope.zip").as_uri())


def test_file_url_of_a_folder(release):
    with pytest.raises(InputFileError, match="must name a zip"):
        sources.plan_source(load_card("ml-100k"), release.as_uri())


@pytest.mark.parametrize("url", ["file://my100k.zip", "file://host/data/my100k.zip"])
def test_file_url_without_an_absolute_path(url):
    # 'my100k.zip' parses as a host: say what a file URL needs, not "must name a zip"
    with pytest.raises(InputFileError, match="file:// URL needs an absolute path") as info:
        sources.plan_source(load_card("ml-100k"), url)
    assert "file:///abs/path.zip" in info.value.hint


def test_file_url_of_localhost_is_a_local_path(release, tmp_path):
    archive = zip_release(release, tmp_path / "a.zip")
    plan = sources.plan_source(load_card("ml-100k"), f"file://localhost{archive}")
    assert plan.kind == "url"


def test_unsupported_scheme():
    with pytest.raises(InputFileError, match="unsupported URL scheme"):
        sources.plan_source(load_card("ml-100k"), "ftp://example.org/ml-100k.zip")


def test_default_source_is_the_cards_url():
    plan = sources.plan_source(load_card("ml-100k"), None)
    assert (plan.kind, plan.location) == ("url", "https://files.grouplens.org/datasets/movielens/ml-100k.zip")


@pytest.mark.parametrize("level", ["root", "parent"])
def test_folder_is_the_release_root_or_its_parent(release, level):
    folder = release if level == "root" else release.parent
    plan = sources.plan_source(load_card("ml-100k"), folder)
    fetched = sources.fetch(load_card("ml-100k"), plan, folder, folder, RecordingReporter())
    assert fetched.files == {
        role: release / name for role, name in (("interactions", "u.data"), ("items", "u.item"), ("users", "u.user"))
    }
    assert fetched.sha256 is None


def test_folder_without_the_interactions_file(release):
    (release / "u.data").unlink()
    with pytest.raises(InputFileError) as info:
        sources.plan_source(load_card("ml-100k"), release)
    assert "has no u.data" in info.value.message
    assert "u.item" in info.value.message  # says what it found instead


def test_folder_named_after_another_release_is_refused(tmp_path):
    # ml-100k's files in a folder called ml-1m: the folder name says which release it is
    folder = write_release(tmp_path / "ml-1m")
    with pytest.raises(InputFileError) as info:
        sources.plan_source(load_card("ml-100k"), folder)
    assert "is the folder of the MovieLens 1M release (ml-1m), not of ml-100k" in info.value.message
    assert info.value.hint == f"to ingest it, run `recsys ingest ml-1m --source {folder}`"


def test_folder_without_an_optional_file_warns(release):
    (release / "u.user").unlink()
    reporter = RecordingReporter()
    plan = sources.plan_source(load_card("ml-100k"), release)
    fetched = sources.fetch(load_card("ml-100k"), plan, release, release, reporter)
    assert "users" not in fetched.files
    assert any("no u.user" in m for _, m in reporter.messages)


# -- zips -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("root", ["ml-100k", "", "other-root"])
def test_extracts_only_the_cards_files(release, tmp_path, root):
    archive = zip_release(release, tmp_path / "a.zip", root=root, extra=[("ml-100k/u1.base", "x")])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    files = sources.extract(load_card("ml-100k"), archive, scratch, RecordingReporter())
    assert sorted(p.name for p in scratch.iterdir()) == ["u.data", "u.item", "u.user"]
    assert files["interactions"].read_bytes() == (release / "u.data").read_bytes()


@pytest.mark.parametrize("entry", ["../../evil", "ml-100k/../../evil", "/etc/evil", "C:/evil", "C:\\evil", "..\\evil"])
def test_zip_slip_is_refused_before_anything_is_extracted(release, tmp_path, entry):
    archive = zip_release(release, tmp_path / "a.zip", extra=[(zipfile.ZipInfo(entry), "boom")])
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(ArchiveError) as info:
        sources.extract(load_card("ml-100k"), archive, scratch, RecordingReporter())
    assert f"archive entry '{entry}' would land outside the target folder" in info.value.message
    assert list(scratch.iterdir()) == []


def test_symlink_entries_are_refused(release, tmp_path):
    link = zipfile.ZipInfo("ml-100k/u.genre")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = zip_release(release, tmp_path / "a.zip", extra=[(link, "/etc/passwd")])
    with pytest.raises(ArchiveError, match="symbolic link"):
        sources.extract(load_card("ml-100k"), archive, tmp_path, RecordingReporter())


def test_crc_error_is_an_archive_error(release, tmp_path):
    archive = zip_release(release, tmp_path / "a.zip", compression=zipfile.ZIP_STORED)
    data = bytearray(archive.read_bytes())
    at = data.find(b"881250950")
    data[at] = ord("7")  # same length, other bytes: only the CRC can tell
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="u.data' is damaged"):
        sources.extract(load_card("ml-100k"), archive, tmp_path, RecordingReporter())


@pytest.mark.parametrize("damage", ["truncated", "not a zip"])
def test_unreadable_archives(release, tmp_path, damage):
    archive = zip_release(release, tmp_path / "a.zip")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2] if damage == "truncated" else b"just some text\n")
    with pytest.raises(ArchiveError, match="not a readable zip archive"):
        sources.extract(load_card("ml-100k"), archive, tmp_path, RecordingReporter())


def test_zip_whose_top_folder_is_another_release_is_refused(release, tmp_path):
    # a re-packed archive may rename its top folder, but not to another release's
    archive = zip_release(release, tmp_path / "a.zip", root="ml-1m")
    with pytest.raises(InputFileError) as info:
        sources.extract(load_card("ml-100k"), archive, tmp_path, RecordingReporter())
    assert "a.zip's top folder ml-1m/ is the folder of the MovieLens 1M release (ml-1m)" in info.value.message
    assert f"recsys ingest ml-1m --source {archive}" in info.value.hint


def test_zip_without_the_interactions_file(release, tmp_path):
    (release / "u.data").unlink()
    archive = zip_release(release, tmp_path / "a.zip")
    with pytest.raises(InputFileError, match="has no ml-100k/u.data"):
        sources.extract(load_card("ml-100k"), archive, tmp_path, RecordingReporter())


# -- checksums of local zips ---------------------------------------------------------------------------
def test_local_zip_matching_the_card_is_verified(release, tmp_path):
    archive = zip_release(release, tmp_path / "a.zip")
    notes: list[str] = []
    digests = sources.verify_local_archive(card_for(archive), archive, RecordingReporter(), notes)
    assert digests.sha256 == sha256(archive)
    assert notes == ["verified the sha256 of a.zip"]


def test_local_zip_of_the_official_size_with_other_bytes_is_refused(release, tmp_path):
    archive = zip_release(release, tmp_path / "a.zip")
    card = card_for(archive, sha256="0" * 64)
    with pytest.raises(ChecksumError, match="is not the official ml-100k.zip"):
        sources.verify_local_archive(card, archive, RecordingReporter(), [])


def test_repacked_local_zip_is_accepted_with_a_warning(release, tmp_path):
    archive = zip_release(release, tmp_path / "a.zip")
    reporter = RecordingReporter()
    digests = sources.verify_local_archive(load_card("ml-100k"), archive, reporter, [])
    assert digests.sha256 == sha256(archive)
    assert any("re-packed" in m for kind, m in reporter.messages if kind == "warn")


def test_md5_is_used_where_no_sha256_is_published(release, tmp_path):
    archive = zip_release(release, tmp_path / "a.zip")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    notes: list[str] = []
    sources.verify_local_archive(card_for(archive, sha256="", md5=md5), archive, RecordingReporter(), notes)
    assert notes == ["verified the md5 of a.zip"]


def test_no_checksum_warns_and_records_the_sha256(release, tmp_path):
    archive = zip_release(release, tmp_path / "a.zip")
    reporter = RecordingReporter()
    digests = sources.verify_local_archive(card_for(sha256="", md5=""), archive, reporter, [])
    assert digests.sha256 == sha256(archive)
    assert any("publishes no checksum" in m and digests.sha256 in m for _, m in reporter.messages)


@pytest.fixture
def other_release(release, tmp_path, monkeypatch):
    """A zip whose checksum is another card's (the real cards' archives are not here)."""
    archive = zip_release(release, tmp_path / "other.zip")
    other = card_for(archive, name="ml-other", title="Other", url="https://example.org/other.zip")
    monkeypatch.setattr(sources, "other_cards", lambda card: [other] if card.name != other.name else [])
    return archive, other


@pytest.mark.parametrize("card_checksum", ["sha256", "none"])
def test_local_zip_with_another_cards_checksum_is_refused(other_release, card_checksum):
    archive, _ = other_release
    card = load_card("ml-100k") if card_checksum == "sha256" else card_for(sha256="", md5="")
    with pytest.raises(sources.WrongReleaseError) as info:
        sources.verify_local_archive(card, archive, RecordingReporter(), [])
    assert info.value.message == (
        "other.zip: this archive is other.zip (its sha256 is the ml-other card's), not ml-100k's ml-100k.zip"
    )
    assert info.value.hint == f"to ingest it, run `recsys ingest ml-other --source {archive}`"
    assert isinstance(info.value, ChecksumError)


def test_another_cards_md5_is_recognised_too(other_release, monkeypatch):
    archive, other = other_release
    md5_only = dataclasses.replace(other, sha256="", md5=hashlib.md5(archive.read_bytes()).hexdigest())
    monkeypatch.setattr(sources, "other_cards", lambda card: [md5_only])
    with pytest.raises(sources.WrongReleaseError, match="its md5 is the ml-other card's"):
        sources.verify_local_archive(load_card("ml-100k"), archive, RecordingReporter(), [])


def test_download_of_another_cards_archive_is_refused_and_leaves_no_cache(other_release, tmp_path):
    archive, _ = other_release
    cache = tmp_path / "ws" / "cache" / "downloads"
    (tmp_path / "ws").mkdir()
    with pytest.raises(sources.WrongReleaseError) as info:
        sources.download(load_card("ml-100k"), archive.as_uri(), cache, RecordingReporter(), [])
    assert info.value.hint == f"to ingest it, run `recsys ingest ml-other --source {archive.as_uri()}`"
    assert list((tmp_path / "ws").iterdir()) == []  # neither cache/ nor cache/downloads/ is left


def test_the_cards_own_checksum_wins(other_release):
    archive, other = other_release
    notes: list[str] = []
    sources.verify_local_archive(other, archive, RecordingReporter(), notes)
    assert notes == ["verified the sha256 of other.zip"]


# -- downloads (file:// URLs) ----------------------------------------------------------------------------
def test_download_verifies_caches_and_reuses(release, tmp_path):
    archive = zip_release(release, tmp_path / "ml-100k.zip")
    card = card_for(archive)
    cache = tmp_path / "cache"
    notes: list[str] = []
    path, digests = sources.download(card, archive.as_uri(), cache, RecordingReporter(), notes)
    assert path.parent == cache and path.read_bytes() == archive.read_bytes()
    assert path.name.endswith("-ml-100k.zip")  # not the card's URL: kept apart from the official download
    assert digests.sha256 == card.sha256
    assert notes == [f"downloaded {archive.as_uri()} (sha256 verified)"]
    assert [p.name for p in cache.iterdir()] == [path.name]  # no .part left
    notes = []
    again, _ = sources.download(card, archive.as_uri(), cache, RecordingReporter(), notes)
    assert again == path and notes[0].startswith("using the cached download")


def test_download_with_the_wrong_checksum_is_deleted(release, tmp_path):
    archive = zip_release(release, tmp_path / "ml-100k.zip")
    cache = tmp_path / "cache" / "downloads"
    with pytest.raises(ChecksumError, match="is not the official ml-100k.zip") as info:
        sources.download(load_card("ml-100k"), archive.as_uri(), cache, RecordingReporter(), [])
    assert info.value.hint.startswith("the download was deleted")
    assert not (tmp_path / "cache").exists()  # the folders made for the download are gone too


def test_a_failed_download_keeps_an_existing_cache(release, tmp_path):
    archive = zip_release(release, tmp_path / "ml-100k.zip")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "kept.zip").write_bytes(b"x")
    with pytest.raises(ChecksumError):
        sources.download(load_card("ml-100k"), archive.as_uri(), cache, RecordingReporter(), [])
    assert [p.name for p in cache.iterdir()] == ["kept.zip"]


def test_a_damaged_cached_copy_is_fetched_again(release, tmp_path):
    archive = zip_release(release, tmp_path / "ml-100k.zip")
    card = card_for(archive, url=archive.as_uri())
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "ml-100k.zip").write_bytes(b"damaged")
    notes: list[str] = []
    path, _ = sources.download(card, card.url, cache, RecordingReporter(), notes)
    assert path == cache / "ml-100k.zip" and path.read_bytes() == archive.read_bytes()
    assert notes[0].startswith("downloaded")


def test_download_of_a_card_without_checksum_warns(release, tmp_path):
    archive = zip_release(release, tmp_path / "ml-100k.zip")
    reporter = RecordingReporter()
    _, digests = sources.download(card_for(sha256="", md5=""), archive.as_uri(), tmp_path / "c", reporter, [])
    assert any("publishes no checksum" in m and digests.sha256 in m for _, m in reporter.messages)


def test_download_failure_is_one_line(tmp_path):
    url = (tmp_path / "missing.zip").as_uri()
    with pytest.raises(DownloadError, match="cannot download"):
        sources.download(load_card("ml-100k"), url, tmp_path / "cache", RecordingReporter(), [])
    assert not (tmp_path / "cache").exists()


def test_fetch_from_a_url_extracts_into_scratch(release, tmp_path):
    archive = zip_release(release, tmp_path / "ml-100k.zip")
    card = card_for(archive)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    plan = sources.plan_source(card, archive.as_uri())
    fetched = sources.fetch(card, plan, scratch, tmp_path / "cache", RecordingReporter())
    assert fetched.source == archive.as_uri()
    assert fetched.sha256 == card.sha256
    assert fetched.files["items"] == scratch / "u.item"


@pytest.fixture
def http_server(tmp_path):
    """A local HTTP server (127.0.0.1, no network) serving tmp_path/www."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_download_and_http_errors(release, tmp_path, http_server):
    www, base = http_server
    archive = zip_release(release, www / "ml-100k.zip")
    card = card_for(archive, url=f"{base}/ml-100k.zip")
    notes: list[str] = []
    path, digests = sources.download(card, card.url, tmp_path / "cache", RecordingReporter(), notes)
    assert path.name == "ml-100k.zip" and digests.sha256 == card.sha256
    with pytest.raises(DownloadError, match="HTTP 404"):
        sources.download(card, f"{base}/missing.zip", tmp_path / "cache", RecordingReporter(), [])
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["ml-100k.zip"]


def test_download_happens_before_the_workspace_lock(release, tmp_path, monkeypatch):
    """A long download must not hold the write lock other commands wait for."""
    import fcntl

    from recsys_cli.data.workspace import Workspace
    from recsys_cli.datasets import ingest as ingest_module
    from recsys_cli.errors import WorkspaceLockedError

    archive = zip_release(release, tmp_path / "a.zip")
    monkeypatch.setattr(ingest_module, "load_card", lambda name: card_for(archive))
    ws = Workspace(tmp_path / "ws", lock_timeout=0.2)
    ws.root.mkdir()
    holder = open(ws.root / ".lock", "a+")
    fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
    try:
        with pytest.raises(WorkspaceLockedError):
            ingest.ingest_card(ws, "ml-100k", archive.as_uri(), allow_count_mismatch=True)
    finally:
        holder.close()
    assert [p.name for p in (ws.root / "cache" / "downloads").iterdir()], "downloaded while the lock was held elsewhere"
    result = ingest.ingest_card(ws, "ml-100k", archive.as_uri(), allow_count_mismatch=True)
    assert result.dataset.n_interactions == 3
