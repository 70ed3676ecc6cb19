"""`recommend` (one user, with titles and explanations) and `candidates` (every user, to Parquet)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from recsys_cli.data.canonical import ITEMS_FILE
from recsys_cli.data.faults import read_parquet
from recsys_cli.data.split_strategies import COLD_ITEMS
from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import InvalidParameterError
from recsys_cli.models.registry import MODELS, model_class
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.runs.artifacts import CANDIDATES_FILE, candidates_kind
from recsys_cli.runs.indexing import annoy_top_k
from recsys_cli.runs.retrieval import exact_top_k, popularity_order
from recsys_cli.runs.store import (
    ReplacedArtifact,
    open_run,
    publish_artifact,
    reopen_for_writing,
    replaced_artifact,
)
from recsys_cli.topk import check_k
from recsys_cli.vocabulary import EVALUATED_PARTS, RETRIEVALS

# not a K the user chose: capped at the catalogue instead of refused
DEFAULT_CANDIDATES = "default"


@dataclass
class Recommendation:
    user_id: str
    personalised: bool
    fallback_reason: str | None
    history_size: int
    items: list[dict[str, Any]] = field(default_factory=list)
    explained_with: str | None = None  # "items" or "terms": what each entry's "because" names


def _item_details(folder: Path, items: list[int]) -> dict[int, dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.compute as pc

    table = read_parquet(folder / ITEMS_FILE)
    wanted = table.filter(pc.is_in(table.column("item_idx"), value_set=pa.array(items, type=pa.int32())))
    columns = [c for c in ("title", "year", "genres") if c in wanted.column_names]
    out = {}
    for row in wanted.select(["item_idx", *columns]).to_pylist():
        out[row.pop("item_idx")] = row
    return out


def recommend(
    workspace: Workspace,
    run: str,
    user_id: str,
    *,
    k: int = 10,
    explain: bool = False,
    explain_n: int = 3,
    reporter: Reporter = SILENT,
) -> Recommendation:
    """Top-``k`` unseen items for one user (original ids in and out); popularity for unknown users.

    A ``k`` beyond what the catalogue holds unseen gives what there is, with a warning: one user's
    list is read by a person, who is better served by the whole catalogue than by a refusal."""

    with workspace.reading():
        context = open_run(workspace, run)
        requested = check_k(k)
        k = min(requested, context.dataset.n_items)
        if explain and not model_class(context.run.model).explainable:
            raise InvalidParameterError(
                f"model '{context.run.model}' cannot explain its scores",
                f"--explain works for {', '.join(name for name, cls in MODELS.items() if cls.explainable)} runs",
            )
        train = context.part("train").user_items
        model = context.model()
        user_ids = context.vocabulary("user")
        item_ids = context.vocabulary("item")
        matches = np.flatnonzero(user_ids == str(user_id))
        user = int(matches[0]) if matches.size else None
        history = int(train[user].nnz) if user is not None else 0
        if user is not None and model.known_users(train)[user]:
            retrieved = exact_top_k(model, np.array([user]), train, k)
            reason = None
        else:
            order = popularity_order(train)
            if user is not None:
                order = order[~np.isin(order, train[user].indices)]
            retrieved = None
            top = order[:k]
            reason = (
                f"user '{user_id}' is not in dataset '{context.dataset.name}'"
                if user is None
                else f"user '{user_id}' has no interactions in the train part"
            )
        if retrieved is not None:
            top = retrieved.lists[0][retrieved.lists[0] >= 0]
            scores = retrieved.scores[0][: top.size]
        else:
            scores = np.bincount(train.indices, minlength=train.shape[1])[top].astype(np.float64)
        if top.size < requested:
            reporter.warn(
                f"only {top.size:,} items to recommend for k={requested}: the catalogue has "
                f"{context.dataset.n_items:,} items and the user has seen {history:,} of them in train"
            )
        by_terms = model.explains_with == "terms"
        explained = []
        if explain and reason is None:
            explain_items = model.term_contributions if by_terms else model.contributions
            explained = explain_items(user, train, [int(i) for i in top], explain_n)
        past_items = set() if by_terms else {j for b in explained for j, _ in b}
        # one read of items.parquet for the recommended items and the past items behind them
        details = _item_details(context.dataset_folder, sorted({int(i) for i in top} | past_items))
        items = []
        for rank, (item, score) in enumerate(zip(top, scores), start=1):
            entry = {"rank": rank, "item_id": item_ids[item], "score": float(score), **details.get(int(item), {})}
            if explained and by_terms:  # the metadata terms the item shares with the user's profile
                entry["because"] = [{"term": t, "contribution": c} for t, c in explained[rank - 1]]
            elif explained:
                because = explained[rank - 1]
                entry["because"] = [
                    {"item_id": item_ids[j], "title": details.get(j, {}).get("title"), "contribution": c}
                    for j, c in because
                ]
            items.append(entry)
    explained_with = model.explains_with if explain and reason is None else None
    return Recommendation(str(user_id), reason is None, reason, history, items, explained_with)


@dataclass
class CandidatesResult:
    run: str
    path: str
    part: str
    k: int
    retrieval: str
    users: int
    rows: int
    fallback_users: int
    recall: float
    seconds: float
    short_lists: int = 0
    search_k: int | None = None
    replaced: ReplacedArtifact | None = None  # the run's previous candidates for this part, now deleted


def generate_candidates(
    workspace: Workspace,
    run: str,
    *,
    k: int | str = 200,
    part: str = "test",
    retrieval: str = "exact",
    search_k: int | None = None,
    reporter: Reporter = SILENT,
) -> CandidatesResult:
    """Top-``k`` candidates for every user of ``part`` to Parquet beside the run (the ranker's input).

    Also records the pool's recall@k against the part (every interaction relevant): the
    ceiling any ranker over these candidates can reach.
    """
    import time

    _check_candidate_options(part, retrieval, search_k)
    started = time.perf_counter()
    with workspace.reading():
        context = open_run(workspace, run)
        if k == DEFAULT_CANDIDATES:
            k = min(200, context.dataset.n_items)
        k = check_k(k, n_items=context.dataset.n_items)
        train = context.part("train").user_items
        truth = context.part(part, values="ones").user_items
        model = context.model()
        users = _part_users(context, truth, part)
        retrieved = _retrieve(context, model, users, train, k, retrieval, search_k, reporter)
        known = model.known_users(train)[users]
        user_ids, item_ids = _id_arrays(context)
    if context.split.strategy == COLD_ITEMS:  # the candidates serve a ranker over the whole catalogue
        reporter.warn(
            f"split '{context.split.name}' holds out whole items, but candidates rank the whole catalogue: their "
            f"recall@{k} is not comparable with `recsys evaluate`, which ranks only the held-out items"
        )
    filled, row_users, items = _candidate_rows(retrieved.lists, users)
    recall = _candidates_recall(truth, users, filled, row_users, items)
    table = _candidates_table(retrieved, known, filled, row_users, items, user_ids, item_ids)
    meta = {
        "part": part,
        "k": k,
        "retrieval": retrieval,
        "search_k": retrieved.search_k,
        "users": int(users.size),
        "rows": table.num_rows,
        "fallback_users": retrieved.fallback_users,
        f"recall@{k}": recall,
        "short_lists": retrieved.short_lists,
    }
    record, replaced = _publish_candidates(workspace, context, run, part, table, meta, reporter)
    return CandidatesResult(
        run,
        f"{record.path}/{CANDIDATES_FILE}",
        part,
        k,
        retrieval,
        int(users.size),
        table.num_rows,
        retrieved.fallback_users,
        recall,
        time.perf_counter() - started,
        retrieved.short_lists,
        retrieved.search_k,
        replaced,
    )


# -- the steps of generate_candidates ------------------------------------------------------------


def _check_candidate_options(part: str, retrieval: str, search_k: int | None) -> None:
    if part not in EVALUATED_PARTS:
        raise InvalidParameterError(f"unknown part '{part}'", f"use one of {', '.join(EVALUATED_PARTS)}")
    if retrieval not in RETRIEVALS:
        raise InvalidParameterError(f"unknown retrieval '{retrieval}'", f"use one of {', '.join(RETRIEVALS)}")
    if search_k is not None and retrieval != "annoy":
        raise InvalidParameterError(
            "--search-k applies to --retrieval annoy only", "drop --search-k, or add --retrieval annoy"
        )


def _part_users(context, truth, part: str) -> np.ndarray:
    """The users with interactions in the part; an error when there are none."""
    users = np.flatnonzero(np.diff(truth.indptr))
    if users.size == 0:
        raise InvalidParameterError(
            f"the {part} part of split '{context.split.name}' has no users", "choose the other part with --on"
        )
    return users


def _retrieve(context, model, users, train, k: int, retrieval: str, search_k: int | None, reporter: Reporter):
    """Top-``k`` lists for ``users``, from the run's Annoy index or by exact scoring."""
    if retrieval == "annoy":
        return annoy_top_k(context, model, users, train, k, search_k=search_k, reporter=reporter)
    return exact_top_k(model, users, train, k, reporter=reporter, label=f"candidates for {users.size:,} users")


def _id_arrays(context):
    """The run's original user and item ids as Arrow string arrays, indexed by user_idx and item_idx."""
    import pyarrow as pa

    user_ids = pa.array(context.vocabulary("user"), type=pa.string())
    item_ids = pa.array(context.vocabulary("item"), type=pa.string())
    return user_ids, item_ids


def _candidate_rows(lists: np.ndarray, users: np.ndarray):
    """(which list places hold an item, each candidate's user, each candidate's item), in list order."""
    filled = lists >= 0
    row_users = np.repeat(users, filled.sum(axis=1))
    items = lists[filled]
    return filled, row_users, items


def _candidates_recall(truth, users: np.ndarray, filled: np.ndarray, row_users: np.ndarray, items: np.ndarray):
    """Mean over the part's users of the share of their interactions among their candidates."""
    hits = np.asarray(truth[row_users, items]).ravel() > 0
    per_user_hits = np.bincount(
        np.repeat(np.arange(users.size), filled.sum(axis=1)), weights=hits, minlength=users.size
    )
    return float(np.mean(per_user_hits / np.diff(truth.indptr)[users]))


def _candidates_table(retrieved, known, filled, row_users, items, user_ids, item_ids):
    import pyarrow as pa

    return pa.table(
        {
            "user_idx": pa.array(row_users.astype(np.int32)),
            "user_id": user_ids.take(pa.array(row_users)),
            "item_idx": pa.array(items.astype(np.int32)),
            "item_id": item_ids.take(pa.array(items)),
            "score": pa.array(retrieved.scores[filled].astype(np.float32)),
            "rank": pa.array((np.nonzero(filled)[1] + 1).astype(np.int32)),
            # the user has no train history: the row is a popularity pick and its score a popularity place
            "fallback": pa.array(np.repeat(~known, filled.sum(axis=1))),
        }
    )


def _publish_candidates(
    workspace: Workspace, context, run: str, part: str, table, meta: dict[str, Any], reporter: Reporter
):
    """Write the candidates beside the run as its ``candidates-<part>`` artifact; returns the artifact's
    record and the previous candidates it replaced."""
    import pyarrow.parquet as pq

    def write(folder: Path) -> dict[str, Any]:
        pq.write_table(table, folder / CANDIDATES_FILE, compression="zstd")
        return meta

    with workspace.writing(reporter, command=f"candidates {run}"):
        fresh = reopen_for_writing(context)
        replaced = replaced_artifact(fresh, candidates_kind(part), CANDIDATES_FILE, candidates_options)
        return publish_artifact(fresh, candidates_kind(part), write), replaced


def candidates_options(meta: dict[str, Any]) -> str:
    """The options candidates were made with, from their record (for the message that replaces them)."""
    search_k = f", search_k {meta['search_k']}" if meta.get("search_k") is not None else ""
    return f"k {meta.get('k', '?')}, retrieval {meta.get('retrieval', '?')}{search_k}"
