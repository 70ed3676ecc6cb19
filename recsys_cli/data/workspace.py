"""The workspace: one folder holding the catalog and every artifact.

Layout (see docs/architecture.md for why data folders carry a generation id)::

    catalog.duckdb                         datasets, splits (and later runs)
    datasets/<name>/<generation>/          interactions/items/users parquet + vocab/
    splits/<dataset>/<split>/<generation>/ train/val/test parquet
    runs/<run>/<generation>/               a trained model: model.npz, model.json, manifest.json
    runs/<run>/<kind>/<generation>/        built from it: index, evaluation-test, candidates ...
    pipelines/<name>/<generation>/         a recipe run: manifest.json, metrics.json, per_user.parquet
    cache/stages/<key>.json                the stage cache: what each recipe stage produced
    cache/downloads/                       archives fetched from URLs
    .staging/                              work in progress; swept on the next write (not live scratch)
    .lock                                  held (flock) by the one command that writes
    .readers                               held shared (flock) by commands reading generations

Writers hold an exclusive lock for their whole run, build everything in
``.staging``, publish folders with a rename and register them in the catalog
last. Anything on disk that the catalog does not reference is garbage from an
interrupted command and is swept when the next writer takes the lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TypeVar

from recsys_cli.data.atomic import publish_dir
from recsys_cli.data.catalog import Catalog
from recsys_cli.data.faults import naming_full_disk
from recsys_cli.data.scratch import scratch_folder, sweep_staging
from recsys_cli.errors import WorkspaceError, WorkspaceLockedError
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.settings import lock_timeout_seconds

T = TypeVar("T")

READERS_LOCK = ".readers"
# what new_generation() makes; the sweep deletes nothing else
GENERATION = re.compile(r"^\d{8}T\d{6}-[0-9a-f]{6}$")


class Workspace:
    def __init__(self, root: Path | str, lock_timeout: float | None = None):
        self.root = Path(root).expanduser().absolute()
        self.lock_timeout = lock_timeout_seconds() if lock_timeout is None else lock_timeout

    # -- paths ---------------------------------------------------------------
    @property
    def catalog_path(self) -> Path:
        return self.root / "catalog.duckdb"

    @property
    def datasets_dir(self) -> Path:
        return self.root / "datasets"

    @property
    def splits_dir(self) -> Path:
        return self.root / "splits"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def pipelines_dir(self) -> Path:
        return self.root / "pipelines"

    @property
    def staging_dir(self) -> Path:
        return self.root / ".staging"

    def exists(self) -> bool:
        return self.catalog_path.exists()

    def catalog(self, read_only: bool = True) -> Catalog:
        """A connection to the catalog; reading one refuses a path that holds no workspace (a typo in
        --workspace would otherwise read as an empty workspace). Writers open it inside ``writing()``,
        which creates it."""
        if read_only:
            self.check_readable()
        return Catalog(self.catalog_path, read_only=read_only, timeout=self.lock_timeout)

    def check_readable(self) -> None:
        """Refuse a path that does not exist, is a file, or is a folder without ``catalog.duckdb``."""
        if self.catalog_path.is_file():
            return
        if not self.root.exists():
            why = "the folder does not exist"
        elif not self.root.is_dir():
            why = "it is a file"
        else:
            why = "the folder has no catalog.duckdb"
        raise WorkspaceError(
            f"no recsys workspace at {self.root}: {why}",
            "check --workspace / RECSYS_WORKSPACE, or create one with `recsys ingest ...` or `recsys demo`",
        )

    def resolve(self, relative: str) -> Path:
        return self.root / relative

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @staticmethod
    def new_generation() -> str:
        return time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]

    # -- reading -------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[Workspace]:
        """Keep the generations a reader sees from being deleted under it.

        Take this *before* reading the catalog. Writers delete a replaced
        generation only when no reader holds ``.readers``; otherwise it stays
        until a later writer's sweep finds no reader.
        """
        try:
            fd = os.open(self.root / READERS_LOCK, os.O_RDONLY)
        except OSError:  # no workspace yet, or one no writer has touched since readers locks exist
            yield self
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield self
        finally:
            os.close(fd)  # releases the lock

    # -- writing -------------------------------------------------------------
    @contextmanager
    def writing(self, reporter: Reporter = SILENT, command: str | None = None) -> Iterator[Workspace]:
        """Hold the workspace's write lock; sweep what interrupted writers left."""
        self.check_writable()
        created = not self.root.exists()
        # outermost: a full disk is named as the workspace's, also when cleaning up after it
        with naming_full_disk(self.root), _exclusive_lock(self.root, self.lock_timeout, reporter, command):
            try:
                self.staging_dir.mkdir(exist_ok=True)
                (self.root / READERS_LOCK).touch(exist_ok=True)
                with self.catalog(read_only=False) as catalog:
                    catalog.ensure_schema()
                    referenced = catalog.referenced_paths()
                self._sweep(referenced)
                yield self
            except BaseException:
                if created:
                    self._remove_if_unused()
                raise

    def check_writable(self) -> None:
        """Refuse a path that is a file, or a folder of someone else's files (a sweep would delete them)."""
        if self.root.exists() and not self.root.is_dir():
            raise WorkspaceError(f"workspace {self.root} is a file, not a folder", "pass another --workspace")
        if self.root.exists() and not self.catalog_path.exists() and _has_foreign_content(self.root):
            raise WorkspaceError(
                f"{self.root} is not a recsys workspace and is not empty",
                "pass a new or empty folder with --workspace (or set RECSYS_WORKSPACE)",
            )

    def _remove_if_unused(self) -> None:
        """A first command that failed leaves no workspace behind.

        Runs under the write lock and removes only what this command created;
        a writer waiting on the lock notices that the lock file went away and
        starts over (see _exclusive_lock).
        """
        if self.catalog_path.exists():
            try:
                with self.catalog() as catalog:
                    if catalog.referenced_paths():
                        return
            except Exception:  # a broken catalog is left for inspection
                return
        for name in ("catalog.duckdb", "catalog.duckdb.wal", READERS_LOCK):
            (self.root / name).unlink(missing_ok=True)
        for folder in (
            self.staging_dir,
            self.datasets_dir,
            self.splits_dir,
            self.runs_dir,
            self.pipelines_dir,
            self.root / "cache" / "stages",
        ):
            shutil.rmtree(folder, ignore_errors=True)
        (self.root / "cache" / "pipeline.lock").unlink(missing_ok=True)
        try:
            (self.root / "cache").rmdir()  # kept when it holds downloads
        except OSError:
            pass
        if set(os.listdir(self.root)) <= {".lock"}:
            (self.root / ".lock").unlink(missing_ok=True)
            try:
                self.root.rmdir()
            except OSError:
                pass

    def remove_if_unused(self) -> None:
        """For callers of several commands (``recsys run``) whose first command failed on a new folder:
        remove what they created, under the write lock, unless the catalog references something."""
        if not self.root.is_dir():
            return
        with _exclusive_lock(self.root, self.lock_timeout, SILENT, "cleanup"):
            self._remove_if_unused()

    def publish(self, staged: Path, parent: Path, register: Callable[[str], T]) -> T:
        """Rename ``staged`` into a new generation folder under ``parent``, then ``register`` it.

        ``register`` gets the folder's workspace-relative path and writes the catalog
        row; if it fails, the folder is removed again, so nothing unregistered stays.
        """
        final = parent / self.new_generation()
        publish_dir(staged, final)
        try:
            return register(self.relative(final))
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)
            raise

    def new_staging_dir(self) -> Path:
        path = self.staging_dir / uuid.uuid4().hex
        path.mkdir(parents=True)
        return path

    @contextmanager
    def scratch(self, kind: str) -> Iterator[Path]:
        """A scratch folder in ``.staging/`` for work done outside the write lock (see
        :mod:`recsys_cli.data.scratch`); sweeps leave it alone while its owner runs, and it is removed after."""
        with naming_full_disk(self.root), scratch_folder(self.staging_dir, kind) as folder:
            yield folder

    @contextmanager
    def scratch_for_reading(self, kind: str) -> Iterator[Path]:
        """A scratch folder for a command that only reads (``sql``, an evaluation not saved): in the
        workspace like :meth:`scratch` where it can write, else (a read-only workspace) a private folder
        in the system's temp folder, removed afterwards. Refuses a path that holds no workspace first."""
        self.check_readable()
        with ExitStack() as lifetime:
            try:
                folder = lifetime.enter_context(self.scratch(kind))
            except OSError as exc:
                if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                    raise
                folder = Path(lifetime.enter_context(tempfile.TemporaryDirectory(prefix=f"recsys-{kind}-")))
            yield folder

    def _sweep(self, referenced: set[str]) -> None:
        sweep_staging(self.staging_dir)  # all but live owners' scratch folders
        with self._no_readers() as free:
            if not free:
                return  # a reader may be using an old generation: next time
            # generation folders sit two levels down under datasets/, three under splits/,
            # two (a run's model) or three (a run's index, evaluation ...) under runs/
            for top, depth in (
                (self.datasets_dir, 2),
                (self.splits_dir, 3),
                (self.runs_dir, 2),
                (self.runs_dir, 3),
                (self.pipelines_dir, 2),
            ):
                if not top.exists():
                    continue
                for generation in _dirs_at_depth(top, depth):
                    if GENERATION.match(generation.name) and self.relative(generation) not in referenced:
                        _remove(generation)
                _prune_empty(top)

    def retire(self, relatives: list[str]) -> None:
        """Delete generations the catalog no longer references, unless a reader is active.

        Call only after the catalog stopped pointing at them; what cannot be
        deleted now is swept by a later writer.
        """
        with self._no_readers() as free:
            if not free:
                return
            for relative in relatives:
                path = self.resolve(relative)
                if GENERATION.match(path.name):
                    _remove(path)
                for parent in path.parents:
                    if parent == self.root or not parent.is_relative_to(self.root):
                        break
                    try:
                        parent.rmdir()
                    except OSError:
                        break

    @contextmanager
    def _no_readers(self) -> Iterator[bool]:
        try:
            fd = os.open(self.root / READERS_LOCK, os.O_RDONLY)
        except OSError:
            yield True
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)


def _has_foreign_content(root: Path) -> bool:
    # cache/ may come first: downloads happen before the lock is taken
    return any(name not in (".lock", ".staging", READERS_LOCK, "cache") for name in os.listdir(root))


def _dirs_at_depth(top: Path, depth: int) -> list[Path]:
    level = [top]
    for _ in range(depth):
        level = [c for p in level for c in sorted(p.iterdir()) if c.is_dir()]
    return level


def _prune_empty(top: Path) -> None:
    for dirpath, _dirnames, _filenames in sorted(os.walk(top), key=lambda t: -len(t[0])):
        path = Path(dirpath)
        if path != top:
            try:
                path.rmdir()
            except OSError:
                pass


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def _exclusive_lock(root: Path, timeout: float, reporter: Reporter, command: str | None) -> Iterator[None]:
    with exclusive_file_lock(
        root / ".lock",
        f"pid {os.getpid()}: {command or ' '.join(sys.argv)}",
        timeout,
        reporter,
        waiting=lambda holder: f"waiting for the workspace lock held by {holder} ...",
        refused=lambda holder: WorkspaceLockedError(f"workspace {root} is locked by another command ({holder})"),
    ):
        yield


@contextmanager
def exclusive_file_lock(
    path: Path,
    label: str,
    timeout: float | None,
    reporter: Reporter,
    *,
    waiting: Callable[[str], str],
    refused: Callable[[str], Exception],
) -> Iterator[None]:
    """Hold an flock on ``path`` (the kernel frees it if we die), writing ``label`` into the file for
    waiters to show; wait at most ``timeout`` seconds (None: as long as it takes)."""
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    announced = False
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            holder = _read_holder(path)
            if deadline is not None and time.monotonic() >= deadline:
                raise refused(holder or "another process") from None
            # a holder writes its label just after taking the lock: give it a moment to, so the
            # message names it rather than nobody
            if not announced and (holder or time.monotonic() - started >= 1.0):
                reporter.info(waiting(holder or "another process"))
                announced = True
            time.sleep(0.1)
            continue
        if same_file(handle, path):
            break
        # The holder removed the workspace it had just created (its first command
        # failed) after we opened the file: this lock guards nothing; start over.
        handle.close()
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{label}\n")
        handle.flush()
        yield
    finally:
        handle.close()  # closing the descriptor releases the flock


def same_file(handle, path: Path) -> bool:
    """Whether the open lock file is still the one at ``path`` (a failed first command may remove it)."""
    try:
        return os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def _read_holder(path: Path) -> str:
    """The lock holder's label, or '' while it has not written it yet."""
    try:
        return path.read_text().strip()
    except OSError:
        return ""
