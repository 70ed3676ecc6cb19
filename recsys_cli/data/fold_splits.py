"""K-fold cross-validation in the workspace: `recsys split DATASET --folds K --name G`.

The K folds of group ``G`` are K ordinary splits ``G.fold-1`` ... ``G.fold-K`` (test = the fold,
train = the rest, val empty), so training, evaluation and `runs compare` work on a fold as on any
split. Their records carry ``folds``, ``fold`` and ``group`` in their params.

All K are published in one write: each is written to ``.staging`` and renamed into its generation
folder, then all K catalog rows are written in one transaction (:meth:`Catalog.put_splits`); if the
registration fails the K folders are removed again, and a process killed before it leaves only
unregistered folders, which the next writer sweeps. So the workspace holds all K folds or none.

The group is replaced as a whole, with the rules of a split: identical folds (same options, same
files) are reused and nothing is written, which makes the command idempotent; different folds
replace the group only with ``force``, and only when no run is trained on them unless ``replace``
(a recipe passes ``guard``). Folds of the old group beyond the new K are removed with it.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys_cli.data.atomic import folder_digest, publish_dir
from recsys_cli.data.canonical import INTERACTIONS_FILE
from recsys_cli.data.folds import FOLD_SUFFIX, FoldConfig, compute_folds, fold_name, fold_parts
from recsys_cli.data.records import DatasetRecord, RunRecord, SplitRecord, validate_name
from recsys_cli.data.splits import read_interactions, split_notes, write_parts
from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import (
    AlreadyExistsError,
    InvalidParameterError,
    RemovedMeanwhileError,
    UnknownNameError,
    WouldDeleteError,
)
from recsys_cli.reporting import SILENT, Reporter


@dataclass
class FoldsResult:
    dataset: str
    group: str
    config: FoldConfig
    splits: list[SplitRecord]  # fold 1 first
    replaced: bool = False
    reused: bool = False  # identical folds were already registered: nothing written
    dropped_runs: list[str] = field(default_factory=list)  # runs trained on the replaced folds
    removed_splits: list[str] = field(default_factory=list)  # old folds beyond the new K
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def fold_names(group: str, folds: int) -> list[str]:
    """The K split names, each checked against the name rule (with a hint about the group's length)."""
    validate_name("split", group)
    names = [fold_name(group, fold) for fold in range(1, folds + 1)]
    try:
        validate_name("split", names[-1])
    except InvalidParameterError as error:
        raise InvalidParameterError(
            f"the folds of '{group}' would be named {names[0]} ... {names[-1]}: {error.message}",
            "use a shorter --name",
        ) from None
    return names


def is_member(record: SplitRecord, group: str) -> bool:
    """Whether ``record`` is a fold of ``group``."""
    return record.params.get("group") == group and record.name.startswith(f"{group}{FOLD_SUFFIX}")


@dataclass
class _Existing:
    record: DatasetRecord
    splits: dict[str, SplitRecord]  # the group's folds and any split a new fold's name takes
    runs: list[RunRecord]  # the runs trained on them


def _lookup(workspace: Workspace, dataset: str, group: str, names: list[str], *, waited: bool = False) -> _Existing:
    with workspace.catalog() as catalog:
        record = catalog.dataset(dataset)
        known = catalog.dataset_names() if record is None else []
        splits = {
            s.name: s for s in (catalog.splits(dataset) if record else []) if s.name in names or is_member(s, group)
        }
        runs = [r for r in catalog.runs(dataset) if r.split in splits] if splits else []
    if record is None and waited:
        raise RemovedMeanwhileError("dataset", dataset)
    if record is None:
        raise UnknownNameError("dataset", dataset, known)
    return _Existing(record, splits, runs)


def make_folds(
    workspace: Workspace,
    dataset: str,
    group: str,
    config: FoldConfig,
    *,
    force: bool = False,
    replace: bool = False,
    guard: Callable[[list[RunRecord]], None] | None = None,
    reporter: Reporter = SILENT,
) -> FoldsResult:
    """Split ``dataset`` into ``config.folds`` folds named ``<group>.fold-<i>``, all registered at once.

    Identical existing folds are reused (``FoldsResult.reused``). Otherwise existing ones are replaced
    only with ``force`` (or ``replace``, which implies it), and not when runs are trained on them unless
    ``replace`` (:class:`WouldDeleteError`); a ``guard`` (a recipe run) is shown those runs instead and
    may raise to refuse."""
    config = config.resolve()
    names = fold_names(group, config.folds)
    force = force or replace
    _lookup(workspace, dataset, group, names)  # an unknown dataset fails before the lock
    with workspace.writing(reporter, command=f"split {dataset} {group} --folds {config.folds}"):
        existing = _lookup(workspace, dataset, group, names, waited=True)
        with reporter.task(f"splitting {dataset} into {config.folds} folds ({config.strategy})") as task:
            data = read_interactions(workspace.resolve(existing.record.path) / INTERACTIONS_FILE)
            data, assignment, summaries = compute_folds(data, config)
            task.advance()
        staged: list[Path] = []
        published: list[Path] = []
        try:
            for fold in range(config.folds):
                staged.append(workspace.new_staging_dir())
                write_parts(staged[-1], data, fold_parts(assignment, fold))
            params = [config.params(group, fold) for fold in range(1, config.folds + 1)]
            if existing.splits:
                if _same_folds(workspace, existing.splits, names, config.strategy, params, staged):
                    splits = [existing.splits[name] for name in names]
                    return FoldsResult(
                        dataset, group, config, splits, reused=True, **_notes([s.summary for s in splits])
                    )
                _check_replace(dataset, group, existing, force, replace, guard)
            records = [
                SplitRecord(
                    dataset=dataset,
                    name=name,
                    strategy=config.strategy,
                    params=fold_params,
                    path="",
                    summary={"dataset": dataset, "dataset_path": existing.record.path, "strategy": config.strategy}
                    | summary,
                )
                for name, fold_params, summary in zip(names, params, summaries)
            ]
            # Every fold renamed into place first, then one transaction registers them all.
            for record, folder in zip(records, staged):
                final = workspace.splits_dir / dataset / record.name / workspace.new_generation()
                publish_dir(folder, final)
                published.append(final)
                record.path = workspace.relative(final)
            extra = tuple((dataset, name) for name in existing.splits if name not in names)
            with workspace.catalog(read_only=False) as catalog:
                dropped = catalog.put_splits(records, remove=extra)
        except BaseException:
            for folder in published:  # unregistered: never seen by anyone
                shutil.rmtree(folder, ignore_errors=True)
                _remove_empty_parents(workspace, folder)
            raise
        finally:
            for folder in staged:
                shutil.rmtree(folder, ignore_errors=True)
        # The catalog points at the new folders now; the old generations are garbage.
        workspace.retire([s.path for s in existing.splits.values() if s.name in names] + dropped.paths)
        with workspace.catalog() as catalog:
            splits = [catalog.split(dataset, name) for name in names]
    result = FoldsResult(
        dataset,
        group,
        config,
        splits,
        replaced=bool(existing.splits),
        dropped_runs=[r.name for r in dropped.runs],
        removed_splits=[s.name for s in dropped.splits],
        **_notes([s.summary for s in splits]),
    )
    if result.dropped_runs:
        result.warnings.append(f"dropped the runs trained on the old folds: {', '.join(result.dropped_runs)}")
    if result.removed_splits:
        result.warnings.append(
            f"removed the old group's folds beyond {config.folds}: {', '.join(result.removed_splits)}"
        )
    return result


def _remove_empty_parents(workspace: Workspace, folder: Path) -> None:
    """The folders a failed publication created for its generations (the sweep would prune them; a
    failed command leaves the workspace as it found it now)."""
    for parent in folder.parents:
        if parent == workspace.root or not parent.is_relative_to(workspace.root):
            break
        try:
            parent.rmdir()
        except OSError:  # not empty: another split's
            break


def _check_replace(
    dataset: str,
    group: str,
    existing: _Existing,
    force: bool,
    replace: bool,
    guard: Callable[[list[RunRecord]], None] | None,
) -> None:
    if not force:
        taken = sorted(existing.splits)
        raise AlreadyExistsError(
            f"dataset '{dataset}' already has splits named like the folds of '{group}', made otherwise "
            f"({', '.join(taken[:4])}{' and more' if len(taken) > 4 else ''})",
            "pass --force to replace them (--replace if runs are trained on them), or choose another --name",
        )
    if guard is not None:
        guard(existing.runs)
    elif not replace and existing.runs:
        raise WouldDeleteError(
            f"cross-validation group '{dataset}/{group}'",
            [],
            [r.name for r in existing.runs],
            whose="trained on its folds",
            hint="pass --replace to replace the folds and delete them, or choose another --name",
        )


def _same_folds(
    workspace: Workspace,
    existing: dict[str, SplitRecord],
    names: list[str],
    strategy: str,
    params: list[dict[str, Any]],
    staged: list[Path],
) -> bool:
    """Whether the registered splits are exactly these folds: the same names, options and files."""
    if sorted(existing) != sorted(names):
        return False
    for name, fold_params, folder in zip(names, params, staged):
        record = existing[name]
        same_options = json.dumps(record.params, sort_keys=True) == json.dumps(fold_params, sort_keys=True)
        if record.strategy != strategy or not same_options:
            return False
        if folder_digest(folder) != folder_digest(workspace.resolve(record.path)):
            return False
    return True


def _notes(summaries: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The filters' notes once (they are the same for every fold) and each fold's cold-start warnings."""
    notes, _ = split_notes(summaries[0])
    warnings = []
    for summary in summaries:
        _, fold_warnings = split_notes(summary)
        warnings += [f"fold {summary['fold']}: {warning}" for warning in fold_warnings]
    return {"notes": notes, "warnings": warnings}
