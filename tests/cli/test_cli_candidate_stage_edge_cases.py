"""Edge cases of the candidate stage found in review: repeated pairs, zero ratings, per-part
candidates, a stale bench, and options that do not apply."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support import run_json


def _write_ratings(path, rows):
    path.write_text("user,item,rating,ts\n" + "".join(f"{u},{i},{r},{t}\n" for u, i, r, t in rows))


@pytest.fixture
def repeated(cli, tmp_path):
    """Each user rates item 0 twice at the end (2 then 3): test = those two rows."""
    rows = []
    for user in range(1, 41):
        for t, item in enumerate(range(1, 8)):
            rows.append((user, item + (user % 5), 4, t))
        rows += [(user, 0, 2, 100), (user, 0, 3, 101)]
    _write_ratings(tmp_path / "r.csv", rows)
    run_json(
        cli,
        "ingest",
        "csv",
        str(tmp_path / "r.csv"),
        "--name",
        "d",
        "--user-col",
        "user",
        "--item-col",
        "item",
        "--rating-col",
        "rating",
        "--timestamp-col",
        "ts",
    )
    run_json(cli, "split", "d", "--name", "last2", "--strategy", "leave-last", "--n", "2")
    run_json(cli, "train", "candidates", "d", "--split", "last2", "--model", "popular", "--run", "pop")
    return cli


def test_relevance_is_decided_row_by_row_not_on_summed_ratings(repeated):
    # every test row is rated 2 or 3: none is relevant at >= 4, even though 2 + 3 >= 4
    result = repeated("evaluate", "pop", "--relevant-min-rating", "4", "--k", "5")
    assert result.exit_code == 1 and "no relevant interactions" in result.stderr
    # at >= 3 the second row of each pair is relevant: all 40 users are evaluated
    doc = run_json(repeated, "evaluate", "pop", "--relevant-min-rating", "3", "--k", "5")
    assert doc["protocol"]["users_evaluated"] == 40


@pytest.fixture
def zero_rated(cli, tmp_path):
    """Ratings of 0 are interactions too: item 50 is rated 0 in train by every user."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(1, 61):
        items = rng.choice(np.arange(1, 40), 12, replace=False)
        rows += [(user, int(item), 5, t) for t, item in enumerate(items)]
        rows.append((user, 50, 0, 0))
        rows.append((user, 60 + user % 3, 0, 100))  # the last row, rated 0: test
    _write_ratings(tmp_path / "z.csv", rows)
    run_json(
        cli,
        "ingest",
        "csv",
        str(tmp_path / "z.csv"),
        "--name",
        "z",
        "--user-col",
        "user",
        "--item-col",
        "item",
        "--rating-col",
        "rating",
        "--timestamp-col",
        "ts",
    )
    run_json(cli, "split", "z", "--name", "last", "--strategy", "leave-last", "--n", "1")
    return cli


@pytest.mark.parametrize("model", ["popular", "item-knn"])
def test_zero_rated_train_items_are_still_seen_and_zero_rated_test_items_still_relevant(
    zero_rated, workspace_dir, model
):
    run_json(
        zero_rated, "train", "candidates", "z", "--split", "last", "--model", model, "--run", "r", "--values", "rating"
    )
    item_50 = run_json(zero_rated, "sql", "SELECT item_idx FROM item_vocab WHERE item_id = '50'")[0]["item_idx"]
    candidates = run_json(zero_rated, "candidates", "r", "-k", "20")
    table = pq.read_table(workspace_dir / candidates["path"])
    assert item_50 not in table.column("item_idx").to_pylist()
    doc = run_json(zero_rated, "evaluate", "r", "--k", "5")
    assert doc["protocol"]["users_evaluated"] == 60  # every user's 0-rated test row is relevant


@pytest.fixture
def synthetic(cli):
    run_json(cli, "ingest", "synthetic", "--name", "syn", "--users", "200", "--items", "150", "--interactions", "5000")
    run_json(
        cli, "split", "syn", "--name", "s", "--strategy", "temporal", "--test-fraction", "0.2", "--val-fraction", "0.1"
    )
    run_json(cli, "train", "candidates", "syn", "--split", "s", "--model", "als", "--run", "als", "--factors", "8")
    return cli


def test_candidates_are_kept_per_part_and_flag_fallback_rows(synthetic, workspace_dir):
    val = run_json(synthetic, "candidates", "als", "-k", "10", "--on", "val")
    test = run_json(synthetic, "candidates", "als", "-k", "10", "--on", "test")
    assert (workspace_dir / val["path"]).is_file() and (workspace_dir / test["path"]).is_file()
    artifacts = run_json(synthetic, "runs", "show", "als")["artifacts"]
    assert {"candidates-val", "candidates-test"} <= set(artifacts)
    table = pq.read_table(workspace_dir / test["path"])
    flagged = sum(table.column("fallback").to_pylist())
    # a temporal split has test users without train history: their rows are flagged
    assert test["fallback_users"] > 0 and flagged == test["fallback_users"] * 10


def test_a_bench_of_an_older_index_is_not_used(synthetic):
    run_json(synthetic, "index", "build", "als", "--trees", "10")
    bench = run_json(synthetic, "index", "bench", "als", "--k", "10", "--queries", "50", "--target", "0.5")
    assert bench["target_search_k"] is not None
    used = run_json(synthetic, "candidates", "als", "-k", "10", "--retrieval", "annoy")["search_k"]
    assert used >= bench["target_search_k"]  # scaled up for the seen items skipped
    run_json(synthetic, "index", "build", "als", "--trees", "2")
    assert run_json(synthetic, "candidates", "als", "-k", "10", "--retrieval", "annoy")["search_k"] == -1


@pytest.mark.parametrize(
    "args, code, expected",
    [
        (("candidates", "als", "--search-k", "100"), 1, "--retrieval annoy only"),
        (("evaluate", "als", "--catalog-size", "10"), 2, "--catalog-size goes with --predictions"),
        (("runs", "compare", "als", "als", "--k", "x"), 2, "not a whole number"),
    ],
)
def test_options_that_do_not_apply_are_refused(synthetic, args, code, expected):
    result = synthetic(*args)
    assert result.exit_code == code and expected in result.stderr


def test_compare_without_a_shared_k_names_each_runs_ks(synthetic):
    run_json(synthetic, "train", "candidates", "syn", "--split", "s", "--model", "popular", "--run", "pop")
    run_json(synthetic, "evaluate", "als", "--k", "7")
    run_json(synthetic, "evaluate", "pop", "--k", "10")
    result = synthetic("runs", "compare", "als", "pop")
    assert result.exit_code == 2 and "als: 7" in result.stderr and "pop: 10" in result.stderr


def test_the_damaged_index_hint_is_a_command_that_exists(synthetic, workspace_dir):
    built = run_json(synthetic, "index", "build", "als", "--trees", "3")
    (workspace_dir / built["path"]).write_bytes(b"\0" * 16)
    result = synthetic("candidates", "als", "--retrieval", "annoy")
    assert result.exit_code == 1 and "recsys index build" in result.stderr and "--force" not in result.stderr
