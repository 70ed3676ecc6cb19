"""The synthetic generator: seeded, exact, and structured enough for a model to learn."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from recsys_cli.datasets.synthetic import GENRE_NAMES, SyntheticConfig, generate
from recsys_cli.errors import InvalidParameterError
from tests.support import snapshot

DAY = 86_400


@pytest.fixture(scope="module")
def default_data():
    return generate(SyntheticConfig())


def columns(data):
    t = data.interactions
    return (t["user_id"].to_numpy(), t["item_id"].to_numpy(), t["rating"].to_numpy(), t["ts"].to_numpy())


def test_same_seed_same_tables_and_other_seed_differs():
    config = SyntheticConfig(users=300, items=200, interactions=6000, seed=5)
    a, b = generate(config), generate(config)
    for name in ("interactions", "items", "users"):
        assert getattr(a, name).equals(getattr(b, name)), name
    c = generate(SyntheticConfig(users=300, items=200, interactions=6000, seed=6))
    assert not a.interactions.equals(c.interactions)
    assert not a.items.equals(c.items)


def test_exact_counts_no_duplicates_every_user_active(default_data):
    config = default_data.config
    users, items, _, _ = columns(default_data)
    assert len(users) == config.interactions
    assert len(np.unique(users * (config.items + 1) + items)) == len(users)
    per_user = np.bincount(users, minlength=config.users + 1)[1:]
    assert per_user.min() >= 1 and per_user.max() <= config.items
    assert set(np.unique(users)) == set(range(1, config.users + 1))
    assert items.min() >= 1 and items.max() <= config.items
    assert default_data.items.num_rows == config.items
    assert default_data.users.num_rows == config.users


@pytest.mark.parametrize(
    "shape",
    [(1, 1, 1), (5, 4, 20), (40, 7, 280), (50, 30, 50), (2000, 50, 99_999)],
    ids=["single", "full", "full-skinny", "one-each", "near-full"],
)
def test_exact_counts_at_the_edges(shape):
    users, items, n = shape
    data = generate(SyntheticConfig(users=users, items=items, interactions=n, seed=3))
    u, i, _, _ = columns(data)
    assert len(u) == n
    assert len(np.unique(u * (items + 1) + i)) == n
    assert len(np.unique(u)) == users


def test_popularity_is_skewed_and_activity_varies(default_data):
    config = default_data.config
    users, items, _, _ = columns(default_data)
    counts = np.sort(np.bincount(items, minlength=config.items + 1)[1:])[::-1]
    top_share = counts[: config.items // 10].sum() / counts.sum()
    assert top_share > 0.3  # uniform would be 0.1; MovieLens-100K is ~0.43
    gini = 1 - 2 * np.cumsum(np.sort(counts)).sum() / (len(counts) * counts.sum())
    assert gini > 0.45
    activity = np.bincount(users)[1:]
    assert activity.max() > 8 * np.median(activity)  # a long tail of heavy users


def test_timestamps_lie_in_the_span_and_after_release(default_data):
    config = default_data.config
    _, items, _, ts = columns(default_data)
    released = default_data.items["released_at"].to_numpy()[items - 1]
    assert ts.min() >= config.start
    assert ts.max() <= config.start + config.span_days * DAY
    assert (ts >= released).all()
    # Interest decays with age: new releases are consumed mostly soon after.
    fresh = released >= config.start
    age_days = (ts[fresh] - released[fresh]) / DAY
    assert np.median(age_days) < config.span_days / 4
    # Items come out over the whole span, so later months see new items.
    release_years = default_data.items["year"].to_numpy()
    assert len(np.unique(release_years[release_years >= 2000])) >= 3


def test_ratings_items_and_users_look_real(default_data):
    _, _, ratings, _ = columns(default_data)
    assert set(np.unique(ratings)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    assert 3.2 < ratings.mean() < 4.0
    items = default_data.items.to_pylist()
    assert all(1 <= len(row["genres"]) <= 3 for row in items)
    assert all(len(set(row["genres"])) == len(row["genres"]) for row in items)
    assert {g for row in items for g in row["genres"]} <= set(GENRE_NAMES[:18])
    assert all(row["title"] and 1900 < row["year"] <= 2003 for row in items)
    users = default_data.users.to_pylist()
    assert {"user_id", "age_group", "segment"} <= set(users[0])
    assert len({u["segment"] for u in users}) == default_data.config.segments


def test_half_stars():
    data = generate(SyntheticConfig(users=100, items=80, interactions=2000, half_stars=True))
    ratings = data.interactions["rating"].to_numpy()
    assert 0.5 in set(np.unique(ratings) % 1) and ratings.min() >= 1 and ratings.max() <= 5


def test_segments_prefer_their_genres(default_data):
    """Demographic segments carry taste: a 'Drama/Comedy fans' segment watches more Drama."""
    users, items, _, _ = columns(default_data)
    segment = np.asarray(default_data.users["segment"].to_pylist(), dtype=object)[users - 1]
    item_genres = default_data.items["genres"].to_pylist()
    above = 0
    names = sorted(set(segment))
    for name in names:
        favourite = name.split("/")[0].split(" fans")[0]
        has = np.array([favourite in g for g in item_genres])[items - 1]
        above += has[segment == name].mean() > has.mean()
    assert above >= 0.75 * len(names)


def test_als_learns_what_popularity_cannot():
    """The point of the generator: a collaborative model must clearly beat most-popular."""
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    config = SyntheticConfig(users=800, items=500, interactions=24_000, seed=1)
    users, items, _, _ = columns(generate(config))
    users, items = users - 1, items - 1
    test = np.random.default_rng(0).random(len(users)) < 0.2
    shape = (config.users, config.items)
    train = sp.csr_matrix((np.ones((~test).sum(), np.float32), (users[~test], items[~test])), shape=shape)
    truth = np.zeros(shape, dtype=bool)
    truth[users[test], items[test]] = True
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(factors=16, iterations=10, random_state=0)
        model.fit(train, show_progress=False)
    als = np.asarray(model.user_factors) @ np.asarray(model.item_factors).T
    popular = np.broadcast_to(np.asarray(train.sum(0), dtype=float), shape)

    def recall_and_hit_rate(scores):
        scores = np.where(train.toarray() > 0, -np.inf, scores)  # never recommend a training item
        top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
        hits = np.take_along_axis(truth, top, axis=1).sum(1)
        relevant = truth.sum(1)
        keep = relevant > 0
        return (hits[keep] / relevant[keep]).mean(), (hits[keep] > 0).mean()

    als_recall, als_hit = recall_and_hit_rate(als)
    pop_recall, pop_hit = recall_and_hit_rate(popular)
    assert als_recall > 1.25 * pop_recall, (als_recall, pop_recall)
    assert als_hit > pop_hit + 0.05, (als_hit, pop_hit)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        (dict(users=10, items=10, interactions=101), "do not fit"),
        (dict(users=10, items=10, interactions=9), "cannot give each"),
        (dict(seed=-1), "seed"),
        (dict(genres=99), "genres"),
        (dict(evergreen=1.5), "evergreen"),
        (dict(popularity_skew=float("nan")), "popularity_skew"),
        (dict(interest_half_life_days=0), "interest_half_life_days"),
    ],
)
def test_bad_configs_raise_with_a_hint(kwargs, fragment):
    with pytest.raises(InvalidParameterError) as info:
        SyntheticConfig(**kwargs)
    assert fragment in info.value.message and info.value.hint


def _ingest(cli, *extra):
    return cli(
        "ingest",
        "synthetic",
        "--name",
        "s",
        "--users",
        "300",
        "--items",
        "200",
        "--interactions",
        "5000",
        "--seed",
        "1",
        "--format",
        "json",
        *extra,
    )


def test_cli_ingest_is_exact_and_reproducible(cli, workspace_dir):
    result = _ingest(cli)
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    assert (doc["interactions"], doc["users"], doc["catalog_items"]) == (5000, 300, 200)
    assert 0 < doc["items"] <= 200
    assert doc["source"].startswith("synthetic:") and "seed=1" in doc["source"]
    first = pq.read_table(workspace_dir / doc["path"] / "interactions.parquet")
    assert first.num_rows == 5000
    items = pq.read_table(workspace_dir / doc["path"] / "items.parquet")
    assert {"title", "year", "genres", "released_at"} <= set(items.column_names)
    users = pq.read_table(workspace_dir / doc["path"] / "users.parquet")
    assert {"age_group", "segment"} <= set(users.column_names) and users.num_rows == 300

    # the same seed gives byte-identical canonical files, so --force finds nothing to replace: reused
    again = _ingest(cli, "--force")
    assert again.exit_code == 0, again.stderr
    doc2 = json.loads(again.stdout)
    assert doc2["reused"] is True and doc2["replaced"] is False and doc2["path"] == doc["path"]
    assert pq.read_table(workspace_dir / doc2["path"] / "interactions.parquet").equals(first)


def test_cli_impossible_shape_fails_cleanly(cli, workspace_dir):
    assert _ingest(cli).exit_code == 0
    before = snapshot(workspace_dir)
    result = cli(
        "ingest",
        "synthetic",
        "--name",
        "s",
        "--users",
        "3",
        "--items",
        "4",
        "--interactions",
        "13",
        "--force",
        "--format",
        "json",
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "do not fit" in lines[0] and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert snapshot(workspace_dir) == before
