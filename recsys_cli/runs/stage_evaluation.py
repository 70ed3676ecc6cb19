"""Two-stage evaluation: popularity, the candidate generator alone, generator + ranker, same users.

The test window's history is train + val. Each source run ranks the test users over the
full catalogue (the refitted models when the ranker was trained with refit), the union of
their top-N lists is the pool, and the ranker re-orders it. Three rows are scored with
the same truth, users and K's:

    popular     the most popular items of the history, minus what the user saw
    candidates  the primary generator's own top-K (the order the pool came in)
    ranker      the pool ordered by the ranker's score (ties: lower item index)

Lifts are relative differences of the means; for every ndcg@K and recall@K the paired
bootstrap interval of the per-user difference says whether the lift is more than noise.
"""

from __future__ import annotations

import json
import shutil
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import CorruptArtifactError, InvalidParameterError
from recsys_cli.evaluation.metrics import evaluate_lists, history_shares
from recsys_cli.evaluation.significance import paired_intervals, paired_keys
from recsys_cli.models.persistence import load_model
from recsys_cli.ranking.features import read_features
from recsys_cli.ranking.lambdarank import predict
from recsys_cli.ranking.pool import SourceLists, combined_history, pool_recall, score_pool, union_pool, write_pool
from recsys_cli.ranking.windows import TEST_WINDOW
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.runs.artifacts import (
    METRICS_FILE,
    PER_USER_FILE,
    RANKER_KIND,
    REFIT_FOLDER,
    STAGE_POOL_FILE,
    STAGES_KIND,
    features_file,
)
from recsys_cli.runs.evaluate import evaluation_options
from recsys_cli.runs.ranker import build_features, load_ranker_file
from recsys_cli.runs.retrieval import exact_top_k, model_scorer, popularity_places, seen_pattern
from recsys_cli.runs.store import (
    ReplacedArtifact,
    open_run,
    publish_artifact,
    read_part,
    reopen_for_writing,
    replaced_artifact,
)
from recsys_cli.topk import check_ks, default_batch_size, top_k_of_one_order
from recsys_cli.vocabulary import DEFAULT_KS, STAGE_ROWS

COMPARISONS = (("ranker", "candidates"), ("candidates", "popular"), ("ranker", "popular"))


@dataclass
class StageEvaluation:
    run: str
    protocol: dict[str, Any]
    stages: dict[str, dict[str, float]]
    lift: dict[str, dict[str, dict[str, Any]]]
    per_user_path: str | None = None
    replaced: ReplacedArtifact | None = None  # the run's previous two-stage evaluation, now deleted

    @property
    def metrics(self) -> dict[str, float]:
        return self.stages["ranker"]

    def document(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "protocol": self.protocol,
            "metrics": self.metrics,
            "stages": self.stages,
            "lift": self.lift,
            "per_user": self.per_user_path,
        }


def _ranker_lists(pool_users, pool_items, scores, users: np.ndarray, k: int) -> np.ndarray:
    """Each user's pool ordered by score descending, ties to the lower item, cut at k (-1 padding)."""
    order = np.lexsort((pool_items, -scores, pool_users))
    sorted_users = pool_users[order]
    starts = np.searchsorted(sorted_users, sorted_users, side="left")
    position = np.arange(order.size) - starts
    keep = position < k
    lists = np.full((users.size, k), -1, dtype=np.int64)
    rows = np.searchsorted(users, sorted_users[keep])
    lists[rows, position[keep]] = pool_items[order][keep]
    return lists


def _popular_lists(seen, users: np.ndarray, k: int) -> np.ndarray:
    return top_k_of_one_order(popularity_places(seen), users, k, seen)[0]


def _stale(name: str, run: str) -> CorruptArtifactError:
    return CorruptArtifactError(
        f"source run '{name}' changed after run '{run}'s ranker was trained",
        f"train the ranker again: recsys train ranker {run} (with the same --with runs)",
    )


def evaluate_stages(
    workspace: Workspace,
    run: str,
    *,
    ks=None,
    relevant_min_rating: float | None = None,
    save: bool = True,
    reporter: Reporter = SILENT,
) -> StageEvaluation:
    """Evaluate ``run``'s ranker on the test window against the generator alone and popularity.

    ``ks=None``: 10, 20 and 100, less those above the primary source's candidate count.
    """
    if relevant_min_rating is not None and not np.isfinite(relevant_min_rating):
        raise InvalidParameterError("--relevant-min-rating must be a number")
    with ExitStack() as scratch_lifetime:
        with workspace.reading():
            primary = open_run(workspace, run)
            record = primary.artifact(RANKER_KIND)
            if record is None:
                raise InvalidParameterError(f"run '{run}' has no ranker", f"train one: recsys train ranker {run}")
            meta, folder = record.meta, workspace.resolve(record.path)
            n_users, n_items = primary.dataset.n_users, primary.dataset.n_items
            primary_n = int(meta["sources"][0]["candidates"])
            ks = check_ks(
                [k for k in DEFAULT_KS if k <= primary_n] or [primary_n] if ks is None else ks, "k", n_items=n_items
            )
            if ks[-1] > primary_n:
                raise InvalidParameterError(
                    f"k={ks[-1]} is larger than the {primary_n} candidates the ranker re-ranks",
                    f"pass --k values <= {primary_n}, or make more candidates and train the ranker again",
                )
            contexts = _source_contexts(workspace, primary, meta)
            booster = load_ranker_file(folder, meta, run)  # checked before minutes of features, not after
            # inside the workspace, where the next writer's sweep finds it if this process is killed; not
            # saving only reads, so a read-only workspace gets a private folder instead
            scratch = scratch_lifetime.enter_context(
                workspace.scratch("stages") if save else workspace.scratch_for_reading("stages")
            )
            truth = primary.part("test", values="ones", min_rating=relevant_min_rating).user_items
            if truth.nnz == 0:
                raise InvalidParameterError(
                    f"the test part of split '{primary.split.name}' has no relevant interactions",
                    "lower --relevant-min-rating",
                )
            users = np.flatnonzero(np.diff(truth.indptr))
            pool, retrieved, seen = _test_pool(contexts, meta, folder, users, reporter)
            _, features_path, _ = build_features(contexts, TEST_WINDOW, pool, scratch, meta["features"], reporter)
            feature_users, feature_items, matrix = read_features(features_path, meta["columns"])
            if not (np.array_equal(feature_users, pool.users) and np.array_equal(feature_items, pool.items)):
                raise CorruptArtifactError("the test features do not line up with the candidate pool")
            scores = predict(booster, matrix, meta["params"]["threads"])
            k = ks[-1]
            lists = {
                "popular": _popular_lists(seen, users, k),
                "candidates": retrieved.lists[:, :k],
                "ranker": _ranker_lists(pool.users, pool.items, scores, users, k),
            }
            cold = int(retrieved.fallback_users)
            user_ids = primary.vocabulary("user")
        popularity = history_shares(seen)
        results = {}
        for stage in STAGE_ROWS:
            full = np.full((n_users, k), -1, dtype=np.int64)
            full[users] = lists[stage]
            results[stage] = evaluate_lists(full, truth, ks, n_catalog_items=n_items, item_popularity=popularity)
        hits = np.asarray(truth[pool.users, pool.items]).ravel() > 0
        ceiling = pool_recall(pool, hits, users, np.diff(truth.indptr)[users])
        protocol = _protocol(
            primary, meta, ks, relevant_min_rating, results["ranker"].n_users, cold, ceiling, len(pool)
        )
        evaluation = StageEvaluation(run, protocol, {s: r.metrics for s, r in results.items()}, _lifts(results, ks))
        if save:
            write_pool(pool, scratch / STAGE_POOL_FILE, {"ranker_score": scores})
            evaluation.per_user_path, evaluation.replaced = _save(
                workspace, primary, evaluation, results, user_ids, scratch, reporter
            )
        return evaluation


def _source_contexts(workspace, primary, meta) -> list:
    """The ranker's source runs, refusing any retrained since (its model is not the one the ranker saw)."""
    contexts = []
    for source in meta["sources"]:
        context = primary if source["run"] == primary.run.name else open_run(workspace, source["run"])
        if context.run.manifest.get("model_sha256") != source["model_sha256"]:
            raise _stale(source["run"], primary.run.name)
        contexts.append(context)
    return contexts


def _test_pool(contexts, meta, folder: Path, users: np.ndarray, reporter: Reporter):
    """Each source's top-N for the test users over train + val history, their union scored by every
    source; also the primary's lists and the primary's seen pattern (for the popular row)."""
    n_users, n_items = contexts[0].dataset.n_users, contexts[0].dataset.n_items
    per_source, histories = [], {}  # sources share a split: one read per kind of values
    for i, (context, source) in enumerate(zip(contexts, meta["sources"])):
        model = (
            load_model(folder / REFIT_FOLDER / str(i), what=f"the refitted '{source['run']}' model")
            if meta["refit"]
            else context.model()
        )
        if context.values not in histories:
            histories[context.values] = combined_history(
                [read_part(context.split_folder, part, n_users, n_items, context.values) for part in ("train", "val")]
            ).user_items
        history = histories[context.values]
        retrieved = exact_top_k(
            model,
            users,
            history,
            int(source["candidates"]),
            reporter=reporter,
            label=f"test candidates from '{source['run']}'",
        )
        per_source.append((model, history, retrieved))
    pool = union_pool([SourceLists(users, r.lists) for _, _, r in per_source], n_items)
    batch = default_batch_size(n_items)
    for model, history, _ in per_source:
        pool.scores.append(score_pool(pool, model_scorer(model, history)[0], batch))
    return pool, per_source[0][2], seen_pattern(per_source[0][1])


def _protocol(primary, meta, ks, relevant_min_rating, n_users, cold, ceiling, pool_rows) -> dict[str, Any]:
    sources = ", ".join(f"{s['run']} ({s['model']}, top {s['candidates']})" for s in meta["sources"])
    return {
        "run": primary.run.name,
        "dataset": primary.dataset.name,
        "split": primary.split.name,
        "split_strategy": primary.split.strategy,
        "split_params": primary.split.params,
        "evaluated_part": "test",
        "history": "train + val (the label window is history at test time)",
        "generators": "refitted on train + val" if meta["refit"] else "as trained on train",
        "relevance": "every test interaction"
        if relevant_min_rating is None
        else f"test interactions with rating >= {relevant_min_rating:g}",
        "candidate_pool": f"union of {sources}: {pool_rows:,} pairs",
        # test lists are always exact; the ranker learned from lists made as `recsys candidates` was told
        "label_window_retrieval": ", ".join(f"{s['run']}: {s.get('retrieval', 'exact')}" for s in meta["sources"]),
        "pool_recall": round(ceiling, 6),
        "candidates_row": f"{meta['sources'][0]['run']}'s own top-K",
        "popular_row": "most popular items of train + val, minus each user's history",
        "ks": list(ks),
        "users_evaluated": n_users,
        "cold_start_users": cold,
        "features": meta["columns"],
        "ranker_best_iteration": meta["training"]["best_iteration"],
        "labels": meta["labels"]["scheme"],
    }


def _lifts(results, ks) -> dict[str, dict[str, dict[str, Any]]]:
    lift: dict[str, dict[str, dict[str, Any]]] = {}
    for better, base in COMPARISONS:
        entries = {}
        a, b = results[base], results[better]
        for key, value in b.metrics.items():
            reference = a.metrics.get(key)
            entries[key] = {
                "relative": (value / reference - 1.0) if reference else None,
                "difference": value - reference if reference is not None else None,
            }
        tested = [key for key in paired_keys(b.metrics) if key in a.per_user]
        for key, interval in paired_intervals(a.per_user, b.per_user, tested).items():
            entries[key]["interval"] = interval
        lift[f"{better}_vs_{base}"] = entries
    return lift


def _save(
    workspace, primary, evaluation: StageEvaluation, results, user_ids, scratch: Path, reporter
) -> tuple[str, ReplacedArtifact | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for stage, result in results.items():
        table = result.to_arrow()
        ids = user_ids[table.column("user").to_numpy()].tolist()
        table = table.add_column(0, "stage", pa.array([stage] * table.num_rows, type=pa.string()))
        tables.append(table.add_column(2, "user_id", pa.array(ids, type=pa.string())))
    per_user = pa.concat_tables(tables)
    document = {"protocol": evaluation.protocol, "stages": evaluation.stages, "lift": evaluation.lift}

    def write(folder: Path) -> dict[str, Any]:
        pq.write_table(per_user, folder / PER_USER_FILE, compression="zstd")
        for name in (STAGE_POOL_FILE, features_file(TEST_WINDOW.part)):
            shutil.move(str(scratch / name), folder / name)
        (folder / METRICS_FILE).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        return {"protocol": evaluation.protocol, "metrics": evaluation.metrics}

    with workspace.writing(reporter, command=f"evaluate {primary.run.name}"):
        fresh = reopen_for_writing(primary)
        replaced = replaced_artifact(fresh, STAGES_KIND, PER_USER_FILE, evaluation_options)
        record = publish_artifact(fresh, STAGES_KIND, write)
    return f"{record.path}/{PER_USER_FILE}", replaced
