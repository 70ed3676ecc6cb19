"""`recsys evaluate RUN --by user-activity|item-popularity|genre` on small synthetic data, and its bad input.

One workspace per module (a synthetic dataset with genres, an ALS run evaluated the plain way, and a
CSV dataset without genres with a popularity run), copied for every test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import assert_refused, build_template, copy_workspace, invoke_json, run_json, snapshot

BEYOND = ("diversity", "arp", "long_tail_share", "gini")


def build_breakdown_workspace(root: Path) -> dict:
    """The module's workspace; returns the plain evaluation of 'als'."""
    invoke_json(
        root, "ingest", "synthetic", "--name", "syn", "--users", "150", "--items", "100", "--interactions", "3000"
    )
    invoke_json(root, "split", "syn", "--name", "s", "--strategy", "random-per-user", "--test-fraction", "0.25")
    invoke_json(root, "train", "candidates", "syn", "--split", "s", "--model", "als", "--run", "als")
    plain = invoke_json(root, "evaluate", "als", "--k", "5,10")
    rows = "".join(f"u{u},i{(u * 7 + j) % 30}\n" for u in range(40) for j in range(6))
    csv = root.parent / "plain.csv"
    csv.write_text("user,item\n" + rows)
    invoke_json(root, "ingest", "csv", csv, "--name", "bare", "--user-col", "user", "--item-col", "item")
    invoke_json(root, "split", "bare", "--name", "b", "--strategy", "random-per-user", "--test-fraction", "0.3")
    invoke_json(root, "train", "candidates", "bare", "--split", "b", "--model", "popular", "--run", "pop")
    return plain


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return build_template(tmp_path_factory, "breakdown-template", build_breakdown_workspace)


@pytest.fixture
def ws(template, workspace_dir) -> Path:
    return copy_workspace(template[0], workspace_dir)


def test_by_user_activity_partitions_the_users_and_writes_nothing(cli, ws, template):
    before = snapshot(ws)
    doc = run_json(cli, "evaluate", "als", "--k", "5,10", "--by", "user-activity")
    assert snapshot(ws) == before  # a breakdown is a view: the stored evaluation is untouched
    plain = template[1]
    assert doc["metrics"] == plain["metrics"] and doc["per_user"] is None
    assert list(doc["beyond_accuracy"]) == [f"{m}@{k}" for k in (5, 10) for m in BEYOND]
    buckets = doc["breakdown"]["buckets"]
    assert [b["bucket"] for b in buckets] == ["0", "1-5", "6-20", "21-100", ">100"]
    assert sum(b["users"] for b in buckets) == plain["protocol"]["users_evaluated"]
    # no user of a random-per-user split lacks history: the bucket is a row with 0 users, not a crash
    assert buckets[0] == {"bucket": "0", "users": 0, "relevant": 0, "metrics": {}}
    # the users' means recombine into the overall mean
    total = sum(b["users"] * b["metrics"]["ndcg@10"] for b in buckets if b["users"])
    assert total / plain["protocol"]["users_evaluated"] == pytest.approx(plain["metrics"]["ndcg@10"])
    for b in buckets:
        if b["users"]:
            assert {f"{m}@10" for m in BEYOND} <= b["metrics"].keys()


def test_by_item_popularity_and_genre_split_the_relevant_items(cli, ws):
    doc = run_json(cli, "evaluate", "als", "--k", "10", "--by", "item-popularity")
    buckets = doc["breakdown"]["buckets"]
    assert [b["bucket"] for b in buckets] == ["head", "torso", "tail"]
    tiers = doc["breakdown"]["items_per_tier"]
    assert 0 < tiers["head"] < tiers["tail"]  # a few popular items hold as much as many unpopular ones
    relevant = {b["bucket"]: b["relevant"] for b in buckets}
    genre = run_json(cli, "evaluate", "als", "--k", "10", "--by", "genre")
    names = [b["bucket"] for b in genre["breakdown"]["buckets"]]
    assert names == sorted(names) and len(names) > 3
    # every relevant interaction is in exactly one tier; an item with several genres is in several rows
    assert sum(relevant.values()) <= sum(b["relevant"] for b in genre["breakdown"]["buckets"])
    for b in buckets:
        if b["users"]:
            assert 0 <= b["metrics"]["recall@10"] <= 1


def test_breakdown_tables(cli, ws):
    result = cli("evaluate", "als", "--k", "10", "--by", "user-activity", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    for table in ("metrics", "beyond-accuracy", "by-user-activity@10"):
        assert f"# table: {table}" in result.stdout
    only = cli(
        "evaluate", "als", "--k", "10", "--by", "user-activity", "--format", "csv", "--table", "by-user-activity@10"
    )
    lines = only.stdout.strip().splitlines()
    assert lines[0].startswith("bucket,users,relevant,precision,")
    assert lines[1].startswith("0,0,0,")  # the empty bucket is shown


def test_by_genre_without_genres_is_refused(cli, ws):
    assert_refused(
        cli, ws, ("evaluate", "pop", "--k", "5", "--by", "genre"), ("has no item genres", "--by user-activity")
    )
    # the other breakdowns work there, without diversity
    doc = run_json(cli, "evaluate", "pop", "--k", "5", "--by", "item-popularity")
    assert "diversity@5" not in doc["beyond_accuracy"] and "gini@5" in doc["beyond_accuracy"]


def test_by_bad_usage(cli, ws, tmp_path):
    assert_refused(cli, ws, ("evaluate", "als", "--by", "age"), ("'age' is not one of",), exit_code=2)
    assert_refused(cli, ws, ("evaluate", "als", "--by", "genre", "--stages"), ("drop --stages",), exit_code=2)
    files = [tmp_path / "p.csv", tmp_path / "t.csv"]
    files[0].write_text("user_id,item_id,score\n1,1,1\n")
    files[1].write_text("user_id,item_id\n1,1\n")
    args = ("evaluate", "--predictions", files[0], "--truth", files[1], "--by", "genre")
    assert_refused(cli, ws, args, ("--by goes with a RUN",), exit_code=2)
