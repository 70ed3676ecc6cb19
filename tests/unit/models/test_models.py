"""The candidate generators (als, bpr, item-knn, ease, popular, content) against one shared contract.

Every model's test class subclasses ``ModelContract`` (not collected by itself) and fits on
a block-structured matrix with a known right answer: 4 user groups x 4 item blocks, each
user interacting with half of its own block. A personalised model must put a user's top-5
unseen items inside the user's own block; popular instead ranks by counts, ties by index.
Content reads item metadata that mirrors the blocks (one genre per block, ``block_metadata``).
"""

from __future__ import annotations

import types
from typing import ClassVar

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_cli.errors import InvalidParameterError, ResourceLimitError, UnknownNameError
from recsys_cli.models import (
    MODEL_NAMES,
    ItemMetadata,
    TrainingData,
    create_model,
    load_model,
    model_class,
    save_model,
)
from recsys_cli.models.persistence import MODEL_FILE, file_sha256
from tests.support import (
    BLOCK_ITEMS,
    GROUP_USERS,
    N_ITEMS,
    N_USERS,
    block_matrix,
    block_metadata,
    rated_block_matrix,
    training_data,
)

BLOCKS = block_matrix()
DATA = training_data(BLOCKS)
RATED = training_data(rated_block_matrix())  # what the rating models learn from: ratings that carry the blocks
ACTIVE = np.arange(N_USERS - 1)
_FITTED: dict[tuple, object] = {}


def top_unseen(scores: np.ndarray, users: np.ndarray, matrix: sp.csr_matrix, n: int) -> np.ndarray:
    masked = scores.astype(np.float64).copy()
    masked[matrix[users].toarray() > 0] = -np.inf
    return np.argsort(-masked, axis=1, kind="stable")[:, :n]


class ModelContract:
    """What every model must do; subclasses set ``model`` and ``params``."""

    model: str
    params: ClassVar[dict] = {}
    personalised = True
    factors_model = False  # user/item embeddings whose inner product is the score
    train: ClassVar = DATA  # what fit learns from (the rating models: RATED, the blocks with ratings)

    def make(self, seed: int = 1, **overrides):
        return create_model(model_class(self.model), {**self.params, **overrides}, seed=seed)

    def fitted(self, seed: int = 1):
        """One fit per (model, seed) for the whole module: the tests only read it."""
        key = (self.model, seed, tuple(sorted(self.params.items())))
        if key not in _FITTED:
            model = self.make(seed)
            model.fit(self.train)
            _FITTED[key] = model
        return _FITTED[key]

    # -- fit and score -----------------------------------------------------------------
    def test_fit_and_score_shapes(self):
        model = self.fitted()
        assert (model.n_users, model.n_items) == (N_USERS, N_ITEMS)
        users = np.array([0, 17, N_USERS - 1, 3])
        scores = model.score(users, BLOCKS)
        assert scores.shape == (4, N_ITEMS) and scores.dtype == np.float32
        assert np.isfinite(scores).all()
        full = model.score(np.arange(N_USERS), BLOCKS)
        assert full.shape == (N_USERS, N_ITEMS) and full.dtype == np.float32 and np.isfinite(full).all()
        np.testing.assert_allclose(full[users], scores, rtol=1e-5, atol=1e-6)

    def test_known_right_answer(self):
        model = self.fitted()
        top = top_unseen(model.score(ACTIVE, BLOCKS), ACTIVE, BLOCKS, 5)
        if self.personalised:
            own_block = (top // BLOCK_ITEMS) == (ACTIVE // GROUP_USERS)[:, None]
            assert own_block.mean() >= 0.95, own_block.mean()
        else:
            counts = np.bincount(BLOCKS.indices, minlength=N_ITEMS)
            order = np.lexsort((np.arange(N_ITEMS), -counts))
            for user, row in zip(ACTIVE, top):
                expected = [i for i in order if BLOCKS[user, i] == 0][:5]
                assert row.tolist() == expected

    def test_known_users(self):
        known = self.fitted().known_users(BLOCKS)
        assert known.dtype == bool and known.shape == (N_USERS,)
        assert known[:-1].all()
        assert known[-1] == (not self.personalised)

    def test_rejects_non_csr_and_empty_input(self):
        with pytest.raises(InvalidParameterError, match="CSR"):
            self.make().fit(TrainingData(BLOCKS.tocoo(), DATA.item_idx, DATA.ts))
        empty = sp.csr_matrix((N_USERS, N_ITEMS), dtype=np.float32)
        with pytest.raises(InvalidParameterError, match="no interactions"):
            self.make().fit(training_data(empty))

    def test_non_square_input_keeps_users_and_items_apart(self):
        # 61 users x 48 items: a transposed matrix would give the other shape
        model = self.fitted()
        state = model.state()
        shapes = {name: value.shape for name, value in state.items()}
        for name, (shape, kind) in model.expected_state().items():
            assert len(shape) == len(shapes[name])
            assert all(s in (-1, v) for s, v in zip(shape, shapes[name])), (name, shape, shapes[name])
            assert state[name].dtype.kind == kind
        transposed = self.make()
        transposed.fit(training_data(self.train.user_items.T.tocsr()))
        assert (transposed.n_users, transposed.n_items) == (N_ITEMS, N_USERS)

    # -- determinism ---------------------------------------------------------------------
    def test_same_seed_same_state(self):
        again = self.make(seed=1)
        again.fit(self.train)
        first = self.fitted(seed=1).state()
        second = again.state()
        assert first.keys() == second.keys()
        for name in first:
            assert np.array_equal(first[name], second[name]), name

    # -- persistence -------------------------------------------------------------------
    def test_save_load_round_trip(self, tmp_path):
        model = self.fitted()
        config = save_model(model, tmp_path / "m")
        assert config["model"] == self.model and config["sha256"] == file_sha256(tmp_path / "m" / MODEL_FILE)
        loaded = load_model(tmp_path / "m")
        assert type(loaded) is type(model) and loaded.params == model.params and loaded.seed == model.seed
        assert (loaded.n_users, loaded.n_items) == (model.n_users, model.n_items)
        users = np.arange(N_USERS)
        assert np.array_equal(loaded.score(users, BLOCKS), model.score(users, BLOCKS))
        assert np.array_equal(loaded.known_users(BLOCKS), model.known_users(BLOCKS))
        before, after = model.state(), loaded.state()
        assert before.keys() == after.keys()
        for name in before:
            assert np.array_equal(before[name], after[name]) and before[name].dtype == after[name].dtype, name
        # the arrays are plain numpy: loadable without pickle
        with np.load(tmp_path / "m" / MODEL_FILE, allow_pickle=False) as npz:
            assert sorted(npz.files) == sorted(before)

    # -- embeddings ------------------------------------------------------------------------
    def test_embeddings(self):
        model = self.fitted()
        items, users = model.item_embeddings(), model.user_embeddings(np.arange(N_USERS))
        if not self.factors_model:
            assert items is None and users is None
            return
        assert items.shape[0] == N_ITEMS and users.shape == (N_USERS, items.shape[1])
        np.testing.assert_allclose(users @ items.T, model.score(np.arange(N_USERS), BLOCKS), rtol=1e-5, atol=1e-6)


class TestALS(ModelContract):
    model = "als"
    params: ClassVar[dict] = {"factors": 4, "regularization": 1.0, "iterations": 15}
    factors_model = True

    def test_different_seed_different_factors(self):
        other = self.make(seed=2)
        other.fit(DATA)
        assert not np.array_equal(other.user_factors, self.fitted().user_factors)
        assert not np.array_equal(other.item_factors, self.fitted().item_factors)

    def test_factor_shapes(self):
        model = self.fitted()
        assert model.user_factors.shape == (N_USERS, 4) and model.item_factors.shape == (N_ITEMS, 4)

    @pytest.mark.parametrize("user, item", [(0, 3), (17, 20), (5, 30), (44, 40)])
    def test_explain_decomposes_the_score(self, user, item):
        model = self.fitted()
        history = BLOCKS[user].indices
        total, contributions = model.explain(user, BLOCKS, item, n=len(history))
        assert sorted(i for i, _ in contributions) == sorted(history.tolist())
        assert sum(c for _, c in contributions) == pytest.approx(total, rel=1e-6, abs=1e-9)
        score = float(model.score(np.array([user]), BLOCKS)[0, item])
        # implicit's explanation re-solves the user against the final item factors
        assert total == pytest.approx(score, abs=0.02 + 0.02 * abs(score))
        top = model.explain(user, BLOCKS, item, n=2)[1]
        assert len(top) == 2
        assert [c for _, c in top] == sorted((c for _, c in contributions), reverse=True)[:2]

    def test_bm25_weighting_fits(self):
        model = self.make(weighting="bm25")
        model.fit(DATA)
        assert np.isfinite(model.score(ACTIVE, BLOCKS)).all()


class TestBPR(ModelContract):
    model = "bpr"
    params: ClassVar[dict] = {"factors": 8, "iterations": 200, "learning_rate": 0.05}
    factors_model = True

    def test_factor_shapes_carry_the_bias_column(self):
        model = self.fitted()
        assert model.user_factors.shape == (N_USERS, 9) and model.item_factors.shape == (N_ITEMS, 9)


class TestItemKNN(ModelContract):
    model = "item-knn"
    params: ClassVar[dict] = {}

    def test_similarity_is_square(self):
        assert self.fitted().similarity.shape == (N_ITEMS, N_ITEMS)

    @pytest.mark.parametrize("similarity", ["bm25", "tfidf"])
    def test_other_similarities(self, similarity):
        model = self.make(similarity=similarity)
        model.fit(DATA)
        top = top_unseen(model.score(ACTIVE, BLOCKS), ACTIVE, BLOCKS, 5)
        assert ((top // BLOCK_ITEMS) == (ACTIVE // GROUP_USERS)[:, None]).mean() >= 0.95


class TestEASE(ModelContract):
    model = "ease"
    params: ClassVar[dict] = {"regularization": 10.0}

    def test_closed_form(self):
        x = sp.csr_matrix(
            np.array(
                [
                    [1, 1, 0, 0, 1],
                    [0, 1, 1, 0, 0],
                    [1, 0, 1, 1, 0],
                    [0, 0, 0, 1, 1],
                    [3, 1, 0, 0, 0],  # a value other than 1: EASE uses the binary matrix
                ],
                dtype=np.float32,
            )
        )
        lam = 2.5
        model = create_model(model_class("ease"), {"regularization": lam})
        model.fit(training_data(x))
        binary = (x.toarray() > 0).astype(np.float64)
        p = np.linalg.inv(binary.T @ binary + lam * np.eye(5))
        expected = np.eye(5) - p @ np.diag(1.0 / np.diag(p))
        np.fill_diagonal(expected, 0.0)
        np.testing.assert_allclose(model.weights, expected, rtol=1e-5, atol=1e-7)
        assert model.weights.dtype == np.float32
        np.testing.assert_allclose(model.score(np.arange(5), x), binary @ expected, rtol=1e-5, atol=1e-6)

    def test_refuses_catalogues_beyond_memory(self):
        model = self.make(memory_fraction=1e-12)
        with pytest.raises(ResourceLimitError, match="EASE on 48 items") as info:
            model.fit(DATA)
        assert "als or item-knn" in info.value.hint
        assert model.weights is None

    def test_max_items_is_ease_on_the_most_seen_items_and_never_recommends_the_others(self, tmp_path):
        kept = 20
        model = self.make(max_items=kept)
        model.fit(DATA)
        counts = np.bincount(BLOCKS.indices, minlength=N_ITEMS)
        expected_items = np.sort(np.lexsort((np.arange(N_ITEMS), -counts))[:kept])
        np.testing.assert_array_equal(model.items, expected_items)
        assert model.weights.shape == (kept, kept)
        alone = self.make()  # EASE on the kept columns alone gives the same weights
        alone.fit(training_data(sp.csr_matrix(BLOCKS[:, expected_items])))
        np.testing.assert_allclose(model.weights, alone.weights, rtol=1e-5, atol=1e-7)
        scores = model.score(ACTIVE, BLOCKS)
        others = np.setdiff1d(np.arange(N_ITEMS), expected_items)
        assert np.isneginf(scores[:, others]).all() and np.isfinite(scores[:, expected_items]).all()
        save_model(model, tmp_path / "m")
        loaded = load_model(tmp_path / "m")
        np.testing.assert_array_equal(loaded.items, expected_items)
        np.testing.assert_array_equal(loaded.score(ACTIVE, BLOCKS), scores)

    def test_warns_before_a_model_beyond_the_size_limit(self, monkeypatch):
        import recsys_cli.models.ease as ease

        monkeypatch.setattr(ease, "LARGE_MODEL_BYTES", 40 * 40 * 4)  # computed from the item count: nothing fitted
        assert self.make().shape_warnings(10, 40) == []
        (warning,) = self.make().shape_warnings(10, 41)
        assert "EASE on 41 items" in warning and "--max-items 40" in warning and "item-knn" in warning
        assert self.make(max_items=40).shape_warnings(10, 10**6) == []


class TestPopular(ModelContract):
    model = "popular"
    params: ClassVar[dict] = {}
    personalised = False

    def test_counts_with_ties_by_lowest_index(self):
        # a checkerboard (every item seen by 2 users) plus item 3 seen once more and item 5 by nobody
        x = np.zeros((4, 6), dtype=np.float32)
        for u in range(4):
            for i in range(5):
                x[u, i] = (u + i) % 2 == 0
        x[1, 3] = 0
        x[0, 3] = x[2, 3] = 1  # item 3: three users
        x[3, 1] = 5.0  # a rating-like value counts once, like any stored cell
        matrix = sp.csr_matrix(x)
        model = create_model(model_class("popular"))
        model.fit(training_data(matrix))
        # counts: items 0,1,2,4 -> 2, item 3 -> 3, item 5 -> 0
        scores = model.score(np.arange(4), matrix)
        assert np.argsort(-scores[0], kind="stable").tolist() == [3, 0, 1, 2, 4, 5]
        assert scores[0].tolist() == [5, 4, 3, 6, 2, 1]
        assert (scores == scores[0]).all()

    def test_window_counts_recent_items_first(self):
        matrix = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 0, 0]], dtype=np.float32))
        day = 86400
        data = training_data(matrix, np.array([0, 10 * day, 0, 10 * day, 0], dtype=np.int64))
        # item_idx in row order: 0, 1, 0, 2, 0; items 1 and 2 are recent, item 0 old
        model = create_model(model_class("popular"), {"window_days": 2})
        model.fit(data)
        order = np.argsort(-model.score(np.array([0]), matrix)[0], kind="stable")
        assert order.tolist() == [1, 2, 0]


class TestContent(ModelContract):
    model = "content"
    params: ClassVar[dict] = {}

    def test_hand_checked_tf_idf_profile_and_scores(self):
        # 4 items: genres and titles chosen so every term's document frequency is known
        metadata = ItemMetadata(
            ("Alpha (1995)", "Alpha Beta (1994)", "Gamma (1981)", None),
            (1995, 1994, 1981, None),
            (("Comedy",), ("Comedy", "Drama"), ("Drama",), ()),
        )
        x = sp.csr_matrix(np.array([[2, 0, 0, 0], [0, 0, 1, 0]], dtype=np.float32))  # user 0 rated item 0 with 2
        model = create_model(model_class("content"), {"min_df": 1, "title_weight": 1.0, "decade_weight": 1.0})
        model.fit(TrainingData(x, item_metadata=metadata))
        terms = [
            "decade:1980s",
            "decade:1990s",
            "genre:comedy",
            "genre:drama",
            "title:alpha",
            "title:beta",
            "title:gamma",
        ]
        assert model.vocabulary.tolist() == terms
        df = np.array([1, 2, 2, 2, 2, 1, 1])
        idf = np.log(5 / (1 + df)) + 1  # n = 4 items, smoothed
        np.testing.assert_allclose(model.idf, idf, rtol=1e-6)
        tf = np.array(
            [[0, 1, 1, 0, 1, 0, 0], [0, 1, 1, 1, 1, 1, 0], [1, 0, 0, 1, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]], dtype=float
        )
        vectors = tf * idf
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        np.testing.assert_allclose(model.vectors.toarray(), vectors, rtol=1e-6, atol=1e-7)
        # user 0's profile is item 0's vector (one item: the rating-weighted mean is that item)
        profile = vectors[0] / np.linalg.norm(vectors[0])
        expected = vectors @ profile
        scores = model.score(np.array([0, 1]), x)
        np.testing.assert_allclose(scores[0], expected, rtol=1e-6, atol=1e-7)
        assert scores[0, 3] == 0  # an item without metadata matches nothing
        # explain: the terms item 1 shares with user 0's profile, largest first (these three tie: df 2
        # each, so ties go to the vocabulary's order); they sum to the score
        (because,) = model.term_contributions(0, x, [1], n=10)
        assert [t for t, _ in because] == ["decade:1990s", "genre:comedy", "title:alpha"]
        assert sum(c for _, c in because) == pytest.approx(float(scores[0, 1]), rel=1e-5)
        assert model.term_contributions(0, x, [1], n=1)[0] == because[:1]
        assert model.term_contributions(0, x, [2], n=3) == [[]]  # nothing in common with item 2

    def test_profile_is_the_rating_weighted_mean(self):
        metadata = ItemMetadata((None, None, None), (None, None, None), (("a",), ("b",), ("a", "b")))
        model = create_model(model_class("content"))
        model.fit(TrainingData(sp.csr_matrix(np.array([[3, 1, 0]], dtype=np.float32)), item_metadata=metadata))
        # profile ∝ 3 e_a + 1 e_b (the items' unit vectors; a and b have equal idf): cosine with (a+b)/√2
        expected = (3 + 1) / np.sqrt(10) / np.sqrt(2)
        assert model.score(np.array([0]), sp.csr_matrix(np.array([[3, 1, 0]], dtype=np.float32)))[0, 2] == (
            pytest.approx(expected, rel=1e-6)
        )

    def test_disjoint_genres_recommend_the_same_genre(self):
        # the contract's blocks: every same-block item outranks every other block's
        model = self.fitted()
        scores = model.score(ACTIVE, BLOCKS)
        own = (np.arange(N_ITEMS)[None, :] // BLOCK_ITEMS) == (ACTIVE // GROUP_USERS)[:, None]
        assert (scores[own].reshape(len(ACTIVE), -1).min(axis=1) > np.where(own, -np.inf, scores).max(axis=1)).all()

    def test_weights_drop_kinds_of_terms(self):
        model = self.make(title_weight=0, decade_weight=0)
        model.fit(DATA)
        kinds = {t.split(":")[0] for (t,) in zip(model.vocabulary[model.vectors.indices])}
        assert kinds == {"genre"}

    def test_needs_item_metadata(self):
        assert model_class("content").needs_item_metadata
        assert not any(model_class(m).needs_item_metadata for m in MODEL_NAMES if m not in ("content", "hybrid"))
        with pytest.raises(InvalidParameterError, match="needs the items' metadata"):
            self.make().fit(TrainingData(BLOCKS))
        with pytest.raises(InvalidParameterError, match="describes 5 items"):
            self.make().fit(TrainingData(BLOCKS, item_metadata=block_metadata(5)))
        rare = ItemMetadata(("x",) * N_ITEMS, (None,) * N_ITEMS, tuple((f"only{i}",) for i in range(N_ITEMS)))
        with pytest.raises(InvalidParameterError, match="no metadata term is shared by 2 items"):
            self.make(min_df=2, title_weight=0).fit(TrainingData(BLOCKS, item_metadata=rare))

    def test_corrupt_vocabulary_is_refused(self, tmp_path):
        model = self.fitted()
        save_model(model, tmp_path / "m")
        loaded = load_model(tmp_path / "m")
        assert loaded.vocabulary.tolist() == model.vocabulary.tolist() and loaded.vocabulary.dtype.kind == "U"
        assert loaded.term_contributions(0, BLOCKS, [1, 2], 3) == model.term_contributions(0, BLOCKS, [1, 2], 3)
        state = dict(model.state())
        state["vocabulary"] = state["vocabulary"][:-1]
        with pytest.raises(ValueError, match="inconsistent"):
            self.make().restore(state, N_USERS, N_ITEMS)


class TestSVD(ModelContract):
    model = "svd"
    params: ClassVar[dict] = {"factors": 4, "iterations": 100, "learning_rate": 0.05}
    train = RATED


class TestSVDpp(ModelContract):
    model = "svdpp"
    params: ClassVar[dict] = {"factors": 4, "iterations": 100, "learning_rate": 0.05}
    train = RATED


class TestRandom(ModelContract):
    model = "random"
    personalised = False  # scores everyone, new users too

    def test_known_right_answer(self):
        # no answer to know: the scores are the seeded hash, and the user's own block is no likelier
        from recsys_cli.models.random_scores import random_scores

        scores = self.fitted().score(ACTIVE, BLOCKS)
        assert np.array_equal(scores, random_scores(1, ACTIVE, N_ITEMS))
        top = top_unseen(scores, ACTIVE, BLOCKS, 5)
        assert ((top // BLOCK_ITEMS) == (ACTIVE // GROUP_USERS)[:, None]).mean() < 0.5  # chance: 6/42


class TestHybrid(ModelContract):
    model = "hybrid"
    params: ClassVar[dict] = {"factors": 4, "regularization": 1.0, "iterations": 15}
    factors_model = True


class TestSegmentPopular(ModelContract):
    model = "segment-popular"
    # each block group is its own (gender, age band) segment in block_user_metadata; 15 users each
    params: ClassVar[dict] = {"min_users": 5}

    def test_known_users(self):
        # every user is scored by the model itself: a segment's list, or global popularity without one
        known = self.fitted().known_users(BLOCKS)
        assert known.dtype == bool and known.shape == (N_USERS,) and known.all()


def test_every_model_has_a_contract_class():
    tested = {cls.model for cls in ModelContract.__subclasses__()}
    assert tested == set(MODEL_NAMES)


def test_transposed_factors_are_caught():
    from recsys_cli.models.factorization import _check_factors

    fake = types.SimpleNamespace(user_factors=np.zeros((N_ITEMS, 4)), item_factors=np.zeros((N_USERS, 4)))
    with pytest.raises(AssertionError, match=f"expected {N_USERS} x {N_ITEMS}"):
        _check_factors(fake, N_USERS, N_ITEMS, 4, "ALS")
    fine = types.SimpleNamespace(user_factors=np.zeros((N_USERS, 4)), item_factors=np.zeros((N_ITEMS, 4)))
    _check_factors(fine, N_USERS, N_ITEMS, 4, "ALS")
    with pytest.raises(AssertionError):
        _check_factors(fine, N_USERS, N_ITEMS, 5, "ALS")


# -- parameters ---------------------------------------------------------------------------------
def test_unknown_model_lists_the_valid_ones():
    with pytest.raises(UnknownNameError) as info:
        model_class("slim")
    # the hint names the models in order, the first 8 of them (UnknownNameError's limit)
    listed = sorted(MODEL_NAMES)[:8]
    assert info.value.hint == f"known models: {', '.join(listed)}" + (" ..." if len(MODEL_NAMES) > 8 else "")
    with pytest.raises(UnknownNameError, match="unknown model 'alss'") as info:
        model_class("alss")
    assert info.value.hint == "did you mean 'als'?"


@pytest.mark.parametrize(
    "model, params, fragment",
    [
        ("als", {"factors": 0}, "'factors' must be at least 1"),
        ("als", {"factors": "many"}, "'factors' must be int"),
        ("als", {"factors": 2.5}, "'factors' must be int"),
        ("als", {"factors": True}, "'factors' must be int"),
        ("als", {"alpha": 0}, "'alpha' must be greater than 0"),
        ("als", {"alpha": "nan"}, "'alpha' must be float"),
        ("als", {"regularization": -1}, "at least 0"),
        ("als", {"weighting": "idf"}, "must be one of none, bm25, tfidf"),
        ("als", {"learning-rate": 0.1}, "model 'als' has no parameter 'learning-rate'"),
        ("bpr", {"learning_rate": 0}, "greater than 0"),
        ("bpr", {"iterations": 0}, "at least 1"),
        ("item-knn", {"similarity": "foo"}, "must be one of cosine, bm25, tfidf"),
        ("item-knn", {"neighbours": 0}, "at least 1"),
        ("item-knn", {"alpha": 1.0}, "has no parameter 'alpha'"),
        ("ease", {"regularization": 0}, "greater than 0"),
        ("ease", {"memory_fraction": "lots"}, "must be float"),
        ("popular", {"window_days": 0}, "greater than 0"),
        ("popular", {"factors": 8}, "its parameters are: window-days"),
        ("content", {"min_df": 0}, "'min_df' must be at least 1"),
        ("content", {"title_weight": -1}, "'title_weight' must be at least 0"),
    ],
)
def test_invalid_parameters_are_refused(model, params, fragment):
    with pytest.raises(InvalidParameterError) as info:
        create_model(model_class(model), params)
    assert fragment in str(info.value)


def test_parameters_from_strings_are_typed():
    model = create_model(model_class("als"), {"factors": "8", "alpha": "1.5", "weighting": "bm25"})
    assert model.params.factors == 8 and model.params.alpha == 1.5 and model.params.weighting == "bm25"
    popular = create_model(model_class("popular"), {"window-days": "none"})
    assert popular.params.window_days is None
