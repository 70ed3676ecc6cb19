"""Item-based nearest neighbours (implicit's cosine / BM25 / TF-IDF item-item models).

implicit keeps the K most similar items of every item (a sparse items x items
matrix); a user's score for an item is the sum of its similarities to the
user's past items, ``user_items @ similarity``, exactly as implicit scores it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_cli.models.base import CandidateModel, ModelParams, TrainingData, param, strongest_contributions
from recsys_cli.models.factorization import implicit_environment
from recsys_cli.reporting import Reporter

SIMILARITIES = ("cosine", "bm25", "tfidf")


@dataclass(frozen=True)
class ItemKNNParams(ModelParams):
    neighbours: int = param(100, "similar items kept per item", min=1)
    similarity: str = param("bm25", "item-item similarity", choices=SIMILARITIES)
    bm25_k1: float = param(1.2, "BM25 K1 (with similarity=bm25)", gt=0.0)
    bm25_b: float = param(0.3, "BM25 B (with similarity=bm25)", min=0.0)


class ItemKNNModel(CandidateModel):
    name = "item-knn"
    explainable = True
    description = "implicit item-item nearest neighbours (cosine, BM25 or TF-IDF)"
    Params = ItemKNNParams

    def __init__(self, params=None, seed: int = 42):
        super().__init__(params, seed)
        self.similarity: sp.csr_matrix | None = None

    def _fit(self, data: TrainingData, reporter: Reporter) -> None:
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender, TFIDFRecommender

        p = self.params
        if p.similarity == "bm25":
            model = BM25Recommender(K=p.neighbours, K1=p.bm25_k1, B=p.bm25_b)
        elif p.similarity == "tfidf":
            model = TFIDFRecommender(K=p.neighbours)
        else:
            model = CosineRecommender(K=p.neighbours)
        with reporter.task(f"item-knn ({p.similarity})", total=1) as task, implicit_environment():
            model.fit(data.user_items, show_progress=False)
            task.advance()
        similarity = sp.csr_matrix(model.similarity, dtype=np.float32)
        if similarity.shape != (self.n_items, self.n_items):
            raise AssertionError(f"item-knn similarity has shape {similarity.shape}, expected {self.n_items} square")
        similarity.sort_indices()
        self.similarity = similarity

    def score(self, users: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        scores = (user_items[users] @ self.similarity).toarray()
        return scores.astype(np.float32, copy=False)

    def contributions(self, user: int, user_items: sp.csr_matrix, items: list[int], n: int):
        row = user_items[user]
        return [
            strongest_contributions(
                row.indices, np.asarray(self.similarity[row.indices][:, [item]].todense()).ravel() * row.data, n
            )
            for item in items
        ]

    def state(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"similarity_data": s.data, "similarity_indices": s.indices, "similarity_indptr": s.indptr}

    def expected_state(self) -> dict[str, tuple[tuple[int, ...], str]]:
        # nnz is data-dependent; the indptr length and the dtype kinds are not
        return {
            "similarity_data": ((-1,), "f"),
            "similarity_indices": ((-1,), "i"),
            "similarity_indptr": ((self.n_items + 1,), "i"),
        }

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        data, indices, indptr = (state[k] for k in ("similarity_data", "similarity_indices", "similarity_indptr"))
        if (
            data.shape != indices.shape
            or indptr[-1] != data.size
            or (np.diff(indptr) < 0).any()
            or (indices.size and (indices.min() < 0 or indices.max() >= self.n_items))
        ):
            raise ValueError("inconsistent sparse similarity arrays")
        self.similarity = sp.csr_matrix((data, indices, indptr), shape=(self.n_items, self.n_items))
