"""The DuckDB catalog: which datasets and splits exist, where they live, their summaries.

Connections are short-lived (open, read or write, close) so that readers in
other processes are blocked only for the moment a writer commits. DuckDB lets
one process write a database file at a time; ``Catalog`` retries while another
process holds it.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from recsys_cli.data.records import (
    ArtifactRecord,
    DatasetRecord,
    Dropped,
    PipelineRunRecord,
    RunRecord,
    SplitRecord,
)
from recsys_cli.data.sqltext import first_line
from recsys_cli.errors import WorkspaceError, WorkspaceLockedError

SCHEMA_VERSION = "1"

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)",
    """CREATE TABLE IF NOT EXISTS datasets (
        name VARCHAR PRIMARY KEY,
        card VARCHAR,
        source VARCHAR,
        source_sha256 VARCHAR,
        path VARCHAR NOT NULL,
        n_interactions BIGINT,
        n_users BIGINT,
        n_items BIGINT,
        n_catalog_items BIGINT,
        stats VARCHAR,
        created_at TIMESTAMP,
        recsys_version VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS splits (
        dataset VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        strategy VARCHAR,
        params VARCHAR,
        path VARCHAR NOT NULL,
        summary VARCHAR,
        created_at TIMESTAMP,
        PRIMARY KEY (dataset, name))""",
    """CREATE TABLE IF NOT EXISTS runs (
        name VARCHAR PRIMARY KEY,
        dataset VARCHAR NOT NULL,
        split VARCHAR NOT NULL,
        model VARCHAR NOT NULL,
        params VARCHAR,
        path VARCHAR NOT NULL,
        manifest VARCHAR,
        created_at TIMESTAMP)""",
    """CREATE TABLE IF NOT EXISTS run_artifacts (
        run VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        meta VARCHAR,
        created_at TIMESTAMP,
        PRIMARY KEY (run, kind))""",
    """CREATE TABLE IF NOT EXISTS pipeline_runs (
        name VARCHAR PRIMARY KEY,
        recipe VARCHAR,
        path VARCHAR NOT NULL,
        manifest VARCHAR,
        created_at TIMESTAMP)""",
]
# tables added after the first release; ensure_schema adds them to older catalogs
_LATER_TABLES = ("runs", "run_artifacts", "pipeline_runs")


class Catalog:
    """A context manager around one DuckDB connection to catalog.duckdb."""

    def __init__(self, path: Path, read_only: bool = True, timeout: float = 30.0):
        self.path = path
        self.read_only = read_only
        self.timeout = timeout
        self._con = None

    def __enter__(self) -> Catalog:
        import duckdb

        if self.read_only and not self.path.exists():
            self._con = duckdb.connect(":memory:")
            self._create_schema()
            return self
        deadline = time.monotonic() + max(self.timeout, 1.0)
        while True:
            try:
                self._con = duckdb.connect(str(self.path), read_only=self.read_only)
                return self
            except duckdb.Error as exc:
                locked = "lock" in str(exc).lower()
                if locked and time.monotonic() < deadline:
                    time.sleep(0.05)  # another process is committing; it lets go in a moment
                    continue
                if locked:
                    raise WorkspaceLockedError(f"catalog {self.path} is in use by another process") from None
                raise WorkspaceError(
                    f"cannot open the catalog {self.path}: {first_line(exc)}",
                    "is this a recsys workspace? A damaged catalog can be moved away and the datasets ingested again",
                ) from None

    def __exit__(self, *exc_info: object) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def _rollback(self) -> None:
        # Best effort: if BEGIN itself failed there is nothing to roll back, and
        # the error worth showing is the original one.
        try:
            self.con.execute("ROLLBACK")
        except Exception:
            pass

    @property
    def con(self):
        assert self._con is not None, "use Catalog as a context manager"
        return self._con

    # -- schema ----------------------------------------------------------------
    def _create_schema(self) -> None:
        for statement in _SCHEMA:
            self.con.execute(statement)

    def ensure_schema(self) -> None:
        present = self.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'meta'").fetchone()[0]
        if present:
            # Writing nothing when nothing is missing keeps a failed command from touching the file.
            for table in _LATER_TABLES:
                if not self._has_table(table):
                    self._create_schema()
                    break
            return
        self._create_schema()
        self.con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])

    def _has_table(self, table: str) -> bool:
        return bool(
            self.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [table]).fetchone()[0]
        )

    def referenced_paths(self) -> set[str]:
        sql = "SELECT path FROM datasets UNION ALL SELECT path FROM splits"
        if self._has_table("runs"):
            sql += " UNION ALL SELECT path FROM runs UNION ALL SELECT path FROM run_artifacts"
        if self._has_table("pipeline_runs"):
            sql += " UNION ALL SELECT path FROM pipeline_runs"
        return {r[0] for r in self.con.execute(sql).fetchall()}

    # -- datasets ----------------------------------------------------------------
    def dataset_names(self) -> list[str]:
        return [r[0] for r in self.con.execute("SELECT name FROM datasets ORDER BY name").fetchall()]

    def datasets(self) -> list[DatasetRecord]:
        rows = self.con.execute(
            "SELECT name, card, source, source_sha256, path, n_interactions, n_users, n_items,"
            " n_catalog_items, stats, created_at, recsys_version FROM datasets ORDER BY name"
        ).fetchall()
        return [_dataset_from_row(r) for r in rows]

    def dataset(self, name: str) -> DatasetRecord | None:
        row = self.con.execute(
            "SELECT name, card, source, source_sha256, path, n_interactions, n_users, n_items,"
            " n_catalog_items, stats, created_at, recsys_version FROM datasets WHERE name = ?",
            [name],
        ).fetchone()
        return _dataset_from_row(row) if row else None

    def put_dataset(self, record: DatasetRecord) -> Dropped:
        """Register (or replace) a dataset; a replaced dataset's splits and runs are dropped and returned."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            dropped = Dropped(self.splits(record.name))
            self._drop_runs(dropped, record.name)
            self.con.execute("DELETE FROM splits WHERE dataset = ?", [record.name])
            self.con.execute("DELETE FROM datasets WHERE name = ?", [record.name])
            self.con.execute(
                "INSERT INTO datasets VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    record.name,
                    record.card,
                    record.source,
                    record.source_sha256,
                    record.path,
                    record.n_interactions,
                    record.n_users,
                    record.n_items,
                    record.n_catalog_items,
                    json.dumps(record.stats, sort_keys=True),
                    record.created_at or _now(),
                    record.recsys_version,
                ],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return dropped

    def delete_dataset(self, name: str) -> Dropped:
        """Unregister a dataset, its splits and runs in one transaction; returns what was dropped."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            dropped = Dropped(self.splits(name))
            self._drop_runs(dropped, name)
            self.con.execute("DELETE FROM splits WHERE dataset = ?", [name])
            self.con.execute("DELETE FROM datasets WHERE name = ?", [name])
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return dropped

    # -- splits --------------------------------------------------------------------
    def splits(self, dataset: str | None = None) -> list[SplitRecord]:
        sql = "SELECT dataset, name, strategy, params, path, summary, created_at FROM splits"
        args: list[Any] = []
        if dataset is not None:
            sql += " WHERE dataset = ?"
            args.append(dataset)
        rows = self.con.execute(sql + " ORDER BY dataset, name", args).fetchall()
        return [_split_from_row(r) for r in rows]

    def split(self, dataset: str, name: str) -> SplitRecord | None:
        row = self.con.execute(
            "SELECT dataset, name, strategy, params, path, summary, created_at FROM splits"
            " WHERE dataset = ? AND name = ?",
            [dataset, name],
        ).fetchone()
        return _split_from_row(row) if row else None

    def put_split(self, record: SplitRecord) -> Dropped:
        """Register (or replace) a split; the runs trained on a replaced split are dropped and returned."""
        return self.put_splits([record])

    def put_splits(self, records: list[SplitRecord], remove: tuple[tuple[str, str], ...] = ()) -> Dropped:
        """Register (or replace) several splits and unregister the (dataset, name) splits in ``remove``,
        in one transaction (the folds of a cross-validation: all or none); the runs trained on a replaced
        or removed split are dropped, and the removed splits are returned with them."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            dropped = Dropped()
            for dataset, name in remove:
                removed = self.split(dataset, name)
                if removed is not None:
                    dropped.splits.append(removed)
                self._drop_runs(dropped, dataset, name)
                self.con.execute("DELETE FROM splits WHERE dataset = ? AND name = ?", [dataset, name])
            for record in records:
                self._drop_runs(dropped, record.dataset, record.name)
                self.con.execute("DELETE FROM splits WHERE dataset = ? AND name = ?", [record.dataset, record.name])
                self.con.execute(
                    "INSERT INTO splits VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        record.dataset,
                        record.name,
                        record.strategy,
                        json.dumps(record.params, sort_keys=True),
                        record.path,
                        json.dumps(record.summary, sort_keys=True),
                        record.created_at or _now(),
                    ],
                )
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return dropped

    # -- runs ------------------------------------------------------------------------
    _RUN_COLUMNS = "name, dataset, split, model, params, path, manifest, created_at"

    def runs(self, dataset: str | None = None) -> list[RunRecord]:
        if not self._has_table("runs"):
            return []  # a catalog from before runs existed, opened read-only
        sql = f"SELECT {self._RUN_COLUMNS} FROM runs"
        args: list[Any] = []
        if dataset is not None:
            sql += " WHERE dataset = ?"
            args.append(dataset)
        return [_run_from_row(r) for r in self.con.execute(sql + " ORDER BY created_at, name", args).fetchall()]

    def run(self, name: str) -> RunRecord | None:
        if not self._has_table("runs"):
            return None
        row = self.con.execute(f"SELECT {self._RUN_COLUMNS} FROM runs WHERE name = ?", [name]).fetchone()
        return _run_from_row(row) if row else None

    def run_names(self) -> list[str]:
        return [r.name for r in self.runs()]

    def put_run(self, record: RunRecord) -> Dropped:
        """Register (or replace) a run; a replaced run's artifacts are dropped and returned."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            dropped = Dropped(artifacts=self.artifacts(record.name))
            self.con.execute("DELETE FROM run_artifacts WHERE run = ?", [record.name])
            self.con.execute("DELETE FROM runs WHERE name = ?", [record.name])
            self.con.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    record.name,
                    record.dataset,
                    record.split,
                    record.model,
                    json.dumps(record.params, sort_keys=True),
                    record.path,
                    json.dumps(record.manifest, sort_keys=True),
                    record.created_at or _now(),
                ],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return dropped

    def delete_run(self, name: str) -> Dropped:
        self.con.execute("BEGIN TRANSACTION")
        try:
            record = self.run(name)
            dropped = Dropped(runs=[record] if record else [], artifacts=self.artifacts(name))
            self.con.execute("DELETE FROM run_artifacts WHERE run = ?", [name])
            self.con.execute("DELETE FROM runs WHERE name = ?", [name])
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return dropped

    def _drop_runs(self, dropped: Dropped, dataset: str, split: str | None = None) -> None:
        """Inside a caller's transaction: unregister the runs made from ``dataset`` (/``split``)."""
        if not self._has_table("runs"):
            return
        for run in self.runs(dataset):
            if split is None or run.split == split:
                dropped.runs.append(run)
                dropped.artifacts.extend(self.artifacts(run.name))
                self.con.execute("DELETE FROM run_artifacts WHERE run = ?", [run.name])
                self.con.execute("DELETE FROM runs WHERE name = ?", [run.name])

    # -- run artifacts ---------------------------------------------------------------
    def artifacts(self, run: str) -> list[ArtifactRecord]:
        if not self._has_table("run_artifacts"):
            return []
        rows = self.con.execute(
            "SELECT run, kind, path, meta, created_at FROM run_artifacts WHERE run = ? ORDER BY kind", [run]
        ).fetchall()
        return [_artifact_from_row(r) for r in rows]

    def artifact(self, run: str, kind: str) -> ArtifactRecord | None:
        if not self._has_table("run_artifacts"):
            return None
        row = self.con.execute(
            "SELECT run, kind, path, meta, created_at FROM run_artifacts WHERE run = ? AND kind = ?", [run, kind]
        ).fetchone()
        return _artifact_from_row(row) if row else None

    def put_artifact(self, record: ArtifactRecord, supersedes: tuple[str, ...] = ()) -> list[ArtifactRecord]:
        """Register (or replace) one artifact of a run, dropping the artifacts of the kinds it
        ``supersedes`` (built from the one it replaces) in the same transaction.

        Returns what was unregistered: the replaced artifact of the same kind first, if any.
        """
        self.con.execute("BEGIN TRANSACTION")
        try:
            if self.run(record.run) is None:
                raise WorkspaceError(
                    f"run '{record.run}' was removed while its {record.kind} was being built",
                    "train the run again",
                )
            dropped = []
            for kind in (record.kind, *supersedes):
                existing = self.artifact(record.run, kind)
                if existing is not None:
                    dropped.append(existing)
                    self.con.execute("DELETE FROM run_artifacts WHERE run = ? AND kind = ?", [record.run, kind])
            self.con.execute(
                "INSERT INTO run_artifacts VALUES (?, ?, ?, ?, ?)",
                [
                    record.run,
                    record.kind,
                    record.path,
                    json.dumps(record.meta, sort_keys=True),
                    record.created_at or _now(),
                ],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return dropped

    # -- recipe runs -----------------------------------------------------------------
    def pipeline_runs(self) -> list[PipelineRunRecord]:
        if not self._has_table("pipeline_runs"):
            return []
        rows = self.con.execute(
            "SELECT name, recipe, path, manifest, created_at FROM pipeline_runs ORDER BY created_at, name"
        ).fetchall()
        return [_pipeline_run_from_row(r) for r in rows]

    def pipeline_run(self, name: str) -> PipelineRunRecord | None:
        if not self._has_table("pipeline_runs"):
            return None
        row = self.con.execute(
            "SELECT name, recipe, path, manifest, created_at FROM pipeline_runs WHERE name = ?", [name]
        ).fetchone()
        return _pipeline_run_from_row(row) if row else None

    def put_pipeline_run(self, record: PipelineRunRecord) -> PipelineRunRecord | None:
        """Register (or replace) a recipe run; returns the replaced one, whose folder is now garbage."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            replaced = self.pipeline_run(record.name)
            self.con.execute("DELETE FROM pipeline_runs WHERE name = ?", [record.name])
            self.con.execute(
                "INSERT INTO pipeline_runs VALUES (?, ?, ?, ?, ?)",
                [
                    record.name,
                    record.recipe,
                    record.path,
                    json.dumps(record.manifest, sort_keys=True),
                    record.created_at or _now(),
                ],
            )
            self.con.execute("COMMIT")
        except BaseException:
            self._rollback()
            raise
        return replaced

    def delete_pipeline_run(self, name: str) -> PipelineRunRecord | None:
        record = self.pipeline_run(name)
        if record is not None:
            self.con.execute("DELETE FROM pipeline_runs WHERE name = ?", [name])
        return record


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def _dataset_from_row(row: tuple) -> DatasetRecord:
    return DatasetRecord(
        name=row[0],
        card=row[1],
        source=row[2],
        source_sha256=row[3],
        path=row[4],
        n_interactions=row[5],
        n_users=row[6],
        n_items=row[7],
        n_catalog_items=row[8],
        stats=json.loads(row[9]) if row[9] else {},
        created_at=row[10],
        recsys_version=row[11],
    )


def _split_from_row(row: tuple) -> SplitRecord:
    return SplitRecord(
        dataset=row[0],
        name=row[1],
        strategy=row[2],
        params=json.loads(row[3] or "{}"),
        path=row[4],
        summary=json.loads(row[5] or "{}"),
        created_at=row[6],
    )


def _run_from_row(row: tuple) -> RunRecord:
    return RunRecord(
        name=row[0],
        dataset=row[1],
        split=row[2],
        model=row[3],
        params=json.loads(row[4] or "{}"),
        path=row[5],
        manifest=json.loads(row[6] or "{}"),
        created_at=row[7],
    )


def _artifact_from_row(row: tuple) -> ArtifactRecord:
    return ArtifactRecord(run=row[0], kind=row[1], path=row[2], meta=json.loads(row[3] or "{}"), created_at=row[4])


def _pipeline_run_from_row(row: tuple) -> PipelineRunRecord:
    return PipelineRunRecord(
        name=row[0], recipe=row[1], path=row[2], manifest=json.loads(row[3] or "{}"), created_at=row[4]
    )
