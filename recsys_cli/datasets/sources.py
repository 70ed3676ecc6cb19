"""Where a card's files come from: a URL, the release's zip, or its extracted folder.

:func:`plan_source` classifies a source and checks what it can without
touching the workspace (a missing path fails before the lock is taken);
:func:`fetch` then makes the card's files readable in a scratch folder:
downloading into the cache (verified, then renamed into place), verifying a
local zip, refusing unsafe archives and extracting only the files it needs.

Checksum policy (see docs/datasets.md):

* a download must match the card's sha256 (or its md5 where no sha256 is
  published); a card with neither is downloaded with a warning and the
  archive's own sha256 is recorded;
* a local zip of the official size must match too (same size, other bytes:
  a damaged copy); a zip of another size is someone's re-packed archive: it
  is accepted with a warning, its sha256 recorded, and zip CRCs still checked.
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
from typing import TYPE_CHECKING

from recsys_cli.errors import ArchiveError, ChecksumError, DownloadError, InputFileError
from recsys_cli.reporting import Reporter

if TYPE_CHECKING:
    from recsys_cli.datasets.cards import Card

URL_SCHEMES = ("http://", "https://", "file://")
CHUNK = 1 << 20
DOWNLOAD_TIMEOUT = 60.0
_UNSAFE_HINT = "refusing to extract it; get the release from its official URL"


@dataclass
class SourcePlan:
    kind: str  # "url", "zip" or "folder"
    location: str  # the URL, or the absolute path, as recorded in the catalog
    path: Path | None = None


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
def plan_source(card: "Card", source: str | Path | None) -> SourcePlan:
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
    return Path(urllib.request.url2pathname(parsed.path))


def locate_in_folder(card: "Card", folder: Path) -> tuple[dict[str, Path], list[str]]:
    """The card's files in an extracted release: ``folder`` is its root or the root's parent."""
    interactions = card.files["interactions"].file
    base = next((c for c in (folder, folder / card.archive_root) if (c / interactions).is_file()), None)
    if base is None:
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in folder.iterdir())
        shown = ", ".join(found[:10]) + (" ..." if len(found) > 10 else "") if found else "nothing"
        raise InputFileError(
            f"{folder} has no {interactions} (found: {shown})",
            f"pass the extracted {card.title} folder ({card.archive_root}/, holding {interactions}), "
            "its parent, or the release's zip",
        )
    files: dict[str, Path] = {}
    notes: list[str] = []
    for role, spec in card.files.items():
        if (base / spec.file).is_file():
            files[role] = base / spec.file
        else:
            notes.append(f"{base} has no {spec.file}: the dataset gets no {role} table")
    return files, notes


# -- fetching (inside the workspace lock) ---------------------------------------------------------
def fetch(card: "Card", plan: SourcePlan, scratch: Path, cache_dir: Path, reporter: Reporter) -> Fetched:
    if plan.kind == "folder":
        files, missing = locate_in_folder(card, plan.path)
        for message in missing:
            reporter.warn(message)
        return Fetched(files, plan.location)
    notes: list[str] = []
    if plan.kind == "url":
        archive, digests = download(card, plan.location, cache_dir, reporter, notes)
    else:
        archive, digests = plan.path, verify_local_archive(card, plan.path, reporter, notes)
    files = extract(card, archive, scratch, reporter)
    return Fetched(files, plan.location, digests.sha256, notes)


class _Hasher:
    """sha256 always (it is recorded); md5 only where a card has nothing better to check."""

    def __init__(self, card: "Card"):
        self.sha = hashlib.sha256()
        self.md5 = hashlib.md5() if card.md5 and not card.sha256 else None
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self.sha.update(chunk)
        if self.md5 is not None:
            self.md5.update(chunk)
        self.size += len(chunk)

    def digests(self) -> Digests:
        return Digests(self.sha.hexdigest(), self.md5.hexdigest() if self.md5 else "", self.size)


def file_digests(card: "Card", path: Path, reporter: Reporter) -> Digests:
    hasher = _Hasher(card)
    with reporter.task(f"checking {path.name}", total=path.stat().st_size) as task, open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
            task.advance(len(chunk))
    return hasher.digests()


def check_digests(card: "Card", digests: Digests, what: str) -> str | None:
    """Raise ChecksumError unless ``digests`` match the card; returns the algorithm used (None: no checksum)."""
    if card.sha256:
        expected, got, algorithm = card.sha256, digests.sha256, "sha256"
    elif card.md5:
        expected, got, algorithm = card.md5, digests.md5, "md5"
    else:
        return None
    if got != expected:
        raise ChecksumError(
            f"{what} is not the official {card.archive_name}: its {algorithm} is {got[:16]}..., "
            f"the card's is {expected[:16]}...",
        )
    return algorithm


def verify_local_archive(card: "Card", archive: Path, reporter: Reporter, notes: list[str]) -> Digests:
    digests = file_digests(card, archive, reporter)
    if not card.has_checksum:
        reporter.warn(f"card {card.name} publishes no checksum; recorded the archive's sha256 {digests.sha256}")
        return digests
    try:
        algorithm = check_digests(card, digests, archive.name)
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
    notes.append(f"verified the {algorithm} of {archive.name}")
    return digests


def _cache_name(card: "Card", url: str) -> str:
    base = urllib.parse.urlparse(url).path.rstrip("/").rsplit("/", 1)[-1] or f"{card.name}.zip"
    if url == card.url:
        return base
    # Another URL may serve another file under the same name; keep them apart.
    return f"{hashlib.sha256(url.encode()).hexdigest()[:8]}-{base}"


def download(card: "Card", url: str, cache_dir: Path, reporter: Reporter, notes: list[str]) -> tuple[Path, Digests]:
    """Download ``url`` into the cache (or reuse a verified copy); returns the file and its digests."""
    target = cache_dir / _cache_name(card, url)
    if target.is_file():
        digests = file_digests(card, target, reporter)
        try:
            algorithm = check_digests(card, digests, str(target))
        except ChecksumError:
            target.unlink()  # a stale or damaged copy: fetch it again
        else:
            notes.append(f"using the cached download {target}" + (f" ({algorithm} verified)" if algorithm else ""))
            return target, digests
    cache_dir.mkdir(parents=True, exist_ok=True)
    # a private .part name: two commands sharing RECSYS_DOWNLOAD_CACHE must not write one file
    part = target.with_name(f"{target.name}.{uuid.uuid4().hex[:8]}.part")
    try:
        digests = _stream(url, part, card, reporter)
        algorithm = check_digests(card, digests, f"the file downloaded from {url}")
    except ChecksumError as error:
        part.unlink(missing_ok=True)
        error.hint = "the download was deleted; check that the URL serves the official release, or try again later"
        raise
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, target)
    if algorithm:
        notes.append(f"downloaded {url} ({algorithm} verified)")
    else:
        reporter.warn(f"card {card.name} publishes no checksum; recorded the download's sha256 {digests.sha256}")
    return target, digests


def _stream(url: str, part: Path, card: "Card", reporter: Reporter) -> Digests:
    from recsys_cli import __version__

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
            raise ArchiveError(f"{archive_name}: archive entry '{name}' would land outside the target folder", _UNSAFE_HINT)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveError(f"{archive_name}: archive entry '{name}' is a symbolic link", _UNSAFE_HINT)


def _find_member(members: dict[str, zipfile.ZipInfo], root: str, file: str) -> zipfile.ZipInfo | None:
    for candidate in (f"{root}/{file}", file):
        if candidate in members:
            return members[candidate]
    # a re-packed archive with another top folder name
    nested = [info for name, info in members.items() if name.count("/") == 1 and name.endswith("/" + file)]
    return nested[0] if len(nested) == 1 else None


def extract(card: "Card", archive: Path, scratch: Path, reporter: Reporter) -> dict[str, Path]:
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
            info = _find_member(members, card.archive_root, spec.file)
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
