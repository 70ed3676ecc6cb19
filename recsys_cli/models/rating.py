"""Rating prediction with scikit-surprise: ``svd`` (biased matrix factorisation) and ``svdpp`` (SVD++).

Both estimate the rating a user would give an item (Koren, Bell & Volinsky 2009; Koren 2008)::

    svd     r_ui = mu + b_u + b_i + q_i . p_u
    svdpp   r_ui = mu + b_u + b_i + q_i . (p_u + |I_u|^-1/2 sum_{j in I_u} y_j)

learned by surprise's stochastic gradient descent (Funk style: one rating at a time, in surprise's
order, so one seed gives one model). surprise is used for the fit only: its model objects are
never saved (surprise's ``dump`` is pickle). After ``fit`` the learned arrays are copied into plain
numpy arrays indexed by *our* user and item indices (our indices are surprise's raw ids; its inner
ids are mapped back), and every prediction is computed here from those arrays, with surprise's own
rules (``SVD.estimate``, ``SVDpp.estimate``, ``AlgoBase.predict``):

* a user without train ratings gets no b_u and no factor term (mu + b_i);
* an item without train ratings gets no b_i and no factor term (mu + b_u); neither: mu;
* with ``biased=false`` (svd), a pair whose user or item is unknown gets mu, the others q_i . p_u;
* ``predict_ratings`` clips to the train ratings' [min, max]; ``score`` (the ranking) does not,
  so items above the top of the scale stay apart.

I_u, for svdpp, is the user's rated items: the structure of the ``user_items`` rows given to
``score`` and ``predict_ratings`` (the train part, in a run), never its values.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import InvalidParameterError
from recsys_cli.models.base import CandidateModel, ModelParams, TrainingData, param
from recsys_cli.reporting import Reporter

_BATCH = 100_000  # pairs per block in predict_ratings: bounds the gathered factor rows (batch x factors)


@dataclass(frozen=True)
class SVDParams(ModelParams):
    factors: int = param(100, "latent factors per user and item (surprise's n_factors)", min=1)
    iterations: int = param(20, "SGD epochs over the train ratings (n_epochs)", min=1)
    learning_rate: float = param(0.005, "SGD step size of every bias and factor (lr_all)", gt=0.0)
    regularization: float = param(0.02, "L2 penalty on every bias and factor (reg_all)", min=0.0)
    init_mean: float = param(0.0, "mean of the factors' normal initialisation (init_mean)")
    init_std: float = param(0.1, "standard deviation of the factors' initialisation (init_std_dev)", min=0.0)
    biased: bool = param(True, "learn the global mean and the user and item biases (false: q_i . p_u alone)")


@dataclass(frozen=True)
class SVDppParams(ModelParams):
    factors: int = param(20, "latent factors per user and item (surprise's n_factors)", min=1)
    iterations: int = param(20, "SGD epochs over the train ratings (n_epochs)", min=1)
    learning_rate: float = param(0.007, "SGD step size of every bias and factor (lr_all)", gt=0.0)
    regularization: float = param(0.02, "L2 penalty on every bias and factor (reg_all)", min=0.0)
    init_mean: float = param(0.0, "mean of the factors' normal initialisation (init_mean)")
    init_std: float = param(0.1, "standard deviation of the factors' initialisation (init_std_dev)", min=0.0)


def surprise_trainset(ratings: sp.csr_matrix):
    """``ratings`` (one rating per stored cell) as a surprise Trainset, with our indices as raw ids and
    the ratings' [min, max] as the scale; the ratings go in user by user, items ascending, which fixes
    surprise's inner ids and the order its SGD visits them."""
    from surprise import Dataset, Reader

    ratings = ratings.copy()
    ratings.sort_indices()
    users = np.repeat(np.arange(ratings.shape[0]), np.diff(ratings.indptr))
    values = ratings.data.astype(np.float64)
    scale = (float(values.min()), float(values.max()))
    rows = list(zip(users.tolist(), ratings.indices.tolist(), values.tolist(), [None] * values.size))
    return Dataset(Reader(rating_scale=scale)).construct_trainset(rows)


def _by_raw_id(trainset, learned: np.ndarray, kind: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """surprise's per-inner-id rows (``kind``: 'u' or 'i') put at our indices: (array, known mask).
    Rows of users or items without train ratings stay zero, which is what surprise's estimate adds
    for them (nothing)."""
    to_raw = trainset.to_raw_uid if kind == "u" else trainset.to_raw_iid
    raw = np.array([to_raw(inner) for inner in range(learned.shape[0])], dtype=np.int64)
    out = np.zeros((size, *learned.shape[1:]), dtype=np.float64)
    out[raw] = learned
    known = np.zeros(size, dtype=bool)
    known[raw] = True
    return out, known


class RatingModel(CandidateModel):
    """Shared fitting, prediction and persistence of the surprise factor models."""

    predicts_ratings = True
    implicit_feedback = False  # svdpp: the user's rated items add sum y_j / sqrt(|I_u|) to p_u

    def __init__(self, params=None, seed: int = 42):
        super().__init__(params, seed)
        self.global_mean = 0.0
        self.rating_scale = (0.0, 0.0)
        self.user_bias: np.ndarray | None = None
        self.item_bias: np.ndarray | None = None
        self.user_factors: np.ndarray | None = None
        self.item_factors: np.ndarray | None = None
        self.implicit_factors: np.ndarray | None = None  # svdpp's y_j
        self.user_known: np.ndarray | None = None
        self.item_known: np.ndarray | None = None

    @property
    def biased(self) -> bool:
        return getattr(self.params, "biased", True)

    @abstractmethod
    def _algorithm(self):
        """The surprise algorithm with this model's parameters and seed."""

    def _surprise_arguments(self) -> dict:
        """The parameters svd and svdpp share, under surprise's names (docs/models.md maps them)."""
        p = self.params
        return {
            "n_factors": p.factors,
            "n_epochs": p.iterations,
            "init_mean": p.init_mean,
            "init_std_dev": p.init_std,
            "lr_all": p.learning_rate,
            "reg_all": p.regularization,
            "random_state": self.seed,
        }

    # -- learning ------------------------------------------------------------------------
    def _fit(self, data: TrainingData, reporter: Reporter) -> None:
        ratings = data.user_items
        distinct = np.unique(ratings.data)
        if distinct.size < 2:
            raise InvalidParameterError(
                f"the train part holds a single rating value ({distinct[0]:g}): model '{self.name}' predicts "
                "ratings and has none to learn from",
                "a split filtered with --min-rating can leave one value: lower it; a file ingested without "
                "its rating column (--rating-col) has none; or use an implicit model such as als",
            )
        trainset = surprise_trainset(ratings)
        algorithm = self._algorithm()
        with reporter.task(f"{self.name} (scikit-surprise SGD, {self.params.iterations} epochs)", total=1) as task:
            with np.errstate(all="ignore"):  # a diverging SGD overflows; it is refused just below
                algorithm.fit(trainset)
            task.advance()
        learned = [algorithm.bu, algorithm.bi, algorithm.pu, algorithm.qi]
        if self.implicit_feedback:
            learned.append(algorithm.yj)
        if not all(np.isfinite(np.asarray(a)).all() for a in learned):
            # saved, such a model would only be called a damaged file by every later read
            raise InvalidParameterError(
                f"model '{self.name}' diverged: its SGD with learning rate {self.params.learning_rate:g} grew its "
                "biases and factors to infinity",
                f"lower the learning rate (-p learning-rate=..., default {type(self.params)().learning_rate:g}) or "
                "raise the regularization",
            )
        self.global_mean = float(trainset.global_mean)
        self.rating_scale = (float(distinct[0]), float(distinct[-1]))
        self.user_bias, self.user_known = _by_raw_id(trainset, np.asarray(algorithm.bu), "u", self.n_users)
        self.item_bias, self.item_known = _by_raw_id(trainset, np.asarray(algorithm.bi), "i", self.n_items)
        self.user_factors, _ = _by_raw_id(trainset, np.asarray(algorithm.pu), "u", self.n_users)
        self.item_factors, _ = _by_raw_id(trainset, np.asarray(algorithm.qi), "i", self.n_items)
        if self.implicit_feedback:
            self.implicit_factors, _ = _by_raw_id(trainset, np.asarray(algorithm.yj), "i", self.n_items)

    # -- prediction ------------------------------------------------------------------------
    def _user_vectors(self, users: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """p_u (plus svdpp's implicit term) per user; zero for users without train ratings."""
        vectors = self.user_factors[users]
        if self.implicit_feedback:
            rated = sp.csr_matrix(user_items[users], dtype=np.float64, copy=True)
            rated.data[:] = 1.0  # which items, not their ratings (a rating of 0 is still a rated item)
            counts = np.diff(rated.indptr).astype(np.float64)
            implicit = np.asarray(rated @ self.implicit_factors) / np.sqrt(np.maximum(counts, 1.0))[:, None]
            vectors = vectors + implicit * self.user_known[users][:, None]
        return vectors

    def _estimates(self, users: np.ndarray, items: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """Unclipped estimates of the (users[j], items[j]) pairs, as surprise's ``estimate``."""
        unique, inverse = np.unique(users, return_inverse=True)
        vectors = self._user_vectors(unique, user_items)[inverse]
        both = self.user_known[users] & self.item_known[items]
        dot = np.einsum("ij,ij->i", vectors, self.item_factors[items])
        if not self.biased:
            return np.where(both, dot, self.global_mean)
        # unknown users and items have zero biases and factors: surprise adds nothing for them
        return self.global_mean + self.user_bias[users] + self.item_bias[items] + np.where(both, dot, 0.0)

    def predict_ratings(self, users: np.ndarray, items: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        users, items = self._check_pairs(users, items, user_items)
        out = np.empty(users.size, dtype=np.float64)
        for start in range(0, users.size, _BATCH):
            block = slice(start, start + _BATCH)
            out[block] = self._estimates(users[block], items[block], user_items)
        return np.clip(out, *self.rating_scale)

    def score(self, users: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        users = np.asarray(users, dtype=np.int64)
        dot = self._user_vectors(users, user_items) @ self.item_factors.T
        if self.biased:
            scores = self.global_mean + self.user_bias[users][:, None] + self.item_bias[None, :] + dot
        else:
            both = self.user_known[users][:, None] & self.item_known[None, :]
            scores = np.where(both, dot, self.global_mean)
        return scores.astype(np.float32)

    def known_users(self, user_items: sp.csr_matrix) -> np.ndarray:
        return self.user_known.copy()

    def _check_pairs(self, users, items, user_items) -> tuple[np.ndarray, np.ndarray]:
        users, items = np.asarray(users), np.asarray(items)
        if users.ndim != 1 or users.shape != items.shape:
            raise InvalidParameterError(
                f"users and items must be 1-D arrays of one length, got shapes {users.shape} and {items.shape}",
                "pass one user index and one item index per rating to predict",
            )
        for name, values, size in (("users", users, self.n_users), ("items", items, self.n_items)):
            if values.size and (
                not np.issubdtype(values.dtype, np.integer) or values.min() < 0 or values.max() >= size
            ):
                raise InvalidParameterError(
                    f"{name} must hold integer indices in [0, {size})", "index them like the train matrix"
                )
        if user_items.shape != (self.n_users, self.n_items):
            raise InvalidParameterError(
                f"user_items has shape {user_items.shape}, expected {(self.n_users, self.n_items)}",
                "pass the train matrix the model was fitted on",
            )
        return users.astype(np.int64), items.astype(np.int64)

    # -- persistence -----------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        state = {
            "global_mean": np.array([self.global_mean]),
            "rating_scale": np.array(self.rating_scale),
            "user_bias": self.user_bias,
            "item_bias": self.item_bias,
            "user_factors": self.user_factors,
            "item_factors": self.item_factors,
            "user_known": self.user_known,
            "item_known": self.item_known,
        }
        if self.implicit_feedback:
            state["implicit_factors"] = self.implicit_factors
        return state

    def expected_state(self) -> dict[str, tuple[tuple[int, ...], str]]:
        users, items, width = self.n_users, self.n_items, self.params.factors
        expected = {
            "global_mean": ((1,), "f"),
            "rating_scale": ((2,), "f"),
            "user_bias": ((users,), "f"),
            "item_bias": ((items,), "f"),
            "user_factors": ((users, width), "f"),
            "item_factors": ((items, width), "f"),
            "user_known": ((users,), "b"),
            "item_known": ((items,), "b"),
        }
        if self.implicit_feedback:
            expected["implicit_factors"] = ((items, width), "f")
        return expected

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        low, high = (float(v) for v in state["rating_scale"])
        if low > high:
            raise ValueError(f"rating scale [{low}, {high}] is reversed")
        self.global_mean, self.rating_scale = float(state["global_mean"][0]), (low, high)
        for name in ("user_bias", "item_bias", "user_factors", "item_factors"):
            setattr(self, name, np.ascontiguousarray(state[name], dtype=np.float64))
        self.user_known = np.asarray(state["user_known"], dtype=bool)
        self.item_known = np.asarray(state["item_known"], dtype=bool)
        if self.implicit_feedback:
            self.implicit_factors = np.ascontiguousarray(state["implicit_factors"], dtype=np.float64)


class SVDModel(RatingModel):
    name = "svd"
    description = "scikit-surprise SVD: biased matrix factorisation by SGD (Funk), predicts ratings (RMSE, MAE)"
    Params = SVDParams

    def _algorithm(self):
        from surprise import SVD

        return SVD(biased=self.params.biased, **self._surprise_arguments())


class SVDppModel(RatingModel):
    name = "svdpp"
    description = "scikit-surprise SVD++: SVD plus the implicit feedback of which items a user rated"
    Params = SVDppParams
    implicit_feedback = True

    def _algorithm(self):
        from surprise import SVDpp

        # cache_ratings keeps each user's rated items as C arrays: same arithmetic, about 1.3x faster
        return SVDpp(cache_ratings=True, **self._surprise_arguments())
