"""A run's Annoy index: build it over the model's item factors, check it, bench it, query it.

The index is an artifact of the run (``runs/<run>/index/<generation>/index.ann``);
its description (dimension, item count, sha256 ...) is stored in the catalog and
checked before Annoy ever maps the file, because Annoy trusts its input and can
crash on a damaged one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import CorruptArtifactError, InvalidParameterError
from recsys_cli.index import bench_index, build_index, load_index
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.runs.artifacts import BENCH_KIND, INDEX_FILE, INDEX_KIND
from recsys_cli.runs.retrieval import Retrieved, popularity_order, popularity_places, seen_pattern
from recsys_cli.runs.store import open_run, publish_artifact, reopen_for_writing
from recsys_cli.topk import check_k


def _embeddings(context, model) -> np.ndarray:
    items = model.item_embeddings()
    if items is None:
        raise InvalidParameterError(
            f"run '{context.run.name}' ({context.run.model}) has no item embeddings to index",
            "build indexes for als, bpr or hybrid runs; other models use exact retrieval (--retrieval exact)",
        )
    return items


def build_run_index(
    workspace: Workspace, run: str, *, n_trees: int = 50, seed: int = 42, reporter: Reporter = SILENT
) -> dict[str, Any]:
    """Build and register the run's index (replacing an older one); returns its description."""
    import time

    with workspace.reading():
        context = open_run(workspace, run)
        model = context.model()
    items = _embeddings(context, model)
    with workspace.writing(reporter, command=f"index build {run}"):
        fresh = reopen_for_writing(context)

        def write(folder: Path) -> dict[str, Any]:
            started = time.perf_counter()
            info = build_index(items, folder / INDEX_FILE, n_trees=n_trees, seed=seed, reporter=reporter)
            return {
                "index": info.to_json(),
                "build_seconds": round(time.perf_counter() - started, 3),
                "model_sha256": fresh.run.manifest.get("model_sha256"),
            }

        record = publish_artifact(fresh, INDEX_KIND, write)
    return record.meta | {"path": f"{record.path}/{INDEX_FILE}"}


def load_run_index(context, model):
    """The run's index, verified against the file and the model it must serve."""

    record = context.artifact(INDEX_KIND)
    if record is None:
        raise InvalidParameterError(
            f"run '{context.run.name}' has no index", f"build one first: recsys index build {context.run.name}"
        )
    if record.meta.get("model_sha256") != context.run.manifest.get("model_sha256"):
        raise CorruptArtifactError(
            f"the index of run '{context.run.name}' was built for another model",
            f"rebuild it: recsys index build {context.run.name}",
        )
    items = _embeddings(context, model)
    return load_index(
        context.workspace.resolve(record.path) / INDEX_FILE,
        record.meta.get("index", {}),
        expected_dimension=items.shape[1],
        expected_items=items.shape[0],
    )


def default_search_k(context, k: int, mean_seen: float) -> int:
    """search_k for top-``k`` queries that also skip ``mean_seen`` items on average.

    The bench records the smallest search_k reaching its target recall for its own K, without
    seen items; Annoy's own default grows with the number of neighbours asked for, so the bench's
    value is scaled by (k + mean_seen) / bench K. A bench of an older index is ignored, and
    without a bench Annoy's default (-1) is used.
    """
    bench = context.artifact(BENCH_KIND)
    index = context.artifact(INDEX_KIND)
    if bench is None or index is None or bench.meta.get("index_sha256") != index.meta.get("index", {}).get("sha256"):
        return -1
    found, bench_k = bench.meta.get("target_search_k"), bench.meta.get("k")
    if not found or not bench_k:
        return -1
    return int(np.ceil(found * (k + mean_seen) / bench_k))


def annoy_top_k(context, model, users, user_items, k, *, search_k=None, reporter: Reporter = SILENT):
    """Like exact_top_k, through the run's index (approximate; scores recomputed exactly)."""

    seen = seen_pattern(user_items)
    known = model.known_users(user_items)[users]
    if search_k is None:
        search_k = default_search_k(context, k, float(np.diff(seen.indptr)[users].mean()) if users.size else 0.0)
    index = load_run_index(context, model)
    try:
        lists = np.full((users.size, k), -1, dtype=np.int64)
        with reporter.task(f"annoy queries for {users.size:,} users", total=users.size) as task:
            step = 4096
            for start in range(0, users.size, step):
                batch = users[start : start + step]
                lists[start : start + batch.size] = index.query(
                    model.user_embeddings(batch), k, search_k, exclude=seen[batch]
                )
                task.advance(batch.size)
    finally:
        index.close()
    # Users without train history get the popularity fallback, as exact retrieval gives them;
    # having seen nothing, they get the top of the list as it is.
    places = popularity_places(user_items)
    order = popularity_order(user_items)[:k]
    lists[~known] = -1
    lists[np.ix_(~known, np.arange(order.size))] = order
    filled = lists >= 0
    scores = np.full(lists.shape, np.nan, dtype=np.float32)
    rows = np.nonzero(filled)[0]
    scores[filled] = np.einsum("ij,ij->i", model.user_embeddings(users)[rows], model.item_embeddings()[lists[filled]])
    cold = ~known[:, None] & filled
    scores[cold] = places[lists[cold]]
    return Retrieved(lists, scores, int((~known).sum()), int((~filled[:, -1]).sum()), search_k=int(search_k))


def bench_run_index(
    workspace: Workspace,
    run: str,
    *,
    k: int = 100,
    search_ks=None,
    target_recall: float = 0.95,
    n_queries: int = 1000,
    seed: int = 0,
    reporter: Reporter = SILENT,
):
    """Recall@k of the run's index against exact top-k, and queries/s of both; recorded with the run."""

    with workspace.reading():
        context = open_run(workspace, run)
        model = context.model()
        check_k(k, n_items=context.dataset.n_items)
        train = context.part("train").user_items
        index = load_run_index(context, model)
        try:
            users = np.flatnonzero(model.known_users(train))
            result = bench_index(
                index,
                model.user_embeddings(users),
                model.item_embeddings(),
                k=k,
                search_ks=search_ks,
                target_recall=target_recall,
                n_queries=n_queries,
                seed=seed,
                reporter=reporter,
            )
        finally:
            index.close()
    document = result.to_json() | {"index_sha256": index.info.sha256}
    with workspace.writing(reporter, command=f"index bench {run}"):
        publish_artifact(reopen_for_writing(context), BENCH_KIND, lambda folder: document)
    return result
