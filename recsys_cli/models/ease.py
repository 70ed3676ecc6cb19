"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data").

Closed form: with the item Gram matrix G = XᵀX + λI and P = G⁻¹, the item-item
weights are B = -P / diag(P) (column-wise) with a zero diagonal, and a user's
scores are x_u B. The cost is a dense n_items x n_items inverse, so the model
refuses catalogues whose matrices would not fit in memory, before allocating,
and warns before a model file beyond LARGE_MODEL_BYTES. ``max_items`` keeps the
most popular items only (the model is then max_items x max_items; the other
items score -inf, so they are never recommended).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import ResourceLimitError
from recsys_cli.models.base import CandidateModel, ModelParams, TrainingData, param, strongest_contributions
from recsys_cli.models.popular import item_counts
from recsys_cli.reporting import Reporter

# the float64 Gram matrix (inverted in place) and the float32 weights live at the same time
_BYTES_PER_CELL = 8 + 4
# the saved weights (float32) beyond which training warns first: ml-20m's 26,744 items make 2.9 GB
LARGE_MODEL_BYTES = 500 * 10**6


def physical_memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return None


def _symmetric_inverse(matrix: np.ndarray, block: int = 1024) -> np.ndarray:
    """Inverse of a symmetric positive definite matrix through Cholesky (LAPACK potrf + potri),
    in place: about twice as fast as np.linalg.inv on ml-latest-small and no second n x n copy."""
    from scipy.linalg import lapack

    factor, info = lapack.dpotrf(matrix, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        raise ArithmeticError(f"Cholesky factorisation failed (LAPACK info {info})")
    inverse, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise ArithmeticError(f"inverse from the Cholesky factor failed (LAPACK info {info})")
    # potri fills the upper triangle only: mirror it, a block of rows at a time
    n = inverse.shape[0]
    for start in range(0, n, block):
        stop = min(start + block, n)
        inverse[start:stop, :start] = inverse[:start, start:stop].T
        diagonal = inverse[start:stop, start:stop]
        diagonal[np.tril_indices(stop - start, -1)] = diagonal.T[np.tril_indices(stop - start, -1)]
    return inverse


def _size(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:.1f} MiB"


def ease_memory_bytes(n_items: int) -> int:
    return n_items * n_items * _BYTES_PER_CELL


def ease_model_bytes(n_items: int) -> int:
    """The weights' size on disk (and in memory when loaded): n_items^2 float32."""
    return n_items * n_items * 4


@dataclass(frozen=True)
class EASEParams(ModelParams):
    regularization: float = param(500.0, "lambda added to the Gram matrix's diagonal", gt=0.0)
    memory_fraction: float = param(
        0.5, "refuse when the dense matrices would need more than this share of physical memory", gt=0.0
    )
    max_items: Optional[int] = param(
        None, "keep only the N items most train users saw: the model is N x N, the others are never recommended", min=1
    )


class EASEModel(CandidateModel):
    name = "ease"
    explainable = True
    description = "EASE closed-form item-item autoencoder (Steck 2019)"
    Params = EASEParams

    def __init__(self, params=None, seed: int = 42):
        super().__init__(params, seed)
        self.weights: np.ndarray | None = None
        # the items the weights cover (ascending dataset indices); None: every item
        self.items: np.ndarray | None = None

    def _kept(self, n_items: int) -> int:
        """How many items the weights cover."""
        max_items = self.params.max_items
        return n_items if max_items is None else min(max_items, n_items)

    def _subset(self, n_items: int) -> bool:
        return self._kept(n_items) < n_items

    def check_shape(self, n_users: int, n_items: int) -> None:
        kept = self._kept(n_items)
        needed = ease_memory_bytes(kept)
        memory = physical_memory_bytes()
        if memory is not None and needed > self.params.memory_fraction * memory:
            raise ResourceLimitError(
                f"EASE on {kept:,} items needs about {_size(needed)} of dense matrices, more than "
                f"{self.params.memory_fraction:g} x this machine's {_size(memory)} (memory-fraction)",
                "pass --max-items N to keep the N most popular items, use als or item-knn on this catalogue, "
                "or filter rare items first (recsys split --k-core)",
            )

    def shape_warnings(self, n_users: int, n_items: int) -> list[str]:
        kept = self._kept(n_items)
        size = ease_model_bytes(kept)
        if size <= LARGE_MODEL_BYTES:
            return []
        fits = max(int((LARGE_MODEL_BYTES / 4) ** 0.5), 1)
        fits = fits // 1000 * 1000 or fits  # a round number of items, when there are thousands
        return [
            f"EASE on {kept:,} items writes a {_size(size)} model ({kept:,}^2 float32 weights) and needs about "
            f"{_size(ease_memory_bytes(kept))} to fit: pass --max-items {fits} (or fewer) to keep only the most "
            f"popular items ({_size(ease_model_bytes(fits))}), or use item-knn, whose model stays sparse"
        ]

    def _fit(self, data: TrainingData, reporter: Reporter) -> None:
        n_items = self._kept(self.n_items)
        self.items = None
        with reporter.task("EASE (Gram matrix inverse)", total=2) as task:
            binary = data.user_items.copy()
            binary.data[:] = 1.0
            if self._subset(self.n_items):
                counts = item_counts(binary)
                # the most seen items, ties to the lower index; kept in index order
                self.items = np.sort(np.lexsort((np.arange(counts.size), -counts))[:n_items]).astype(np.int64)
                binary = binary[:, self.items]
            gram = (binary.T @ binary).toarray().astype(np.float64)
            gram[np.diag_indices(n_items)] += self.params.regularization
            task.advance()
            precision = _symmetric_inverse(gram)  # gram's memory is reused
            # B = -P / diag(P), column by column, in place
            precision /= -np.diag(precision).copy()[None, :]
            precision[np.diag_indices(n_items)] = 0.0
            self.weights = precision.astype(np.float32)
            task.advance()

    def score(self, users: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        rows = user_items[users]
        rows.data = np.ones_like(rows.data)  # EASE is defined on the binary matrix
        if self.items is None:
            return np.asarray(rows @ self.weights, dtype=np.float32)
        scores = np.full((len(users), self.n_items), -np.inf, dtype=np.float32)
        scores[:, self.items] = np.asarray(rows[:, self.items] @ self.weights, dtype=np.float32)
        return scores

    def contributions(self, user: int, user_items: sp.csr_matrix, items: list[int], n: int):
        past = user_items[user].indices  # EASE scores the binary row: x_u B
        if self.items is None:
            return [strongest_contributions(past, self.weights[past, item].astype(np.float64), n) for item in items]
        # past items outside the kept ones add nothing; a recommended item is always a kept one
        places = np.searchsorted(self.items, past)
        inside = (places < self.items.size) & (self.items[np.minimum(places, self.items.size - 1)] == past)
        past, rows = past[inside], places[inside]
        columns = np.searchsorted(self.items, items)
        return [strongest_contributions(past, self.weights[rows, c].astype(np.float64), n) for c in columns]

    def state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights} if self.items is None else {"weights": self.weights, "items": self.items}

    def expected_state(self) -> dict[str, tuple[tuple[int, ...], str]]:
        kept = self._kept(self.n_items)
        expected = {"weights": ((kept, kept), "f")}
        if self._subset(self.n_items):
            expected["items"] = ((kept,), "i")
        return expected

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.weights = np.ascontiguousarray(state["weights"], dtype=np.float32)
        self.items = None
        if "items" in state:
            items = np.asarray(state["items"], dtype=np.int64)
            if items.size and (items[0] < 0 or items[-1] >= self.n_items or (np.diff(items) <= 0).any()):
                raise ValueError("EASE's kept items must be distinct item indices in ascending order")
            self.items = items
