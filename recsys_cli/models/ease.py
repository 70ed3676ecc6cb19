"""EASE (Steck 2019, "Embarrassingly Shallow Autoencoders for Sparse Data").

Closed form: with the item Gram matrix G = XᵀX + λI and P = G⁻¹, the item-item
weights are B = -P / diag(P) (column-wise) with a zero diagonal, and a user's
scores are x_u B. The cost is a dense n_items x n_items inverse, so the model
refuses catalogues whose matrices would not fit in memory, before allocating.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import ResourceLimitError
from recsys_cli.models.base import CandidateModel, ModelParams, TrainingData, param, strongest_contributions
from recsys_cli.reporting import Reporter

# the float64 Gram matrix (inverted in place) and the float32 weights live at the same time
_BYTES_PER_CELL = 8 + 4


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


@dataclass(frozen=True)
class EASEParams(ModelParams):
    regularization: float = param(500.0, "lambda added to the Gram matrix's diagonal", gt=0.0)
    memory_fraction: float = param(
        0.5, "refuse when the dense matrices would need more than this share of physical memory", gt=0.0
    )


class EASEModel(CandidateModel):
    name = "ease"
    explainable = True
    description = "EASE closed-form item-item autoencoder (Steck 2019)"
    Params = EASEParams

    def __init__(self, params=None, seed: int = 42):
        super().__init__(params, seed)
        self.weights: np.ndarray | None = None

    def check_shape(self, n_users: int, n_items: int) -> None:
        needed = ease_memory_bytes(n_items)
        memory = physical_memory_bytes()
        if memory is not None and needed > self.params.memory_fraction * memory:
            raise ResourceLimitError(
                f"EASE on {n_items:,} items needs about {_size(needed)} of dense matrices, more than "
                f"{self.params.memory_fraction:g} x this machine's {_size(memory)} (memory-fraction)",
                "use als or item-knn on this catalogue, or filter rare items first (recsys split --k-core)",
            )

    def _fit(self, data: TrainingData, reporter: Reporter) -> None:
        n_items = self.n_items
        with reporter.task("EASE (Gram matrix inverse)", total=2) as task:
            binary = data.user_items.copy()
            binary.data[:] = 1.0
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
        return np.asarray(rows @ self.weights, dtype=np.float32)

    def contributions(self, user: int, user_items: sp.csr_matrix, items: list[int], n: int):
        past = user_items[user].indices  # EASE scores the binary row: x_u B
        return [strongest_contributions(past, self.weights[past, item].astype(np.float64), n) for item in items]

    def state(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights}

    def expected_state(self) -> dict[str, tuple[tuple[int, ...], str]]:
        return {"weights": ((self.n_items, self.n_items), "f")}

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        self.weights = np.ascontiguousarray(state["weights"], dtype=np.float32)
