"""`recsys evaluate RUN`: full-ranking evaluation of a run on its split, with the protocol beside it.

Every user of the evaluated part with at least one relevant item is scored
against every item of the dataset; the items the user saw in training are
excluded (DESIGN.md). The per-user values go to Parquet beside the run, so two
runs on the same split can be compared with a paired test.

On a cold-items split the candidate pool is the part's held-out items instead (items with
interactions in the part and none in train): every other item is excluded before top-K, and
coverage is over the pool (docs/metrics.md, "Cold-start protocols"). A cold-users split needs no rule
of its own (only its held-out users have rows in the part, each ranked over every item but the N given
ones train holds); the protocol names it and N.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from recsys_cli.data.matrices import interaction_ratings
from recsys_cli.data.split_strategies import COLD_ITEMS, COLD_USERS
from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import InvalidParameterError
from recsys_cli.evaluation.metrics import evaluate_lists, history_shares
from recsys_cli.evaluation.rating_errors import rating_errors
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.runs.artifacts import METRICS_FILE, PER_USER_FILE, evaluation_kind
from recsys_cli.runs.breakdown import breakdown, check_breakdown, read_item_genres
from recsys_cli.runs.retrieval import exact_top_k
from recsys_cli.runs.store import (
    ReplacedArtifact,
    open_run,
    publish_artifact,
    reopen_for_writing,
    replaced_artifact,
)
from recsys_cli.topk import check_ks
from recsys_cli.vocabulary import DEFAULT_KS, EVALUATED_PARTS


@dataclass
class RunEvaluation:
    run: str
    protocol: dict[str, Any]
    metrics: dict[str, float]
    per_user_path: str | None = None
    replaced: ReplacedArtifact | None = None  # the previous evaluation of the run on this part, now deleted
    # with ``by``: the beyond-accuracy metrics and the breakdown (never saved: metrics.json stays as without)
    beyond: dict[str, float | None] | None = None
    breakdown: dict[str, Any] | None = None

    def document(self) -> dict[str, Any]:
        document = {"run": self.run, "protocol": self.protocol, "metrics": self.metrics, "per_user": self.per_user_path}
        if self.breakdown is not None:
            document["beyond_accuracy"] = self.beyond
            document["breakdown"] = self.breakdown
        return document


def evaluate_run(
    workspace: Workspace,
    run: str,
    *,
    ks=DEFAULT_KS,
    part: str = "test",
    relevant_min_rating: float | None = None,
    cold_start: str = "popular",
    save: bool = True,
    by: str | None = None,
    reporter: Reporter = SILENT,
) -> RunEvaluation:
    """Evaluate ``run`` on ``part`` of its split; saves per-user values and metrics unless ``save=False``.

    ``by`` (one of BREAKDOWNS) adds the beyond-accuracy metrics and every metric per bucket to the
    result; what is saved is the same as without it."""
    check_breakdown(by)
    if part not in EVALUATED_PARTS:
        raise InvalidParameterError(f"cannot evaluate on '{part}'", f"use one of {', '.join(EVALUATED_PARTS)}")
    if relevant_min_rating is not None and not np.isfinite(relevant_min_rating):
        raise InvalidParameterError("--relevant-min-rating must be a number")
    with workspace.reading():
        context = open_run(workspace, run)
        ks = check_ks(ks, "k", n_items=context.dataset.n_items)
        train = context.part("train")
        truth, in_part, pool = _part_truth(context, part, relevant_min_rating)
        model = context.model()
        rated = interaction_ratings(context.split_folder / f"{part}.parquet") if model.predicts_ratings else None
        user_ids = context.vocabulary("user")
        item_genres, genre_names = read_item_genres(context, by) if by is not None else (None, [])
    _check_relevant(truth, context, part, relevant_min_rating)
    user_items = train.user_items
    if pool is not None:
        pool &= np.diff(user_items.tocsc().indptr) == 0  # held out: no train interaction
        if ks[-1] > pool.sum():
            reporter.warn(f"the candidate pool holds {int(pool.sum()):,} items, fewer than k={ks[-1]}: lists are short")
    users, lists, retrieved = _full_ranking(model, truth, user_items, ks, cold_start, reporter, pool)
    # Coverage is over the candidate pool (every item of the dataset, or the held-out items of a
    # cold-items split): the lists can and do hold items without train interactions, so a
    # train-items denominator let coverage exceed 1.
    n_catalog_items = int(user_items.shape[1]) if pool is None else int(pool.sum())
    popularity = history_shares(user_items)
    result = evaluate_lists(lists, truth, ks, n_catalog_items=n_catalog_items, item_popularity=popularity)
    protocol = _protocol(
        context,
        run,
        part,
        ks,
        relevant_min_rating,
        cold_start,
        result=result,
        in_part=in_part,
        retrieved=retrieved,
        model=model,
        user_items=user_items,
        users=users,
        n_catalog_items=n_catalog_items,
        pool=pool,
    )
    metrics = result.metrics
    if rated is not None:  # a rating model: its errors on every rating of the part (docs/metrics.md)
        errors, protocol["rating_errors"], protocol["rated"] = _rating_errors(model, rated, user_items, part)
        metrics = {**metrics, **errors}
    evaluation = RunEvaluation(run, protocol, metrics)
    if by is not None:
        evaluation.beyond, evaluation.breakdown = breakdown(
            by,
            lists=lists,
            truth=truth,
            users=result.per_user["user"],
            ks=ks,
            user_items=user_items,
            n_catalog_items=n_catalog_items,
            item_popularity=popularity,
            item_genres=item_genres,
            genre_names=genre_names,
        )
    if save:
        evaluation.per_user_path, evaluation.replaced = _save(
            workspace, context, part, evaluation, result, user_ids, reporter
        )
    return evaluation


def evaluation_options(meta: dict[str, Any]) -> str:
    """The options an evaluation was made with, from its record (for the message that replaces it)."""
    protocol = meta.get("protocol", {})
    options = [f"k {','.join(str(k) for k in protocol.get('ks', []))}", f"relevant: {protocol.get('relevance')}"]
    if "cold_start" in protocol:  # a two-stage evaluation has one rule for every source
        options.append(f"cold start: {protocol['cold_start']}")
    return "; ".join(options)


# -- the steps of evaluate_run -------------------------------------------------------------------


def _part_truth(context, part: str, relevant_min_rating: float | None):
    """(the relevant items of the part's users, which users have any interaction in the part, and on a
    cold-items split which items have any: the pool, before the caller drops those seen in train)."""
    # Relevance is decided row by row on the part itself, whatever values the model trained on.
    everything = context.part(part, values="ones").user_items
    truth = (
        everything
        if relevant_min_rating is None
        else context.part(part, values="ones", min_rating=relevant_min_rating).user_items
    )
    in_part = np.diff(everything.indptr) > 0
    items = None
    if context.split.strategy == COLD_ITEMS:
        items = np.bincount(everything.indices, minlength=everything.shape[1]) > 0
    return truth, in_part, items


def _check_relevant(truth, context, part: str, relevant_min_rating: float | None) -> None:
    if truth.nnz == 0:
        rule = f"rating >= {relevant_min_rating}" if relevant_min_rating is not None else "any interaction"
        raise InvalidParameterError(
            f"the {part} part of split '{context.split.name}' has no relevant interactions ({rule})",
            "lower --relevant-min-rating, evaluate the other part (--on), or make a split with a "
            f"non-empty {part} part",
        )


def _full_ranking(model, truth, user_items, ks, cold_start: str, reporter: Reporter, pool=None):
    """Top-K over every item (or the ``pool``'s) for each user with a relevant item: (those users, lists for
    every truth row, retrieved)."""
    users = np.flatnonzero(np.diff(truth.indptr))
    retrieved = exact_top_k(
        model,
        users,
        user_items,
        ks[-1],
        cold_start=cold_start,
        reporter=reporter,
        label=f"ranking {len(users):,} users",
        pool=pool,
    )
    lists = np.full((truth.shape[0], ks[-1]), -1, dtype=np.int64)
    lists[users] = retrieved.lists
    return users, lists, retrieved


def _protocol(
    context,
    run: str,
    part: str,
    ks,
    relevant_min_rating: float | None,
    cold_start: str,
    *,
    result,
    in_part,
    retrieved,
    model,
    user_items,
    users,
    n_catalog_items: int,
    pool=None,
) -> dict[str, Any]:
    """What was evaluated and how: the evaluation's protocol, shown above its metrics and saved with them."""
    protocol = {
        "run": run,
        "model": context.run.model,
        "params": context.run.params,
        "dataset": context.dataset.name,
        "split": context.split.name,
        "split_strategy": context.split.strategy,
        "split_params": context.split.params,
        "evaluated_part": part,
        "relevance": (
            f"every {part} interaction"
            if relevant_min_rating is None
            else f"{part} interactions with rating >= {relevant_min_rating:g}"
        ),
        "candidate_pool": f"all {context.dataset.n_items:,} items, minus each user's train items (full ranking)",
        "ks": list(ks),
        "users_evaluated": result.n_users,
        "users_in_part": int(in_part.sum()),
        "cold_start_users": retrieved.fallback_users
        if cold_start == "popular"
        else int((~model.known_users(user_items)[users]).sum()),
        "cold_start": "most popular train items" if cold_start == "popular" else "no predictions (scores 0)",
        "coverage_denominator": f"all {n_catalog_items:,} items of the dataset (the candidate pool)",
        "novelty": "mean -log2(share of train users who saw the item); shares floored at 1/train users",
    }
    if pool is not None:
        protocol["candidate_pool"] = (
            f"the {n_catalog_items:,} held-out items of the {part} part (interactions in {part}, none in train); "
            "every other item is excluded (cold-items)"
        )
        protocol["candidate_pool_items"] = n_catalog_items
        protocol["coverage_denominator"] = f"the {n_catalog_items:,} items of the candidate pool"
    if context.split.strategy == COLD_USERS:
        given = context.split.params["given"]
        protocol["cold_users"] = (
            f"cold-users split, given {given}: the {part} users are new users, held out of train but for their "
            f"first {given} interactions by time; each is ranked over every item minus those {given}"
        )
    return protocol


def _rating_errors(model, rated, user_items, part: str) -> tuple[dict[str, float], str, dict[str, int]]:
    """RMSE and MAE of a rating model's predictions of every rating of the part, how they were measured,
    and what was measured (users and items without train ratings are predicted too, as surprise does)."""
    users, items, actual = rated
    errors = rating_errors(model.predict_ratings(users, items, user_items), actual)
    low, high = model.rating_scale
    no_user = np.diff(user_items.indptr) == 0
    no_item = np.diff(user_items.tocsc().indptr) == 0
    rule = (
        f"rmse and mae over every {part} rating, one per row (not per user first), whatever --relevant-min-rating; "
        f"predictions clipped to the train ratings' range [{low:g}, {high:g}]; a user or item without train "
        "ratings is predicted without its bias and factors, as surprise does"
    )
    counts = {
        "ratings": int(actual.size),
        "of_users_without_train": int(no_user[users].sum()),
        "of_items_without_train": int(no_item[items].sum()),
    }
    return errors, rule, counts


def _save(workspace, context, part, evaluation, result, user_ids, reporter) -> tuple[str, ReplacedArtifact | None]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = result.to_arrow()
    ids = user_ids[table.column("user").to_numpy()].tolist()
    table = table.add_column(1, "user_id", pa.array(ids, type=pa.string()))

    def write(folder: Path) -> dict[str, Any]:
        pq.write_table(table, folder / PER_USER_FILE, compression="zstd")
        (folder / METRICS_FILE).write_text(
            json.dumps({"protocol": evaluation.protocol, "metrics": evaluation.metrics}, indent=2, sort_keys=True)
            + "\n"
        )
        return {"protocol": evaluation.protocol, "metrics": evaluation.metrics}

    with workspace.writing(reporter, command=f"evaluate {context.run.name}"):
        fresh = reopen_for_writing(context)
        replaced = replaced_artifact(fresh, evaluation_kind(part), PER_USER_FILE, evaluation_options)
        record = publish_artifact(fresh, evaluation_kind(part), write)
    return f"{record.path}/{PER_USER_FILE}", replaced
