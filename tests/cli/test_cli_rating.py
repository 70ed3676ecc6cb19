"""Rating prediction through the command line: `recsys train candidates --model svd|svdpp`, then
`recsys evaluate` with rmse and mae beside the ranking metrics, in runs show / compare / check;
refused, in one line and writing nothing, on a dataset without ratings."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support import assert_refused, build_template, copy_workspace, invoke_json, run_json

SMALL = ("--param", "factors=8", "--param", "iterations=10")


def _build(root):
    invoke_json(
        root, "ingest", "synthetic", "--name", "syn", "--users", "120", "--items", "80", "--interactions", "2400"
    )
    return invoke_json(root, "split", "syn", "--name", "s", "--strategy", "random-per-user", "--test-fraction", "0.25")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory, "rating-template", _build)


@pytest.fixture
def split(template, workspace_dir):
    root, built = template
    copy_workspace(root, workspace_dir)
    return built


def surprise_errors(split_folder, scratch, params: dict, seed: int) -> tuple[float, float]:
    """scikit-surprise's own SVD fitted on the split's train rows (read by surprise's Reader, rows by user
    then item, so its inner ids and SGD order match the model's) and measured on every test row with
    surprise's accuracy module: the numbers `recsys evaluate` must reproduce."""
    from surprise import SVD, Dataset, Reader, accuracy

    train = pq.read_table(split_folder / "train.parquet").sort_by(
        [("user_idx", "ascending"), ("item_idx", "ascending")]
    )
    rows = zip(*(train.column(c).to_pylist() for c in ("user_idx", "item_idx", "rating")))
    path = scratch / "train-for-surprise.csv"
    path.write_text("".join(f"{u},{i},{r:g}\n" for u, i, r in rows))
    ratings = train.column("rating").to_numpy()
    reader = Reader(line_format="user item rating", sep=",", rating_scale=(float(ratings.min()), float(ratings.max())))
    trainset = Dataset.load_from_file(str(path), reader).build_full_trainset()
    algorithm = SVD(n_factors=params["factors"], n_epochs=params["iterations"], random_state=seed).fit(trainset)
    test = pq.read_table(split_folder / "test.parquet")
    cases = zip(*(test.column(c).to_pylist() for c in ("user_idx", "item_idx", "rating")))
    predictions = algorithm.test([(str(u), str(i), r) for u, i, r in cases])
    return accuracy.rmse(predictions, verbose=False), accuracy.mae(predictions, verbose=False)


def test_svd_reports_surprise_rmse_and_mae(cli, split, workspace_dir, tmp_path):
    trained = run_json(cli, "train", "candidates", "syn", "--split", "s", "--model", "svd", "--run", "sv", *SMALL)
    # the default --values ones does not apply: a rating model learns the ratings
    assert trained["values"] == "rating" and trained["params"]["factors"] == 8
    evaluation = run_json(cli, "evaluate", "sv", "--k", "10")
    metrics, protocol = evaluation["metrics"], evaluation["protocol"]
    assert 0 < metrics["mae"] <= metrics["rmse"] < 2 and 0 <= metrics["ndcg@10"] <= 1
    # every test row is measured (random-per-user: every test user has train ratings)
    assert protocol["rated"]["ratings"] == split["summary"]["test"]["interactions"]
    assert protocol["rated"]["of_users_without_train"] == 0
    assert "clipped to the train ratings' range [1, 5]" in protocol["rating_errors"]
    split_folder = workspace_dir / split["path"]
    rmse, mae = surprise_errors(split_folder, tmp_path, {"factors": 8, "iterations": 10}, seed=42)
    assert metrics["rmse"] == pytest.approx(rmse, abs=1e-9) and metrics["mae"] == pytest.approx(mae, abs=1e-9)
    # saved with the evaluation: runs show, runs check (lower is better: <=)
    shown = run_json(cli, "runs", "show", "sv")
    assert shown["evaluations"]["test"]["metrics"]["rmse"] == metrics["rmse"]
    passing = cli("runs", "check", "sv", "--require", f"test.rmse <= {metrics['rmse'] + 0.01}", "-f", "json")
    assert passing.exit_code == 0, passing.stderr
    failing = cli("runs", "check", "sv", "--require", "test.rmse <= 0.01", "-f", "json")
    assert failing.exit_code == 4 and "test.rmse" in failing.stderr


def test_rating_errors_in_tables_and_comparisons(cli, split):
    for model in ("svd", "svdpp"):
        run_json(cli, "train", "candidates", "syn", "--split", "s", "--model", model, "--run", model, *SMALL)
        run_json(cli, "evaluate", model, "--k", "10")
    run_json(cli, "train", "candidates", "syn", "--split", "s", "--model", "popular", "--run", "pop")
    popular = run_json(cli, "evaluate", "pop", "--k", "10")
    assert "rmse" not in popular["metrics"] and "rating_errors" not in popular["protocol"]
    table = cli("evaluate", "svdpp", "--k", "10", "--format", "markdown")
    assert table.exit_code == 0 and "rating errors" in table.stdout and "| rmse" in table.stdout
    only = cli("evaluate", "svd", "--k", "10", "--format", "csv", "--table", "rating-errors")
    assert only.exit_code == 0 and only.stdout.splitlines()[0] == "metric,value" and "rmse," in only.stdout
    compared = run_json(cli, "runs", "compare", "svd", "svdpp")
    assert {"rmse", "mae", "ndcg@10"} <= set(compared["runs"]["svdpp"]["metrics"])
    # a run without them: only the metrics every run has
    mixed = run_json(cli, "runs", "compare", "svd", "pop")
    assert "rmse" not in mixed["runs"]["svd"]["metrics"] and "ndcg@10" in mixed["runs"]["svd"]["metrics"]
    shown = cli("runs", "show", "svd", "--format", "csv", "--table", "rating-errors-test")
    assert shown.exit_code == 0 and "mae," in shown.stdout


def test_repeated_pairs_train_on_the_latest_rating(cli, workspace_dir, tmp_path):
    # every user rates 6 distinct items; u1 also rated one of them earlier (an older row of the same pair)
    rows = ["user,item,rating,ts"]
    rows += [f"u{u},i{(u * 5 + j) % 20},{(u + j) % 5 + 1},{100 + j}" for u in range(30) for j in range(6)]
    rows.append("u1,i5,1,50")
    csv = tmp_path / "r.csv"
    csv.write_text("\n".join(rows) + "\n")
    invoke_json(
        workspace_dir, "ingest", "csv", csv, "--name", "r", "--user-col", "user", "--item-col", "item",
        "--rating-col", "rating", "--timestamp-col", "ts",
    )  # fmt: skip
    invoke_json(workspace_dir, "split", "r", "--name", "last", "--strategy", "leave-last", "--n", "1")
    trained = run_json(cli, "train", "candidates", "r", "--split", "last", "--model", "svd", "--run", "sv", *SMALL)
    assert trained["train_interactions"] == 30 * 5  # u1's repeated pair once: 150 of the 151 train rows
    train_rows = pq.read_table(
        workspace_dir / run_json(cli, "datasets", "show", "r")["splits"][0]["path"] / "train.parquet"
    )
    assert train_rows.num_rows == 30 * 5 + 1
    evaluation = run_json(cli, "evaluate", "sv", "--k", "5")
    assert evaluation["protocol"]["rated"]["ratings"] == 30


@pytest.mark.parametrize("model", ["svd", "svdpp"])
def test_dataset_without_ratings_is_refused(cli, workspace_dir, tmp_path, model):
    csv = tmp_path / "plain.csv"
    csv.write_text("user,item\n" + "".join(f"u{u},i{(u * 7 + j) % 30}\n" for u in range(40) for j in range(6)))
    invoke_json(workspace_dir, "ingest", "csv", csv, "--name", "bare", "--user-col", "user", "--item-col", "item")
    invoke_json(
        workspace_dir, "split", "bare", "--name", "b", "--strategy", "random-per-user", "--test-fraction", "0.3"
    )
    result = assert_refused(
        cli,
        workspace_dir,
        ["train", "candidates", "bare", "--split", "b", "--model", model, "--run", "r"],
        [f"dataset 'bare' has no ratings for model '{model}'", "every interaction is rated 1", "als"],
    )
    assert "--rating-col" in result.stderr
    run_json(cli, "train", "candidates", "bare", "--split", "b", "--model", "als", "--run", "a")


def test_values_rating_is_accepted_and_recorded(cli, split):
    trained = run_json(
        cli, "train", "candidates", "syn", "--split", "s", "--model", "svd", "--run", "sv", "--values", "rating", *SMALL
    )
    assert trained["values"] == "rating"
    assert np.isfinite(run_json(cli, "evaluate", "sv", "--k", "10")["metrics"]["rmse"])
