"""Train/validation/test splits of a dataset, computed in numpy and published atomically.

A split is three Parquet files (``train``, ``val``, ``test``; ``val`` may be empty) with the
dataset's interaction schema, under ``splits/<dataset>/<split>/<generation>/``, registered in
the catalog last.

The strategies themselves (which row goes to which part, filters, rounding, the summary) are
pure numpy in :mod:`recsys_cli.data.split_strategies`; their names are re-exported here. This
module is the workspace side: it reads a dataset's interactions, checks the request against the
catalog, writes the parts and registers the split. temporal, temporal-per-user and leave-last
refuse a dataset without timestamps: "last" would mean nothing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from recsys_cli.data.atomic import folder_digest
from recsys_cli.data.canonical import INTERACTIONS_FILE
from recsys_cli.data.faults import read_parquet
from recsys_cli.data.metadata import read_item_metadata
from recsys_cli.data.records import DatasetRecord, RunRecord, SplitRecord, validate_name
from recsys_cli.data.split_strategies import (  # noqa: F401 (re-exported: the public names of splits)
    _NEEDS_TIME,
    COLD_ITEMS,
    COLD_START_STRATEGIES,
    COLD_USERS,
    COLUMNS,
    DEFAULT_SEED,
    DEFAULT_TEST_FRACTION,
    PARTS,
    STRATEGIES,
    TEST,
    TIME_ORDERED_STRATEGIES,
    TRAIN,
    VAL,
    Interactions,
    SplitConfig,
    apply_filters,
    assign_parts,
    canonical,
    compute_split,
    iso,
    parse_time,
    round_half_up,
    summarize,
)
from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import (
    AlreadyExistsError,
    InvalidParameterError,
    RemovedMeanwhileError,
    UnknownNameError,
    WouldDeleteError,
)
from recsys_cli.reporting import SILENT, Reporter


def validate_split_name(name: str) -> None:
    validate_name("split", name)


# -- the workspace side ------------------------------------------------------------------------------
@dataclass
class SplitResult:
    split: SplitRecord
    summary: dict[str, Any]
    replaced: bool = False
    notes: list[str] = field(default_factory=list)  # for people: what the filters and cuts did
    warnings: list[str] = field(default_factory=list)  # cold-start users and items
    reused: bool = False  # (reuse_identical) the existing split was what this one would be: nothing written
    dropped_runs: list[str] = field(default_factory=list)  # the runs trained on the replaced split


def read_interactions(path) -> Interactions:
    table = read_parquet(path, columns=list(COLUMNS))
    return canonical(*(table.column(c).to_numpy() for c in COLUMNS))


def write_parts(out_dir, data: Interactions, parts) -> None:
    """train/val/test Parquet (zstd) with the interactions schema; empty parts are written too."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    # the same types (and NOT NULL) as the interactions.parquet that DuckDB writes at ingest
    schema = pa.schema(
        [
            pa.field("user_idx", pa.int32(), nullable=False),
            pa.field("item_idx", pa.int32(), nullable=False),
            pa.field("rating", pa.float32(), nullable=False),
            pa.field("ts", pa.int64(), nullable=False),
        ]
    )
    for code, part in enumerate(PARTS):
        sel = parts == code
        arrays = [pa.array(getattr(data, c)[sel]) for c in COLUMNS]
        table = pa.Table.from_arrays(arrays, schema=schema)
        pq.write_table(table, out_dir / f"{part}.parquet", compression="zstd")


def _lookup(
    workspace: Workspace, dataset: str, name: str, *, waited: bool = False
) -> tuple[DatasetRecord, SplitRecord | None, list[str]]:
    """The dataset, the split ``name`` if it exists and the runs trained on it; ``waited``: this is the
    look again under the write lock, after one before it found the dataset."""
    with workspace.catalog() as catalog:
        record = catalog.dataset(dataset)
        existing = catalog.split(dataset, name) if record is not None else None
        runs = [r.name for r in catalog.runs(dataset) if r.split == name] if existing is not None else []
        known = catalog.dataset_names() if record is None else []
    if record is None and waited:
        raise RemovedMeanwhileError("dataset", dataset)
    if record is None:
        raise UnknownNameError("dataset", dataset, known)
    return record, existing, runs


def _check_request(
    record: DatasetRecord,
    existing: SplitRecord | None,
    runs: list[str],
    name: str,
    config: SplitConfig,
    force: bool,
    refuse_runs: bool,
) -> None:
    if existing is not None and not force:
        raise AlreadyExistsError(
            f"split '{name}' of dataset '{record.name}' already exists",
            "pass --force to replace it (--replace if runs are trained on it), or choose another --name",
        )
    if existing is not None and refuse_runs:
        _refuse_lost_runs(record.name, name, runs)
    if config.strategy in _NEEDS_TIME and not record.stats.get("has_timestamps", False):
        raise InvalidParameterError(
            f"dataset '{record.name}' has no timestamps, so a {config.strategy} split means nothing",
            "use --strategy random-per-user, or ingest it again with --timestamp-col",
        )


def make_split(
    workspace: Workspace,
    dataset: str,
    name: str,
    config: SplitConfig,
    *,
    force: bool = False,
    replace: bool = False,
    guard: Callable[[list[RunRecord]], None] | None = None,
    reuse_identical: bool = False,
    reporter: Reporter = SILENT,
) -> SplitResult:
    """Split ``dataset`` into train/val/test under ``name``; the catalog row is written last.

    An existing split is replaced only with ``force``, and then only when no run is trained on it
    (:class:`WouldDeleteError` otherwise, before anything is computed), unless ``replace`` (which
    implies ``force``): then those runs are dropped. With ``reuse_identical``, an existing split of the
    same strategy and options whose files are identical to the new ones is kept as it is
    (``SplitResult.reused``; nothing is written or dropped). A caller that decides itself which runs
    may go (a recipe run) passes ``guard`` instead of ``replace``: it is shown the runs a replacement
    would drop, under the write lock before anything is published, and may raise to refuse.
    """
    config = config.resolve()
    validate_split_name(name)
    force = force or replace
    # refused before anything is computed, unless identical files would be reused or a guard decides
    refuse_early = not replace and guard is None and not reuse_identical
    # Fail on bad input before taking the lock, so it can never create or touch a workspace.
    _check_request(*_lookup(workspace, dataset, name), name, config, force, refuse_early)
    with workspace.writing(reporter, command=f"split {dataset} {name}"):
        # again: another writer may have run while this one waited
        record, existing, runs = _lookup(workspace, dataset, name, waited=True)
        _check_request(record, existing, runs, name, config, force, refuse_early)
        with reporter.task(f"splitting {dataset} ({config.strategy})") as task:
            data = read_interactions(workspace.resolve(record.path) / INTERACTIONS_FILE)
            data, parts, summary = compute_split(data, config)
            if config.strategy == COLD_ITEMS:
                summary["held_out_without_metadata"] = held_out_without_metadata(
                    workspace.resolve(record.path), record.n_items, data, parts
                )
            task.advance()
        summary = {"dataset": dataset, "dataset_path": record.path, "strategy": config.strategy} | summary
        staging = workspace.new_staging_dir()
        try:
            write_parts(staging, data, parts)
            if existing is not None:
                if reuse_identical and _same_split(workspace, existing, config, staging):
                    notes, warnings = split_notes(existing.summary)
                    return SplitResult(existing, existing.summary, reused=True, notes=notes, warnings=warnings)
                if guard is not None:
                    with workspace.catalog() as catalog:
                        guard([run for run in catalog.runs(dataset) if run.split == name])
                elif not replace:
                    _refuse_lost_runs(dataset, name, runs)

            def register(path: str):
                with workspace.catalog(read_only=False) as catalog:
                    return catalog.put_split(
                        SplitRecord(
                            dataset=dataset,
                            name=name,
                            strategy=config.strategy,
                            params=config.params(),
                            path=path,
                            summary=summary,
                        )
                    )

            dropped = workspace.publish(staging, workspace.splits_dir / dataset / name, register)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        # The catalog points at the new folder now; the old generation is garbage.
        workspace.retire(([existing.path] if existing is not None else []) + dropped.paths)
        with workspace.catalog() as catalog:
            split = catalog.split(dataset, name)
    notes, warnings = split_notes(split.summary)
    if dropped.runs:
        warnings.append(f"dropped the runs trained on the old split: {', '.join(r.name for r in dropped.runs)}")
    return SplitResult(
        split, split.summary, existing is not None, notes, warnings, dropped_runs=[r.name for r in dropped.runs]
    )


def _refuse_lost_runs(dataset: str, name: str, runs: list[str]) -> None:
    if runs:
        raise WouldDeleteError(
            f"split '{dataset}/{name}'",
            [],
            runs,
            whose="trained on it",
            hint="pass --replace to replace it and delete them, or choose another --name",
        )


def _same_split(workspace: Workspace, existing: SplitRecord, config: SplitConfig, staged) -> bool:
    """Whether ``existing`` was made with ``config``'s strategy and options and holds the staged files."""
    same_options = json.dumps(existing.params, sort_keys=True) == json.dumps(config.params(), sort_keys=True)
    return (
        existing.strategy == config.strategy
        and same_options
        and folder_digest(staged) == folder_digest(workspace.resolve(existing.path))
    )


def held_out_without_metadata(dataset_folder, n_items: int, data: Interactions, parts) -> dict[str, int]:
    """cold-items: per part, how many held-out items the dataset says nothing about (no title, year, genres
    or tags: ItemMetadata.described). content and hybrid can only score such an item 0, so the split warns
    rather than refuses."""
    import numpy as np

    described = np.array(read_item_metadata(dataset_folder, n_items).described(), dtype=bool)
    return {
        part: int((~described[np.unique(data.item_idx[parts == code])]).sum())
        for part, code in (("test", TEST), ("val", VAL))
    }


def split_notes(summary: dict) -> tuple[list[str], list[str]]:
    """Lines for people: what the filters and cuts did (info), cold-start users and items (warnings)."""
    notes: list[str] = []
    warnings: list[str] = []
    if summary.get("removed_by_min_rating"):
        notes.append(f"--min-rating removed {summary['removed_by_min_rating']:,} interactions")
    if "removed_by_k_core" in summary:
        notes.append(
            f"--k-core removed {summary['removed_by_k_core']:,} interactions in {summary['k_core_rounds']} round(s)"
        )
    for part, key, words in (("test", "test_cut", "at or after"), ("val", "val_cut", "from")):
        if f"{key}_ts" in summary:
            cut = summary[key] or summary[f"{key}_ts"]
            notes.append(f"{part}: interactions {words} {cut} ({summary[part]['fraction']:.1%} of rows)")
    for part in ("val", "test"):
        users, items = summary[f"{part}_users_not_in_train"], summary[f"{part}_items_not_in_train"]
        held_users = summary.get("held_out_users", {}).get(part)
        if held_users:  # cold-users: new users are the point, not a warning
            notes.append(
                f"{part}: {held_users:,} of {summary['eligible_users']:,} eligible users held out, their first "
                f"{summary['given']} interactions by time in train and the other {summary[part]['interactions']:,} "
                f"in {part}"
            )
        elif users:
            warnings.append(
                f"{users:,} of {summary[part]['users']:,} {part} users have no training interactions (cold start)"
            )
        held = summary.get("held_out_items", {}).get(part)
        if held:  # cold-items: new items are the point, not a warning
            notes.append(
                f"{part}: {held:,} of {summary['items_with_interactions']:,} items held out, with all their "
                f"{summary[part]['interactions']:,} interactions"
            )
        elif items:
            warnings.append(f"{items:,} {part} items never appear in train")
    if summary.get("ineligible_users"):  # cold-users: "given N" needs N + 1 interactions
        given = summary["given"]
        warnings.append(
            f"{summary['ineligible_users']:,} users have {given} or fewer interactions, so none could be held out "
            f"with {given} given: they are left wholly in train (eligible: {summary['eligible_users']:,})"
        )
    for part, blank in summary.get("held_out_without_metadata", {}).items():
        if blank:
            held = summary["held_out_items"][part]
            warnings.append(
                f"{blank:,} of the {held:,} held-out {part} items have no metadata (title, year, genres or tags): "
                "content and hybrid can only score them 0"
            )
    return notes, warnings
