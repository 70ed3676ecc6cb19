"""Where a card's files come from: a URL, the release's zip, or its extracted folder.

:func:`plan_source` classifies a source and checks what it can without
touching the workspace (a missing path fails before the lock is taken);
:func:`fetch` then makes the card's files readable in a scratch folder:
downloading into the cache (verified, then renamed into place), verifying a
local zip, refusing unsafe archives and extracting only the files it needs.

Checksum policy (see docs/datasets.md):

* an archive (downloaded or local) whose sha256 or md5 is ANOTHER card's
  published checksum is that other release: refused, naming it;
* a download must match the card's sha256 (or its md5 where no sha256 is
  published); a card with neither is downloaded with a warning and the
  archive's own sha256 is recorded;
* a local zip of the official size must match too (same size, other bytes:
  a damaged copy); a zip of another size is someone's re-packed archive: it
  is accepted with a warning, its sha256 recorded, and zip CRCs still checked
  (the published interaction count, checked after loading, still applies);
* a folder or a re-packed zip whose top folder is another card's
  ``archive_root`` is refused, naming that release.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from recsys_cli.datasets.cards import Card, other_cards
from recsys_cli.errors import ArchiveError, ChecksumError, DownloadError, InputFileError
from recsys_cli.reporting import Reporter
from recsys_cli.version import __version__


class WrongReleaseError(ChecksumError):
    """An archive whose checksum is another card's: that release, not this card's."""


URL_SCHEMES = ("http://", "https://", "file://")
CHUNK = 1 << 20
DOWNLOAD_TIMEOUT = 60.0
_UNSAFE_HINT = "refusing to extract it; get the release from its official URL"


@dataclass
class SourcePlan:
    kind: str  # "url", "downloaded", "zip" or "folder"
    location: str  # the URL, or the absolute path, as recorded in the catalog
    path: Path | None = None
    digests: Digests | None = None  # of a downloaded archive, verified already
    notes: list[str] = field(default_factory=list)


@dataclass
class Fetched:
    files: dict[str, Path]  # role -> a file DuckDB can read
    source: str
    sha256: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class Digests:
    sha256: str
    md5: str
    size: int


# -- planning (no side effects) --------------------------------------------------------------
def plan_source(card: Card, source: str | Path | None) -> SourcePlan:
    if source is None:
        return SourcePlan("url", card.url)
    text = str(source)
    if text.lower().startswith(URL_SCHEMES):
        if text.lower().startswith("file://"):
            local = _file_url_path(text)
            if local.is_dir():
                raise InputFileError(f"a file:// URL must name a zip: {text}", "pass a folder as a plain path")
            if not local.is_file():
                raise InputFileError(f"source not found: {text}", "check the path in the file:// URL")
        return SourcePlan("url", text)
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", text):
        raise InputFileError(f"unsupported URL scheme: {text}", "use http://, https:// or file://, or a local path")
    path = Path(text).expanduser().absolute()
    if not path.exists():
        raise InputFileError(
            f"source not found: {path}",
            f"pass the {card.title} zip, its extracted folder, or a URL (relative paths are from the current folder)",
        )
    if path.is_dir():
        locate_in_folder(card, path)
        return SourcePlan("folder", str(path), path)
    if path.stat().st_size == 0:
        raise InputFileError(f"source is empty: {path}", "the file has no bytes; was a download cut short?")
    return SourcePlan("zip", str(path), path)


def _file_url_path(url: str) -> Path:
    parsed = urllib.parse.urlparse(url)
    # file://name.zip parses 'name.zip' as a host and leaves no path: say what a file URL needs
    if parsed.netloc not in ("", "localhost") or not parsed.path:
        raise InputFileError(
            f"a file:// URL needs an absolute path: {url}",
            "write file:///abs/path.zip (three slashes), or pass the path itself without file://",
        )
    return Path(urllib.request.url2pathname(parsed.path))


def locate_in_folder(card: Card, folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The card's files in an extracted release: ``folder`` is its root or the root's parent."""
    interactions = card.files["interactions"].file
    base = next((c for c in (folder, folder / card.archive_root) if (c / interactions).is_file()), None)
    if base is None:
        _refuse_other_root(card, str(folder), folder.name, folder)
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
        shown = ", ".join(found[:10]) + (" ..." if len(found) > 10 else "") if found else "nothing"
        raise InputFileError(
            f"{folder} has no {interactions} (found: {shown})",
            f"pass the extracted {card.title} folder ({card.archive_root}/, holding {interactions}), "
            "its parent, or the release's zip",
        )
    if base == folder:
        # The files the card reads are common to several releases (ratings.csv): a folder
        # named after another release is that release, whatever its files are called.
        _refuse_other_root(card, str(folder), folder.name, folder)
    files: dict[str, Path] = {}
    notes: list[str] = []
    for role, spec in card.files.items():
        if (base / spec.file).is_file():
            files[role] = base / spec.file
        else:
            notes.append(f"{base} has no {spec.file}: the dataset gets no {role} table")
    return files, notes


def _refuse_other_root(card: Card, subject: str, root: str, source: Path | str) -> None:
    """Refuse a folder named ``root`` when that is another card's archive folder (not this card's)."""
    if root == card.archive_root:
        return
    other = next((o for o in other_cards(card) if o.archive_root == root), None)
    if other is not None:
        raise InputFileError(
            f"{subject} is the folder of the {other.title} release ({other.name}), "
            f"not of {card.name} ({card.archive_root}/)",
            f"to ingest it, run `recsys ingest {other.name} --source {source}`",
        )


# -- fetching (inside the workspace lock) ---------------------------------------------------------
def prefetch(card: Card, plan: SourcePlan, cache_dir: Path, reporter: Reporter) -> SourcePlan:
    """Download a URL source into the cache now, so that :func:`fetch` only extracts.

    Called before the workspace's write lock is taken: a large release can take
    minutes to download, and other writers should not wait for the network.
    """
    if plan.kind != "url":
        return plan
    notes: list[str] = []
    archive, digests = download(card, plan.location, cache_dir, reporter, notes)
    return SourcePlan("downloaded", plan.location, archive, digests, notes)


def fetch(card: Card, plan: SourcePlan, scratch: Path, cache_dir: Path, reporter: Reporter) -> Fetched:
    if plan.kind == "folder":
        files, missing = locate_in_folder(card, plan.path)
        for message in missing:
            reporter.warn(message)
        return Fetched(files, plan.location)
    notes: list[str] = list(plan.notes)
    if plan.kind == "url":
        archive, digests = download(card, plan.location, cache_dir, reporter, notes)
    elif plan.kind == "downloaded":
        archive, digests = plan.path, plan.digests
    else:
        archive, digests = plan.path, verify_local_archive(card, plan.path, reporter, notes)
    files = extract(card, archive, scratch, reporter)
    return Fetched(files, plan.location, digests.sha256, notes)


class _Hasher:
    """sha256 (it is recorded) and md5: some releases publish only an md5 (ml-10m), and
    another card's md5 must be recognisable too, so both are always computed."""

    def __init__(self, card: Card):
        self.sha = hashlib.sha256()
        self.md5 = hashlib.md5()
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.sha.update(chunk)
        self.md5.update(chunk)
        self.size += len(chunk)

    def digests(self) -> Digests:
        return Digests(self.sha.hexdigest(), self.md5.hexdigest(), self.size)


def file_digests(card: Card, path: Path, reporter: Reporter) -> Digests:
    hasher = _Hasher(card)
    with reporter.task(f"checking {path.name}", total=path.stat().st_size) as task, open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
            task.advance(len(chunk))
    return hasher.digests()


def _matches(card: Card, digests: Digests) -> str | None:
    """The algorithm by which ``digests`` are the card's archive (sha256 preferred), or None."""
    if card.sha256:
        return "sha256" if digests.sha256 == card.sha256 else None
    if card.md5:
        return "md5" if digests.md5 == card.md5 else None
    return None


def check_digests(card: Card, digests: Digests, what: str, source: str | Path = "PATH") -> str | None:
    """Raise ChecksumError unless ``digests`` match the card; returns the algorithm used (None: no checksum).

    Raises WrongReleaseError, whatever the card publishes, when they are another card's
    archive: a wrong release must never be ingested under this card, even with a warning.
    """
    algorithm = _matches(card, digests)
    if algorithm:
        return algorithm
    for other in other_cards(card):
        # either published digest identifies a release; md5 alone for cards without sha256
        by = (
            "sha256"
            if other.sha256 and digests.sha256 == other.sha256
            else ("md5" if other.md5 and digests.md5 == other.md5 else None)
        )
        if by:
            raise WrongReleaseError(
                f"{what}: this archive is {other.archive_name} (its {by} is the {other.name} card's), "
                f"not {card.name}'s {card.archive_name}",
                f"to ingest it, run `recsys ingest {other.name} --source {source}`",
            )
    if not card.has_checksum:
        return None
    expected, got, algorithm = (
        (card.sha256, digests.sha256, "sha256") if card.sha256 else (card.md5, digests.md5, "md5")
    )
    raise ChecksumError(
        f"{what} is not the official {card.archive_name}: its {algorithm} is {got[:16]}..., "
        f"the card's is {expected[:16]}...",
    )


def verify_local_archive(card: Card, archive: Path, reporter: Reporter, notes: list[str]) -> Digests:
    digests = file_digests(card, archive, reporter)
    try:
        algorithm = check_digests(card, digests, archive.name, archive)
    except WrongReleaseError:
        raise
    except ChecksumError as error:
        if card.archive_size is not None and digests.size == card.archive_size:
            # The official size with other bytes: a damaged copy of the release.
            error.hint = "the archive is damaged: delete it and download it again (or pass the extracted folder)"
            raise
        reporter.warn(
            f"{archive.name} is not the official {card.archive_name} ({digests.size} bytes"
            + (f", official {card.archive_size}" if card.archive_size else "")
            + f"): ingesting it as a re-packed archive, sha256 {digests.sha256}"
        )
        return digests
    if algorithm is None:
        reporter.warn(f"card {card.name} publishes no checksum; recorded the archive's sha256 {digests.sha256}")
        return digests
    notes.append(f"verified the {algorithm} of {archive.name}")
    return digests


def _cache_name(card: Card, url: str) -> str:
    base = urllib.parse.urlparse(url).path.rstrip("/").rsplit("/", 1)[-1] or f"{card.name}.zip"
    if url == card.url:
        return base
    # Another URL may serve another file under the same name; keep them apart.
    return f"{hashlib.sha256(url.encode()).hexdigest()[:8]}-{base}"


def download(card: Card, url: str, cache_dir: Path, reporter: Reporter, notes: list[str]) -> tuple[Path, Digests]:
    """Download ``url`` into the cache (or reuse a verified copy); returns the file and its digests."""
    target = cache_dir / _cache_name(card, url)
    if target.is_file():
        digests = file_digests(card, target, reporter)
        try:
            algorithm = check_digests(card, digests, str(target), url)
        except ChecksumError:
            target.unlink()  # a stale or damaged copy: fetch it again
        else:
            notes.append(f"using the cached download {target}" + (f" ({algorithm} verified)" if algorithm else ""))
            return target, digests
    # The .part file sits in the cache so the verified file is published with one rename
    # (the cache may be on another file system than the workspace); folders made for it
    # are removed again on failure, so a failed download leaves the workspace as it was.
    created = _make_dirs(cache_dir)
    # a private .part name: two commands sharing RECSYS_DOWNLOAD_CACHE must not write one file
    part = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        digests = _stream(url, part, card, reporter)
        algorithm = check_digests(card, digests, f"the file downloaded from {url}", url)
    except BaseException as error:
        part.unlink(missing_ok=True)
        _remove_empty_dirs(created)
        if isinstance(error, ChecksumError) and not isinstance(error, WrongReleaseError):
            error.hint = "the download was deleted; check that the URL serves the official release, or try again later"
        raise
    os.replace(part, target)
    if algorithm:
        notes.append(f"downloaded {url} ({algorithm} verified)")
    else:
        reporter.warn(f"card {card.name} publishes no checksum; recorded the download's sha256 {digests.sha256}")
    return target, digests


def _make_dirs(folder: Path) -> list[Path]:
    """``mkdir -p folder``; returns the folders it created, deepest first."""
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_empty_dirs(folders: list[Path]) -> None:
    for folder in folders:  # deepest first; one another command has written into stays
        try:
            folder.rmdir()
        except OSError:
            return


def _stream(url: str, part: Path, card: Card, reporter: Reporter) -> Digests:

    request = urllib.request.Request(url, headers={"User-Agent": f"recsys-cli/{__version__}"})
    hasher = _Hasher(card)
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT) as response, open(part, "wb") as out:
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            with reporter.task(f"downloading {url.rsplit('/', 1)[-1]}", total=expected or card.archive_size) as task:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    hasher.update(chunk)
                    task.advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())  # the rename into the cache must publish complete bytes
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"cannot download {url}: {exc.reason}") from None
    except (OSError, ValueError) as exc:  # connection reset, timeout, disk full, bad URL
        raise DownloadError(f"cannot download {url}: {exc}") from None
    if expected is not None and hasher.size != expected:
        raise DownloadError(f"the download of {url} stopped after {hasher.size} of {expected} bytes")
    return hasher.digests()


# -- zip archives -------------------------------------------------------------------------------------
def check_entries(archive_name: str, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse the whole archive if any entry could escape the folder it is extracted into."""
    for info in infos:
        name = info.filename
        posix = name.replace("\\", "/")
        if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix) or ".." in PurePosixPath(posix).parts:
            raise ArchiveError(
                f"{archive_name}: archive entry '{name}' would land outside the target folder", _UNSAFE_HINT
            )
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveError(f"{archive_name}: archive entry '{name}' is a symbolic link", _UNSAFE_HINT)


def _find_member(card: Card, members: dict[str, zipfile.ZipInfo], file: str, archive: Path) -> zipfile.ZipInfo | None:
    for candidate in (f"{card.archive_root}/{file}", file):
        if candidate in members:
            return members[candidate]
    # a re-packed archive with another top folder name; but a top folder named after
    # another release (ml-latest-small/ratings.csv for ml-25m) is that release
    nested = [info for name, info in members.items() if name.count("/") == 1 and name.endswith("/" + file)]
    for info in nested:
        root = info.filename.split("/", 1)[0]
        _refuse_other_root(card, f"{archive.name}'s top folder {root}/", root, archive)
    return nested[0] if len(nested) == 1 else None


def extract(card: Card, archive: Path, scratch: Path, reporter: Reporter) -> dict[str, Path]:
    """Extract the card's files from ``archive`` into ``scratch``; returns role -> path."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(
            f"{archive.name} is not a readable zip archive ({exc})",
            "download the release again or pass its extracted folder; for a single interaction file "
            "use `recsys ingest csv`",
        ) from None
    except OSError as exc:
        raise InputFileError(f"cannot read {archive}: {exc.strerror or exc}") from None
    with zf:
        infos = zf.infolist()
        check_entries(archive.name, infos)
        members = {info.filename: info for info in infos if not info.is_dir()}
        wanted: dict[str, zipfile.ZipInfo] = {}
        for role, spec in card.files.items():
            info = _find_member(card, members, spec.file, archive)
            if info is not None:
                wanted[role] = info
            elif role == "interactions":
                shown = ", ".join(sorted(members)[:8]) + (" ..." if len(members) > 8 else "")
                raise InputFileError(
                    f"{archive.name} has no {card.archive_root}/{spec.file} (found: {shown or 'no files'})",
                    f"is this the {card.title} release ({card.archive_name})?",
                )
            else:
                reporter.warn(f"{archive.name} has no {spec.file}: the dataset gets no {role} table")
        files: dict[str, Path] = {}
        total = sum(info.file_size for info in wanted.values())
        with reporter.task(f"extracting {archive.name}", total=total) as task:
            for role, info in wanted.items():
                target = scratch / card.files[role].file
                _extract_one(zf, info, target, archive.name, task)
                files[role] = target
    return files


def _extract_one(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, archive_name: str, task) -> None:
    try:
        with zf.open(info) as source, open(target, "wb") as out:
            while chunk := source.read(CHUNK):
                out.write(chunk)
                task.advance(len(chunk))
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:  # CRC mismatch, corrupt or truncated data
        raise ArchiveError(f"{archive_name}: entry '{info.filename}' is damaged ({exc})") from None
    except (RuntimeError, NotImplementedError) as exc:  # encrypted, or an unsupported compression method
        raise ArchiveError(
            f"{archive_name}: cannot extract '{info.filename}' ({exc})",
            "re-create the archive without a password using deflate compression, or pass the extracted folder",
        ) from None
