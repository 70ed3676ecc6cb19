"""The rating-prediction models (svd, svdpp) against scikit-surprise itself.

The models fit with surprise and then predict from plain numpy arrays saved in model.npz; these tests
check that a model *restored from that file* predicts exactly what the fitted surprise algorithm
predicts (``algo.predict``), users and items unknown in train and clipping included. The reference
algorithm reads the same ratings through surprise's own file loader (raw ids as strings), so it shares
no code with the model. The shared contract (fit, score, determinism, persistence) is in test_models.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.errors import CorruptArtifactError, InvalidParameterError
from recsys_cli.models import TrainingData, create_model, load_model, model_class, save_model
from recsys_cli.models.persistence import CONFIG_FILE, MODEL_FILE, file_sha256

N_USERS, N_ITEMS = 40, 30
NO_RATINGS_USER, NO_RATINGS_ITEM = 5, 7  # rows and columns left empty: unknown in train


def ratings(seed: int = 0, density: float = 0.3) -> sp.csr_matrix:
    """1..5 ratings (one per cell) from strong user and item biases plus noise, so that some estimates
    leave the scale and are clipped; one user and one item have none."""
    rng = np.random.default_rng(seed)
    mask = rng.random((N_USERS, N_ITEMS)) < density
    mask[NO_RATINGS_USER] = False
    mask[:, NO_RATINGS_ITEM] = False
    raw = 3 + rng.uniform(-2, 2, (N_USERS, 1)) + rng.uniform(-2, 2, (1, N_ITEMS)) + rng.normal(0, 0.5, mask.shape)
    values = np.clip(np.rint(raw), 1, 5)
    return sp.csr_matrix(np.where(mask, values, 0.0).astype(np.float32))


RATINGS = ratings()
# every (user, item) pair, unknown user and unknown item included
ALL_USERS = np.repeat(np.arange(N_USERS), N_ITEMS)
ALL_ITEMS = np.tile(np.arange(N_ITEMS), N_USERS)
# a step size that lets the biases converge on so few ratings (surprise's default 0.005 barely moves them)
CASES = {
    "svd": ("svd", {"factors": 5, "iterations": 40, "learning_rate": 0.02}),
    "svd-unbiased": ("svd", {"factors": 5, "iterations": 40, "learning_rate": 0.02, "biased": False}),
    "svdpp": ("svdpp", {"factors": 5, "iterations": 40, "learning_rate": 0.02}),
}


def fitted(case: str, seed: int = 3, matrix: sp.csr_matrix = RATINGS):
    name, params = CASES[case]
    model = create_model(model_class(name), params, seed=seed)
    model.fit(TrainingData(matrix))
    return model


def reference(case: str, matrix: sp.csr_matrix, folder, seed: int = 3):
    """surprise's own fit on the same ratings, read from a file by surprise's Reader (rows in the
    model's order, user by user and items ascending, so both number users and items alike)."""
    from surprise import SVD, Dataset, Reader, SVDpp

    coo = matrix.tocoo()
    order = np.lexsort((coo.col, coo.row))
    path = folder / "ratings.csv"
    path.write_text("".join(f"{u},{i},{r:g}\n" for u, i, r in zip(coo.row[order], coo.col[order], coo.data[order])))
    scale = (float(coo.data.min()), float(coo.data.max()))
    trainset = Dataset.load_from_file(str(path), Reader(line_format="user item rating", sep=",", rating_scale=scale))
    trainset = trainset.build_full_trainset()
    name, params = CASES[case]
    common = {
        "n_factors": params["factors"],
        "n_epochs": params["iterations"],
        "lr_all": params["learning_rate"],
        "random_state": seed,
    }
    if name == "svd":
        algorithm = SVD(biased=params.get("biased", True), **common)
    else:
        algorithm = SVDpp(**common)
    return algorithm.fit(trainset)


def surprise_predictions(algorithm, users, items, clip: bool = True) -> np.ndarray:
    return np.array([algorithm.predict(str(u), str(i), clip=clip).est for u, i in zip(users, items)])


# -- the same predictions as surprise --------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(CASES))
def test_restored_model_predicts_what_surprise_predicts(case, tmp_path):
    save_model(fitted(case), tmp_path / "m")
    restored = load_model(tmp_path / "m")
    algorithm = reference(case, RATINGS, tmp_path)
    ours = restored.predict_ratings(ALL_USERS, ALL_ITEMS, RATINGS)
    theirs = surprise_predictions(algorithm, ALL_USERS, ALL_ITEMS)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    # the ranking scores are the same estimates before clipping
    unclipped = surprise_predictions(algorithm, ALL_USERS, ALL_ITEMS, clip=False).reshape(N_USERS, N_ITEMS)
    np.testing.assert_allclose(restored.score(np.arange(N_USERS), RATINGS), unclipped, rtol=0, atol=1e-5)
    # the comparison is not vacuous: estimates leave the scale somewhere and are clipped back
    assert (unclipped > 5).any() or (unclipped < 1).any() or case == "svd-unbiased"


def test_surprise_reference_differs_for_another_seed(tmp_path):
    # the 1e-5 agreement above is not a property of any two fits
    ours = fitted("svd", seed=3).predict_ratings(ALL_USERS, ALL_ITEMS, RATINGS)
    other = surprise_predictions(reference("svd", RATINGS, tmp_path, seed=4), ALL_USERS, ALL_ITEMS)
    assert np.abs(ours - other).max() > 1e-3


@pytest.mark.parametrize("case", ["svd", "svdpp"])
def test_unknown_users_and_items_follow_surprise_rules(case):
    model = fitted(case)
    mu, bu, bi = model.global_mean, model.user_bias, model.item_bias
    known_item, known_user = 0 if RATINGS[:, 0].nnz else 1, 0
    assert not model.user_known[NO_RATINGS_USER] and not model.item_known[NO_RATINGS_ITEM]
    assert model.user_known[known_user] and model.item_known[known_item]
    users = np.array([NO_RATINGS_USER, known_user, NO_RATINGS_USER])
    items = np.array([known_item, NO_RATINGS_ITEM, NO_RATINGS_ITEM])
    expected = np.clip([mu + bi[known_item], mu + bu[known_user], mu], 1, 5)
    np.testing.assert_allclose(model.predict_ratings(users, items, RATINGS), expected, atol=1e-12)
    assert not model.known_users(RATINGS)[NO_RATINGS_USER] and model.known_users(RATINGS).sum() == N_USERS - 1


def test_svdpp_user_unknown_in_train_gets_no_factor_term_whatever_history_is_given():
    # surprise adds q_i . (p_u + implicit) only for users it trained on; a history given later for a
    # user it never saw (say, their ratings after the split) must not add an implicit term
    model = fitted("svdpp")
    later = RATINGS.tolil()
    later[NO_RATINGS_USER, [0, 1, 2]] = 4.0
    later = sp.csr_matrix(later)
    users, items = np.full(3, NO_RATINGS_USER), np.array([0, 1, 3])
    expected = np.clip(model.global_mean + model.item_bias[items], 1, 5)
    np.testing.assert_allclose(model.predict_ratings(users, items, later), expected, atol=1e-12)
    scores = model.score(np.array([NO_RATINGS_USER]), later)[0]
    np.testing.assert_allclose(scores, model.global_mean + model.item_bias, atol=1e-5)


def test_unbiased_svd_predicts_the_global_mean_without_factors():
    model = fitted("svd-unbiased")
    users, items = np.array([NO_RATINGS_USER, 0]), np.array([0, NO_RATINGS_ITEM])
    np.testing.assert_allclose(model.predict_ratings(users, items, RATINGS), model.global_mean)
    known = (model.user_factors[0] * model.item_factors[1]).sum()
    assert model.predict_ratings(np.array([0]), np.array([1]), RATINGS)[0] == pytest.approx(np.clip(known, 1, 5))


def test_predictions_are_clipped_to_the_train_scale_and_scores_are_not():
    model = fitted("svd")
    assert model.rating_scale == (1.0, 5.0)
    predicted = model.predict_ratings(ALL_USERS, ALL_ITEMS, RATINGS)
    scores = model.score(np.arange(N_USERS), RATINGS).ravel().astype(np.float64)
    assert predicted.min() >= 1 and predicted.max() <= 5
    outside = (scores > 5) | (scores < 1)
    assert outside.any()
    np.testing.assert_allclose(predicted[~outside], scores[~outside], atol=1e-5)


def test_scale_is_the_train_ratings_range():
    half = RATINGS.copy()
    half.data = np.clip(half.data, 2, 4) / 2  # ratings 1, 1.5, 2
    model = fitted("svd", matrix=half)
    assert model.rating_scale == (1.0, 2.0)
    predicted = model.predict_ratings(ALL_USERS, ALL_ITEMS, half)
    assert predicted.min() >= 1 and predicted.max() <= 2


def test_svdpp_implicit_term_reads_which_items_were_rated_not_their_ratings():
    model = fitted("svdpp")
    other_values = RATINGS.copy()
    other_values.data = 6 - other_values.data
    np.testing.assert_array_equal(
        model.score(np.arange(N_USERS), RATINGS), model.score(np.arange(N_USERS), other_values)
    )
    fewer = RATINGS.tolil()
    fewer[0, RATINGS[0].indices[0]] = 0
    fewer = sp.csr_matrix(fewer)
    fewer.eliminate_zeros()
    assert not np.allclose(model.score(np.array([0]), RATINGS), model.score(np.array([0]), fewer))


# -- determinism and persistence -------------------------------------------------------------------
@pytest.mark.parametrize("case", ["svd", "svdpp"])
def test_same_seed_same_arrays_other_seed_other_arrays(case):
    first, again, other = fitted(case, seed=3), fitted(case, seed=3), fitted(case, seed=4)
    for name, value in first.state().items():
        assert np.array_equal(value, again.state()[name]), name
    assert not np.array_equal(first.user_factors, other.user_factors)


@pytest.mark.parametrize("case", ["svd", "svdpp"])
def test_state_is_plain_arrays_indexed_by_our_indices(case, tmp_path):
    model = fitted(case)
    save_model(model, tmp_path / "m")
    with np.load(tmp_path / "m" / MODEL_FILE, allow_pickle=False) as npz:
        stored = {key: npz[key] for key in npz.files}
    expected = {"global_mean", "rating_scale", "user_bias", "item_bias", "user_factors", "item_factors"}
    expected |= {"user_known", "item_known"} | ({"implicit_factors"} if case == "svdpp" else set())
    assert set(stored) == expected
    assert stored["user_factors"].shape == (N_USERS, 5) and stored["item_factors"].shape == (N_ITEMS, 5)
    # a user or item without train ratings has zero biases and factors
    assert not stored["user_factors"][NO_RATINGS_USER].any() and stored["user_bias"][NO_RATINGS_USER] == 0
    assert not stored["item_factors"][NO_RATINGS_ITEM].any() and stored["item_bias"][NO_RATINGS_ITEM] == 0
    assert stored["global_mean"][0] == pytest.approx(RATINGS.data.mean())


def test_reversed_rating_scale_in_the_file_is_refused(tmp_path):
    import json

    folder = tmp_path / "m"
    save_model(fitted("svd"), folder)
    with np.load(folder / MODEL_FILE, allow_pickle=False) as npz:
        state = {key: npz[key] for key in npz.files}
    state["rating_scale"] = np.array([5.0, 1.0])
    np.savez(folder / MODEL_FILE, **state)
    config = json.loads((folder / CONFIG_FILE).read_text())
    config["sha256"] = file_sha256(folder / MODEL_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(CorruptArtifactError, match="rating scale"):
        load_model(folder, what="run 'x'")


# -- bad inputs ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["svd", "svdpp"])
def test_one_rating_value_is_refused(name):
    ones = RATINGS.copy()
    ones.data[:] = 1.0
    with pytest.raises(InvalidParameterError, match="single rating value") as info:
        create_model(model_class(name)).fit(TrainingData(ones))
    assert "implicit model such as als" in info.value.hint and "--min-rating" in info.value.hint


@pytest.mark.parametrize("name", ["svd", "svdpp"])
def test_a_diverging_sgd_is_refused_not_saved_as_infinities(name):
    model = create_model(model_class(name), {"factors": 5, "iterations": 20, "learning_rate": 5.0})
    with pytest.raises(InvalidParameterError, match="diverged") as info:
        model.fit(TrainingData(RATINGS))
    assert "learning rate" in info.value.message and "lower the learning rate" in info.value.hint


@pytest.mark.parametrize(
    "users, items, fragment",
    [
        (np.array([0, 1]), np.array([0]), "1-D arrays of one length"),
        (np.array([[0]]), np.array([[0]]), "1-D arrays of one length"),
        (np.array([N_USERS]), np.array([0]), "users must hold integer indices"),
        (np.array([0]), np.array([-1]), "items must hold integer indices"),
        (np.array([0.5]), np.array([0]), "users must hold integer indices"),
    ],
)
def test_bad_pairs_are_refused(users, items, fragment):
    with pytest.raises(InvalidParameterError, match=fragment):
        fitted("svd").predict_ratings(users, items, RATINGS)


def test_history_of_another_shape_is_refused():
    with pytest.raises(InvalidParameterError, match="user_items has shape"):
        fitted("svd").predict_ratings(np.array([0]), np.array([0]), RATINGS[:10])


def test_empty_pairs_predict_nothing():
    assert fitted("svd").predict_ratings(np.array([], dtype=int), np.array([], dtype=int), RATINGS).shape == (0,)


def test_other_models_do_not_predict_ratings():
    als = create_model(model_class("als"), {"factors": 2, "iterations": 1})
    assert not als.predicts_ratings and model_class("svd").predicts_ratings and model_class("svdpp").predicts_ratings
    with pytest.raises(InvalidParameterError, match="does not predict ratings"):
        als.predict_ratings(np.array([0]), np.array([0]), RATINGS)


@pytest.mark.parametrize(
    "params, fragment",
    [
        ({"factors": 0}, "'factors' must be at least 1"),
        ({"learning_rate": 0}, "'learning_rate' must be greater than 0"),
        ({"init_std": -0.1}, "'init_std' must be at least 0"),
        ({"biased": "maybe"}, "'biased' must be bool"),
        ({"biased": 0.5}, "'biased' must be bool"),  # a recipe's number is not silently a truth value
    ],
)
def test_bad_parameters_are_refused(params, fragment):
    from recsys_cli.errors import InvalidParameterError as Invalid

    with pytest.raises(Invalid, match=fragment) as info:
        create_model(model_class("svd"), params)
    name = fragment.split("'")[1]
    default = getattr(model_class("svd").Params(), name)
    expected = (
        "pass true or false"
        if name == "biased"
        else f"leave out '{name.replace('_', '-')}' for the default ({default})"
    )
    assert info.value.hint == expected


def test_boolean_parameters_take_true_false_and_0_1():
    assert create_model(model_class("svd"), {"biased": 0}).params.biased is False
    assert create_model(model_class("svd"), {"biased": "yes"}).params.biased is True


def test_surprise_defaults_are_the_defaults():
    from surprise import SVD, SVDpp

    svd, svdpp = create_model(model_class("svd")).params, create_model(model_class("svdpp")).params
    for ours, theirs in ((svd, SVD()), (svdpp, SVDpp())):
        assert (ours.factors, ours.iterations) == (theirs.n_factors, theirs.n_epochs)
        assert ours.learning_rate == theirs.lr_bu == theirs.lr_qi
        assert ours.regularization == theirs.reg_bu == theirs.reg_pu
        assert (ours.init_mean, ours.init_std) == (theirs.init_mean, theirs.init_std_dev)
    assert svd.biased
