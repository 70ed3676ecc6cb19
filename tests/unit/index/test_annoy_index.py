"""The Annoy index: MIPS augmentation, build/load round trip, refusal of damaged or foreign
files (before Annoy can crash on them), seen-item filtering, the benchmark and determinism."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.errors import CorruptArtifactError, InvalidParameterError
from recsys_cli.index import (
    IndexInfo,
    augment_for_inner_product,
    bench_index,
    build_index,
    load_index,
)
from recsys_cli.topk import top_k

N_ITEMS, DIM, N_USERS, N_TREES = 2000, 16, 200, 10


def factors(n: int, seed: int) -> np.ndarray:
    """Clustered vectors with norms spread over a factor of ~20, like ALS factors."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(99).normal(size=(20, DIM))
    x = centres[rng.integers(0, 20, n)] + rng.normal(scale=0.7, size=(n, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True) * rng.uniform(0.1, 2.0, (n, 1))).astype(np.float32)


ITEMS = factors(N_ITEMS, 1)
USERS = factors(N_USERS, 2)


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a.tolist()) & set(b.tolist())) / exact.shape[1] for a, b in zip(found, exact)]))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = tmp_path_factory.mktemp("index") / "items.ann"
    return path, build_index(ITEMS, path, n_trees=N_TREES, seed=7)


@pytest.fixture(scope="module")
def index(built):
    path, info = built
    loaded = load_index(path, info.to_json(), expected_dimension=DIM, expected_items=N_ITEMS)
    yield loaded
    loaded.close()


# --- augmentation --------------------------------------------------------------------


def test_augmentation_gives_equal_norms_and_inner_product_order():
    aug = augment_for_inner_product(ITEMS)
    assert aug.shape == (N_ITEMS, DIM + 1)
    norms = np.linalg.norm(aug, axis=1)
    np.testing.assert_allclose(norms, np.linalg.norm(ITEMS.astype(np.float64), axis=1).max(), rtol=1e-12)
    queries = np.hstack([USERS.astype(np.float64), np.zeros((N_USERS, 1))])
    cosine = (queries @ aug.T) / np.linalg.norm(queries, axis=1, keepdims=True) / norms
    inner = USERS.astype(np.float64) @ ITEMS.astype(np.float64).T
    # the full angular ranking of every user equals the inner-product ranking
    assert (np.argsort(-cosine, axis=1, kind="stable") == np.argsort(-inner, axis=1, kind="stable")).all()


def test_augmentation_never_takes_the_root_of_a_negative_rounding_error():
    rows = np.array([[0.1, 0.2, 0.3]] * 3 + [[0.3, 0.2, 0.1]], dtype=np.float32)  # equal norms
    aug = augment_for_inner_product(rows)
    assert np.isfinite(aug).all() and (aug[:, -1] >= 0).all()


# --- build and load ------------------------------------------------------------------


def test_round_trip_recalls_the_exact_top_10(built, index):
    _path, info = built
    assert (info.dimension, info.n_items, info.n_trees, info.seed) == (DIM, N_ITEMS, N_TREES, 7)
    assert info.metric == "angular+mips-augmentation" and len(info.sha256) == 64
    assert info.max_norm == pytest.approx(np.linalg.norm(ITEMS, axis=1).max(), rel=1e-6)
    found = index.query(USERS, 10, search_k=N_ITEMS * 4)
    assert found.shape == (N_USERS, 10) and found.dtype == np.int64
    assert recall(found, top_k(USERS @ ITEMS.T, 10)) >= 0.95


def test_info_round_trips_through_json(built):
    _path, info = built
    data = json.loads(json.dumps(info.to_json()))
    assert IndexInfo.from_json(data) == info
    with pytest.raises(CorruptArtifactError, match="malformed"):
        IndexInfo.from_json({**data, "n_items": "2000"})
    with pytest.raises(CorruptArtifactError, match="malformed"):
        IndexInfo.from_json({k: v for k, v in data.items() if k != "sha256"})


def test_exclude_never_returns_seen_items_and_still_returns_k(index):
    rng = np.random.default_rng(3)
    exact = USERS @ ITEMS.T
    # each user has seen 40 items, half of them from its own exact top 40
    rows, cols = [], []
    for user in range(N_USERS):
        best = np.argsort(-exact[user])[:40]
        seen = np.concatenate([rng.choice(best, 20, replace=False), rng.choice(N_ITEMS, 20, replace=False)])
        rows += [user] * len(seen)
        cols += seen.tolist()
    seen = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(N_USERS, N_ITEMS))
    found = index.query(USERS, 10, search_k=N_ITEMS * 4, exclude=seen)
    assert found.shape == (N_USERS, 10) and (found >= 0).all()
    for user in range(N_USERS):
        assert not set(found[user].tolist()) & set(seen[user].indices.tolist())
    assert recall(found, top_k(exact, 10, exclude=seen)) >= 0.95


def test_small_search_k_pads_with_minus_one_at_the_end(index):
    found = index.query(USERS[:20], 100, search_k=1)
    assert found.shape == (20, 100)
    padding = found == -1
    assert not (padding[:, :-1] & ~padding[:, 1:]).any()


def test_query_refuses_vectors_of_another_model(index):
    with pytest.raises(InvalidParameterError, match="17 factors but the index was built for 16"):
        index.query(np.ones((2, DIM + 1)), 10)
    with pytest.raises(InvalidParameterError, match="larger than the catalogue"):
        index.query(USERS, N_ITEMS + 1)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "has 4096 bytes, expected"),
        ("flip", "does not match its recorded sha256"),
        ("delete", "is missing"),
    ],
)
def test_load_refuses_a_damaged_file_before_annoy_reads_it(built, tmp_path, damage, message):
    path, info = built
    copy = tmp_path / "copy.ann"
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:4096]
    elif damage == "flip":
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    copy.write_bytes(bytes(data))
    if damage == "delete":
        copy.unlink()
    with pytest.raises(CorruptArtifactError, match=message) as caught:
        load_index(copy, info.to_json(), DIM, N_ITEMS)
    assert "rebuild" in caught.value.hint


@pytest.mark.parametrize(
    ("dimension", "items", "message"),
    [
        (DIM * 2, N_ITEMS, "built for 16-dimensional factors but the model has 32"),
        (DIM, N_ITEMS + 1, "built for 2000 items but the model has 2001"),
    ],
)
def test_load_refuses_an_index_built_for_another_model(built, dimension, items, message):
    path, info = built
    with pytest.raises(CorruptArtifactError, match=message) as caught:
        load_index(path, info, dimension, items)
    assert "another model" in caught.value.hint


# --- build refusals and determinism --------------------------------------------------


@pytest.mark.parametrize(
    ("vectors", "kwargs", "message"),
    [
        (ITEMS, {"n_trees": 0}, "n_trees must be an integer >= 1"),
        (ITEMS, {"n_trees": True}, "n_trees must be an integer"),
        (np.where(np.arange(N_ITEMS)[:, None] == 5, np.nan, ITEMS), {}, "NaN or infinite"),
        (np.full((3, 4), np.inf), {}, "NaN or infinite"),
        (np.empty((0, DIM)), {}, "non-empty 2-D array"),
        (np.zeros((3, 4)), {}, "every item vector is zero"),
        (ITEMS, {"n_jobs": 0}, "n_jobs must be -1 or >= 1"),
    ],
)
def test_build_refuses_bad_input_and_leaves_nothing(tmp_path, vectors, kwargs, message):
    with pytest.raises(InvalidParameterError, match=message) as caught:
        build_index(vectors, tmp_path / "items.ann", **kwargs)
    assert caught.value.hint
    assert list(tmp_path.iterdir()) == []


def test_same_seed_gives_the_same_file(tmp_path):
    items = ITEMS[:500]
    first = build_index(items, tmp_path / "a.ann", n_trees=5, seed=11)
    second = build_index(items, tmp_path / "b.ann", n_trees=5, seed=11)
    other = build_index(items, tmp_path / "c.ann", n_trees=5, seed=12)
    assert first.sha256 == second.sha256 != other.sha256
    assert (tmp_path / "a.ann").read_bytes() == (tmp_path / "b.ann").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.ann", "b.ann", "c.ann"]  # no temporary left


# --- benchmark -----------------------------------------------------------------------


def test_bench_sweeps_search_k_and_finds_the_target(index):
    result = bench_index(index, USERS, ITEMS, k=10, target_recall=0.9, n_queries=100, seed=1)
    ks = [row.search_k for row in result.rows]
    assert ks == sorted(set(ks)) and ks[0] == round(10 * N_TREES * 0.25)
    assert result.rows[-1].recall >= result.rows[0].recall
    assert result.rows[-1].recall >= 0.9
    assert result.target_search_k is not None
    assert all(row.recall < 0.9 for row in result.rows if row.search_k < result.target_search_k)
    assert result.n_queries == 100 and result.exact_qps > 0 and result.exact_threads >= 1
    for row in result.rows:
        assert row.speedup_vs_exact == pytest.approx(row.qps / result.exact_qps)
    data = json.loads(json.dumps(result.to_json()))
    assert data["exact_is_faster"] == result.exact_is_faster
    assert data["target_speedup"] == result.target_row.speedup_vs_exact


def test_bench_reports_no_target_when_recall_is_out_of_reach(index):
    result = bench_index(index, USERS, ITEMS, k=10, search_ks=[1, 2], target_recall=1.0, n_queries=20)
    assert result.target_search_k is None and result.exact_is_faster
    assert result.to_json()["target_speedup"] is None
