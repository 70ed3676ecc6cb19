"""Ingest: turn a source into a registered dataset, atomically.

All three entry points (a dataset card, any interaction file, the synthetic
generator) share :func:`ingest_with`: take the workspace's write lock, refuse
to overwrite without ``force``, let a *loader* fill raw tables in a scratch
DuckDB, write the canonical files into the staging folder, publish the folder
with one rename and register it in the catalog last.

Replacing never deletes work behind the caller's back. The canonical folder is
deterministic, so data whose canonical files are identical to the registered
dataset's (another path, a re-zipped copy, the folder instead of the zip) is
*reused*: the staging folder is discarded and nothing in the workspace changes.
Different data replaces the dataset with ``force`` only when no split or run is
built on it; ``replace`` also deletes them. A caller that knows which of them it
made itself (a recipe run) passes ``disposable``: those may go without ``replace``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from recsys_cli.data.atomic import folder_digest
from recsys_cli.data.canonical import configure, write_canonical
from recsys_cli.data.records import DatasetRecord, RunRecord, SplitRecord, validate_name
from recsys_cli.data.workspace import Workspace
from recsys_cli.datasets import movielens, sources
from recsys_cli.datasets.cards import load_card
from recsys_cli.datasets.interaction_file import (
    ColumnMapping,
    CsvDialect,
    LoadReport,
    check_bad_lines_mode,
    check_readable,
    load_interactions,
)
from recsys_cli.datasets.synthetic import SyntheticConfig, generate
from recsys_cli.errors import AlreadyExistsError, RemovedMeanwhileError, UnknownNameError, WouldDeleteError
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.settings import download_cache
from recsys_cli.version import __version__


@dataclass
class LoadResult:
    """What a loader tells the ingest about the source it read."""

    source: str
    card: str | None = None
    source_sha256: str | None = None
    bad_lines_skipped: int = 0
    notes: list[str] = field(default_factory=list)


# A loader fills raw_interactions (and optionally raw_items, raw_users) in
# ``con``; ``scratch`` is a private folder it may use (e.g. to extract an archive).
Loader = Callable[["object", Path, Reporter], LoadResult]
# Says whether a split or run built on a dataset may be deleted with it without ``replace``.
Disposable = Callable[[SplitRecord | RunRecord], bool]


@dataclass
class IngestResult:
    dataset: DatasetRecord
    bad_lines_skipped: int = 0
    replaced: bool = False
    dropped_splits: list[str] = field(default_factory=list)
    dropped_runs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reused: bool = False  # the data was identical to the registered dataset's: nothing was written


def validate_dataset_name(name: str) -> None:
    validate_name("dataset", name)


def ingest_with(
    workspace: Workspace,
    name: str,
    loader: Loader,
    *,
    force: bool = False,
    replace: bool = False,
    disposable: Disposable | None = None,
    reporter: Reporter = SILENT,
) -> IngestResult:
    """Load, write the canonical files, and register them under ``name`` (see the module's docstring).

    An existing dataset of that name is refused unless ``force`` or ``replace``. With either, data
    identical to it is reused (``IngestResult.reused``); other data replaces it, but with ``force``
    alone only when nothing that ``disposable`` does not allow would be deleted
    (:class:`WouldDeleteError` otherwise, before anything is written).
    """
    import duckdb

    validate_dataset_name(name)
    force = force or replace
    with workspace.writing(reporter, command=f"ingest {name}"):
        with workspace.catalog() as catalog:
            existing = catalog.dataset(name)
        if existing is not None and not force:
            raise AlreadyExistsError(
                f"dataset '{name}' already exists",
                "pass --force to replace it (identical data is reused; --replace if splits or runs are built "
                "on it), or choose another --name",
            )
        staging = workspace.new_staging_dir()
        try:
            con = duckdb.connect()
            try:
                configure(con, staging / "duckdb-tmp")
                scratch = staging / "source"
                scratch.mkdir()
                loaded = loader(con, scratch, reporter)
                with reporter.task(f"writing {name}") as task:
                    stats = write_canonical(con, staging / "dataset")
                    task.advance()
            finally:
                con.close()
            n_catalog_items = stats.pop("n_catalog_items")
            if existing is not None:
                if folder_digest(staging / "dataset") == folder_digest(workspace.resolve(existing.path)):
                    return IngestResult(
                        dataset=existing,
                        bad_lines_skipped=loaded.bad_lines_skipped,
                        reused=True,
                        notes=loaded.notes,
                    )
                if not replace:
                    _refuse_lost_work(workspace, existing, disposable)

            def register(path: str):
                record = DatasetRecord(
                    name=name,
                    card=loaded.card,
                    source=loaded.source,
                    source_sha256=loaded.source_sha256,
                    path=path,
                    n_interactions=stats["n_interactions"],
                    n_users=stats["n_users"],
                    n_items=stats["n_items"],
                    n_catalog_items=n_catalog_items,
                    stats=stats | {"bad_lines_skipped": loaded.bad_lines_skipped},
                    recsys_version=__version__,
                )
                with workspace.catalog(read_only=False) as catalog:
                    return catalog.put_dataset(record)

            dropped = workspace.publish(staging / "dataset", workspace.datasets_dir / name, register)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        # The catalog now points at the new folder; the old ones are garbage.
        workspace.retire(([existing.path] if existing else []) + dropped.paths)
        with workspace.catalog() as catalog:
            record = catalog.dataset(name)
    return IngestResult(
        dataset=record,
        bad_lines_skipped=loaded.bad_lines_skipped,
        replaced=existing is not None,
        dropped_splits=[s.name for s in dropped.splits],
        dropped_runs=[r.name for r in dropped.runs],
        notes=loaded.notes,
    )


def _refuse_lost_work(workspace: Workspace, existing: DatasetRecord, disposable: Disposable | None) -> None:
    """Replacing ``existing`` would delete its splits and runs: refuse unless ``disposable`` allows each."""
    with workspace.catalog() as catalog:
        splits, runs = catalog.splits(existing.name), catalog.runs(existing.name)
    allowed = disposable or (lambda _record: False)
    splits = [s.name for s in splits if not allowed(s)]
    runs = [r.name for r in runs if not allowed(r)]
    if splits or runs:
        raise WouldDeleteError(
            f"dataset '{existing.name}'",
            splits,
            runs,
            hint="pass --replace to replace it and delete them, or ingest under another --name",
        )


@dataclass
class RemoveResult:
    dataset: DatasetRecord
    dropped_splits: list[str]
    dropped_runs: list[str] = field(default_factory=list)


def remove_dataset(workspace: Workspace, name: str, *, reporter: Reporter = SILENT) -> RemoveResult:
    """Unregister a dataset (and its splits), then delete their files."""

    with workspace.catalog() as catalog:
        if catalog.dataset(name) is None:
            raise UnknownNameError("dataset", name, catalog.dataset_names())
    with workspace.writing(reporter, command=f"remove {name}"):
        with workspace.catalog(read_only=False) as catalog:
            record = catalog.dataset(name)
            if record is None:
                raise RemovedMeanwhileError("dataset", name)
            dropped = catalog.delete_dataset(name)
        # Unregistered first, so a kill here leaves only garbage for the next sweep.
        workspace.retire([record.path] + dropped.paths)
    return RemoveResult(record, [s.name for s in dropped.splits], [r.name for r in dropped.runs])


def ingest_file(
    workspace: Workspace,
    path: Path | str,
    name: str,
    mapping: ColumnMapping,
    *,
    dialect: CsvDialect | None = None,
    on_bad_lines: str = "error",
    force: bool = False,
    replace: bool = False,
    disposable: Disposable | None = None,
    reporter: Reporter = SILENT,
) -> IngestResult:
    """Ingest any CSV/TSV/Parquet interaction file under ``name`` (``force``, ``replace``: see ingest_with)."""
    path = Path(path)

    def loader(con, _scratch: Path, reporter: Reporter) -> LoadResult:
        with reporter.task(f"reading {path.name}") as task:
            report: LoadReport = load_interactions(con, path, mapping, dialect, on_bad_lines)
            task.advance()
        return LoadResult(
            source=str(path.absolute()),
            bad_lines_skipped=report.bad_lines_skipped,
            notes=report.notes,
        )

    # Fail on a missing file before taking the lock or touching the workspace.

    check_readable(path)
    return ingest_with(workspace, name, loader, force=force, replace=replace, disposable=disposable, reporter=reporter)


def ingest_card(
    workspace,
    card_name: str,
    source: str | Path | None = None,
    *,
    dataset_name: str | None = None,
    force: bool = False,
    replace: bool = False,
    disposable: Disposable | None = None,
    on_bad_lines: str = "error",
    allow_count_mismatch: bool = False,
    reporter: Reporter = SILENT,
):
    """Ingest the release a card describes from ``source`` (default: the card's URL).

    ``source`` is the release's zip, its extracted folder (or the folder holding
    it), or an http(s):// or file:// URL. Returns an
    :class:`IngestResult`.

    The number of interactions must be the card's published count (a partial,
    modified or other release fails with
    :class:`~recsys_cli.datasets.movielens.CountMismatchError`);
    ``allow_count_mismatch=True`` turns that into a warning. ``force``, ``replace`` and
    ``disposable``: see :func:`ingest_with`.
    """
    card = load_card(card_name)
    name = dataset_name or card.name
    validate_dataset_name(name)
    check_bad_lines_mode(on_bad_lines)
    # Everything that can be checked without the lock is checked now, so a
    # mistyped path leaves no workspace behind.
    plan = sources.plan_source(card, source)
    cache = download_cache(workspace.root)
    plan = sources.prefetch(card, plan, cache, reporter)

    def loader(con, scratch: Path, reporter: Reporter) -> LoadResult:
        fetched = sources.fetch(card, plan, scratch, cache, reporter)
        loaded = movielens.load_release(
            con,
            card,
            fetched.files,
            on_bad_lines,
            reporter,
            allow_count_mismatch=allow_count_mismatch,
            source=plan.location,
        )
        return LoadResult(
            source=fetched.source,
            card=card.name,
            source_sha256=fetched.sha256,
            bad_lines_skipped=loaded.bad_lines_skipped,
            notes=fetched.notes + loaded.notes,
        )

    return ingest_with(workspace, name, loader, force=force, replace=replace, disposable=disposable, reporter=reporter)


def ingest_synthetic(
    workspace: Workspace,
    name: str,
    config: SyntheticConfig,
    *,
    force: bool = False,
    replace: bool = False,
    disposable: Disposable | None = None,
    reporter: Reporter = SILENT,
) -> IngestResult:
    """Generate ``config``'s dataset and register it under ``name`` (``force``, ``replace``: see ingest_with)."""
    config.validate()
    validate_dataset_name(name)  # before generating: a bad name should fail fast

    def loader(con, _scratch, reporter: Reporter) -> LoadResult:
        began = time.perf_counter()
        data = generate(config, reporter=reporter)
        elapsed = time.perf_counter() - began
        for table, view, select in (
            (
                data.interactions,
                "raw_interactions",
                "user_id::BIGINT AS user_id, item_id::BIGINT AS item_id, rating::DOUBLE AS rating, ts::BIGINT AS ts",
            ),
            (
                data.items,
                "raw_items",
                "item_id::BIGINT AS item_id, title::VARCHAR AS title, year::INTEGER AS year,"
                " genres::VARCHAR[] AS genres, released_at::BIGINT AS released_at",
            ),
            (
                data.users,
                "raw_users",
                "user_id::BIGINT AS user_id, age_group::VARCHAR AS age_group, segment::VARCHAR AS segment",
            ),
        ):
            con.register("_synthetic_source", table)
            try:
                con.execute(f"CREATE TABLE {view} AS SELECT {select} FROM _synthetic_source")
            finally:
                con.unregister("_synthetic_source")
        return LoadResult(
            source=config.describe(),
            card=None,
            notes=[
                f"generated {config.interactions:,} interactions ({config.users:,} users x "
                f"{config.items:,} items, {config.genres} genres, {config.factors} latent factors) "
                f"in {elapsed:.2f}s"
            ],
        )

    return ingest_with(workspace, name, loader, force=force, replace=replace, disposable=disposable, reporter=reporter)
