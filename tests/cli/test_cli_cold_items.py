"""New items from the shell: `split --strategy cold-items`, `train --model random|hybrid`, and `evaluate`
ranking only the held-out items (docs/metrics.md, "Cold-start protocols"), checked against a plain
reference implementation; the ranker refused on such a split, hybrid refused without item metadata, and
held-out items without metadata warned about at split time."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_cli.data.workspace import Workspace
from recsys_cli.models.random_scores import random_scores
from recsys_cli.runs.store import open_run
from tests.support import assert_refused, build_template, copy_workspace, invoke_json, run_json

SEED = 5  # the random run's seed


def build(root):
    invoke_json(root, "ingest", "synthetic", "--name", "syn", "--users", 150, "--items", 90, "--interactions", 3000)
    split = invoke_json(
        root, "split", "syn", "--name", "cold", "--strategy", "cold-items", "--test-fraction", "0.25",
        "--val-fraction", "0.1", "--seed", "3",
    )  # fmt: skip
    invoke_json(root, "train", "candidates", "syn", "--split", "cold", "--model", "random", "--run", "rnd",
                "--seed", SEED)  # fmt: skip
    invoke_json(root, "train", "candidates", "syn", "--split", "cold", "--model", "hybrid", "--run", "hyb",
                "-p", "factors=8")  # fmt: skip
    return split


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The workspace above, built once; each test copies it to its own ``workspace_dir``."""
    return build_template(tmp_path_factory, "cold-items", build)


@pytest.fixture
def built(template, workspace_dir):
    root, split = template
    return copy_workspace(root, workspace_dir), split


def parts(root, run: str):
    ws = Workspace(root)
    with ws.reading():
        context = open_run(ws, run)
        return {p: context.part(p, values="ones").user_items for p in ("train", "val", "test")}


def reference(scores, train, truth, pool, k: int):
    """Plain per-user ndcg@k and recall@k: rank only pool items (score desc, item asc), never train items."""
    ndcg, recall = [], []
    for user in np.flatnonzero(np.diff(truth.indptr)):
        relevant = set(truth[user].indices.tolist())
        seen = set(train[user].indices.tolist())
        eligible = [i for i in range(scores.shape[1]) if pool[i] and i not in seen]
        ranked = sorted(eligible, key=lambda i: (-scores[user, i], i))[:k]
        gains = [1 / np.log2(r + 2) for r, i in enumerate(ranked) if i in relevant]
        ideal = sum(1 / np.log2(r + 2) for r in range(min(k, len(relevant))))
        ndcg.append(sum(gains) / ideal)
        recall.append(len(gains) / len(relevant))
    return float(np.mean(ndcg)), float(np.mean(recall))


def test_held_out_items_have_every_interaction_in_their_part(built):
    root, split = built
    summary = split["summary"]
    m = parts(root, "rnd")
    in_part = {p: np.diff(matrix.tocsc().indptr) > 0 for p, matrix in m.items()}
    assert not (in_part["test"] & in_part["train"]).any() and not (in_part["val"] & in_part["train"]).any()
    assert not (in_part["test"] & in_part["val"]).any()
    assert summary["held_out_items"] == {"test": int(in_part["test"].sum()), "val": int(in_part["val"].sum())}
    items = summary["items_with_interactions"]
    assert summary["held_out_items"]["test"] == int(np.floor(0.25 * items + 0.5))
    assert summary["held_out_without_metadata"] == {"test": 0, "val": 0}  # synthetic items all have metadata


def test_evaluation_ranks_only_the_held_out_items(cli, built):
    root, _ = built
    m = parts(root, "rnd")
    for part in ("test", "val"):
        pool = (np.diff(m[part].tocsc().indptr) > 0) & (np.diff(m["train"].tocsc().indptr) == 0)
        doc = run_json(cli, "evaluate", "rnd", "--k", "5,10", "--on", part)
        protocol = doc["protocol"]
        assert protocol["candidate_pool_items"] == int(pool.sum())
        assert protocol["candidate_pool"].startswith(f"the {int(pool.sum())} held-out items of the {part} part")
        assert "every other item is excluded" in protocol["candidate_pool"]
        assert protocol["coverage_denominator"] == f"the {int(pool.sum())} items of the candidate pool"
        scores = random_scores(SEED, np.arange(m["train"].shape[0]), m["train"].shape[1])
        ndcg, recall = reference(scores, m["train"], m[part], pool, 10)
        assert abs(doc["metrics"]["ndcg@10"] - ndcg) < 1e-12
        assert abs(doc["metrics"]["recall@10"] - recall) < 1e-12
        assert doc["metrics"]["coverage@10"] <= 1.0


def test_hybrid_trains_and_evaluates_on_the_pool(cli, built):
    root, _ = built
    doc = run_json(cli, "evaluate", "hyb", "--k", "10")
    assert doc["protocol"]["model"] == "hybrid" and "held-out items" in doc["protocol"]["candidate_pool"]
    assert 0 < doc["metrics"]["ndcg@10"] <= 1


def test_candidates_on_a_cold_items_split_say_their_recall_is_not_the_evaluations(cli, built):
    result = cli("candidates", "hyb", "--k", "20")
    assert result.exit_code == 0, result.stderr
    assert "candidates rank the whole catalogue: their recall@20 is not comparable with `recsys evaluate`" in (
        " ".join(result.stderr.split())
    )


def test_the_ranker_is_refused_on_a_cold_items_split(cli, built):
    root, _ = built
    assert_refused(
        cli,
        root,
        ["train", "ranker", "hyb"],
        ["split 'cold' is cold-items", "ranker.enabled = false"],
    )


def test_a_recipe_with_the_ranker_on_cold_items_is_refused(cli, tmp_path):
    recipe = tmp_path / "cold.toml"
    recipe.write_text(
        '[dataset]\nname = "syn"\nsynthetic = true\nusers = 50\nitems = 40\ninteractions = 600\n\n'
        '[split]\nname = "cold"\nstrategy = "cold-items"\nval_fraction = 0.1\n\n'
        '[[candidates]]\nrun = "h"\nmodel = "hybrid"\n'
    )
    result = cli("run", recipe)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "the ranker cannot run on a cold-items split" in line and "set ranker.enabled = false" in line
    assert not (tmp_path / "ws").exists()
    recipe.write_text(recipe.read_text() + "\n[ranker]\nenabled = false\n")
    assert cli("run", recipe, "--dry-run").exit_code == 0


def test_without_item_metadata_hybrid_is_refused_and_the_split_warns(cli, workspace_dir, tmp_path):
    csv = tmp_path / "plain.csv"
    csv.write_text("user,item\n" + "".join(f"u{u},i{(u * 7 + j) % 30}\n" for u in range(40) for j in range(6)))
    invoke_json(workspace_dir, "ingest", "csv", csv, "--name", "bare", "--user-col", "user", "--item-col", "item")
    result = cli("split", "bare", "--name", "c", "--strategy", "cold-items", "--format", "json")
    assert result.exit_code == 0, result.stderr
    # 30 items, 20% held out: 6, none of which the dataset describes (a CSV ingest has no metadata)
    assert "warning: 6 of the 6 held-out test items have no metadata" in result.stderr
    assert "test: 6 of 30 items held out" in result.stderr
    assert_refused(
        cli,
        workspace_dir,
        ["train", "candidates", "bare", "--split", "c", "--model", "hybrid", "--run", "h"],
        ["dataset 'bare' has no item metadata for model 'hybrid'", "item-knn"],
    )
    run_json(cli, "train", "candidates", "bare", "--split", "c", "--model", "random", "--run", "r")
