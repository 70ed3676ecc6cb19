"""Matrix factorisation with implicit: ALS and BPR.

Both learn user and item vectors whose inner product is the score, so both can
feed the Annoy index. implicit's CPU classes are used directly (not the
``implicit.als`` factory, which would pick a GPU when one exists and make the
factors depend on the machine). BLAS is pinned to one thread around ``fit`` as
implicit advises: its own threads already parallelise over users, and a
multi-threaded BLAS underneath both slows it down and makes the Gram matrix's
rounding depend on the thread count.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_cli.models.base import CandidateModel, ModelParams, TrainingData, param
from recsys_cli.reporting import Reporter

WEIGHTINGS = ("none", "bm25", "tfidf")


def weight_confidence(user_items: sp.csr_matrix, weighting: str, bm25_k1: float, bm25_b: float) -> sp.csr_matrix:
    """implicit's bm25 / tf-idf reweighting with users as the documents and items as the terms.

    Measured on ML-100K (docs/models.md): this orientation keeps ALS at its unweighted level,
    while items as documents (the orientation of implicit's lastfm example) lost 0.09 nDCG@10.
    """
    if weighting == "none":
        return user_items
    from implicit.nearest_neighbours import bm25_weight, tfidf_weight

    weighted = bm25_weight(user_items, K1=bm25_k1, B=bm25_b) if weighting == "bm25" else tfidf_weight(user_items)
    return sp.csr_matrix(weighted, dtype=np.float32)


@contextmanager
def implicit_environment():
    """BLAS pinned to one thread (implicit checks this when a model is built, so build inside),
    and implicit's notices about input conversions kept off the user's terminal."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1, "blas"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*expects CSR input.*")
        yield


def _fit_with_progress(model, user_items: sp.csr_matrix, iterations: int, label: str, reporter: Reporter) -> None:
    with reporter.task(label, total=iterations) as task:
        model.fit(user_items, show_progress=False, callback=lambda *_: task.advance())


def _check_factors(model, n_users: int, n_items: int, width: int, name: str) -> None:
    # A transposed input fits without complaint and silently swaps users and items.
    users, items = model.user_factors.shape[0], model.item_factors.shape[0]
    if (users, items) != (n_users, n_items) or model.item_factors.shape[1] != width:
        raise AssertionError(
            f"{name} returned factors for {users} users x {items} items, expected {n_users} x {n_items}"
        )


class FactorModel(CandidateModel):
    """Shared scoring and persistence for models with user and item factors."""

    indexable = True
    factor_width_extra = 0  # BPR stores an item bias as one more column

    def __init__(self, params=None, seed: int = 42):
        super().__init__(params, seed)
        self.user_factors: np.ndarray | None = None
        self.item_factors: np.ndarray | None = None

    def score(self, users: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T

    def item_embeddings(self) -> np.ndarray:
        return self.item_factors

    def user_embeddings(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users]

    def state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def expected_state(self) -> dict[str, tuple[tuple[int, ...], str]]:
        width = self.params.factors + self.factor_width_extra
        return {"user_factors": ((self.n_users, width), "f"), "item_factors": ((self.n_items, width), "f")}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.user_factors = np.ascontiguousarray(state["user_factors"], dtype=np.float32)
        self.item_factors = np.ascontiguousarray(state["item_factors"], dtype=np.float32)


@dataclass(frozen=True)
class ALSParams(ModelParams):
    factors: int = param(64, "latent factors per user and item", min=1)
    regularization: float = param(20.0, "L2 penalty on the factors", min=0.0)
    alpha: float = param(2.0, "confidence given to an observed interaction (implicit's alpha)", gt=0.0)
    iterations: int = param(15, "alternating sweeps", min=1)
    weighting: str = param("none", "confidence weighting of the train matrix", choices=WEIGHTINGS)
    bm25_k1: float = param(100.0, "BM25 K1 (with weighting=bm25)", gt=0.0)
    bm25_b: float = param(0.8, "BM25 B (with weighting=bm25)", min=0.0)


class ALSModel(FactorModel):
    name = "als"
    explainable = True
    description = "implicit AlternatingLeastSquares (Hu, Koren & Volinsky 2008), conjugate gradient"
    Params = ALSParams

    def _fit(self, data: TrainingData, reporter: Reporter) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        p = self.params
        user_items = weight_confidence(data.user_items, p.weighting, p.bm25_k1, p.bm25_b)
        with implicit_environment():
            model = AlternatingLeastSquares(
                factors=p.factors,
                regularization=p.regularization,
                alpha=p.alpha,
                iterations=p.iterations,
                random_state=self.seed,
            )
            _fit_with_progress(model, user_items, p.iterations, "ALS", reporter)
        _check_factors(model, self.n_users, self.n_items, p.factors, "ALS")
        self.user_factors, self.item_factors = model.user_factors, model.item_factors

    def contributions(self, user: int, user_items: sp.csr_matrix, items: list[int], n: int):
        return [contributions for _, contributions in self.explain_many(user, user_items, items, n)]

    def explain(self, user: int, user_items: sp.csr_matrix, item: int, n: int = 5):
        """implicit's explanation of one score: (total, [(past item, contribution), ...])."""
        return self.explain_many(user, user_items, [item], n)[0]

    def explain_many(self, user: int, user_items: sp.csr_matrix, items: list[int], n: int = 5):
        """``explain`` for several items of one user: the weighting and the user's Cholesky
        factor are computed once and reused (implicit returns the factor for exactly this)."""
        from implicit.cpu.als import AlternatingLeastSquares

        p = self.params
        row = weight_confidence(user_items, p.weighting, p.bm25_k1, p.bm25_b)[user]
        explained = []
        with implicit_environment():
            model = AlternatingLeastSquares(factors=p.factors, regularization=p.regularization, alpha=p.alpha)
            model.user_factors, model.item_factors = self.user_factors, self.item_factors
            factor = None
            for item in items:
                total, contributions, factor = model.explain(0, row, item, user_weights=factor, N=n)
                explained.append((float(total), [(int(i), float(s)) for i, s in contributions]))
        return explained


@dataclass(frozen=True)
class BPRParams(ModelParams):
    factors: int = param(64, "latent factors per user and item", min=1)
    learning_rate: float = param(0.005, "SGD step size", gt=0.0)
    regularization: float = param(0.001, "L2 penalty", min=0.0)
    iterations: int = param(100, "epochs over the train interactions", min=1)


class BPRModel(FactorModel):
    name = "bpr"
    description = "implicit BayesianPersonalizedRanking (Rendle et al. 2009), one thread for determinism"
    Params = BPRParams
    factor_width_extra = 1

    def _fit(self, data: TrainingData, reporter: Reporter) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        p = self.params
        # Hogwild SGD over several threads makes the factors depend on thread timing.
        with implicit_environment():
            model = BayesianPersonalizedRanking(
                factors=p.factors,
                learning_rate=p.learning_rate,
                regularization=p.regularization,
                iterations=p.iterations,
                random_state=self.seed,
                num_threads=1,
            )
            _fit_with_progress(model, data.user_items, p.iterations, "BPR", reporter)
        _check_factors(model, self.n_users, self.n_items, p.factors + 1, "BPR")
        self.user_factors, self.item_factors = model.user_factors, model.item_factors
