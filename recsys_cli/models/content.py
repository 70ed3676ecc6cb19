"""Content-based candidates: TF-IDF item vectors from the dataset's own metadata.

Each item is a bag of terms: its genres (``genre:comedy``), the words of its title
(``title:star``; lower-cased, the trailing "(1995)" and a few stop words dropped), its
release decade (``decade:1990s``) and the tags people applied to it (``tag:dark comedy``, where the
dataset has a tags file). A term kept by ``min_df`` weighs idf = ln((1 + n) / (1 + df)) + 1
(n the catalogue's items, df the items holding the term: scikit-learn's smoothed idf), times
``title_weight``, ``decade_weight`` or ``tag_weight`` for those kinds of term; each item's vector is then
L2-normalised. A user's profile is the mean of their train items' vectors weighted by the matrix
values (1 per interaction, or the rating with ``--values rating``), and an item's score is the
cosine of the profile and the item's vector. Items without terms score 0; users whose history has
no item with terms get the fallback (``known_users``).

The model learns no weights from interactions: the item x term matrix is all it keeps (as CSR
arrays, with the vocabulary as a string array and each term's idf), so it is saved without pickle
like every other model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from recsys_cli.errors import InvalidParameterError
from recsys_cli.models.base import CandidateModel, ItemMetadata, ModelParams, TrainingData, param
from recsys_cli.reporting import Reporter

# words too common in titles to say anything about taste (idf would only shrink them)
STOP_WORDS = frozenset(
    "a an and at by de du el for from in is it la le les of on or the to with".split()  # English, French, Spanish
)
_YEAR_SUFFIX = re.compile(r"\s*\(\d{4}\)\s*$")
_WORD = re.compile(r"\w\w+")  # scikit-learn's default token pattern
KINDS = ("genre", "title", "decade", "tag")


def item_terms(metadata: ItemMetadata) -> list[list[str]]:
    """Each item's distinct terms: ``genre:<genre>``, ``title:<word>``, ``decade:<1990s>``, ``tag:<tag>``."""
    terms = []
    for title, year, genres, tags in zip(metadata.titles, metadata.years, metadata.genres, metadata.tags):
        found = {f"genre:{g.strip().lower()}" for g in genres if g and g.strip()}
        # a whole tag is one term: "dark comedy" says more than "dark" and "comedy" apart
        found |= {f"tag:{' '.join(t.lower().split())}" for t in tags if t and t.strip()}
        if title:
            words = _WORD.findall(_YEAR_SUFFIX.sub("", title).lower())
            found |= {f"title:{w}" for w in words if w not in STOP_WORDS and not w.isdigit()}
        if year is not None:
            found.add(f"decade:{year // 10 * 10}s")
        terms.append(sorted(found))
    return terms


@dataclass(frozen=True)
class ContentParams(ModelParams):
    min_df: int = param(
        1,
        "drop terms fewer than N items share (1 keeps all: a unique term matches nothing but dilutes its item)",
        min=1,
    )
    title_weight: float = param(0.5, "weight of title words against genres (0: genres and decades only)", min=0.0)
    decade_weight: float = param(1.0, "weight of release-decade terms against genres (0: none)", min=0.0)
    tag_weight: float = param(
        0.0, "weight of the tags people applied to items against genres (0, the default: none)", min=0.0
    )


class ContentModel(CandidateModel):
    name = "content"
    explainable = True
    explains_with = "terms"
    needs_item_metadata = True
    description = "content-based: TF-IDF of genres, tags, title words and release decades; cosine to the user's profile"
    Params = ContentParams

    def __init__(self, params=None, seed: int = 42):
        super().__init__(params, seed)
        self.vectors: sp.csr_matrix | None = None  # n_items x n_terms, rows L2-normalised (or empty)
        self.vocabulary: np.ndarray | None = None  # n_terms strings, sorted
        self.idf: np.ndarray | None = None  # n_terms

    def _fit(self, data: TrainingData, reporter: Reporter) -> None:
        metadata = data.item_metadata
        if metadata is None:
            raise InvalidParameterError(
                "model 'content' needs the items' metadata (titles, years, genres)",
                "pass TrainingData(..., item_metadata=ItemMetadata(...)); `recsys train` reads the dataset's",
            )
        if metadata.n_items != self.n_items:
            raise InvalidParameterError(
                f"the item metadata describes {metadata.n_items:,} items, the train matrix has {self.n_items:,}",
                "give one entry per item index",
            )
        with reporter.task("content (TF-IDF of item metadata)", total=1) as task:
            self._vectorise(item_terms(metadata))
            task.advance()

    def _vectorise(self, terms: list[list[str]]) -> None:
        p = self.params
        names = sorted({t for item in terms for t in item})
        column = {t: j for j, t in enumerate(names)}
        indptr = np.zeros(len(terms) + 1, dtype=np.int64)
        indptr[1:] = np.cumsum([len(item) for item in terms])
        indices = np.array([column[t] for item in terms for t in item], dtype=np.int64)
        counts = sp.csr_matrix((np.ones(indices.size), indices, indptr), shape=(len(terms), len(names)))
        df = np.diff(counts.tocsc().indptr)
        kept = np.flatnonzero(df >= p.min_df)
        if kept.size == 0:
            raise InvalidParameterError(
                f"no metadata term is shared by {p.min_df} items, so no item is similar to another",
                "lower --min-df, or use item-knn, als or ease, which learn from interactions alone",
            )
        vocabulary = np.array([names[j] for j in kept], dtype=str)
        idf = np.log((1.0 + self.n_items) / (1.0 + df[kept])) + 1.0
        kind = np.array([name.split(":", 1)[0] for name in vocabulary])
        kind_weight = {"title": p.title_weight, "decade": p.decade_weight, "tag": p.tag_weight}
        weights = idf * np.array([kind_weight.get(k, 1.0) for k in kind], dtype=np.float64)
        vectors = sp.csr_matrix(counts[:, kept] @ sp.diags(weights))
        vectors.eliminate_zeros()  # a zero weight removes that kind of term
        norms = np.sqrt(np.asarray(vectors.multiply(vectors).sum(axis=1)).ravel())
        vectors = sp.csr_matrix(sp.diags(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ vectors)
        vectors.sort_indices()
        self.vectors = vectors.astype(np.float32)
        self.vocabulary = vocabulary
        self.idf = idf.astype(np.float32)

    # -- scoring -----------------------------------------------------------------------
    def profiles(self, users: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        """The users' profiles, unit length (zero for a history without terms): dense users x terms."""
        rows = sp.csr_matrix(user_items[users], dtype=np.float64)
        totals = np.asarray(rows.sum(axis=1)).ravel()
        mean = np.asarray((rows @ self.vectors).todense(), dtype=np.float64)
        mean /= np.where(totals > 0, totals, 1.0)[:, None]  # the weighted mean (its length does not rank)
        norms = np.linalg.norm(mean, axis=1)
        return mean / np.where(norms > 0, norms, 1.0)[:, None]

    def score(self, users: np.ndarray, user_items: sp.csr_matrix) -> np.ndarray:
        profiles = self.profiles(np.asarray(users), user_items)
        return np.asarray((self.vectors @ profiles.T).T, dtype=np.float32)

    def known_users(self, user_items: sp.csr_matrix) -> np.ndarray:
        has_terms = (np.diff(self.vectors.indptr) > 0).astype(np.float64)
        return np.asarray(abs(user_items) @ has_terms).ravel() > 0

    def term_contributions(
        self, user: int, user_items: sp.csr_matrix, items: list[int], n: int
    ) -> list[list[tuple[str, float]]]:
        """For each of ``items``: the terms it shares with the user's profile that add most to its
        score (profile weight x item weight; the terms' sum over all of them is the score)."""
        profile = self.profiles(np.array([user]), user_items)[0]
        out = []
        for item in items:
            start, stop = self.vectors.indptr[item], self.vectors.indptr[item + 1]
            columns = self.vectors.indices[start:stop]
            weights = profile[columns] * self.vectors.data[start:stop]
            order = np.lexsort((columns, -weights))[:n]  # ties to the term first in the vocabulary
            out.append([(str(self.vocabulary[columns[i]]), float(weights[i])) for i in order if weights[i] > 0])
        return out

    # -- persistence -------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        v = self.vectors
        return {
            "item_terms_data": v.data,
            "item_terms_indices": v.indices,
            "item_terms_indptr": v.indptr,
            "vocabulary": self.vocabulary,
            "idf": self.idf,
        }

    def expected_state(self) -> dict[str, tuple[tuple[int, ...], str]]:
        return {
            "item_terms_data": ((-1,), "f"),
            "item_terms_indices": ((-1,), "i"),
            "item_terms_indptr": ((self.n_items + 1,), "i"),
            "vocabulary": ((-1,), "U"),
            "idf": ((-1,), "f"),
        }

    def _restore(self, state: dict[str, np.ndarray]) -> None:
        data, indices, indptr = (state[k] for k in ("item_terms_data", "item_terms_indices", "item_terms_indptr"))
        vocabulary, idf = state["vocabulary"], state["idf"]
        n_terms = vocabulary.size
        if (
            data.shape != indices.shape
            or idf.shape != vocabulary.shape
            or indptr[0] != 0
            or indptr[-1] != data.size
            or (np.diff(indptr) < 0).any()
            or (indices.size and (indices.min() < 0 or indices.max() >= n_terms))
        ):
            raise ValueError("inconsistent sparse item-term arrays")
        self.vectors = sp.csr_matrix((data, indices, indptr), shape=(self.n_items, n_terms))
        self.vocabulary = vocabulary
        self.idf = idf
