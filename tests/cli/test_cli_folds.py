"""`recsys split --folds K` and `recsys runs cv`: the folds as ordinary splits, published all at once,
idempotent, with the replace rules of a split; the statistics across folds and the checks on the runs."""

from __future__ import annotations

import hashlib
import json
from functools import partial

import numpy as np
import pyarrow.parquet as pq
import pytest

from recsys_cli.data.workspace import Workspace
from tests.support import assert_refused as refused
from tests.support import build_template, copy_workspace, run_json, snapshot

assert_refused = partial(refused, only_progress_before=True)


def ingest_toy(root) -> None:
    """'toy': 12 users with 10 ratings each (120 rows, timestamps)."""
    from recsys_cli.datasets.ingest import ingest_file
    from recsys_cli.datasets.interaction_file import ColumnMapping

    lines = ["user,item,rating,ts"]
    for k in range(120):
        lines.append(f"u{k % 12},i{(k * 7) % 30},{1 + k % 5},{1_000_000_000 + k * 3600}")
    csv = root.parent / "toy.csv"
    csv.write_text("\n".join(lines) + "\n")
    ingest_file(Workspace(root), csv, "toy", ColumnMapping("user", "item", "rating", "ts"))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory, "folds-template", ingest_toy)[0]


@pytest.fixture
def toy(template, workspace_dir):
    copy_workspace(template, workspace_dir)
    return "toy"


def read_part(root, doc_split, part):
    return pq.read_table(root / doc_split["path"] / f"{part}.parquet").to_pydict()


def test_folds_are_ordinary_splits_holding_each_row_out_once(cli, toy, workspace_dir):
    doc = run_json(cli, "split", "toy", "--folds", "3", "--name", "cv", "--seed", "5")
    assert (doc["group"], doc["folds"], doc["strategy"], doc["seed"]) == ("cv", 3, "random", 5)
    assert [s["split"] for s in doc["splits"]] == ["cv.fold-1", "cv.fold-2", "cv.fold-3"]
    assert doc["splits"][1]["params"] == {"strategy": "random", "seed": 5, "folds": 3, "fold": 2, "group": "cv"}
    keys = []
    for split in doc["splits"]:
        train, val, test = (read_part(workspace_dir, split, part) for part in ("train", "val", "test"))
        assert len(val["ts"]) == 0 and len(train["ts"]) + len(test["ts"]) == 120 and len(test["ts"]) == 40
        assert split["summary"]["test"]["interactions"] == 40
        as_keys = lambda part: set(zip(part["user_idx"], part["item_idx"], part["ts"]))  # noqa: E731
        assert not as_keys(train) & as_keys(test)
        keys.append(as_keys(test))
    assert len(set.union(*keys)) == sum(map(len, keys)) == 120  # disjoint test parts covering every row
    with Workspace(workspace_dir).catalog() as catalog:
        recorded = catalog.split("toy", "cv.fold-3")
    assert recorded.strategy == "random" and recorded.params["fold"] == 3
    # any command that takes a split takes a fold
    run_json(cli, "train", "candidates", "toy", "--split", "cv.fold-2", "--model", "popular", "--run", "pop")
    assert run_json(cli, "evaluate", "pop", "--k", "10")["protocol"]["split"] == "cv.fold-2"


def test_table_lists_every_fold_with_its_sizes(cli, toy):
    result = cli("split", "toy", "--folds", "4", "--name", "cv", "--strategy", "random-per-user", "--format", "table")
    assert result.exit_code == 0, result.stderr
    assert "4 folds of toy (random-per-user, seed 42)" in result.stdout
    for fold in range(1, 5):
        assert f"cv.fold-{fold}" in result.stdout
    assert "splitting toy into 4 folds (random-per-user)" in result.stderr


def test_random_per_user_spreads_every_user(cli, toy):
    doc = run_json(cli, "split", "toy", "--folds", "4", "--name", "cv", "--strategy", "random-per-user")
    for split in doc["splits"]:
        # each user has 10 rows: 10 = 3 + 3 + 2 + 2, so every user has 2 or 3 in each fold's test part
        assert split["summary"]["test"]["users"] == 12
        assert split["summary"]["test_users_not_in_train"] == 0
        assert split["summary"]["test"]["interactions"] == 30


def test_the_same_seed_gives_byte_identical_folds(cli, template, tmp_path):
    digests = []
    for name in ("a", "b"):
        root = copy_workspace(template, tmp_path / name)
        result = cli("--workspace", str(root), "split", "toy", "--folds", "3", "--name", "cv", "--format", "json")
        assert result.exit_code == 0, result.stderr
        doc = json.loads(result.stdout)
        digests.append(
            [
                hashlib.sha256((root / s["path"] / f"{part}.parquet").read_bytes()).hexdigest()
                for s in doc["splits"]
                for part in ("train", "val", "test")
            ]
        )
    assert digests[0] == digests[1]


def test_rerunning_the_same_command_reuses_the_folds(cli, toy, workspace_dir):
    first = run_json(cli, "split", "toy", "--folds", "3", "--name", "cv")
    before = snapshot(workspace_dir)
    result = cli("split", "toy", "--folds", "3", "--name", "cv", "--format", "json")
    assert result.exit_code == 0, result.stderr
    second = json.loads(result.stdout)
    assert second["reused"] is True and "are unchanged: reused" in result.stderr
    assert [s["path"] for s in second["splits"]] == [s["path"] for s in first["splits"]]
    assert snapshot(workspace_dir) == before


def test_other_folds_need_force_and_replace_like_a_split(cli, toy, workspace_dir):
    run_json(cli, "split", "toy", "--folds", "4", "--name", "cv")
    assert_refused(
        cli,
        workspace_dir,
        ["split", "toy", "--folds", "4", "--name", "cv", "--seed", "1"],
        ["already has splits named like the folds of 'cv'", "--force"],
    )
    run_json(cli, "train", "candidates", "toy", "--split", "cv.fold-4", "--model", "popular", "--run", "pop")
    assert_refused(
        cli,
        workspace_dir,
        ["split", "toy", "--folds", "3", "--name", "cv", "--force"],
        "cross-validation group 'toy/cv' has 1 run trained on its folds (pop): replacing it would delete them",
    )
    result = cli("split", "toy", "--folds", "3", "--name", "cv", "--replace", "--format", "json")
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["replaced"] and doc["dropped_runs"] == ["pop"] and doc["removed_splits"] == ["cv.fold-4"]
    assert "removed the old group's folds beyond 3: cv.fold-4" in result.stderr
    splits = [s["name"] for s in run_json(cli, "datasets", "show", "toy")["splits"]]
    assert sorted(splits) == ["cv.fold-1", "cv.fold-2", "cv.fold-3"]
    assert run_json(cli, "runs", "list") == []
    # the old generations are gone, not only unregistered
    folders = sorted(p.relative_to(workspace_dir).parts[2] for p in (workspace_dir / "splits" / "toy").glob("*/*"))
    assert folders == ["cv.fold-1", "cv.fold-2", "cv.fold-3"]


def test_all_folds_or_none_when_registering_fails(toy, workspace_dir, monkeypatch):
    from recsys_cli.data.catalog import Catalog
    from recsys_cli.data.fold_splits import make_folds
    from recsys_cli.data.folds import FoldConfig

    before = snapshot(workspace_dir)

    def fail(self, records, remove=()):
        raise OSError("disk went away")

    monkeypatch.setattr(Catalog, "put_splits", fail)
    with pytest.raises(OSError, match="disk went away"):
        make_folds(Workspace(workspace_dir), "toy", "cv", FoldConfig(3))
    assert snapshot(workspace_dir) == before


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--folds", "1"], "--folds must be at least 2, not 1"),
        (["--folds", "13"], "--folds 13 is more than the 12 users of the data"),
        (["--folds", "3", "--strategy", "temporal"], "--folds takes --strategy random or random-per-user"),
        (["--folds", "3", "--test-fraction", "0.2"], "--test-fraction does not apply to --folds"),
        (["--folds", "3", "--val-fraction", "0.2"], "--val-fraction does not apply to --folds"),
        (["--folds", "3", "--name", "x" * 60], "use a shorter --name"),
        (["--folds", "3", "--min-rating", "9"], "the filters left no interactions"),
    ],
)
def test_refused_folds_change_nothing(cli, toy, workspace_dir, args, fragment):
    name = [] if "--name" in args else ["--name", "cv"]
    assert_refused(cli, workspace_dir, ["split", "toy", *name, *args], fragment)


def test_a_plain_split_still_needs_a_strategy(cli, toy, workspace_dir):
    result = cli("split", "toy", "--name", "s")
    assert result.exit_code == 2 and "--strategy" in result.stderr


# -- recsys runs cv ---------------------------------------------------------------------------------
@pytest.fixture
def folds_with_runs(cli, toy):
    """3 folds 'cv' of toy, a popularity run on each (pop.fold-i), evaluated at K 5 and 10."""
    run_json(cli, "split", "toy", "--folds", "3", "--name", "cv")
    for fold in (1, 2, 3):
        run_json(
            cli,
            "train",
            "candidates",
            "toy",
            "--split",
            f"cv.fold-{fold}",
            "--model",
            "popular",
            "--run",
            f"pop.fold-{fold}",
        )
        run_json(cli, "evaluate", f"pop.fold-{fold}", "--k", "5,10")
    return [f"pop.fold-{fold}" for fold in (1, 2, 3)]


def test_runs_cv_gives_mean_sd_and_interval_per_metric(cli, folds_with_runs):
    doc = run_json(cli, "runs", "cv", *reversed(folds_with_runs))  # any order: sorted by fold
    assert doc["runs"] == folds_with_runs and doc["folds"] == 3 and doc["group"] == "cv"
    assert doc["model"] == "popular" and doc["protocol"]["ks"] == [5, 10]
    values = [
        run_json(cli, "runs", "show", run)["evaluations"]["test"]["metrics"]["ndcg@10"] for run in folds_with_runs
    ]
    ndcg = doc["metrics"]["ndcg@10"]
    assert ndcg["values"] == values
    assert ndcg["mean"] == pytest.approx(np.mean(values))
    assert ndcg["sd"] == pytest.approx(np.std(values, ddof=1))
    half = 4.302652729911275 * np.std(values, ddof=1) / np.sqrt(3)  # t(0.975, 2)
    assert (ndcg["low"], ndcg["high"]) == (pytest.approx(np.mean(values) - half), pytest.approx(np.mean(values) + half))
    assert doc["t_quantile"] == pytest.approx(4.302652729911275)
    assert list(doc["metrics"])[:2] == ["precision@5", "recall@5"]  # the evaluator's order, K by K
    table = cli("runs", "cv", *folds_with_runs, "--format", "table")
    assert table.exit_code == 0 and "popular on the 3 folds of toy/cv" in table.stdout and "fold 3" in table.stdout


def test_runs_cv_names_what_is_missing_or_mismatched(cli, folds_with_runs, workspace_dir):
    check = partial(assert_refused, cli, workspace_dir)
    check(["runs", "cv", *folds_with_runs[:2]], "the runs cover 2 of the 3 folds of 'toy/cv': fold 3 is missing")
    check(["runs", "cv", folds_with_runs[0]], "fold 2, 3 are missing")
    check(["runs", "cv", *folds_with_runs, folds_with_runs[0]], "run 'pop.fold-1' is given twice")
    run_json(cli, "train", "candidates", "toy", "--split", "cv.fold-1", "--model", "popular", "--run", "again")
    run_json(cli, "evaluate", "again", "--k", "5,10")
    check(["runs", "cv", *folds_with_runs, "again"], "runs 'pop.fold-1' and 'again' are both on fold 1 of 'toy/cv'")
    run_json(cli, "evaluate", "pop.fold-2", "--k", "10")
    check(
        ["runs", "cv", *folds_with_runs],
        "the folds were evaluated differently: ks 5,10 on 'pop.fold-1', 10 on 'pop.fold-2'",
    )
    run_json(
        cli,
        "train",
        "candidates",
        "toy",
        "--split",
        "cv.fold-2",
        "--model",
        "popular",
        "--run",
        "pop.fold-2",
        "--force",
    )
    check(["runs", "cv", *folds_with_runs], "run pop.fold-2 has no evaluation on test (hint: evaluate it first")
    run_json(cli, "split", "toy", "--name", "plain", "--strategy", "random")
    run_json(cli, "train", "candidates", "toy", "--split", "plain", "--model", "popular", "--run", "plain-pop")
    check(
        ["runs", "cv", "plain-pop", "pop.fold-1"],
        "run 'plain-pop' is trained on split 'toy/plain', which is not a cross-validation fold",
    )
    check(["runs", "cv", "nope"], "unknown run 'nope'")


def test_runs_cv_refuses_folds_of_two_groups_and_two_models(cli, folds_with_runs, workspace_dir):
    run_json(cli, "split", "toy", "--folds", "3", "--name", "other")
    run_json(cli, "train", "candidates", "toy", "--split", "other.fold-3", "--model", "popular", "--run", "o3")
    assert_refused(
        cli,
        workspace_dir,
        ["runs", "cv", *folds_with_runs[:2], "o3"],
        "the runs are on the folds of 2 groups (toy/cv, toy/other)",
    )
    run_json(cli, "train", "candidates", "toy", "--split", "cv.fold-3", "--model", "item-knn", "--run", "knn3")
    run_json(cli, "evaluate", "knn3", "--k", "5,10")
    assert_refused(
        cli,
        workspace_dir,
        ["runs", "cv", *folds_with_runs[:2], "knn3"],
        "are not the same model with the same parameters",
    )
    run_json(
        cli, "train", "candidates", "toy", "--split", "cv.fold-3", "--model", "popular", "--run", "rated3",
        "--values", "rating",
    )  # fmt: skip
    run_json(cli, "evaluate", "rated3", "--k", "5,10")
    assert_refused(
        cli,
        workspace_dir,
        ["runs", "cv", *folds_with_runs[:2], "rated3"],
        "runs 'pop.fold-1' (--values ones) and 'rated3' (--values rating) trained on different matrix values",
    )
