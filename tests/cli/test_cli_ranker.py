"""`recsys train ranker` and the stage evaluation of `recsys evaluate` end to end (the ranker's pieces
on known answers are tests/unit/ranking/test_label_grades_and_pool.py).

One workspace is built per module (a small synthetic dataset, a leave-last split with a
label window, an ALS and a popularity run with val candidates, a ranker over both and its
stage evaluation, and a few runs on unsuitable splits for the refusals); every test that
writes copies it first. A second, tiny CSV workspace holds a label window that no
candidate list reaches.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys_cli.ranking.lambdarank import RankerParams
from tests.support import assert_refused, build_template, copy_workspace, invoke_json, run_json, snapshot

TREES = 20
ALS = ("--factors", "8", "--iterations", "3")
ARTIFACT_TABLES = ("candidates-val.parquet", "features-val.parquet", "labels-val.parquet")


def train_ranker_and_evaluate(root: Path) -> tuple[dict, dict]:
    """The module's workspace; returns the ranker's and the stage evaluation's JSON."""
    invoke_json(
        root, "ingest", "synthetic", "--name", "syn", "--users", "300", "--items", "200", "--interactions", "6000"
    )
    invoke_json(root, "split", "syn", "--name", "lw", "--strategy", "leave-last", "--n", "3", "--val-n", "3")
    invoke_json(
        root,
        "split",
        "syn",
        "--name",
        "rpu",
        "--strategy",
        "random-per-user",
        "--test-fraction",
        "0.2",
        "--val-fraction",
        "0.1",
    )
    invoke_json(root, "split", "syn", "--name", "nv", "--strategy", "temporal-per-user", "--test-fraction", "0.2")
    invoke_json(root, "train", "candidates", "syn", "--split", "lw", "--model", "als", "--run", "als", *ALS)
    for run, split in (("pop", "lw"), ("nocand", "lw"), ("pop-rpu", "rpu"), ("pop-nv", "nv")):
        invoke_json(root, "train", "candidates", "syn", "--split", split, "--model", "popular", "--run", run)
    invoke_json(root, "candidates", "als", "--on", "val", "-k", "50")
    invoke_json(root, "candidates", "pop", "--on", "val", "-k", "20")
    ranker = invoke_json(root, "train", "ranker", "als", "--with", "pop", "--trees", TREES)
    return ranker, invoke_json(root, "evaluate", "als", "--k", "10")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The shared workspace, the ranker's and the stage evaluation's JSON (read-only: tests copy it)."""
    root, (ranker, evaluation) = build_template(tmp_path_factory, "ranker-template", train_ranker_and_evaluate)
    return root, ranker, evaluation


@pytest.fixture
def ws(template, workspace_dir) -> Path:
    return copy_workspace(template[0], workspace_dir)


def tiny_csv(path: Path) -> Path:
    """12 users; each rated 5 of 10 shared items p0..p9 in train, then one item of their own in val
    (v<u>) and one in test (t<u>): no popularity list ever reaches a val item."""
    rows = ["user,item,rating,ts"]
    for user in range(12):
        rows += [f"u{user},p{(user + j) % 10},{1 + j},{1000 + 100 * user + j}" for j in range(5)]
        rows += [f"u{user},v{user},4,{5000 + user}", f"u{user},t{user},5,{9000 + user}"]
    path.write_text("\n".join(rows) + "\n")
    return path


def ingest_tiny_csv(root: Path) -> dict:
    """The tiny workspace; returns its popularity run's val candidates' JSON."""
    invoke_json(
        root,
        "ingest",
        "csv",
        tiny_csv(root.parent / "tiny.csv"),
        "--name",
        "tiny",
        "--user-col",
        "user",
        "--item-col",
        "item",
        "--rating-col",
        "rating",
        "--timestamp-col",
        "ts",
    )
    invoke_json(root, "split", "tiny", "--name", "s", "--strategy", "leave-last", "--n", "1", "--val-n", "1")
    invoke_json(root, "train", "candidates", "tiny", "--split", "s", "--model", "popular", "--run", "p")
    return invoke_json(root, "candidates", "p", "--on", "val", "-k", "3")


@pytest.fixture(scope="module")
def tiny_template(tmp_path_factory):
    """A popularity run whose top-3 val candidates hold none of the val interactions."""
    root, made = build_template(tmp_path_factory, "ranker-tiny", ingest_tiny_csv)
    assert made["recall@3"] == 0.0
    return root


# -- helpers -----------------------------------------------------------------------------------------
def split_folder(root: Path, split: str = "lw") -> Path:
    from recsys_cli.data.workspace import Workspace

    workspace = Workspace(root)
    with workspace.catalog() as catalog:
        return workspace.resolve(catalog.split("syn", split).path)


def ranker_folder(root: Path, run: str = "als") -> Path:
    from recsys_cli.data.workspace import Workspace
    from recsys_cli.runs.artifacts import RANKER_KIND

    workspace = Workspace(root)
    with workspace.catalog() as catalog:
        return workspace.resolve(catalog.artifact(run, RANKER_KIND).path)


def assert_same_tables(a: Path, b: Path) -> None:
    for name in ARTIFACT_TABLES:
        left, right = pq.read_table(a / name), pq.read_table(b / name)
        assert left.equals(right), name


def train_in_python(root: Path, **kwargs):
    from recsys_cli.data.workspace import Workspace
    from recsys_cli.runs.ranker import train_ranker

    return train_ranker(Workspace(root), "als", with_runs=("pop",), params=RankerParams(trees=TREES), **kwargs)


def append_rows(path: Path, users, items, ratings, ts) -> None:
    """Extra interactions in a split part, same schema, sorted as the split writes (user, ts, item, rating)."""
    table = pq.read_table(path)
    extra = pa.table(
        {
            "user_idx": pa.array(np.asarray(users, np.int32)),
            "item_idx": pa.array(np.asarray(items, np.int32)),
            "rating": pa.array(np.asarray(ratings, np.float32)),
            "ts": pa.array(np.asarray(ts, np.int64)),
        },
        schema=table.schema,
    )
    both = pa.concat_tables([table, extra])
    columns = {name: both.column(name).to_numpy() for name in ("user_idx", "item_idx", "rating", "ts")}
    order = np.lexsort((columns["rating"], columns["item_idx"], columns["ts"], columns["user_idx"]))
    pq.write_table(both.take(pa.array(order)), path, compression="zstd")


def unlabelled_pool_pairs(root: Path, folder: Path, per_user: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``per_user`` pool pairs per user that no part of the split holds (grade 0 in the labels)."""
    labels = pq.read_table(ranker_folder(root) / "labels-val.parquet")
    users, items = labels.column("user_idx").to_numpy(), labels.column("item_idx").to_numpy()
    grades = labels.column("grade").to_numpy()
    taken = set()
    for part in ("train", "val", "test"):
        table = pq.read_table(folder / f"{part}.parquet", columns=["user_idx", "item_idx"])
        taken.update(zip(table.column("user_idx").to_numpy().tolist(), table.column("item_idx").to_numpy().tolist()))
    chosen: dict[int, list[int]] = {}
    for user, item, grade in zip(users.tolist(), items.tolist(), grades.tolist()):
        if grade == 0 and (user, item) not in taken and len(chosen.setdefault(user, [])) < per_user:
            chosen[user].append(item)
    pairs = [(u, i) for u, its in chosen.items() for i in its]
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


# -- 1. the happy path -------------------------------------------------------------------------------
def test_train_ranker_document(template):
    root, ranker, _ = template
    assert ranker["run"] == "als"
    assert [s["run"] for s in ranker["sources"]] == ["als", "pop"]
    assert [s["model"] for s in ranker["sources"]] == ["als", "popular"]
    assert [s["candidates"] for s in ranker["sources"]] == [50, 20]
    assert all(s["refit_sha256"] for s in ranker["sources"]) and ranker["refit"] is True
    pool, training = ranker["pool"], ranker["training"]
    assert 0.0 <= pool["recall"] <= 1.0
    assert 0 < pool["positives"] <= pool["rows"]
    assert 1 <= training["best_iteration"] <= training["trees_grown"] <= TREES
    assert 0 < training["rows"] <= pool["rows"] and 2 <= training["users"] <= pool["users"]
    assert 0.0 <= training["valid_ndcg@10"] <= 1.0
    assert ranker["label_window"]["part"] == "val" and ranker["label_window"]["history"] == ["train"]
    # ML-style 1..5 ratings: five grades, gains 1 to 2
    assert ranker["labels"] == {
        "scheme": "graded",
        "gains": [0.0, 1.0, 1.25, 1.5, 1.75, 2.0],
        "levels": [1.0, 2.0, 3.0, 4.0, 5.0],
    }
    assert ranker["params"]["trees"] == TREES
    assert {"candidate_score", "candidate_rank", "source_count"} <= set(ranker["columns"])

    folder = root / ranker["path"]
    for name in ("ranker.txt", "importance.parquet", "refit/0/model.npz", "refit/1/model.npz", *ARTIFACT_TABLES):
        assert (folder / name).is_file(), name
    pool_table = pq.read_table(folder / "candidates-val.parquet")
    features = pq.read_table(folder / "features-val.parquet")
    labels = pq.read_table(folder / "labels-val.parquet")
    assert pool_table.num_rows == features.num_rows == labels.num_rows == pool["rows"]
    assert features.column_names == ["user_idx", "item_idx", *ranker["columns"]]
    assert int(np.count_nonzero(labels.column("grade").to_numpy())) == pool["positives"]
    importance = pq.read_table(folder / "importance.parquet")
    assert sorted(importance.column("feature").to_pylist()) == sorted(ranker["columns"])
    assert abs(sum(importance.column("share").to_pylist()) - 1.0) < 1e-9


def test_with_run_adds_its_score_and_rank_features(template, cli, ws):
    _, ranker, _ = template
    assert "source_scores" in ranker["features"]
    assert {"score_pop", "rank_pop"} <= set(ranker["columns"])
    explicit = run_json(
        cli, "train", "ranker", "als", "--with", "pop", "--features", "candidate_score,source_scores", "--trees", "5"
    )
    assert explicit["columns"] == ["candidate_score", "score_pop", "rank_pop"]


def test_evaluate_stages_document(template):
    _, ranker, evaluation = template
    protocol = evaluation["protocol"]
    assert protocol["evaluated_part"] == "test" and protocol["ks"] == [10]
    assert protocol["split"] == "lw" and protocol["split_strategy"] == "leave-last"
    assert protocol["generators"] == "refitted on train + val"
    assert protocol["features"] == ranker["columns"]
    assert protocol["ranker_best_iteration"] == ranker["training"]["best_iteration"]
    assert 0.0 <= protocol["pool_recall"] <= 1.0 and protocol["users_evaluated"] > 0
    assert set(evaluation["stages"]) == {"popular", "candidates", "ranker"}
    assert evaluation["metrics"] == evaluation["stages"]["ranker"]
    for stage, metrics in evaluation["stages"].items():
        for name in ("ndcg@10", "recall@10", "precision@10", "hit_rate@10"):
            assert 0.0 <= metrics[name] <= 1.0, (stage, name)
    assert set(evaluation["lift"]) == {"ranker_vs_candidates", "candidates_vs_popular", "ranker_vs_popular"}
    for comparison, entries in evaluation["lift"].items():
        better, base = comparison.split("_vs_")
        for metric in ("ndcg@10", "recall@10"):
            entry = entries[metric]
            difference = evaluation["stages"][better][metric] - evaluation["stages"][base][metric]
            assert entry["difference"] == pytest.approx(difference)
            interval = entry["interval"]
            assert interval["difference"] == pytest.approx(difference)
            assert interval["low"] <= interval["difference"] <= interval["high"], (comparison, metric, interval)
        assert "interval" not in entries["precision@10"]


def test_evaluate_stages_table(cli, ws):
    result = cli("evaluate", "als", "--k", "10", "--format", "table")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    for stage in ("popular", "candidates", "ranker"):
        assert any(line.strip(" │|").startswith(stage) for line in lines), (stage, result.stdout)
    assert "lift" in result.stdout and "ranker - candidates" in result.stdout
    # --no-stages: the plain full-ranking evaluation, no stages
    plain = run_json(cli, "evaluate", "als", "--k", "10", "--no-stages")
    assert "stages" not in plain and "ndcg@10" in plain["metrics"]


# -- 2. determinism ----------------------------------------------------------------------------------
def test_training_and_evaluation_are_deterministic(template, cli, ws):
    root, ranker, evaluation = template
    again = run_json(cli, "train", "ranker", "als", "--with", "pop", "--trees", TREES)
    assert again["path"] != ranker["path"]  # a second train replaces the artifact
    assert not (ws / ranker["path"]).exists()
    assert (ws / again["path"] / "ranker.txt").read_bytes() == (root / ranker["path"] / "ranker.txt").read_bytes()
    assert_same_tables(ws / again["path"], root / ranker["path"])
    for key in ("sources", "columns", "labels", "pool", "label_window"):
        assert again[key] == ranker[key], key
    assert again["training"]["best_iteration"] == ranker["training"]["best_iteration"]
    evaluated = run_json(cli, "evaluate", "als", "--k", "10")
    assert evaluated["stages"] == evaluation["stages"]
    assert evaluated["lift"] == evaluation["lift"]
    assert evaluated["protocol"] == evaluation["protocol"]


# -- 3. the ranker never reads the test part ---------------------------------------------------------
def test_ranker_trains_with_a_garbage_test_part(template, cli, ws):
    root, ranker, _ = template
    test_file = split_folder(ws) / "test.parquet"
    assert test_file.is_file()
    test_file.write_bytes(b"not a parquet file at all\n" * 10)
    again = run_json(cli, "train", "ranker", "als", "--with", "pop", "--trees", TREES)
    assert (ws / again["path"] / "ranker.txt").read_bytes() == (root / ranker["path"] / "ranker.txt").read_bytes()
    assert_same_tables(ws / again["path"], root / ranker["path"])
    assert [s["refit_sha256"] for s in again["sources"]] == [s["refit_sha256"] for s in ranker["sources"]]


def test_test_part_changes_nothing_and_is_never_opened(template, ws, monkeypatch):
    """Extra test interactions on unlabelled pool pairs: features, labels and model unchanged, and
    no reader (pyarrow or the features' DuckDB query) is ever handed the test file."""
    import recsys_cli.ranking.features as features_module

    root, ranker, _ = template
    folder = split_folder(ws)
    users, items = unlabelled_pool_pairs(ws, folder)
    assert users.size > 100
    latest = pq.read_table(folder / "test.parquet", columns=["ts"]).column("ts").to_numpy().max()
    append_rows(
        folder / "test.parquet", users, items, np.full(users.size, 5.0), latest + 60 * np.arange(1, users.size + 1)
    )

    opened: list[str] = []
    read_table, parquet_file, duckdb_source = pq.read_table, pq.ParquetFile, features_module._parquet

    def recording_read_table(source, *args, **kwargs):
        opened.append(str(source))
        return read_table(source, *args, **kwargs)

    class RecordingParquetFile(parquet_file):
        def __init__(self, source, *args, **kwargs):
            opened.append(str(source))
            super().__init__(source, *args, **kwargs)

    def recording_duckdb_source(paths):
        paths = list(paths)
        opened.extend(str(p) for p in paths)
        return duckdb_source(paths)

    monkeypatch.setattr(pq, "read_table", recording_read_table)
    monkeypatch.setattr(pq, "ParquetFile", RecordingParquetFile)
    monkeypatch.setattr(features_module, "_parquet", recording_duckdb_source)
    result = train_in_python(ws)
    monkeypatch.undo()

    assert any(p.endswith("train.parquet") for p in opened) and any(p.endswith("val.parquet") for p in opened)
    assert not [p for p in opened if p.endswith("test.parquet")], opened
    new = ws / result.path
    assert (new / "ranker.txt").read_bytes() == (root / ranker["path"] / "ranker.txt").read_bytes()
    assert_same_tables(new, root / ranker["path"])


# -- 4. features read the train part only ------------------------------------------------------------
def test_val_changes_labels_but_not_features(template, ws):
    root, ranker, _ = template
    folder = split_folder(ws)
    users, items = unlabelled_pool_pairs(ws, folder, per_user=1)
    assert users.size > 50
    val = pq.read_table(folder / "val.parquet", columns=["user_idx", "ts"])
    # val is sorted, so the dict keeps each user's last timestamp
    last = dict(zip(val.column("user_idx").to_numpy().tolist(), val.column("ts").to_numpy().tolist()))
    append_rows(folder / "val.parquet", users, items, np.full(users.size, 5.0), [last[u] + 1 for u in users.tolist()])

    result = train_in_python(ws)
    new, old = ws / result.path, root / ranker["path"]
    for name in ("candidates-val.parquet", "features-val.parquet"):
        assert pq.read_table(new / name).equals(pq.read_table(old / name)), name
    before, after = pq.read_table(old / "labels-val.parquet"), pq.read_table(new / "labels-val.parquet")
    assert before.select(["user_idx", "item_idx"]).equals(after.select(["user_idx", "item_idx"]))
    changed = before.column("grade").to_numpy() != after.column("grade").to_numpy()
    keys = before.column("user_idx").to_numpy().astype(np.int64) * 1_000_000 + before.column("item_idx").to_numpy()
    appended = users.astype(np.int64) * 1_000_000 + items
    assert set(keys[changed].tolist()) == set(appended.tolist())
    assert (after.column("grade").to_numpy()[changed] == 5).all()  # rating 5.0 is the top of five grades
    assert result.meta["pool"]["positives"] == ranker["pool"]["positives"] + users.size
    assert result.meta["label_window"]["interactions"] == ranker["label_window"]["interactions"] + users.size


# -- 5. refusals -------------------------------------------------------------------------------------
REFUSALS = {
    "no-val-candidates": (
        ("train", "ranker", "nocand"),
        ("run 'nocand' has no candidates for the label window", "recsys candidates nocand --on val"),
    ),
    "with-other-split": (
        ("train", "ranker", "als", "--with", "pop-rpu"),
        ("run 'pop-rpu' is on syn/rpu", "'als' is on syn/lw", "same split"),
    ),
    "unknown-feature": (
        ("train", "ranker", "als", "--with", "pop", "--features", "candidate_score,bogus"),
        ("unknown feature 'bogus'", "valid features:", "candidate_score", "cooc_recent", "user_age"),
    ),
    "feature-data-lacks": (
        ("train", "ranker", "als", "--features", "item_same_gender_share"),
        ("feature 'item_same_gender_share' needs", "gender", "the features this data supports"),
    ),
    "sources-without-with": (
        ("train", "ranker", "als", "--features", "source_scores"),
        ("feature 'source_scores' needs", "a candidate source beyond the primary"),
    ),
    "random-split": (
        ("train", "ranker", "pop-rpu"),
        ("split 'rpu' is random-per-user", "not ordered in time", "--strategy temporal-per-user"),
    ),
    "no-val-part": (("train", "ranker", "pop-nv"), ("split 'nv' has no val part", "label window", "--val-fraction")),
    "run-twice": (("train", "ranker", "als", "--with", "pop,als"), ("named twice",)),
    "unknown-run": (("train", "ranker", "nosuch"), ("unknown run 'nosuch'", "(hint: ")),
    "unknown-with-run": (("train", "ranker", "als", "--with", "nosuch"), ("unknown run 'nosuch'",)),
    "evaluate-unknown-run": (("evaluate", "nosuch"), ("unknown run 'nosuch'",)),
    "k-above-candidates": (
        ("evaluate", "als", "--k", "10,60"),
        ("k=60 is larger than the 50 candidates", "--k values <= 50"),
    ),
    "k-above-catalogue": (("evaluate", "als", "--k", "500"), ("k=500 is larger than the catalogue",)),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals(cli, ws, case):
    args, fragments = REFUSALS[case]
    assert_refused(cli, ws, args, fragments)


BAD_PARAMETERS = {
    "--num-leaves": ("1", "--num-leaves must be a whole number >= 2"),
    "--learning-rate": ("0", "--learning-rate must be in (0, 1]"),
    "--valid-fraction": ("1", "--valid-fraction must be in (0, 1)"),
    "--trees": ("0", "--trees must be a whole number >= 1"),
    "--min-data-in-leaf": ("0", "--min-data-in-leaf must be a whole number >= 1"),
}


@pytest.mark.parametrize("flag", list(BAD_PARAMETERS))
def test_bad_parameters_refused(cli, ws, flag):
    value, message = BAD_PARAMETERS[flag]
    assert_refused(cli, ws, ("train", "ranker", "als", "--with", "pop", flag, value), message, hint=False)


@pytest.mark.parametrize("flag", ["--num-leaves", "--learning-rate", "--valid-fraction"])
def test_bad_parameters_have_a_hint(cli, ws, flag):
    value, message = BAD_PARAMETERS[flag]
    assert_refused(cli, ws, ("train", "ranker", "als", "--with", "pop", flag, value), message, hint=True)


def test_unknown_label_scheme_is_a_usage_error(cli, ws):
    assert_refused(cli, ws, ("train", "ranker", "als", "--labels", "stars"), "'stars' is not one of", exit_code=2)


def test_evaluate_after_a_source_was_retrained(cli, ws):
    run_json(
        cli,
        "train",
        "candidates",
        "syn",
        "--split",
        "lw",
        "--model",
        "popular",
        "--run",
        "pop",
        "--window-days",
        "30",
        "--force",
    )
    assert_refused(
        cli,
        ws,
        ("evaluate", "als", "--k", "10"),
        ("source run 'pop' changed after run 'als's ranker was trained", "recsys train ranker als"),
    )
    # retraining dropped pop's val candidates: training the ranker again says what to make first
    assert_refused(cli, ws, ("train", "ranker", "als", "--with", "pop"), "recsys candidates pop --on val")


def test_label_window_without_positives(cli, tiny_template, workspace_dir):
    copy_workspace(tiny_template, workspace_dir)
    result = assert_refused(
        cli,
        workspace_dir,
        ("train", "ranker", "p"),
        (
            "the label window (the val part of split 's'",
            "12 interactions by 12 users",
            "no interaction among the 36 candidates",
            "widen it",
            "--val-n",
        ),
    )
    assert "Traceback" not in result.stderr


def test_no_positives_hint_is_a_command_that_works(cli, tiny_template, workspace_dir):
    copy_workspace(tiny_template, workspace_dir)
    refused = cli("train", "ranker", "p")
    assert refused.exit_code == 1
    match = re.search(r"recsys candidates (\S+) --on val -k (\d+)", refused.stderr)
    assert match, refused.stderr
    followed = cli("candidates", match.group(1), "--on", "val", "-k", match.group(2))
    assert followed.exit_code == 0, followed.stderr


# -- review findings ---------------------------------------------------------------------------------
def test_retraining_the_ranker_drops_its_old_stage_evaluation(cli, ws):
    shown = run_json(cli, "runs", "show", "als")
    assert "evaluation-stages" in shown["artifacts"]
    run_json(cli, "train", "ranker", "als", "--features", "candidate_score,item_count", "--trees", TREES)
    shown = run_json(cli, "runs", "show", "als")
    assert "ranker" in shown["artifacts"] and "evaluation-stages" not in shown["artifacts"]
    # and the old evaluation's folder is gone from disk, not only from the catalog
    assert not list((ws / "runs" / "als").glob("evaluation-stages/*"))


def test_trees_grown_counts_past_the_best_iteration(cli, ws):
    doc = run_json(cli, "train", "ranker", "als", "--trees", "200", "--early-stopping", "3")
    training = doc["training"]
    assert training["trees_grown"] >= training["best_iteration"]
    if training["trees_grown"] < 200:  # stopped early: it grew `early_stopping` rounds past the best
        assert training["trees_grown"] == training["best_iteration"] + 3


def test_empty_feature_list_is_a_usage_error(cli, ws):
    assert_refused(
        cli, ws, ("train", "ranker", "als", "--features", ""), "--features needs at least one name", exit_code=2
    )


def test_stage_evaluation_keeps_the_test_pool_and_its_features(template):
    root = template[0]
    (folder,) = [p for p in (root / "runs" / "als" / "evaluation-stages").iterdir() if p.is_dir()]
    pool = pq.read_table(folder / "pool-test.parquet")
    features = pq.read_table(folder / "features-test.parquet")
    assert pool.num_rows == features.num_rows > 0
    for key in ("user_idx", "item_idx"):
        assert pool.column(key).to_pylist() == features.column(key).to_pylist()
    assert "ranker_score" in pool.column_names
    assert set(template[1]["columns"]) <= set(features.column_names)


def _set_writable(root: Path, writable: bool) -> None:
    for path in [root, *root.rglob("*")]:
        mode = (0o755 if path.is_dir() else 0o644) if writable else (0o555 if path.is_dir() else 0o444)
        path.chmod(mode)


def _permissions_restrict(folder: Path) -> bool:
    """Whether a folder without write permission refuses a new file (not for root with CAP_DAC_OVERRIDE)."""
    probe = folder / "probe"
    probe.mkdir(mode=0o555)
    try:
        (probe / "file").touch()
    except PermissionError:
        return True
    finally:
        probe.chmod(0o755)
        shutil.rmtree(probe)
    return False


def test_stage_evaluation_that_is_not_saved_works_on_a_read_only_workspace(template, ws, tmp_path, monkeypatch):
    """save=False only reads: its scratch (test pool, features) goes to a private temp folder, removed after."""
    import tempfile

    if not _permissions_restrict(tmp_path):
        pytest.skip("file permissions do not restrict this user (root)")

    from recsys_cli.data.workspace import Workspace
    from recsys_cli.runs.stage_evaluation import evaluate_stages

    private = tmp_path / "tmpdir"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    before = snapshot(ws)
    _set_writable(ws, False)
    try:
        evaluation = evaluate_stages(Workspace(ws), "als", ks=[10], save=False)
    finally:
        _set_writable(ws, True)
    assert evaluation.per_user_path is None
    assert evaluation.stages["ranker"]["ndcg@10"] == template[2]["stages"]["ranker"]["ndcg@10"]
    assert snapshot(ws) == before and list(private.iterdir()) == []
