"""The stage cache: which outputs of earlier recipe runs a stage may reuse.

A stage's key is the sha256 of its canonical config, the digests of the artifacts it reads and
the package version (:func:`stage_key`). When a stage finishes, a record
``cache/stages/<key>.json`` names the catalog entries it produced, each with its generation folder
and a digest of that folder's files. A stage is cached when its key has a record *and* the catalog
still points at every one of those generation folders: generation folders are never modified
once published, so the same folder means the same bytes. A record whose outputs were replaced (a
retrained run, a re-split dataset) or removed is stale; the stage runs again and
``recsys cache prune`` deletes stale records.

Records are written to a temporary file and renamed, after the outputs are registered, so a
process killed at any point leaves either no record (the stage runs again) or a complete one.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from recsys_cli.data.workspace import Workspace
from recsys_cli.version import __version__

STAGES_DIR = ("cache", "stages")
RECORD_SUFFIX = ".json"


@dataclass(frozen=True)
class Output:
    """One catalog entry a stage produced."""

    ref: str  # dataset:NAME, split:DATASET/NAME, run:NAME or artifact:RUN/KIND
    path: str  # its generation folder, relative to the workspace
    digest: str  # sha256 over the folder's files (see recsys_cli.data.atomic.folder_digest)


@dataclass
class StageRecord:
    key: str
    stage: str
    recipe_run: str
    outputs: list[Output]
    seconds: float
    created_at: str
    inputs: list[str] = field(default_factory=list)

    @property
    def digest(self) -> str:
        """What a downstream stage's key hashes: the digests of every output, in order."""
        return _sha256_text("\n".join(o.digest for o in self.outputs))

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"digest": self.digest}


def stage_key(config: dict[str, Any], inputs: list[str]) -> str:
    """sha256 of the stage's canonical config, its inputs' digests and the package version."""
    payload = {"config": config, "inputs": inputs, "recsys": __version__}
    return _sha256_text(json.dumps(payload, sort_keys=True, separators=(",", ":")))


def current_path(catalog, ref: str) -> str | None:
    """The generation folder the catalog registers for ``ref`` now, or None."""
    kind, _, name = ref.partition(":")
    if kind == "dataset":
        record = catalog.dataset(name)
    elif kind == "split":
        dataset, _, split = name.partition("/")
        record = catalog.split(dataset, split)
    elif kind == "run":
        record = catalog.run(name)
    elif kind == "artifact":
        run, _, artifact_kind = name.partition("/")
        record = catalog.artifact(run, artifact_kind)
    else:
        return None
    return None if record is None else record.path


def records_dir(workspace: Workspace) -> Path:
    return workspace.root.joinpath(*STAGES_DIR)


def load_record(workspace: Workspace, key: str) -> StageRecord | None:
    """The record of ``key``; None when there is none or it cannot be read (the stage just runs)."""
    return _read(records_dir(workspace) / f"{key}{RECORD_SUFFIX}")


def is_complete(record: StageRecord, catalog) -> bool:
    return bool(record.outputs) and all(current_path(catalog, o.ref) == o.path for o in record.outputs)


def save_record(workspace: Workspace, record: StageRecord) -> None:
    folder = records_dir(workspace)
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{record.key}.{uuid.uuid4().hex[:8]}.tmp"
    temporary.write_text(json.dumps(record.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, folder / f"{record.key}{RECORD_SUFFIX}")


@dataclass
class CacheEntry:
    record: StageRecord
    complete: bool
    bytes: int
    file: Path  # the record's file (its name is the key it was saved under)


def list_entries(workspace: Workspace) -> list[CacheEntry]:
    """Every stage record, oldest first, with whether its outputs are still in the workspace."""
    folder = records_dir(workspace)
    workspace.check_readable()  # a path that holds no workspace is an error, not an empty cache
    if not folder.is_dir():
        return []
    found = [(path, _read(path)) for path in sorted(folder.glob(f"*{RECORD_SUFFIX}")) if path.is_file()]
    entries = []
    with workspace.reading(), workspace.catalog() as catalog:
        for path, record in found:
            if record is None:
                continue
            # a record is only valid under its own key's name; anything else is stale by definition
            complete = path.name == f"{record.key}{RECORD_SUFFIX}" and is_complete(record, catalog)
            size = sum(_folder_bytes(workspace.resolve(o.path)) for o in record.outputs) if complete else 0
            entries.append(CacheEntry(record, complete, size, path))
    return sorted(entries, key=lambda e: (e.record.created_at, e.record.stage))


def recorded_paths(workspace: Workspace, recipe_run: str | None = None) -> set[str]:
    """Every generation folder some readable record names (complete or not); with ``recipe_run``,
    only those that recipe run's stages made."""
    folder = records_dir(workspace)
    if not folder.is_dir():
        return set()
    records = (_read(path) for path in folder.glob(f"*{RECORD_SUFFIX}") if path.is_file())
    return {
        o.path
        for record in records
        if record is not None and (recipe_run is None or record.recipe_run == recipe_run)
        for o in record.outputs
    }


def prune(workspace: Workspace, *, everything: bool = False) -> list[StageRecord]:
    """Delete stale records (and leftovers of interrupted writes); ``everything``: every record.

    Only records are deleted: the datasets, splits and runs they point at stay in the workspace
    (``recsys datasets remove`` / ``recsys runs remove`` delete those).
    """
    folder = records_dir(workspace)
    if not folder.is_dir():
        return []
    removed = []
    for entry in list_entries(workspace):
        if everything or not entry.complete:
            entry.file.unlink(missing_ok=True)
            removed.append(entry.record)
    for leftover in folder.glob(".*.tmp"):
        if leftover.is_file():
            leftover.unlink(missing_ok=True)
    for unreadable in folder.glob(f"*{RECORD_SUFFIX}"):
        if unreadable.is_file() and _read(unreadable) is None:
            unreadable.unlink(missing_ok=True)
    return removed


def _read(path: Path) -> StageRecord | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        outputs = [Output(str(o["ref"]), str(o["path"]), str(o["digest"])) for o in raw["outputs"]]
        return StageRecord(
            key=str(raw["key"]),
            stage=str(raw["stage"]),
            recipe_run=str(raw["recipe_run"]),
            outputs=outputs,
            seconds=float(raw["seconds"]),
            created_at=str(raw["created_at"]),
            inputs=[str(i) for i in raw.get("inputs", [])],
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def _folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
