"""hybrid: ALS factors for warm items, factors mapped from metadata for new and rare ones.

Fit, on a split's train part:

1. ALS (:class:`~recsys_cli.models.factorization.ALSModel`, with the hybrid's ALS parameters) gives
   user factors U and item factors V.
2. The content model's TF-IDF (:class:`~recsys_cli.models.content.ContentModel`, with the hybrid's
   content parameters) gives each item an L2-normalised sparse vector x_i over metadata terms.
3. On the warm items (at least ``warm_threshold`` train interactions) a ridge regression maps
   content vectors to factors: W = argmin ||X_w W - V_w||^2 + ridge ||W||^2, in closed form,
   solved in term space, W = (X_w'X_w + ridge I)^-1 X_w'V_w, or in item space,
   W = X_w'(X_w X_w' + ridge I)^-1 V_w (the same W), whichever Gram matrix is smaller.
4. Items below the threshold (new items: none at all) get x_i W as their factors; warm items keep
   V_i; users keep U. The score is U_u . V_i, so the Annoy index serves the hybrid like ALS.

An item without metadata terms maps to the zero vector (it scores 0). The solve runs on one BLAS
thread, as every fit here does, so the factors do not depend on the machine's thread count.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import InvalidParameterError
from recsys_cli.models.base import TrainingData, param
from recsys_cli.models.content import ContentModel, ContentParams
from recsys_cli.models.factorization import ALSModel, ALSParams, FactorModel
from recsys_cli.reporting import Reporter

# The ridge system is dense: a side of 20,000 is a 3.2 GB Gram matrix and minutes of Cholesky.
MAX_RIDGE_SIDE = 20_000


def ridge_map(vectors: sp.csr_matrix, targets: np.ndarray, ridge: float) -> np.ndarray:
    """W (n_terms x width) minimising ||vectors W - targets||^2 + ridge ||W||^2, in float64."""
    from scipy.linalg import cho_solve
    from threadpoolctl import threadpool_limits

    x = sp.csr_matrix(vectors, dtype=np.float64)
    y = np.asarray(targets, dtype=np.float64)
    w = np.zeros((x.shape[1], y.shape[1]))
    # a term no row holds has W = 0 exactly (its normal equation is ridge * w = 0): leave it out
    used = np.flatnonzero(np.diff(x.tocsc().indptr) > 0)
    x = sp.csr_matrix(x[:, used])
    n_rows, n_terms = x.shape
    with threadpool_limits(1, "blas"):
        if n_terms <= n_rows:
            gram = _gram(sp.csr_matrix(x.T))
            gram[np.diag_indices_from(gram)] += ridge
            w[used] = cho_solve(_factor(gram), x.T @ y)
        else:
            gram = _gram(x)
            gram[np.diag_indices_from(gram)] += ridge
            w[used] = x.T @ cho_solve(_factor(gram), y)
    return w


def _factor(gram: np.ndarray):
    """The Cholesky factor, in place: LAPACK wants Fortran order and scipy copies a C-ordered array,
    but a symmetric matrix's transpose is itself, already in Fortran order."""
    from scipy.linalg import cho_factor

    return cho_factor(gram.T, overwrite_a=True)


def _gram(a: sp.csr_matrix, block: int = 1024) -> np.ndarray:
    """a a' as a dense array, a block of rows at a time: MovieLens items share genres, so the product is
    dense, and held whole as a sparse matrix first it took 12 bytes a cell on top of the dense 8."""
    out = np.empty((a.shape[0], a.shape[0]))
    at = sp.csc_matrix(a.T)
    for start in range(0, a.shape[0], block):
        out[start : start + block] = (a[start : start + block] @ at).toarray()
    return out


def _subset(params, cls):
    """``params``' values for the fields of ``cls`` (the hybrid's ALS or content part)."""
    return cls(**{f.name: getattr(params, f.name) for f in fields(cls)})


@dataclass(frozen=True)
class HybridParams(ContentParams, ALSParams):  # ALS's fields first, then content's, then these
    # Defaults measured on validation items carved from the train part of ML-100K's and ml-latest-small's
    # cold-items splits (docs/models.md, "Cold start: new items"): 1 (only items train never saw are
    # mapped) was best or level, since rare items' noisy ALS factors still teach the map more than they
    # mislead it, and their own ALS factors beat mapped ones on a warm split too.
    warm_threshold: int = param(
        1, "items with at least N train interactions keep their ALS factors; the others get mapped ones", min=1
    )
    ridge: float = param(10.0, "L2 penalty of the ridge regression from content vectors to item factors", gt=0.0)


class HybridModel(FactorModel):
    name = "hybrid"
    needs_item_metadata = True
    description = "ALS, with item factors for new and rare items mapped from their metadata (ridge regression)"
    Params = HybridParams

    def __init__(self, params=None, seed: int = 42):
        super().__init__(params, seed)
        self.mapped: np.ndarray | None = None  # n_items bool: factors from metadata, not from ALS
        self.projection: np.ndarray | None = None  # n_terms x factors: W
        self.vocabulary: np.ndarray | None = None  # n_terms strings, as the content model's
        self.idf: np.ndarray | None = None  # n_terms, as the content model's

    def _fit(self, data: TrainingData, reporter: Reporter) -> None:
        p = self.params
        if data.item_metadata is None:
            raise InvalidParameterError(
                "model 'hybrid' needs the items' metadata (titles, years, genres)",
                "pass TrainingData(..., item_metadata=ItemMetadata(...)); `recsys train` reads the dataset's",
            )
        counts = np.diff(data.user_items.tocsc().indptr)  # train users per item
        warm = counts >= p.warm_threshold
        if not warm.any():
            raise InvalidParameterError(
                f"no item has {p.warm_threshold} train interactions, so there is nothing to learn the "
                "metadata-to-factors map from",
                f"lower --warm-threshold (the most any item has is {int(counts.max())})",
            )
        content = ContentModel(_subset(p, ContentParams), seed=self.seed)
        content.fit(data, reporter)
        side = min(int(warm.sum()), content.vocabulary.size)
        if side > MAX_RIDGE_SIDE:
            raise InvalidParameterError(
                f"the ridge system would be {side:,} x {side:,} (at most {MAX_RIDGE_SIDE:,})",
                "raise --warm-threshold (fewer warm items) or --min-df (fewer metadata terms)",
            )
        als = ALSModel(_subset(p, ALSParams), seed=self.seed)
        als.fit(data, reporter)
        with reporter.task("hybrid (ridge map from metadata to factors)", total=1) as task:
            projection = ridge_map(content.vectors[warm], als.item_factors[warm], p.ridge)
            mapped_factors = np.asarray(content.vectors @ projection, dtype=np.float32)
            task.advance()
        self.user_factors = np.ascontiguousarray(als.user_factors, dtype=np.float32)
        self.item_factors = np.ascontiguousarray(np.where(warm[:, None], als.item_factors, mapped_factors))
        self.mapped = ~warm
        self.projection = projection.astype(np.float32)
        self.vocabulary, self.idf = content.vocabulary, content.idf

    # -- persistence -------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        return {
            **super().state(),
            "mapped": self.mapped,
            "projection": self.projection,
            "vocabulary": self.vocabulary,
            "idf": self.idf,
        }

    def expected_state(self) -> dict[str, tuple[tuple[int, ...], str]]:
        return {
            **super().expected_state(),
            "mapped": ((self.n_items,), "b"),
            "projection": ((-1, self.params.factors), "f"),
            "vocabulary": ((-1,), "U"),
            "idf": ((-1,), "f"),
        }

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        super()._restore(state)
        n_terms = state["vocabulary"].size
        if state["projection"].shape[0] != n_terms or state["idf"].size != n_terms:
            raise ValueError("the projection, vocabulary and idf describe different numbers of terms")
        self.mapped = np.asarray(state["mapped"], dtype=bool)
        self.projection = np.asarray(state["projection"], dtype=np.float32)
        self.vocabulary, self.idf = state["vocabulary"], np.asarray(state["idf"], dtype=np.float32)
