"""Scratch folders inside the workspace's ``.staging/``: what a command builds outside the write lock.

The ranker and its evaluation compute pools and features (and DuckDB spills) for minutes under the
readers' lock, before they take the write lock to publish. That work lives in ``.staging/`` so that
nothing is left in the system's temp folder when such a command is killed, and so that publishing
moves files with a rename. Every writer sweeps ``.staging/`` when it takes the lock, so a scratch
folder must say whether its owner still runs:

    .staging/<kind>-<pid>-<random>.lock    created first and held (flock) by the owner for its life
    .staging/<kind>-<pid>-<random>/        the folder itself

The sweep removes a scratch folder only when it can take its lock file's flock without waiting (or
the lock file is gone): the kernel drops an flock when its holder dies, however it dies, so a live
owner's folder is never swept and a killed owner's folder goes with the next writer. The pid in the
name is for people reading the folder; liveness is the lock's alone (pids are reused, and another pid
namespace sharing the workspace would see a live owner as dead).

An owner creates its lock file with a fresh name and, after locking it, checks that the name still
points at the file it locked: a sweep may have taken the not-yet-locked file and removed it in
between, and then the owner starts again with another name.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCRATCH = re.compile(r"^(?P<name>[a-z]+-\d+-[0-9a-f]{12})(?P<lock>\.lock)?$")
LOCK_SUFFIX = ".lock"


@contextmanager
def scratch_folder(staging: Path, kind: str) -> Iterator[Path]:
    """A new folder ``staging/<kind>-<pid>-<random>/``, kept from sweeps while this context runs and
    removed (with its lock file) when it ends."""
    if not re.fullmatch(r"[a-z]+", kind):
        raise ValueError(f"a scratch kind is lower-case letters, not {kind!r}")
    staging.mkdir(exist_ok=True)
    while True:
        name = f"{kind}-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        lock_path = staging / (name + LOCK_SUFFIX)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if _same_file(fd, lock_path):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # a sweep removed it before we held it: take another name
    folder = staging / name
    try:
        folder.mkdir()
        yield folder
    finally:
        try:
            shutil.rmtree(folder, ignore_errors=True)
            lock_path.unlink(missing_ok=True)
        finally:
            os.close(fd)  # releases the flock


def sweep_staging(staging: Path) -> None:
    """Remove everything in ``staging`` except the scratch folders (and lock files) of live owners.

    Called by a writer holding the write lock: the only other things in ``.staging/`` then are what
    killed writers left.
    """
    if not staging.is_dir():
        return
    for child in sorted(staging.iterdir()):
        match = SCRATCH.match(child.name)
        if match is None:
            _remove(child)
        elif not match.group("lock"):
            _sweep_scratch(staging, match.group("name"))
        elif not (staging / match.group("name")).exists():
            _sweep_scratch(staging, match.group("name"))  # a lock file whose folder is gone


def _sweep_scratch(staging: Path, name: str) -> None:
    """Remove the scratch folder ``name`` and its lock file unless its owner holds the lock."""
    lock_path = staging / (name + LOCK_SUFFIX)
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:  # its owner never locked it (or a sweep already removed the lock): dead
        _remove(staging / name)
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # a live owner
        _remove(staging / name)
        lock_path.unlink(missing_ok=True)  # while still held: an owner that raced us sees it gone
    finally:
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
