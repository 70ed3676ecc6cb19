"""New users from the shell: `split --strategy cold-users --given N` (the first N interactions by time of each
held-out user in train, the rest in test), evaluation naming the protocol, `segment-popular` on a dataset's
demographics, and the refusals: --given elsewhere or negative, segment-popular without demographics, the
ranker on a cold-users split (command and recipe), a cold-users split without timestamps."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support import REPO, assert_refused, build_template, copy_workspace, invoke_json, run_json

GIVEN = 3


def build(root):
    invoke_json(root, "ingest", "synthetic", "--name", "syn", "--users", 150, "--items", 90, "--interactions", 3000)
    split = invoke_json(
        root, "split", "syn", "--name", "cu", "--strategy", "cold-users", "--given", GIVEN,
        "--test-fraction", "0.25", "--val-fraction", "0.1", "--seed", "3",
    )  # fmt: skip
    invoke_json(root, "train", "candidates", "syn", "--split", "cu", "--model", "popular", "--run", "pop")
    # the synthetic users have an age band but no gender: segment by age
    invoke_json(root, "train", "candidates", "syn", "--split", "cu", "--model", "segment-popular", "--run", "seg",
                "-p", "segment=age", "-p", "min-users=5")  # fmt: skip
    return split


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The workspace above, built once; each test copies it to its own ``workspace_dir``."""
    return build_template(tmp_path_factory, "cold-users", build)


@pytest.fixture
def built(template, workspace_dir):
    root, split = template
    return copy_workspace(root, workspace_dir), split


def read(root, split, part):
    table = pq.read_table(root / split["path"] / f"{part}.parquet").to_pydict()
    return {c: np.asarray(v) for c, v in table.items()}


def test_held_out_users_keep_their_first_n_in_train(built):
    root, split = built
    summary = split["summary"]
    train, test, val = (read(root, split, p) for p in ("train", "test", "val"))
    held = {"test": np.unique(test["user_idx"]), "val": np.unique(val["user_idx"])}
    assert summary["held_out_users"] == {"test": held["test"].size, "val": held["val"].size}
    assert summary["held_out_users"]["test"] == int(np.floor(0.25 * summary["eligible_users"] + 0.5))
    assert not set(held["test"].tolist()) & set(held["val"].tolist())
    assert split["params"]["given"] == GIVEN
    for part, rows in (("test", test), ("val", val)):
        for user in held[part]:
            mine = train["user_idx"] == user
            later = rows["user_idx"] == user
            assert mine.sum() == GIVEN  # the first N by (ts, item_idx), every later one held out
            last_given = max(zip(train["ts"][mine], train["item_idx"][mine]))
            assert last_given < min(zip(rows["ts"][later], rows["item_idx"][later]))


def test_evaluation_names_the_protocol_and_segment_popular_runs(cli, built):
    doc = run_json(cli, "evaluate", "seg", "--k", "5,10")
    protocol = doc["protocol"]
    assert protocol["split_strategy"] == "cold-users" and protocol["model"] == "segment-popular"
    assert protocol["cold_users"].startswith(f"cold-users split, given {GIVEN}: the test users are new users")
    assert protocol["candidate_pool"].startswith("all ") and protocol["cold_start_users"] == 0
    assert protocol["users_evaluated"] == doc["protocol"]["users_in_part"] > 0
    assert 0 < doc["metrics"]["ndcg@10"] <= 1
    assert run_json(cli, "evaluate", "pop", "--on", "val", "--k", "10")["protocol"]["cold_users"].split(":")[0] == (
        f"cold-users split, given {GIVEN}"
    )


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--strategy", "random", "--given", "3"], ["--given does not apply to the random strategy"]),
        (["--strategy", "cold-users", "--given", "-1"], ["--given must be at least 0, not -1"]),
        (["--folds", "3", "--given", "2"], ["--given does not apply to --folds"]),
        (
            ["--strategy", "cold-users", "--given", "500"],
            ["cold-users split leaves test empty", "no user has more than 500 interactions: lower --given"],
        ),
        (
            ["--strategy", "cold-users", "--given", "3", "--test-fraction", "0.0001"],
            ["cold-users split leaves test empty", "raise --test-fraction, or lower --given"],
        ),
    ],
)
def test_split_refusals(cli, built, args, fragments):
    root, _ = built
    assert_refused(
        cli, root, ["split", "syn", "--name", "x", *args], fragments, hint="--given must be" not in fragments[0],
        only_progress_before=True,
    )  # fmt: skip


def test_segment_popular_without_the_attributes_is_refused(cli, built, tmp_path):
    root, _ = built
    assert_refused(
        cli,
        root,
        ["train", "candidates", "syn", "--split", "cu", "--model", "segment-popular", "--run", "s2"],
        ["dataset 'syn' has no user gender for model 'segment-popular': its users have only age", "-p segment=age"],
    )
    csv = tmp_path / "plain.csv"
    csv.write_text("user,item,ts\n" + "".join(f"u{u},i{(u * 7 + j) % 30},{j}\n" for u in range(40) for j in range(6)))
    invoke_json(root, "ingest", "csv", csv, "--name", "bare", "--user-col", "user", "--item-col", "item",
                "--timestamp-col", "ts")  # fmt: skip
    invoke_json(root, "split", "bare", "--name", "cu", "--strategy", "cold-users")
    assert_refused(
        cli,
        root,
        ["train", "candidates", "bare", "--split", "cu", "--model", "segment-popular", "--run", "s3"],
        ["dataset 'bare' has no user gender or age", "its users file has no demographics", "use popular"],
    )


def test_a_cold_users_split_needs_timestamps(cli, built, tmp_path):
    root, _ = built
    csv = tmp_path / "untimed.csv"
    csv.write_text("user,item\n" + "".join(f"u{u},i{(u * 7 + j) % 30}\n" for u in range(40) for j in range(6)))
    invoke_json(root, "ingest", "csv", csv, "--name", "untimed", "--user-col", "user", "--item-col", "item")
    assert_refused(
        cli,
        root,
        ["split", "untimed", "--name", "cu", "--strategy", "cold-users"],
        ["dataset 'untimed' has no timestamps, so a cold-users split means nothing"],
    )


def test_the_ranker_is_refused_on_a_cold_users_split(cli, built):
    root, _ = built
    assert_refused(
        cli,
        root,
        ["train", "ranker", "pop"],
        ["split 'cu' is cold-users", "a cold-start split evaluates new ones", "ranker.enabled = false"],
    )


def test_recipes_refuse_the_ranker_and_take_given_only_for_cold_users(cli, tmp_path):
    recipe = tmp_path / "cold.toml"
    recipe.write_text(
        '[dataset]\nname = "syn"\nsynthetic = true\nusers = 50\nitems = 40\ninteractions = 600\n\n'
        '[split]\nname = "cu"\nstrategy = "cold-users"\ngiven = 2\nval_fraction = 0.1\n\n'
        '[[candidates]]\nrun = "p"\nmodel = "popular"\n'
    )
    result = cli("run", recipe)
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "the ranker cannot run on a cold-users split" in line and "set ranker.enabled = false" in line
    assert not (tmp_path / "ws").exists()
    recipe.write_text(recipe.read_text() + "\n[ranker]\nenabled = false\n")
    assert cli("run", recipe, "--dry-run").exit_code == 0
    result = cli("run", recipe, "--dry-run", "--set", "split.strategy=temporal-per-user")
    assert result.exit_code == 1 and "--given does not apply to the temporal-per-user strategy" in result.stderr
    result = cli("run", recipe, "--dry-run", "--set", "split.given=-1")
    assert result.exit_code == 1 and "split.given" in result.stderr


def test_a_recipe_with_segment_popular_on_a_release_without_users_is_refused_before_anything_runs(cli, tmp_path):
    shipped = (REPO / "recipes" / "ml-100k-cold-users.toml").read_text()
    recipe = tmp_path / "no-users.toml"
    recipe.write_text(shipped.replace('name = "ml-100k"', 'name = "ml-latest-small"'))
    release = tmp_path / "ml-latest-small"
    release.mkdir()  # never read: the plan refuses first
    (release / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n")
    result = cli("run", recipe, "--set", f"dataset.source={release}")
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert (
        "model 'segment-popular' needs the users' demographics, and the ml-latest-small release has no users file"
        in (result.stderr)
    )
    assert not (tmp_path / "ws").exists()
