"""`recsys train candidates --model content` on small synthetic data (which has genres, titles and
years), evaluated and explained; refused, in one line, for a dataset without item metadata."""

from __future__ import annotations

from tests.support import assert_refused, invoke_json, run_json


def test_content_trains_evaluates_and_explains_by_terms(cli, workspace_dir):
    root = workspace_dir
    invoke_json(
        root, "ingest", "synthetic", "--name", "syn", "--users", "120", "--items", "80", "--interactions", "2400"
    )
    invoke_json(root, "split", "syn", "--name", "s", "--strategy", "random-per-user", "--test-fraction", "0.25")
    trained = run_json(cli, "train", "candidates", "syn", "--split", "s", "--model", "content", "--run", "c")
    assert trained["params"] == {"decade_weight": 1.0, "min_df": 1, "tag_weight": 0.0, "title_weight": 0.5}
    evaluation = run_json(cli, "evaluate", "c", "--k", "10")
    assert 0 < evaluation["metrics"]["ndcg@10"] <= 1
    user = "1"
    doc = run_json(cli, "recommend", "c", "--user", user, "--k", "5", "--explain")
    assert doc["personalised"] and len(doc["items"]) == 5
    scores = [entry["score"] for entry in doc["items"]]
    assert scores == sorted(scores, reverse=True)
    for entry in doc["items"]:
        assert 1 <= len(entry["because"]) <= 3
        assert all(b["term"].split(":")[0] in ("genre", "title", "decade") for b in entry["because"])
        contributions = [b["contribution"] for b in entry["because"]]
        assert contributions == sorted(contributions, reverse=True) and contributions[0] > 0
        assert sum(contributions) <= entry["score"] + 1e-5  # the top terms are part of the score
        genres = {f"genre:{g.lower()}" for g in entry["genres"]}
        assert {b["term"] for b in entry["because"] if b["term"].startswith("genre:")} <= genres
    table = cli("recommend", "c", "--user", user, "--k", "3", "--explain", "--format", "csv")
    assert table.exit_code == 0 and "matching terms" in table.stdout and "genre:" in table.stdout


def test_content_without_item_metadata_is_refused(cli, workspace_dir, tmp_path):
    root = workspace_dir
    csv = tmp_path / "plain.csv"
    csv.write_text("user,item\n" + "".join(f"u{u},i{(u * 7 + j) % 30}\n" for u in range(40) for j in range(6)))
    invoke_json(root, "ingest", "csv", csv, "--name", "bare", "--user-col", "user", "--item-col", "item")
    invoke_json(root, "split", "bare", "--name", "b", "--strategy", "random-per-user", "--test-fraction", "0.3")
    assert_refused(
        cli,
        root,
        ["train", "candidates", "bare", "--split", "b", "--model", "content", "--run", "c"],
        ["dataset 'bare' has no item metadata for model 'content'", "title", "genres", "item-knn"],
    )
    run_json(cli, "train", "candidates", "bare", "--split", "b", "--model", "item-knn", "--run", "knn")
