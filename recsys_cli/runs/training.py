"""`train candidates`: fit a candidate generator on a split's train part and register the run."""

from __future__ import annotations

import json
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from recsys_cli.data.atomic import file_sha256
from recsys_cli.data.matrices import VALUES
from recsys_cli.data.metadata import read_item_metadata, read_user_metadata
from recsys_cli.data.records import RunRecord
from recsys_cli.data.split_strategies import COLD_ITEMS
from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import AlreadyExistsError, InvalidParameterError, RemovedMeanwhileError, UnknownNameError
from recsys_cli.models.base import ItemMetadata, TrainingData, UserMetadata
from recsys_cli.models.persistence import save_model
from recsys_cli.models.registry import create_model, model_class
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.runs.artifacts import MANIFEST_FILE
from recsys_cli.runs.store import read_part, validate_run_name
from recsys_cli.version import __version__

_PACKAGES = ("implicit", "numpy", "scipy", "pyarrow", "duckdb", "threadpoolctl", "annoy", "lightgbm", "scikit-surprise")


@dataclass
class TrainResult:
    run: RunRecord
    replaced: bool
    dropped_artifacts: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> dict[str, Any]:
        return self.run.manifest


def package_versions() -> dict[str, str]:
    found = {"recsys": __version__, "python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover - all are dependencies
            found[name] = "missing"
    return found


def _lookup(workspace: Workspace, dataset: str, split: str, run: str, *, waited: bool = False):
    """The dataset, split and existing run records; ``waited``: this is the look again under the write
    lock, after one before it found the dataset and split (so a missing one was removed meanwhile)."""
    with workspace.catalog() as catalog:
        record = catalog.dataset(dataset)
        if record is None and waited:
            raise RemovedMeanwhileError("dataset", dataset)
        if record is None:
            raise UnknownNameError("dataset", dataset, catalog.dataset_names())
        split_record = catalog.split(dataset, split)
        if split_record is None and waited:
            raise RemovedMeanwhileError(
                "split", split, hint=f"make it again: recsys split {dataset} --name {split} --strategy ..."
            )
        if split_record is None:
            names = [s.name for s in catalog.splits(dataset)]
            raise UnknownNameError(
                "split",
                split,
                names,
                hint=None
                if names
                else f"make one first: recsys split {dataset} --name NAME --strategy random-per-user",
            )
        if catalog.pipeline_run(run) is not None:  # `recsys runs` would show two runs of one name
            raise AlreadyExistsError(
                f"'{run}' is already the name of a recipe run in this workspace", "choose another --run name"
            )
        return record, split_record, catalog.run(run)


def train_candidates(
    workspace: Workspace,
    dataset: str,
    split: str,
    model: str,
    run: str,
    *,
    params: dict[str, Any] | None = None,
    seed: int = 42,
    values: str = "ones",
    force: bool = False,
    reporter: Reporter = SILENT,
) -> TrainResult:
    """Fit ``model`` on the train part of ``dataset``/``split`` and register it as ``run``.

    Parameters are validated before the workspace is touched; the model folder is
    built in staging, renamed into ``runs/<run>/`` and registered last.
    """
    validate_run_name(run)
    cls = model_class(model)
    instance = create_model(cls, params, seed=seed)
    if values not in VALUES:
        raise InvalidParameterError(f"values must be one of {', '.join(VALUES)}, not '{values}'")
    if cls.predicts_ratings:  # a rating model learns the ratings themselves: there is no other choice to make
        values = "rating"

    with workspace.reading():
        dataset_record, split_record, existing = _lookup(workspace, dataset, split, run)
        _check_replace(existing, run, force)
        instance.check_shape(dataset_record.n_users, dataset_record.n_items)
        if cls.predicts_ratings:  # refused before waiting for the write lock
            check_has_ratings(dataset_record, model)
        if cls.needs_item_metadata:  # refused before waiting for the write lock
            metadata = item_metadata(workspace.resolve(dataset_record.path), dataset_record, model)
            for warning in _tag_warnings(instance, metadata, split_record):
                reporter.warn(warning)
        if cls.needs_user_metadata:  # likewise
            user_metadata(workspace.resolve(dataset_record.path), dataset_record, model, instance.user_attributes())
    for warning in instance.shape_warnings(dataset_record.n_users, dataset_record.n_items):
        reporter.warn(warning)
    with workspace.writing(reporter, command=f"train {model} {run}"):
        dataset_record, split_record, existing = _lookup(workspace, dataset, split, run, waited=True)
        _check_replace(existing, run, force)
        started = time.perf_counter()
        split_folder = workspace.resolve(split_record.path)
        data, fit_seconds = _fit_on_train(
            instance,
            split_folder,
            workspace.resolve(dataset_record.path),
            dataset_record,
            values,
            model,
            dataset,
            split,
            reporter,
        )
        staging = workspace.new_staging_dir()
        try:
            config = save_model(instance, staging)
            manifest = _manifest(
                run,
                dataset,
                split,
                model,
                seed=seed,
                values=values,
                instance=instance,
                dataset_record=dataset_record,
                split_record=split_record,
                split_folder=split_folder,
                data=data,
                config=config,
                fit_seconds=fit_seconds,
                started=started,
            )
            (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            register = _run_registrar(workspace, run, dataset, split, model, instance, manifest)
            dropped = workspace.publish(staging, workspace.runs_dir / run, register)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        workspace.retire(([existing.path] if existing else []) + dropped.paths)
        with workspace.catalog() as catalog:
            record = catalog.run(run)
    return TrainResult(record, existing is not None, [a.kind for a in dropped.artifacts])


# -- the steps of train_candidates ---------------------------------------------------------------


def _check_replace(existing, run: str, force: bool) -> None:
    """A run of that name may be replaced only with ``force``."""
    if existing is not None and not force:
        raise AlreadyExistsError(
            f"run '{run}' already exists ({existing.model} on {existing.dataset}/{existing.split})",
            "pass --force to replace it, or choose another --run name",
        )


def _fit_on_train(
    instance,
    split_folder,
    dataset_folder,
    dataset_record,
    values: str,
    model: str,
    dataset: str,
    split: str,
    reporter: Reporter,
):
    """Read the split's train part and fit ``instance`` on it; returns (the train data, fit seconds)."""
    data = read_part(
        split_folder,
        "train",
        dataset_record.n_users,
        dataset_record.n_items,
        values,
        with_time=instance.needs_time(),
        # a pair rated twice is rated once, as the user last rated it (docs/models.md)
        repeated="latest" if instance.predicts_ratings else "sum",
    )
    if instance.needs_item_metadata:
        metadata = item_metadata(dataset_folder, dataset_record, model)
        data = TrainingData(data.user_items, data.item_idx, data.ts, item_metadata=metadata)
    if instance.needs_user_metadata:
        users = user_metadata(dataset_folder, dataset_record, model, instance.user_attributes())
        data = TrainingData(data.user_items, data.item_idx, data.ts, data.item_metadata, user_metadata=users)
    what = "ratings (each user-item pair's latest)" if instance.predicts_ratings else "interactions"
    reporter.info(
        f"training {model} on {dataset}/{split}: {data.user_items.nnz:,} {what}, "
        f"{dataset_record.n_users:,} users x {dataset_record.n_items:,} items"
    )
    fit_started = time.perf_counter()
    instance.fit(data, reporter)
    return data, time.perf_counter() - fit_started


def check_has_ratings(dataset_record, model: str) -> None:
    """Refuse a rating model on a dataset whose interactions all carry one rating value: what a file
    ingested without a rating column holds (every rating 1.0), so there is nothing to predict."""
    stats = dataset_record.stats
    if "rating_min" not in stats:  # not recorded: the model itself refuses a train part of one rating value
        return
    low, high = stats["rating_min"], stats.get("rating_max")
    if low is None or low == high:
        raise InvalidParameterError(
            f"dataset '{dataset_record.name}' has no ratings for model '{model}': every interaction is rated "
            f"{'alike' if low is None else f'{low:g}'}, as when a file is ingested without a rating column",
            "use an implicit model such as als, or ingest the file again with --rating-col",
        )


def item_metadata(dataset_folder, dataset_record, model: str) -> ItemMetadata:
    """The dataset's item metadata for ``model``; refuses a dataset none of whose items has any (a CSV
    ingest has no items file)."""
    metadata = read_item_metadata(dataset_folder, dataset_record.n_items)
    if not any(metadata.present().values()):
        raise InvalidParameterError(
            f"dataset '{dataset_record.name}' has no item metadata for model '{model}': none of its items has "
            "a title, a release year, genres or tags",
            "ingest a release with an items file (a MovieLens card, or `recsys ingest synthetic`), "
            "or use item-knn, als or ease, which learn from interactions alone",
        )
    return metadata


def _tag_warnings(instance, metadata: ItemMetadata, split_record) -> list[str]:
    """What to say when a model is told to weigh tags (docs/models.md, "Tags"): that the dataset has none,
    or that on held-out items they leak the test users' opinions (people tag what they watched)."""
    weight = getattr(instance.params, "tag_weight", 0.0)
    if not weight:
        return []
    if metadata.present()["tags"] == 0:
        return [f"tag-weight {weight:g} does nothing: no item of this dataset has tags"]
    if split_record.strategy == COLD_ITEMS:
        return [
            f"tag-weight {weight:g} on cold-items split '{split_record.name}': the held-out items' tags were "
            "written by the users who rated them, test users included, so the evaluation will flatter the model "
            "(docs/models.md, 'Tags')"
        ]
    return []


def user_metadata(dataset_folder, dataset_record, model: str, attributes: tuple[str, ...]) -> UserMetadata:
    """The dataset's user metadata for ``model``; refuses a dataset none of whose users has one of the
    ``attributes`` the model reads (ml-latest-small and a CSV ingest have no demographics)."""
    metadata = read_user_metadata(dataset_folder, dataset_record.n_users)
    present = metadata.present()
    missing = [a for a in attributes if not present[a]]
    if missing:
        known = [a for a, count in present.items() if count]
        has = f"its users have only {', '.join(known)}" if known else "its users file has no demographics"
        raise InvalidParameterError(
            f"dataset '{dataset_record.name}' has no user {' or '.join(missing)} for model '{model}': {has}",
            (f"pass -p segment={','.join(known)}, or " if known else "")
            + "use popular, which needs no user metadata; ML-100K and ML-1M have demographics",
        )
    return metadata


def _manifest(
    run: str,
    dataset: str,
    split: str,
    model: str,
    *,
    seed: int,
    values: str,
    instance,
    dataset_record,
    split_record,
    split_folder,
    data,
    config: dict[str, Any],
    fit_seconds: float,
    started: float,
) -> dict[str, Any]:
    """The run's manifest: what was trained on what, with which versions, and how long it took."""
    return {
        "run": run,
        "dataset": dataset,
        "split": split,
        "split_strategy": split_record.strategy,
        "split_params": split_record.params,
        "model": model,
        "params": instance.params.to_dict(),
        "seed": seed,
        "values": values,
        "n_users": dataset_record.n_users,
        "n_items": dataset_record.n_items,
        "n_train_interactions": int(data.user_items.nnz),
        "n_train_users": int((data.user_items.getnnz(axis=1) > 0).sum()),
        "n_train_items": int((data.user_items.getnnz(axis=0) > 0).sum()),
        "inputs": {
            "dataset_path": dataset_record.path,
            "split_path": split_record.path,
            "train_sha256": file_sha256(split_folder / "train.parquet"),
        },
        "model_sha256": config["sha256"],
        "versions": package_versions(),
        "platform": platform.platform(),
        "argv": sys.argv[1:],
        "fit_seconds": round(fit_seconds, 3),
        "wall_seconds": round(time.perf_counter() - started, 3),
    }


def _run_registrar(workspace: Workspace, run: str, dataset: str, split: str, model: str, instance, manifest):
    """The ``register`` callback of ``Workspace.publish``: the run's catalog row, at the published path."""

    def register(path: str):
        with workspace.catalog(read_only=False) as catalog:
            return catalog.put_run(
                RunRecord(
                    name=run,
                    dataset=dataset,
                    split=split,
                    model=model,
                    params=instance.params.to_dict(),
                    path=path,
                    manifest=manifest,
                )
            )

    return register
