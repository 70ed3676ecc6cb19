"""The offline demo: everything that exists so far, end to end, on synthetic data.

It needs no download and no input, so a newcomer can see the workbench work
right after installing. It owns the dataset name ``demo`` (its split
``demo-temporal`` and the runs ``demo-<model>``) in the workspace and replaces
them on every run. It grows as later stages (recipes) land.
"""

from __future__ import annotations

from dataclasses import dataclass

from recsys_cli.data.query import QueryResult, run_query
from recsys_cli.data.splits import SplitConfig, SplitResult, make_split
from recsys_cli.data.workspace import Workspace
from recsys_cli.datasets.ingest import IngestResult
from recsys_cli.datasets.synthetic import SyntheticConfig, ingest_synthetic
from recsys_cli.evaluation.run_evaluation import RunEvaluation, evaluate_run
from recsys_cli.evaluation.stages import StageEvaluation, evaluate_stages
from recsys_cli.ranking.lambdarank import RankerParams
from recsys_cli.ranking.training import RankerResult, train_ranker
from recsys_cli.runs.recommend import generate_candidates
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.runs.training import train_candidates

DEMO_DATASET = "demo"
DEMO_SPLIT = "demo-temporal"

TOP_GENRES_SQL = f"""
SELECT genre, count(*) AS train_interactions, round(avg(s.rating), 2) AS mean_rating
FROM "{DEMO_DATASET}".splits s
JOIN "{DEMO_DATASET}".items i USING (item_idx), unnest(i.genres) AS g(genre)
WHERE s.split = '{DEMO_SPLIT}' AND s.part = 'train'
GROUP BY genre ORDER BY train_interactions DESC, genre LIMIT 5
"""


DEMO_MODELS = ("als", "item-knn", "popular")
DEMO_KS = (10, 20)
# the ranker re-ranks the union of ALS's and item-kNN's label-window candidates
DEMO_CANDIDATES = {"als": 100, "item-knn": 50}


@dataclass
class DemoReport:
    dataset: IngestResult
    split: SplitResult
    top_genres: QueryResult
    evaluations: list[RunEvaluation]
    ranker: RankerResult
    stages: StageEvaluation


def run_demo(
    workspace: Workspace,
    *,
    users: int = 2000,
    items: int = 1000,
    interactions: int = 100_000,
    seed: int = 42,
    reporter: Reporter = SILENT,
) -> DemoReport:
    dataset = ingest_synthetic(
        workspace,
        DEMO_DATASET,
        SyntheticConfig(users=users, items=items, interactions=interactions, seed=seed),
        force=True,
        reporter=reporter,
    )
    split = make_split(
        workspace,
        DEMO_DATASET,
        DEMO_SPLIT,
        SplitConfig(strategy="temporal", test_fraction=0.2, val_fraction=0.1),
        force=True,
        reporter=reporter,
    )
    top = run_query(workspace, TOP_GENRES_SQL)
    evaluations = []
    for model in DEMO_MODELS:
        run = f"{DEMO_DATASET}-{model}"
        train_candidates(workspace, DEMO_DATASET, DEMO_SPLIT, model, run, seed=seed, force=True, reporter=reporter)
        evaluations.append(evaluate_run(workspace, run, ks=DEMO_KS, reporter=reporter))
    for model, k in DEMO_CANDIDATES.items():
        generate_candidates(workspace, f"{DEMO_DATASET}-{model}", k=k, part="val", reporter=reporter)
    primary, *others = (f"{DEMO_DATASET}-{model}" for model in DEMO_CANDIDATES)
    ranker = train_ranker(workspace, primary, with_runs=others, params=RankerParams(seed=seed), reporter=reporter)
    stages = evaluate_stages(workspace, primary, ks=DEMO_KS, reporter=reporter)
    return DemoReport(dataset, split, top, evaluations, ranker, stages)
