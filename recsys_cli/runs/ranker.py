"""`recsys train ranker RUN`: a LambdaRank ranker over the candidates of one or more runs.

The ranker learns from the label window only (the split's val part): the pool is the union
of each source run's ``candidates-val`` lists, features read the train part alone, labels
are what each user did in the val part. Nothing here opens the test part. With ``refit``
the source models are also fitted again on train + val (same class, parameters and seed) and
kept beside the ranker, so the test window is ranked by generators that saw its history.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recsys_cli.data.canonical import ITEMS_FILE, USERS_FILE
from recsys_cli.data.faults import reading_file
from recsys_cli.data.split_strategies import COLD_START_STRATEGIES, TIME_ORDERED_STRATEGIES
from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import CorruptArtifactError, InvalidParameterError
from recsys_cli.models.persistence import save_model
from recsys_cli.ranking.features import (
    capabilities,
    compute_features,
    feature_columns,
    read_features,
    resolve_features,
)
from recsys_cli.ranking.lambdarank import grade_labels, group_sizes, load_ranker, train_lambdarank
from recsys_cli.ranking.params import RankerParams
from recsys_cli.ranking.pool import (
    Pool,
    combined_history,
    pool_recall,
    read_lists,
    refit,
    score_pool,
    union_pool,
    window_ratings,
    write_pool,
)
from recsys_cli.ranking.windows import LABEL_WINDOW, as_of
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.runs.artifacts import (
    CANDIDATES_FILE,
    IMPORTANCE_FILE,
    LABELS_FILE,
    RANKER_KIND,
    RANKER_MODEL_FILE,
    REFIT_FOLDER,
    STAGES_KIND,
    candidates_kind,
    features_file,
    pool_file,
)
from recsys_cli.runs.retrieval import model_scorer
from recsys_cli.runs.store import open_run, publish_artifact, read_part, reopen_for_writing
from recsys_cli.settings import feature_memory_limit
from recsys_cli.topk import default_batch_size
from recsys_cli.vocabulary import LABEL_SCHEMES


@dataclass
class RankerResult:
    run: str
    path: str
    meta: dict[str, Any]
    importance: list[tuple[str, float]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        return {"run": self.run, "path": self.path, **self.meta}


def check_split(context) -> None:
    """The run's split must be time-ordered and have a non-empty label window (val part)."""
    import pyarrow.parquet as pq

    split = context.split
    dataset = context.dataset.name
    if split.strategy in COLD_START_STRATEGIES:
        raise InvalidParameterError(
            f"split '{split.name}' is {split.strategy}: a ranker learns from a time-ordered label window of users "
            "and items train knows well, and a cold-start split evaluates new ones",
            "evaluate the generators alone (recsys evaluate RUN); in a recipe, set ranker.enabled = false",
        )
    if split.strategy not in TIME_ORDERED_STRATEGIES:
        raise InvalidParameterError(
            f"split '{split.name}' is {split.strategy}: its parts are not ordered in time, so a ranker's "
            "label window would see the future",
            f"make a time-ordered split with a label window, e.g. recsys split {dataset} --name NAME "
            "--strategy temporal-per-user --test-fraction 0.2 --val-fraction 0.2",
        )
    with reading_file(context.split_folder / "val.parquet"):
        rows = pq.ParquetFile(context.split_folder / "val.parquet").metadata.num_rows
    if rows == 0:
        raise InvalidParameterError(
            f"split '{split.name}' has no val part, which is the ranker's label window",
            f"split again with a label window under a new name: recsys split {dataset} --name NAME --strategy "
            f"{split.strategy} {'--val-n 1' if split.strategy == 'leave-last' else '--val-fraction 0.2'}",
        )


def open_sources(workspace: Workspace, run: str, with_runs) -> list:
    """The run and every ``--with`` run, which must share its dataset and split."""
    names = [run, *with_runs]
    if len(set(names)) != len(names):
        raise InvalidParameterError("a run is named twice among the ranker's sources", "name each --with run once")
    contexts = [open_run(workspace, name) for name in names]
    primary = contexts[0]
    for context in contexts[1:]:
        if (context.run.dataset, context.run.split) != (primary.run.dataset, primary.run.split):
            raise InvalidParameterError(
                f"run '{context.run.name}' is on {context.run.dataset}/{context.run.split}, but '{run}' is on "
                f"{primary.run.dataset}/{primary.run.split}",
                "every source of a ranker must be trained on the same split",
            )
    return contexts


def label_candidates(context) -> tuple[Path, dict[str, Any]]:
    """The run's label-window candidates (``recsys candidates RUN --on val``) and their record."""
    record = context.artifact(candidates_kind(LABEL_WINDOW.part))
    if record is None:
        name = context.run.name
        raise InvalidParameterError(
            f"run '{name}' has no candidates for the label window (the val part)",
            f"make them first: recsys candidates {name} --on val -k {min(200, context.dataset.n_items)}",
        )
    return context.workspace.resolve(record.path) / CANDIDATES_FILE, record.meta


def build_features(contexts, window, pool: Pool, folder: Path, names: list[str], reporter: Reporter):
    """Write the pool and its features for ``window`` into ``folder``; returns (pool path, features path, report)."""
    primary = contexts[0]
    history = window.history_paths(primary.split_folder)
    pool_path = folder / pool_file(window.part)
    features_path = folder / features_file(window.part)
    write_pool(pool, pool_path)
    with reporter.task(f"features for {len(pool):,} {window.part} candidates", total=None):
        report = compute_features(
            pool_path,
            history,
            primary.dataset_folder / ITEMS_FILE,
            users_file(primary),
            features_path,
            names=names,
            sources=[c.run.name for c in contexts],
            as_of=as_of(history),
        )
    return pool_path, features_path, report


def users_file(context) -> Path | None:
    path = context.dataset_folder / USERS_FILE
    return path if path.exists() else None


def resolve(contexts, features, scratch: Path) -> tuple[list[str], list[str]]:
    """The feature names the data supports (or the requested ones, checked) and their columns."""
    primary = contexts[0]
    caps = capabilities(
        LABEL_WINDOW.history_paths(primary.split_folder),
        primary.dataset_folder / ITEMS_FILE,
        users_file(primary),
        len(contexts),
        spill=scratch / "capabilities.spill",  # not DuckDB's default, .tmp in the current folder
    )
    names = resolve_features(list(features) if features else None, caps)
    return names, feature_columns(names, [c.run.name for c in contexts])


def train_ranker(
    workspace: Workspace,
    run: str,
    *,
    with_runs=(),
    features=None,
    labels: str = "graded",
    params: RankerParams | None = None,
    refit_generators: bool = True,
    reporter: Reporter = SILENT,
) -> RankerResult:
    """Train a LambdaRank ranker on the label window of ``run`` (and ``with_runs``) and register it."""
    params = (params or RankerParams()).validated()
    feature_memory_limit()  # a bad RECSYS_FEATURE_MEMORY fails now, not after the pool is scored
    if labels not in LABEL_SCHEMES:
        raise InvalidParameterError(f"unknown label scheme '{labels}'", f"use one of {', '.join(LABEL_SCHEMES)}")
    started = time.perf_counter()
    with ExitStack() as scratch_lifetime:
        with workspace.reading():
            contexts = open_sources(workspace, run, with_runs)
            primary = contexts[0]
            check_split(primary)
            sources = [label_candidates(context) for context in contexts]
            # inside the workspace, where the next writer's sweep finds it if this process is killed
            scratch = scratch_lifetime.enter_context(workspace.scratch("ranker"))
            names, columns = resolve(contexts, features, scratch)
            pool, models = _scored_pool(contexts, sources)
            window = _label_window(primary, pool, run)
            grades = grade_labels(window.ratings, labels)
            matrix, report = _pool_features(contexts, pool, names, columns, scratch, reporter)
            fit = _fit_lambdarank(matrix, pool, window.hits, grades, columns, params, reporter)
            refitted = _refit_sources(contexts, models, scratch, reporter) if refit_generators else []
        importance, model_file = _write_ranker(scratch, pool, grades, fit.trained)
        meta = _ranker_meta(
            contexts,
            sources,
            refitted,
            refit_generators=refit_generators,
            names=names,
            columns=columns,
            grades=grades,
            params=params,
            window=window,
            pool=pool,
            fit=fit,
            report=report,
            started=started,
        )
        meta["ranker_file"] = model_file
        return _publish(workspace, primary, contexts, scratch, meta, importance, reporter)


def retrain_hint(run: str, meta: dict[str, Any]) -> str:
    """The command that trains ``run``'s ranker again over the same sources."""
    sources = meta.get("sources") if isinstance(meta.get("sources"), list) else []
    others = [s.get("run") for s in sources[1:] if isinstance(s, dict) and isinstance(s.get("run"), str)]
    return f"train the ranker again: recsys train ranker {run}" + (f" --with {','.join(others)}" if others else "")


def load_ranker_file(folder: Path, meta: dict[str, Any], run: str):
    """The booster of ``run``'s ranker (artifact folder ``folder``, record ``meta``).

    ``ranker.txt`` is checked against the size and sha256 recorded when it was written, then its structure
    is checked (:func:`~recsys_cli.ranking.lambdarank.load_ranker`) before LightGBM parses it. A ranker
    trained before sizes and checksums were recorded (no ``ranker_file`` in its record) gets the
    structural check only. Anything wrong is a CorruptArtifactError with the command that retrains it.
    """
    path = folder / RANKER_MODEL_FILE
    what = f"run '{run}'s {RANKER_MODEL_FILE}"
    hint = retrain_hint(run, meta)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CorruptArtifactError(f"{what} is missing ({path})", hint) from None
    recorded = meta.get("ranker_file")
    if recorded is not None:
        if not (
            isinstance(recorded, dict)
            and isinstance(recorded.get("bytes"), int)
            and isinstance(recorded.get("sha256"), str)
        ):
            raise CorruptArtifactError(f"the record of {what} is malformed", hint)
        if len(data) != recorded["bytes"]:
            raise CorruptArtifactError(
                f"{what} has {len(data)} bytes, expected {recorded['bytes']} (truncated or replaced)", hint
            )
        if hashlib.sha256(data).hexdigest() != recorded["sha256"]:
            raise CorruptArtifactError(f"{what} does not match its recorded sha256 (damaged or edited)", hint)
    return load_ranker(data, meta["columns"], what, hint)


# -- the steps of train_ranker -------------------------------------------------------------------


@dataclass
class _LabelWindow:
    """The label window over the pool: each pool row's rating (NaN: no interaction) and whether it is a hit;
    the window's users and their interaction counts."""

    ratings: np.ndarray
    hits: np.ndarray
    users: np.ndarray
    counts: np.ndarray


@dataclass
class _Fit:
    """The trained ranker, the pool rows it learnt from and their users (those with a positive candidate)."""

    trained: Any
    keep: np.ndarray
    positive_users: np.ndarray


def _scored_pool(contexts, sources) -> tuple[Pool, list]:
    """The union of the sources' label-window lists, scored by every source's model; returns (pool, models)."""
    n_items = contexts[0].dataset.n_items
    pool = union_pool([read_lists(path) for path, _ in sources], n_items)
    group_sizes(pool.users)  # LightGBM's per-query limit, checked before hours of features
    batch = default_batch_size(n_items)
    models = [context.model() for context in contexts]  # loaded (and checksummed) once each
    for context, model in zip(contexts, models):
        score, _ = model_scorer(model, context.part("train").user_items)
        pool.scores.append(score_pool(pool, score, batch))
    return pool, models


def _label_window(primary, pool: Pool, run: str) -> _LabelWindow:
    """What the window's users did among the candidates; an error when the pool holds none of it."""
    n_items = primary.dataset.n_items
    ratings, window_users, counts = window_ratings(primary.split_folder / "val.parquet", pool, n_items)
    hits = ~np.isnan(ratings)
    if not hits.any():
        raise InvalidParameterError(
            f"the label window (the val part of split '{primary.split.name}': {int(counts.sum()):,} "
            f"interactions by {window_users.size:,} users) has no interaction among the "
            f"{len(pool):,} candidates",
            f"widen it (split again with a larger --val-fraction or --val-n) or make more candidates: "
            f"recsys candidates {run} --on val -k {min(500, n_items)}",
        )
    return _LabelWindow(ratings, hits, window_users, counts)


def _pool_features(contexts, pool: Pool, names: list[str], columns: list[str], scratch: Path, reporter: Reporter):
    """The pool's feature matrix (rows in pool order, checked) and the features report."""
    _, features_path, report = build_features(contexts, LABEL_WINDOW, pool, scratch, names, reporter)
    users, items, matrix = read_features(features_path, columns)
    if not (np.array_equal(users, pool.users) and np.array_equal(items, pool.items)):
        raise CorruptArtifactError("the features do not line up with the candidate pool")
    return matrix, report


def _fit_lambdarank(matrix, pool: Pool, hits, grades, columns, params: RankerParams, reporter: Reporter) -> _Fit:
    # users without a positive candidate carry no pairwise signal: lambdarank skips them anyway
    positive_users = np.unique(pool.users[hits])
    keep = np.isin(pool.users, positive_users)
    trained = train_lambdarank(
        matrix[keep], grades.grades[keep], pool.users[keep], columns, grades.gains, params, reporter=reporter
    )
    return _Fit(trained, keep, positive_users)


def _refit_sources(contexts, models, scratch: Path, reporter: Reporter) -> list[str]:
    """Fit every source model again on train + val into ``scratch``; returns the refitted models' checksums."""
    n_users, n_items = contexts[0].dataset.n_users, contexts[0].dataset.n_items
    refitted = []
    for i, (context, model) in enumerate(zip(contexts, models)):
        data = combined_history(
            [
                read_part(context.split_folder, part, n_users, n_items, context.values, with_time=model.needs_time())
                for part in ("train", "val")
            ]
        )
        reporter.info(f"refitting {context.run.model} ('{context.run.name}') on train + val")
        config = save_model(refit(model, data, reporter), _mkdir(scratch / REFIT_FOLDER / str(i)))
        refitted.append(config["sha256"])
    return refitted


def _write_ranker(scratch: Path, pool: Pool, grades, trained) -> tuple[list[tuple[str, float]], dict[str, Any]]:
    """The labels, the model and the feature importance into ``scratch``; returns the importance, largest
    first, and the model file's size and sha256 (checked before it is loaded again)."""
    _write_labels(scratch / LABELS_FILE, pool, grades.grades)
    model = trained.model_text.encode("utf-8")
    (scratch / RANKER_MODEL_FILE).write_bytes(model)
    importance = sorted(trained.importance.items(), key=lambda kv: (-kv[1], kv[0]))
    _write_importance(scratch / IMPORTANCE_FILE, importance)
    return importance, {"bytes": len(model), "sha256": hashlib.sha256(model).hexdigest()}


def _ranker_meta(
    contexts,
    sources,
    refitted: list[str],
    *,
    refit_generators: bool,
    names,
    columns,
    grades,
    params: RankerParams,
    window: _LabelWindow,
    pool: Pool,
    fit: _Fit,
    report,
    started: float,
) -> dict[str, Any]:
    """The ranker artifact's record."""
    trained = fit.trained
    return {
        "sources": [
            {
                "run": c.run.name,
                "model": c.run.model,
                "model_sha256": c.run.manifest.get("model_sha256"),
                "candidates": int(m["k"]),
                "retrieval": m.get("retrieval", "exact"),
                "refit_sha256": refitted[i] if refitted else None,
            }
            for i, (c, (_, m)) in enumerate(zip(contexts, sources))
        ],
        "refit": bool(refit_generators),
        "features": names,
        "columns": columns,
        "labels": {"scheme": grades.scheme, "gains": grades.gains, "levels": grades.levels},
        "params": params.to_dict(),
        "label_window": {
            "part": LABEL_WINDOW.part,
            "history": list(LABEL_WINDOW.history),
            "users": int(window.users.size),
            "interactions": int(window.counts.sum()),
        },
        "pool": {
            "rows": len(pool),
            "users": int(np.unique(pool.users).size),
            "positives": int(window.hits.sum()),
            "recall": pool_recall(pool, window.hits, window.users, window.counts),
        },
        "training": {
            "rows": int(fit.keep.sum()),
            "users": int(fit.positive_users.size),
            "best_iteration": trained.best_iteration,
            "trees_grown": trained.trees,
            "valid_ndcg@10": trained.valid_ndcg,
            "seconds": round(trained.seconds, 3),
        },
        "features_seconds": round(report.seconds, 3),
        "wall_seconds": round(time.perf_counter() - started, 3),
    }


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _write_labels(path: Path, pool: Pool, grades: np.ndarray) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            {
                "user_idx": pa.array(pool.users.astype(np.int32)),
                "item_idx": pa.array(pool.items.astype(np.int32)),
                "grade": pa.array(grades.astype(np.int32)),
            }
        ),
        path,
        compression="zstd",
    )


def _write_importance(path: Path, importance: list[tuple[str, float]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    total = sum(value for _, value in importance) or 1.0
    pq.write_table(
        pa.table(
            {
                "feature": [name for name, _ in importance],
                "gain": pa.array([value for _, value in importance], type=pa.float64()),
                "share": pa.array([value / total for _, value in importance], type=pa.float64()),
            }
        ),
        path,
    )


def _publish(workspace, primary, contexts, scratch: Path, meta, importance, reporter) -> RankerResult:
    def write(folder: Path) -> dict[str, Any]:
        for child in scratch.iterdir():
            shutil.move(str(child), folder / child.name)
        return meta

    with workspace.writing(reporter, command=f"train ranker {primary.run.name}"):
        fresh = reopen_for_writing(primary)
        for context in contexts[1:]:
            reopen_for_writing(context)  # a --with run removed or retrained meanwhile is refused too
        # an evaluation of the replaced ranker no longer describes this run
        record = publish_artifact(fresh, RANKER_KIND, write, supersedes=(STAGES_KIND,))
    return RankerResult(primary.run.name, record.path, meta, importance)
