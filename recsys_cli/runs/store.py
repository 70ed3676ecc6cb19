"""Runs in the workspace: finding them, their split's data, their model and artifacts.

A run is one trained candidate generator::

    runs/<run>/<generation>/          model.npz, model.json, manifest.json
    runs/<run>/<kind>/<generation>/   built from the model: evaluation-test, index, candidates ...

Both are registered in the catalog (tables ``runs`` and ``run_artifacts``);
what the catalog does not reference is garbage from an interrupted command.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsys_cli.data.faults import read_parquet
from recsys_cli.data.matrices import interaction_times, interactions_matrix
from recsys_cli.data.records import ArtifactRecord, DatasetRecord, RunRecord, SplitRecord, validate_name
from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import CorruptArtifactError, RemovedMeanwhileError, UnknownNameError
from recsys_cli.models.base import CandidateModel, TrainingData
from recsys_cli.models.persistence import load_model


def validate_run_name(name: str) -> None:
    validate_name("run", name)


@dataclass
class RunContext:
    """A run with the catalog records it rests on (read under ``workspace.reading()``)."""

    workspace: Workspace
    run: RunRecord
    dataset: DatasetRecord
    split: SplitRecord

    @property
    def folder(self) -> Path:
        return self.workspace.resolve(self.run.path)

    @property
    def split_folder(self) -> Path:
        return self.workspace.resolve(self.split.path)

    @property
    def dataset_folder(self) -> Path:
        return self.workspace.resolve(self.dataset.path)

    @property
    def values(self) -> str:
        return self.run.manifest.get("values", "ones")

    def part(self, part: str, values: str | None = None, min_rating: float | None = None) -> TrainingData:
        """A part of the run's split; values as the run was trained (ones or ratings) unless given."""
        return read_part(
            self.split_folder,
            part,
            self.dataset.n_users,
            self.dataset.n_items,
            values or self.values,
            min_rating=min_rating,
        )

    def vocabulary(self, kind: str) -> np.ndarray:
        """Original ids (strings) indexed by ``user_idx`` or ``item_idx``; ``kind`` is 'user' or 'item'."""
        table = read_parquet(self.dataset_folder / "vocab" / f"{kind}s.parquet")
        ids = np.empty(table.num_rows, dtype=object)
        ids[table.column(f"{kind}_idx").to_numpy()] = table.column(f"{kind}_id").to_pylist()
        return ids

    def model(self) -> CandidateModel:

        model = load_model(self.folder, what=f"run '{self.run.name}'s model")
        if (model.n_users, model.n_items) != (self.dataset.n_users, self.dataset.n_items):
            raise CorruptArtifactError(
                f"run '{self.run.name}'s model is for {model.n_users} users x {model.n_items} items, "
                f"but dataset '{self.dataset.name}' has {self.dataset.n_users} x {self.dataset.n_items}",
                f"train it again: recsys train candidates {self.dataset.name} --split {self.split.name} "
                f"--model {self.run.model} --run {self.run.name} --force",
            )
        return model

    def artifact(self, kind: str) -> ArtifactRecord | None:
        with self.workspace.catalog() as catalog:
            return catalog.artifact(self.run.name, kind)


def open_run(workspace: Workspace, name: str) -> RunContext:
    """The run and its dataset and split records; UnknownNameError when there is none."""
    with workspace.catalog() as catalog:
        run = catalog.run(name)
        if run is None:
            raise UnknownNameError(
                "run",
                name,
                catalog.run_names(),
                hint=None
                if catalog.run_names()
                else "train one first: recsys train candidates DATASET --split SPLIT --model als --run NAME",
            )
        dataset = catalog.dataset(run.dataset)
        split = catalog.split(run.dataset, run.split)
    if dataset is None or split is None:  # the catalog drops runs with their split; defensive only
        raise CorruptArtifactError(f"run '{name}' refers to a split that no longer exists")
    return RunContext(workspace, run, dataset, split)


def read_part(
    split_folder: Path,
    part: str,
    n_users: int,
    n_items: int,
    values: str = "ones",
    *,
    with_time: bool = False,
    min_rating: float | None = None,
    repeated: str = "sum",
) -> TrainingData:
    """One part of a split as TrainingData (users x items CSR over the dataset's indices);
    ``with_time`` also reads every interaction's item and time (for models that need them);
    ``repeated`` says what a pair rated on several rows holds (data.matrices.interactions_matrix)."""

    path = split_folder / f"{part}.parquet"
    matrix = interactions_matrix(path, n_users, n_items, values, min_rating=min_rating, repeated=repeated)
    if not with_time:
        return TrainingData(matrix)
    return TrainingData(matrix, *interaction_times(path))


def publish_artifact(
    context: RunContext, kind: str, write: Callable[[Path], dict[str, Any]], supersedes: tuple[str, ...] = ()
) -> ArtifactRecord:
    """Build an artifact in staging with ``write(folder) -> meta``, publish it, register it.

    The caller holds ``workspace.writing()``. The previous artifact of the same kind, and those of
    the kinds it ``supersedes`` (built from the previous one), are unregistered in the same
    transaction and retired once the catalog points at the new one.
    """
    workspace = context.workspace
    staging = workspace.new_staging_dir()
    try:
        meta = write(staging)
        (staging / "artifact.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")

        def register(path: str):
            with workspace.catalog(read_only=False) as catalog:
                return catalog.put_artifact(ArtifactRecord(context.run.name, kind, path, meta), supersedes)

        dropped = workspace.publish(staging, workspace.runs_dir / context.run.name / kind, register)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if dropped:
        workspace.retire([record.path for record in dropped])
    with workspace.catalog() as catalog:
        return catalog.artifact(context.run.name, kind)


@dataclass(frozen=True)
class ReplacedArtifact:
    """The artifact of the same kind that a new one replaced: the file the previous call reported
    (deleted with its generation) and the options it was made with, so a command can say what is gone."""

    file: str
    options: str


def replaced_artifact(
    context: RunContext, kind: str, file: str, describe: Callable[[dict[str, Any]], str]
) -> ReplacedArtifact | None:
    """The run's current artifact of ``kind``, which publishing another will replace; call it under
    ``workspace.writing()``, just before ``publish_artifact``. ``describe(meta)`` names its options."""
    previous = context.artifact(kind)
    return None if previous is None else ReplacedArtifact(f"{previous.path}/{file}", describe(previous.meta))


def reopen_for_writing(context: RunContext) -> RunContext:
    """Under the write lock: the same run again, refusing if another writer removed or replaced it meanwhile."""
    with context.workspace.catalog() as catalog:
        removed = catalog.run(context.run.name) is None
    if removed:
        raise RemovedMeanwhileError(
            "run",
            context.run.name,
            during="ran",
            hint=f"nothing was written; train it again: recsys train candidates {context.run.dataset} "
            f"--split {context.run.split} --model {context.run.model} --run {context.run.name}",
        )
    fresh = open_run(context.workspace, context.run.name)
    if fresh.run.path != context.run.path:
        raise CorruptArtifactError(
            f"run '{context.run.name}' was retrained while this command ran", "run the command again"
        )
    return fresh
