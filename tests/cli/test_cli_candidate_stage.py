"""`train candidates`, `evaluate`, `runs`, `recommend` and `candidates` end to end on synthetic data.

One workspace is built per module (a synthetic dataset, a random-per-user split with a
validation part, a temporal split with cold-start users, the five models trained and
evaluated on the first) and copied for every test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support import assert_refused, build_template, copy_workspace, invoke_json, run_json

MODELS = ("als", "bpr", "item-knn", "ease", "popular")
METRIC_NAMES = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate", "coverage", "novelty")
PER_USER = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")


def train_and_evaluate(root: Path) -> dict:
    """The module's workspace; returns the five evaluations on split 's' by model."""
    invoke_json(
        root, "ingest", "synthetic", "--name", "syn", "--users", "300", "--items", "200", "--interactions", "6000"
    )
    invoke_json(
        root,
        "split",
        "syn",
        "--name",
        "s",
        "--strategy",
        "random-per-user",
        "--test-fraction",
        "0.25",
        "--val-fraction",
        "0.1",
    )
    invoke_json(root, "split", "syn", "--name", "t", "--strategy", "temporal", "--test-fraction", "0.2")
    evaluations = {}
    for model in MODELS:
        invoke_json(root, "train", "candidates", "syn", "--split", "s", "--model", model, "--run", model)
        evaluations[model] = invoke_json(root, "evaluate", model)
    invoke_json(root, "train", "candidates", "syn", "--split", "t", "--model", "als", "--run", "als-t")
    return evaluations


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The shared workspace and the five evaluations on split 's' (read-only: tests copy it)."""
    return build_template(tmp_path_factory, "candidates-template", train_and_evaluate)


@pytest.fixture
def ws(template, workspace_dir) -> Path:
    return copy_workspace(template[0], workspace_dir)


@pytest.fixture
def evaluations(template) -> dict:
    return template[1]


# -- helpers reading the workspace directly ---------------------------------------------------------
def records(ws: Path):
    from recsys_cli.data.workspace import Workspace

    workspace = Workspace(ws)
    with workspace.catalog() as catalog:
        return workspace, catalog.dataset("syn"), {s: catalog.split("syn", s) for s in ("s", "t")}


def vocab(ws: Path, kind: str) -> np.ndarray:
    workspace, dataset, _ = records(ws)
    table = pq.read_table(workspace.resolve(dataset.path) / "vocab" / f"{kind}s.parquet")
    ids = np.empty(table.num_rows, dtype=object)
    ids[table.column(f"{kind}_idx").to_numpy()] = table.column(f"{kind}_id").to_pylist()
    return ids


def part(ws: Path, split: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    workspace, _, splits = records(ws)
    table = pq.read_table(workspace.resolve(splits[split].path) / f"{name}.parquet", columns=["user_idx", "item_idx"])
    return table.column("user_idx").to_numpy(), table.column("item_idx").to_numpy()


def seen_in_train(ws: Path, split: str = "s") -> dict[int, set[int]]:
    users, items = part(ws, split, "train")
    seen: dict[int, set[int]] = {}
    for user, item in zip(users.tolist(), items.tolist()):
        seen.setdefault(user, set()).add(item)
    return seen


def popularity_order(ws: Path, split: str = "s") -> np.ndarray:
    _, dataset, _ = records(ws)
    pairs = np.unique(np.stack(part(ws, split, "train")), axis=1)
    counts = np.bincount(pairs[1], minlength=dataset.n_items)
    return np.lexsort((np.arange(counts.size), -counts))


def generation(ws: Path, run: str) -> Path:
    workspace = records(ws)[0]
    with workspace.catalog() as catalog:
        return workspace.resolve(catalog.run(run).path)


# -- evaluate --------------------------------------------------------------------------------------
def test_evaluation_documents(template, evaluations):
    root = template[0]
    for model, doc in evaluations.items():
        assert set(doc) == {"run", "protocol", "metrics", "per_user"} and doc["run"] == model
        metrics = doc["metrics"]
        assert set(metrics) == {f"{name}@{k}" for name in METRIC_NAMES for k in (10, 20, 100)}
        for key, value in metrics.items():
            assert np.isfinite(value), key
            if key.startswith("novelty"):
                assert value > 0
            else:  # every other metric is a share
                assert 0.0 <= value <= 1.0, (model, key, value)
        protocol = doc["protocol"]
        assert protocol["model"] == model and protocol["dataset"] == "syn" and protocol["split"] == "s"
        assert protocol["evaluated_part"] == "test" and protocol["ks"] == [10, 20, 100]
        assert protocol["users_evaluated"] == protocol["users_in_part"] == 300
        assert protocol["cold_start_users"] == 0
        per_user = root / doc["per_user"]
        assert per_user.is_file() and per_user.is_relative_to(root / "runs" / model / "evaluation-test")
        table = pq.read_table(per_user)
        assert table.num_rows == protocol["users_evaluated"]
        assert "user_id" in table.column_names and "coverage@10" not in table.column_names
        for name in PER_USER:
            for k in (10, 20, 100):
                column = table.column(f"{name}@{k}").to_numpy()
                assert column.mean() == pytest.approx(metrics[f"{name}@{k}"], rel=1e-12, abs=1e-12)
        stored = json.loads((per_user.parent / "metrics.json").read_text())
        assert stored["metrics"] == metrics and stored["protocol"] == protocol


def test_als_beats_popularity_on_structured_data(evaluations):
    ndcg = {model: doc["metrics"]["ndcg@10"] for model, doc in evaluations.items()}
    assert ndcg["als"] > ndcg["popular"] + 0.05, ndcg
    assert ndcg["ease"] > ndcg["popular"], ndcg


def test_other_ks_and_the_validation_part(cli, ws, evaluations):
    doc = run_json(cli, "evaluate", "als", "--k", "10,5")
    assert set(doc["metrics"]) == {f"{name}@{k}" for name in METRIC_NAMES for k in (5, 10)}
    assert doc["protocol"]["ks"] == [5, 10]
    # the same lists: the @10 values do not depend on the other K's
    assert doc["metrics"]["ndcg@10"] == evaluations["als"]["metrics"]["ndcg@10"]
    val = run_json(cli, "evaluate", "als", "--on", "val", "--k", "10")
    assert val["protocol"]["evaluated_part"] == "val" and "evaluation-val" in val["per_user"]
    users, _ = part(ws, "s", "val")
    assert val["protocol"]["users_evaluated"] == np.unique(users).size < 300
    assert val["metrics"]["ndcg@10"] != doc["metrics"]["ndcg@10"]
    shown = run_json(cli, "runs", "show", "als")
    assert set(shown["evaluations"]) == {"test", "val"}
    assert shown["evaluations"]["test"]["metrics"] == doc["metrics"]  # the last test evaluation wins
    assert sorted(shown["artifacts"]) == ["evaluation-test", "evaluation-val"]


def test_same_seed_same_metrics_and_retraining_drops_what_was_built(cli, ws, evaluations):
    old = generation(ws, "als")
    old_manifest = json.loads((old / "manifest.json").read_text())
    old_evaluation = (ws / evaluations["als"]["per_user"]).parent
    result = cli(
        "train", "candidates", "syn", "--split", "s", "--model", "als", "--run", "als", "--force", "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    assert "replaced the existing run 'als'" in result.stderr
    assert "dropped what was built from the old model: evaluation-test" in result.stderr
    new = generation(ws, "als")
    assert new != old and not old.exists() and not old_evaluation.exists()
    new_manifest = json.loads((new / "manifest.json").read_text())
    assert new_manifest["model_sha256"] == old_manifest["model_sha256"] and new_manifest["seed"] == 42
    listed = {row["run"]: row for row in run_json(cli, "runs", "list")}
    assert listed["als"]["ndcg@10"] is None and listed["als"]["artifacts"] == []
    again = run_json(cli, "evaluate", "als")
    assert again["metrics"] == evaluations["als"]["metrics"]


def test_runs_list_and_show(cli, ws, evaluations):
    listed = run_json(cli, "runs", "list")
    assert len(listed) == 6
    by_name = {row["run"]: row for row in listed}
    assert set(by_name) == {*MODELS, "als-t"}
    for model in MODELS:
        assert by_name[model]["ndcg@10"] == evaluations[model]["metrics"]["ndcg@10"]
        assert by_name[model]["model"] == model and by_name[model]["split"] == "s"
    assert by_name["als-t"]["ndcg@10"] is None and by_name["als-t"]["split"] == "t"
    table = cli("runs", "list", "--format", "table")
    assert table.exit_code == 0 and "ndcg@10 (test)" in table.stdout and "als-t" in table.stdout
    assert f"{evaluations['als']['metrics']['ndcg@10']:.4f}"[:5] in table.stdout
    shown = run_json(cli, "runs", "show", "ease")
    assert shown["model"] == "ease"
    assert shown["params"] == {"max_items": None, "memory_fraction": 0.5, "regularization": 500.0}
    assert shown["manifest"]["seed"] == 42 and shown["manifest"]["n_train_interactions"] > 0
    assert shown["evaluations"]["test"]["metrics"] == evaluations["ease"]["metrics"]
    text = cli("runs", "show", "ease", "--format", "table")
    assert text.exit_code == 0 and "evaluation on test" in text.stdout and "model_sha256" in text.stdout


def test_runs_compare(cli, ws, evaluations):
    doc = run_json(cli, "runs", "compare", "als", "popular", "ease", "--k", "all")
    assert list(doc["runs"]) == ["als", "popular", "ease"] and doc["part"] == "test"
    for run, entry in doc["runs"].items():
        assert entry["metrics"] == evaluations[run]["metrics"]
    # by default only the smallest K, so the table stays readable
    default = run_json(cli, "runs", "compare", "als", "popular")
    assert set(default["runs"]["als"]["metrics"]) == {f"{name}@10" for name in METRIC_NAMES}
    single = cli("runs", "compare", "als")
    assert single.exit_code == 2 and "two or more runs" in single.stderr
    only10 = run_json(cli, "runs", "compare", "als", "popular", "--k", "10")
    assert set(only10["runs"]["als"]["metrics"]) == {f"{name}@10" for name in METRIC_NAMES}
    table = cli("runs", "compare", "als", "popular", "--k", "10", "--format", "table")
    assert table.exit_code == 0 and table.stderr == ""
    assert "│ als " in table.stdout and "│ popular " in table.stdout and "ndcg@10" in table.stdout
    assert f"{evaluations['popular']['metrics']['ndcg@10']:.4f}".rstrip("0") in table.stdout
    # a run on another split: one table, and a warning that the protocols differ
    run_json(cli, "evaluate", "als-t")
    result = cli("runs", "compare", "als", "als-t", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert set(json.loads(result.stdout)["runs"]) == {"als", "als-t"}
    assert "warning: runs differ in split (s, t)" in result.stderr
    assert "not directly comparable" in result.stderr


def test_runs_remove(cli, ws):
    folder = generation(ws, "als")
    doc = run_json(cli, "runs", "remove", "als")
    assert doc["removed"] == "als" and doc["artifacts"] == ["evaluation-test"]
    assert not folder.exists() and not (ws / "runs" / "als").exists()
    workspace = records(ws)[0]
    with workspace.catalog() as catalog:
        assert catalog.run("als") is None and catalog.artifacts("als") == []
    assert "als" not in {row["run"] for row in run_json(cli, "runs", "list")}
    assert (ws / "runs" / "popular").is_dir()
    assert_refused(cli, ws, ["runs", "remove", "als"], ["unknown run 'als'", "did you mean 'als-t'?"])


def test_resplitting_drops_the_runs_on_the_split(cli, ws):
    result = cli(
        "split",
        "syn",
        "--name",
        "s",
        "--strategy",
        "random-per-user",
        "--test-fraction",
        "0.3",
        "--force",
        "--replace",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert "dropped the runs trained on the old split: " in result.stderr
    for model in MODELS:
        assert model in result.stderr
        assert not (ws / "runs" / model).exists()
    assert [row["run"] for row in run_json(cli, "runs", "list")] == ["als-t"]


# -- recommend ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["als", "popular"])
def test_recommend_for_a_known_user(cli, ws, model):
    users, items = vocab(ws, "user"), vocab(ws, "item")
    seen = seen_in_train(ws)
    user = 7
    doc = run_json(cli, "recommend", model, "--user", users[user], "-k", "10")
    assert doc["personalised"] is True and doc["fallback_reason"] is None
    assert doc["user_id"] == users[user] and doc["history_size"] == len(seen[user])
    assert [entry["rank"] for entry in doc["items"]] == list(range(1, 11))
    recommended = [entry["item_id"] for entry in doc["items"]]
    assert len(set(recommended)) == 10
    assert not set(recommended) & {items[i] for i in seen[user]}
    scores = [entry["score"] for entry in doc["items"]]
    assert scores == sorted(scores, reverse=True)
    for entry in doc["items"]:
        assert isinstance(entry["title"], str) and entry["title"]
        assert isinstance(entry["genres"], list) and entry["genres"]
    if model == "popular":
        expected = [items[i] for i in popularity_order(ws) if i not in seen[user]][:10]
        assert recommended == expected
    table = cli("recommend", model, "--user", users[user], "-k", "3", "--format", "table")
    assert table.exit_code == 0 and doc["items"][0]["title"] in table.stdout


def test_unknown_user_gets_the_popular_fallback(cli, ws):
    items = vocab(ws, "item")
    result = cli("recommend", "als", "--user", "no-such-user", "-k", "5", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["personalised"] is False and doc["history_size"] == 0
    assert "not in dataset 'syn'" in doc["fallback_reason"]
    assert "warning: user 'no-such-user' is not in dataset 'syn'" in result.stderr
    assert "most popular" in result.stderr
    assert [entry["item_id"] for entry in doc["items"]] == [items[i] for i in popularity_order(ws)[:5]]
    explained = run_json(cli, "recommend", "ease", "--user", "no-such-user", "-k", "3", "--explain")
    assert explained["personalised"] is False and all("because" not in entry for entry in explained["items"])


@pytest.mark.parametrize("model", ["als", "item-knn", "ease"])
def test_explain(cli, ws, model):
    users, items = vocab(ws, "user"), vocab(ws, "item")
    user = 11
    history = {items[i] for i in seen_in_train(ws)[user]}
    doc = run_json(cli, "recommend", model, "--user", users[user], "-k", "5", "--explain")
    assert doc["personalised"] is True
    for entry in doc["items"]:
        because = entry["because"]
        assert 1 <= len(because) <= 3
        assert {b["item_id"] for b in because} <= history
        contributions = [b["contribution"] for b in because]
        assert contributions == sorted(contributions, reverse=True)
        assert all(isinstance(b["title"], str) for b in because)
    table = cli("recommend", model, "--user", users[user], "-k", "2", "--explain", "--format", "table")
    assert table.exit_code == 0 and "because you interacted with" in table.stdout


# -- candidates ---------------------------------------------------------------------------------------
def test_candidates(cli, ws):
    doc = run_json(cli, "candidates", "als", "-k", "50")
    assert doc["k"] == 50 and doc["part"] == "test" and doc["retrieval"] == "exact"
    assert doc["users"] == 300 and doc["rows"] == 300 * 50 and doc["fallback_users"] == 0
    path = ws / doc["path"]
    assert path.is_file() and path.is_relative_to(ws / "runs" / "als" / "candidates-test")
    table = pq.read_table(path)
    assert table.column_names == ["user_idx", "user_id", "item_idx", "item_id", "score", "rank", "fallback"]
    assert not any(table.column("fallback").to_pylist())
    frame = {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    assert (np.unique(frame["user_idx"], return_counts=True)[1] == 50).all()
    users, items = vocab(ws, "user"), vocab(ws, "item")
    assert (users[frame["user_idx"]] == frame["user_id"]).all() and (items[frame["item_idx"]] == frame["item_id"]).all()
    seen = seen_in_train(ws)
    pairs = zip(frame["user_idx"].tolist(), frame["item_idx"].tolist())
    assert not any(item in seen.get(user, ()) for user, item in pairs)
    test_users, test_items = part(ws, "s", "test")
    truth: dict[int, set[int]] = {}
    for user, item in zip(test_users.tolist(), test_items.tolist()):
        truth.setdefault(user, set()).add(item)
    recall = []
    for user in np.unique(frame["user_idx"]):
        rows = frame["user_idx"] == user
        assert frame["rank"][rows].tolist() == list(range(1, 51))
        assert (np.diff(frame["score"][rows]) <= 0).all()
        recall.append(len(set(frame["item_idx"][rows].tolist()) & truth[user]) / len(truth[user]))
    assert doc["recall@50"] == pytest.approx(np.mean(recall), rel=1e-9)
    assert 0.5 < doc["recall@50"] <= 1.0


def test_candidates_default_k_is_capped_at_a_small_catalogue(cli, ws):
    # 194 items: the default 200 would be refused if the user had asked for it
    assert run_json(cli, "candidates", "als")["k"] == 194
    asked = cli("candidates", "als", "-k", "200")
    assert asked.exit_code == 1 and "larger than the catalogue" in asked.stderr


# -- cold start: the temporal split -------------------------------------------------------------------------
def test_cold_start_users_on_a_temporal_split(cli, ws):
    users = vocab(ws, "user")
    train_users = set(part(ws, "t", "train")[0].tolist())
    test_users = set(part(ws, "t", "test")[0].tolist())
    cold = sorted(test_users - train_users)
    assert cold
    result = cli("evaluate", "als-t", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["protocol"]["cold_start_users"] == len(cold)
    assert f"warning: {len(cold)} evaluated users have no train history" in result.stderr
    assert all(0 <= v <= 1 for k, v in doc["metrics"].items() if not k.startswith("novelty")), doc["metrics"]
    result = cli("recommend", "als-t", "--user", users[cold[0]], "-k", "4", "--format", "json")
    assert result.exit_code == 0, result.stderr
    rec = json.loads(result.stdout)
    assert rec["personalised"] is False and "has no interactions in the train part" in rec["fallback_reason"]
    assert "warning:" in result.stderr and len(rec["items"]) == 4
    result = cli("candidates", "als-t", "-k", "20", "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["fallback_users"] == len(cold)
    assert f"{len(cold)} users have no train history" in result.stderr


# -- bad input -------------------------------------------------------------------------------------------
TRAIN = ["train", "candidates", "syn", "--split", "s", "--run", "new"]


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["evaluate", "alz"], ["unknown run 'alz'", "did you mean 'als'?"]),
        (["recommend", "alz", "--user", "1"], ["unknown run 'alz'", "did you mean 'als'?"]),
        (["candidates", "ease2"], ["unknown run 'ease2'", "did you mean 'ease'?"]),
        (["runs", "show", "popularr"], ["unknown run 'popularr'", "did you mean 'popular'?"]),
        (["runs", "remove", "bprr"], ["unknown run 'bprr'", "did you mean 'bpr'?"]),
        (["runs", "compare", "als", "nope"], ["unknown run 'nope'"]),
        (
            ["train", "candidates", "syx", "--split", "s", "--model", "als", "--run", "x"],
            ["unknown dataset 'syx'", "did you mean 'syn'?"],
        ),
        (
            ["train", "candidates", "syn", "--split", "q", "--model", "als", "--run", "x"],
            ["unknown split 'q'", "known splits: s, t"],
        ),
        (
            ["train", "candidates", "syn", "--split", "s", "--model", "als", "--run", "als"],
            ["run 'als' already exists", "--force"],
        ),
        ([*TRAIN[:-1], "bad/name", "--model", "als"], ["invalid run name 'bad/name'"]),
        (
            [*TRAIN, "--model", "item-knn", "--alpha", "2"],
            ["model 'item-knn' has no parameter 'alpha'", "its parameters are: neighbours, similarity"],
        ),
        ([*TRAIN, "--model", "popular", "--factors", "8"], ["model 'popular' has no parameter 'factors'"]),
        ([*TRAIN, "--model", "als", "--factors", "0"], ["'factors' must be at least 1", "the default (64)"]),
        ([*TRAIN, "--model", "item-knn", "--similarity", "foo"], ["must be one of cosine, bm25, tfidf"]),
        ([*TRAIN, "--model", "als", "--alpha", "0"], ["'alpha' must be greater than 0"]),
        ([*TRAIN, "--model", "als", "--weighting", "idf"], ["'weighting' must be one of none, bm25, tfidf"]),
        ([*TRAIN, "--model", "ease", "--memory-fraction", "1e-12"], ["EASE on 194 items needs", "use als or item-knn"]),
        (["evaluate", "als", "--k", "0"], ["k must be a positive whole number, got 0"]),
        (["evaluate", "als", "--k", "10,-5"], ["got -5"]),
        (["evaluate", "als", "--k", "195"], ["k=195 is larger than the catalogue (194 items)", "pass k <= 194"]),
        (["recommend", "als", "--user", "1", "-k", "0"], ["got 0"]),
        (["candidates", "als", "-k", "-3"], ["got -3"]),
        (["candidates", "als", "-k", "1000"], ["larger than the catalogue"]),
        (
            ["evaluate", "als", "--relevant-min-rating", "6"],
            ["no relevant interactions (rating >= 6.0)", "lower --relevant-min-rating"],
        ),
        (["evaluate", "als-t", "--on", "val"], ["the val part of split 't' has no relevant interactions"]),
        (["candidates", "als-t", "--on", "val", "-k", "20"], ["the val part of split 't' has no users"]),
        (
            ["recommend", "bpr", "--user", "1", "--explain"],
            ["model 'bpr' cannot explain its scores", "--explain works for als, item-knn, ease"],
        ),
        (["recommend", "popular", "--user", "1", "--explain"], ["model 'popular' cannot explain its scores"]),
        (
            ["runs", "compare", "als", "als-t"],
            ["run(s) als-t have no evaluation on test", "recsys evaluate als-t --on test"],
        ),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(cli, ws, args, fragments):
    assert_refused(cli, ws, args, fragments)


@pytest.mark.parametrize(
    "args, fragment",
    [
        ([*TRAIN, "--model", "slim"], "'slim' is not one of 'als', 'bpr', 'item-knn', 'ease', 'popular'"),
        (["evaluate"], "give a RUN, or --predictions FILE --truth FILE"),
        (["evaluate", "als", "--k", "ten"], "not a comma-separated list of whole numbers"),
        (["evaluate", "als", "--on", "train"], "'train' is not one of 'test', 'val'"),
        (["runs", "compare", "als", "popular", "--k", "7"], "no metric at K=7"),
        (["recommend", "als"], "Missing option '--user'"),
    ],
)
def test_usage_errors(cli, ws, args, fragment):
    result = assert_refused(cli, ws, args, fragment, exit_code=2)
    assert "Usage:" in result.stderr


def test_train_in_an_empty_workspace_creates_nothing(cli, workspace_dir):
    assert_refused(
        cli,
        workspace_dir,
        ["train", "candidates", "syn", "--split", "s", "--model", "als", "--run", "a"],
        ["no recsys workspace at", "the folder does not exist"],
    )
    assert not workspace_dir.exists()


def test_a_corrupted_model_is_refused_cleanly(cli, ws):
    model_file = generation(ws, "als") / "model.npz"
    raw = bytearray(model_file.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    model_file.write_bytes(bytes(raw))
    users = vocab(ws, "user")
    for args in (["evaluate", "als"], ["recommend", "als", "--user", users[3]], ["candidates", "als", "-k", "10"]):
        assert_refused(
            cli, ws, args, ["run 'als's model's model.npz does not match its recorded checksum", "train the run again"]
        )
    # other runs are untouched
    assert run_json(cli, "recommend", "popular", "--user", users[3], "-k", "2")["personalised"] is True
