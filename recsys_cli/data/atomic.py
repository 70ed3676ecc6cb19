"""Atomic file and folder publication.

Everything the workbench writes is produced under a temporary name on the
same filesystem and renamed into place, so a reader (or a process killed part
way) sees either the old artifact or the complete new one, never a fragment.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

# how and when an artifact was made (timings, timestamps), not what it is: left out of its digest, so
# the same inputs give the same digest, and the same downstream keys, in any workspace
PROVENANCE_FILES = frozenset({"manifest.json", "artifact.json"})


def file_sha256(path: Path) -> str:
    """The file's sha256, read in 1 MiB blocks (artifacts record it; loaders check it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_digest(folder: Path) -> str:
    """sha256 over the files below ``folder`` (relative path, size, content sha256; sorted), except
    the provenance files. Generation folders are written deterministically, so the same content
    gives the same digest whatever source it was made from (the stage cache and ingest's reuse of
    an identical dataset rely on it)."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in PROVENANCE_FILES):
        lines.append(f"{path.relative_to(folder).as_posix()} {path.stat().st_size} {file_sha256(path)}")
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def fsync_tree(path: Path) -> None:
    """Flush every file under ``path`` (and the folders) to disk before a rename publishes it."""
    for dirpath, _dirnames, filenames in os.walk(path):
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def publish_dir(staged: Path, final: Path) -> None:
    """Move a fully written folder into place; ``final`` must not exist yet."""
    fsync_tree(staged)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.rename(staged, final)
    _fsync_dir(final.parent)
