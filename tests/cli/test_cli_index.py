"""`recsys index build|bench` and `candidates --retrieval annoy` end to end, and their bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support import run_json, snapshot


@pytest.fixture
def trained(cli, workspace_dir):
    run_json(cli, "ingest", "synthetic", "--name", "syn", "--users", "300", "--items", "400", "--interactions", "8000")
    run_json(cli, "split", "syn", "--name", "s", "--strategy", "random-per-user", "--test-fraction", "0.25")
    # als-b: another seed, so another model with the same shape (a same-seed run is byte-identical)
    for model, run, seed in (("als", "als", "42"), ("als", "als-b", "7"), ("ease", "ease", "42")):
        run_json(
            cli,
            "train",
            "candidates",
            "syn",
            "--split",
            "s",
            "--model",
            model,
            "--run",
            run,
            "--seed",
            seed,
            *(("--factors", "16") if model == "als" else ()),
        )
    return workspace_dir


def index_file(ws, doc) -> object:
    return ws / doc["path"]


def test_build_bench_and_annoy_candidates(cli, trained):
    built = run_json(cli, "index", "build", "als", "--trees", "20")
    info = built["index"]
    n_items = run_json(cli, "datasets", "show", "syn")["dataset"]["items"]
    assert info["n_items"] == n_items and info["dimension"] == 16 and info["n_trees"] == 20
    path = index_file(trained, built)
    assert path.is_file() and path.stat().st_size == info["size_bytes"]
    assert path.is_relative_to(trained / "runs" / "als" / "index")

    bench = run_json(cli, "index", "bench", "als", "--k", "20", "--queries", "100")
    recalls = [row["recall"] for row in bench["rows"]]
    assert all(0.0 <= r <= 1.0 for r in recalls) and recalls[-1] >= recalls[0]
    assert recalls[-1] >= 0.95  # the largest search_k sweeps nearly the whole small catalogue
    assert bench["target_search_k"] is not None and bench["exact_qps"] > 0
    text = cli("index", "bench", "als", "--k", "20", "--queries", "50", "--format", "table")
    assert text.exit_code == 0 and "exact" in text.stdout

    exact = run_json(cli, "candidates", "als", "-k", "20")
    approx = run_json(cli, "candidates", "als", "-k", "20", "--retrieval", "annoy")
    assert approx["retrieval"] == "annoy" and exact["short_lists"] == 0
    # Annoy may find fewer than k unseen items for a user; those are counted, never hidden
    assert approx["rows"] >= 0.98 * exact["rows"]
    assert (approx["short_lists"] > 0) == (approx["rows"] < exact["rows"])
    # the bench's search_k reaches 0.95 recall of exact top-k, so the pools nearly agree
    assert approx["recall@20"] == pytest.approx(exact["recall@20"], abs=0.05)
    table = pq.read_table(trained / approx["path"])
    split_path = run_json(cli, "sql", "SELECT path FROM catalog.splits")[0]["path"]
    train = pq.read_table(trained / split_path / "train.parquet")
    seen = set(zip(train.column("user_idx").to_pylist(), train.column("item_idx").to_pylist()))
    assert not seen & set(zip(table.column("user_idx").to_pylist(), table.column("item_idx").to_pylist()))
    scores = table.column("score").to_numpy()
    assert np.isfinite(scores).all()


def test_same_seed_same_index_file(cli, trained):
    first = run_json(cli, "index", "build", "als", "--seed", "7")
    second = run_json(cli, "index", "build", "als", "--seed", "7")
    assert first["index"]["sha256"] == second["index"]["sha256"]
    assert first["path"] != second["path"] and not index_file(trained, first).exists()  # the old one is retired


def test_retraining_drops_the_index(cli, trained):
    run_json(cli, "index", "build", "als")
    run_json(cli, "train", "candidates", "syn", "--split", "s", "--model", "als", "--run", "als", "--force")
    result = cli("candidates", "als", "--retrieval", "annoy")
    assert result.exit_code == 1 and "has no index" in result.stderr and "recsys index build als" in result.stderr


def _error_line(result) -> str:
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "hint: " in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args, expected",
    [
        (("index", "build", "nope"), "unknown run 'nope'"),
        (("index", "build", "ease"), "has no item embeddings"),
        (("index", "bench", "als"), "has no index"),
        (("candidates", "als", "--retrieval", "annoy"), "has no index"),
        (("index", "bench", "als", "--k", "0"), "positive whole number"),
    ],
)
def test_bad_requests_change_nothing(cli, trained, args, expected):
    before = snapshot(trained)
    line = _error_line(cli(*args))
    assert expected in line
    assert snapshot(trained) == before


def test_a_damaged_or_foreign_index_is_refused_before_annoy_opens_it(cli, trained):
    own = index_file(trained, run_json(cli, "index", "build", "als", "--trees", "5"))
    other = index_file(trained, run_json(cli, "index", "build", "als-b", "--trees", "5"))
    original = own.read_bytes()

    # another run's index in this run's place (same dimension and item count): a different file
    own.write_bytes(other.read_bytes())
    assert "index" in _error_line(cli("candidates", "als", "--retrieval", "annoy"))

    # same size, flipped bytes: Annoy could follow a broken node pointer; the checksum stops it first
    damaged = bytearray(original)
    damaged[len(damaged) // 2 : len(damaged) // 2 + 64] = bytes(64)
    own.write_bytes(bytes(damaged))
    assert "index" in _error_line(cli("index", "bench", "als", "--queries", "10", "--k", "5"))

    own.write_bytes(original[: len(original) // 2])  # truncated
    _error_line(cli("candidates", "als", "--retrieval", "annoy"))

    own.unlink()
    _error_line(cli("candidates", "als", "--retrieval", "annoy"))


def test_an_index_registered_for_another_model_is_refused(cli, trained):
    """The catalog ties the index to the model it was built from (the model's sha256)."""
    run_json(cli, "index", "build", "als", "--trees", "5")
    from recsys_cli.data.workspace import Workspace

    workspace = Workspace(trained)
    with workspace.catalog(read_only=False) as catalog:
        record = catalog.artifact("als", "index")
        record.meta["model_sha256"] = "0" * 64
        catalog.put_artifact(record)
    line = _error_line(cli("candidates", "als", "--retrieval", "annoy"))
    assert "built for another model" in line and "recsys index build als" in line
    assert json.loads(cli("runs", "show", "als", "--format", "json").stdout)["artifacts"] == ["index"]
