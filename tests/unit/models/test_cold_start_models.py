"""The new-item generators: ``random`` (the floor) and ``hybrid`` (ALS factors, with metadata-mapped factors
for items train never saw), on the block data of tests/support.py where the right answer is known.

The blocks: 4 user groups x 4 item blocks of 12, each user interacting with half of their own block; the
items of block b share genre "g<b>" (``block_metadata``). Here the first item of every block is made new
(its column emptied): content and hybrid must put a user's own block's new item first among the four,
as its genre says; random must not.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.errors import InvalidParameterError
from recsys_cli.models import TrainingData, create_model, load_model, model_class, save_model
from recsys_cli.models.content import ContentParams
from recsys_cli.models.factorization import ALSParams
from recsys_cli.models.hybrid import HybridParams, ridge_map
from recsys_cli.models.random_scores import random_scores
from tests.support import BLOCK_ITEMS, GROUP_USERS, GROUPS, N_ITEMS, N_USERS, block_matrix, block_metadata

NEW = np.arange(GROUPS) * BLOCK_ITEMS  # the first item of every block
ACTIVE = np.arange(N_USERS - 1)
SMALL_ALS = {"factors": 4, "regularization": 1.0, "iterations": 15}


def without_new_items():
    matrix = block_matrix().tolil()
    matrix[:, NEW] = 0
    matrix = sp.csr_matrix(matrix)
    matrix.eliminate_zeros()
    return matrix


TRAIN = without_new_items()
DATA = TrainingData(TRAIN, item_metadata=block_metadata(N_ITEMS))


def fitted(name: str, **params):
    model = create_model(model_class(name), params, seed=3)
    model.fit(DATA)
    return model


def first_new_item(model) -> np.ndarray:
    """Each active user's best new item (score descending, ties to the lower index)."""
    scores = model.score(ACTIVE, TRAIN)[:, NEW].astype(np.float64)
    return NEW[np.lexsort((np.broadcast_to(NEW, scores.shape), -scores), axis=1)[:, 0]]


@pytest.mark.parametrize("name, params", [("content", {}), ("hybrid", SMALL_ALS)])
def test_a_new_item_goes_to_the_users_of_its_genre(name, params):
    best = first_new_item(fitted(name, **params))
    assert np.array_equal(best // BLOCK_ITEMS, ACTIVE // GROUP_USERS)


def test_random_does_not_know_the_genre():
    best = first_new_item(fitted("random"))
    assert (best // BLOCK_ITEMS == ACTIVE // GROUP_USERS).mean() < 0.5  # chance is 1/4


# -- random -----------------------------------------------------------------------------------------
def test_random_scores_depend_on_seed_and_user_only_not_on_the_batch():
    model = fitted("random")
    whole = model.score(np.arange(N_USERS), TRAIN)
    for batch in (np.array([5]), np.array([40, 5, 0]), np.arange(N_USERS)[::-1]):
        assert np.array_equal(model.score(batch, TRAIN), whole[batch])
    other = create_model(model_class("random"), seed=4)
    other.fit(DATA)
    assert not np.array_equal(other.score(ACTIVE, TRAIN), whole[ACTIVE])
    assert whole.dtype == np.float32 and whole.min() >= 0 and whole.max() < 1


def test_random_scores_are_uniform():
    values = random_scores(42, np.arange(200), 500).ravel()
    counts = np.histogram(values, bins=10, range=(0, 1))[0]
    # 100,000 draws: each tenth holds 10,000 +- 3 x 95 if uniform
    assert np.abs(counts - 10_000).max() < 300, counts
    assert np.unique(values).size > 0.99 * values.size  # 24-bit values: few ties


def test_random_keeps_only_the_catalogue_size(tmp_path):
    model = fitted("random")
    assert {k: v.tolist() for k, v in model.state().items()} == {"n_items": [N_ITEMS]}
    save_model(model, tmp_path / "m")
    assert np.array_equal(load_model(tmp_path / "m").score(ACTIVE, TRAIN), model.score(ACTIVE, TRAIN))
    with pytest.raises(ValueError, match="for 48 items, the model for 50"):
        create_model(model_class("random")).restore(model.state(), N_USERS, 50)


# -- hybrid -----------------------------------------------------------------------------------------
def test_hybrid_parameters_are_als_and_content_parameters_plus_its_own():
    names = [f.name for f in dataclasses.fields(HybridParams)]
    als, content = [f.name for f in dataclasses.fields(ALSParams)], [f.name for f in dataclasses.fields(ContentParams)]
    assert names == [*als, *content, "warm_threshold", "ridge"]
    defaults = HybridParams()
    for cls in (ALSParams, ContentParams):
        for field in dataclasses.fields(cls):
            assert getattr(defaults, field.name) == getattr(cls(), field.name), field.name


def test_hybrid_keeps_als_factors_for_warm_items_and_maps_the_others():
    hybrid = fitted("hybrid", **SMALL_ALS, warm_threshold=4)
    als = fitted("als", **SMALL_ALS)
    content = fitted("content")
    counts = np.diff(TRAIN.tocsc().indptr)
    warm = counts >= 4
    assert not warm[NEW].any() and warm.sum() > N_ITEMS // 2 and (~warm & (counts > 0)).any()
    assert np.array_equal(hybrid.mapped, ~warm)
    assert np.array_equal(hybrid.user_factors, als.user_factors)
    assert np.array_equal(hybrid.item_factors[warm], als.item_factors[warm])
    # the map is the ridge solution on the warm items, written out with dense numpy
    x, y = content.vectors.toarray().astype(np.float64), als.item_factors.astype(np.float64)
    w = np.linalg.solve(x[warm].T @ x[warm] + 10.0 * np.eye(x.shape[1]), x[warm].T @ y[warm])
    np.testing.assert_allclose(hybrid.projection, w, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(hybrid.item_factors[~warm], (x @ w)[~warm], rtol=1e-4, atol=1e-5)
    assert hybrid.vocabulary.tolist() == content.vocabulary.tolist()
    np.testing.assert_allclose(hybrid.score(ACTIVE, TRAIN), hybrid.user_factors[ACTIVE] @ hybrid.item_factors.T)


@pytest.mark.parametrize("rows, terms", [(30, 8), (8, 30)])  # term space, then item space
def test_ridge_map_solves_either_way(rows, terms):
    rng = np.random.default_rng(0)
    x = sp.random(rows, terms, density=0.3, random_state=1, format="csr")
    y = rng.normal(size=(rows, 3))
    expected = np.linalg.solve(x.T @ x + 0.5 * np.eye(terms), x.T @ y)
    np.testing.assert_allclose(ridge_map(x, y, 0.5), expected, rtol=1e-8, atol=1e-10)


def test_hybrid_item_without_terms_scores_zero():
    metadata = block_metadata(N_ITEMS)
    blank = dataclasses.replace(
        metadata,
        titles=(None, *metadata.titles[1:]),
        years=(None, *metadata.years[1:]),
        genres=((), *metadata.genres[1:]),
        tags=((),) * N_ITEMS,
    )
    model = create_model(model_class("hybrid"), SMALL_ALS)
    model.fit(TrainingData(TRAIN, item_metadata=blank))
    assert model.mapped[0] and not model.item_factors[0].any()
    assert not model.score(ACTIVE, TRAIN)[:, 0].any()


def test_hybrid_refusals(monkeypatch):
    with pytest.raises(InvalidParameterError, match="model 'hybrid' needs the items' metadata"):
        create_model(model_class("hybrid"), SMALL_ALS).fit(TrainingData(TRAIN))
    with pytest.raises(InvalidParameterError, match="no item has 99 train interactions") as info:
        create_model(model_class("hybrid"), {**SMALL_ALS, "warm_threshold": 99}).fit(DATA)
    assert "lower --warm-threshold (the most any item has is" in info.value.hint
    monkeypatch.setattr("recsys_cli.models.hybrid.MAX_RIDGE_SIDE", 10)
    with pytest.raises(InvalidParameterError, match="ridge system would be") as info:
        create_model(model_class("hybrid"), SMALL_ALS).fit(DATA)
    assert "--min-df" in info.value.hint
    with pytest.raises(InvalidParameterError, match="'ridge' must be greater than 0"):
        create_model(model_class("hybrid"), {"ridge": 0})


def test_hybrid_round_trip_and_inconsistent_state(tmp_path):
    model = fitted("hybrid", **SMALL_ALS)
    save_model(model, tmp_path / "m")
    with np.load(tmp_path / "m" / "model.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == ["idf", "item_factors", "mapped", "projection", "user_factors", "vocabulary"]
    loaded = load_model(tmp_path / "m")
    for name, value in model.state().items():
        assert np.array_equal(loaded.state()[name], value) and loaded.state()[name].dtype == value.dtype, name
    assert np.array_equal(loaded.score(ACTIVE, TRAIN), model.score(ACTIVE, TRAIN))
    state = dict(model.state())
    state["idf"] = state["idf"][:-1]
    with pytest.raises(ValueError, match="different numbers of terms"):
        create_model(model_class("hybrid"), SMALL_ALS).restore(state, N_USERS, N_ITEMS)
