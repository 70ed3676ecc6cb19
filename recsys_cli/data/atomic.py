"""Atomic file and folder publication.

Everything the workbench writes is produced under a temporary name on the
same filesystem and renamed into place, so a reader (or a process killed part
way) sees either the old artifact or the complete new one, never a fragment.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def file_sha256(path: Path) -> str:
    """The file's sha256, read in 1 MiB blocks (artifacts record it; loaders check it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
