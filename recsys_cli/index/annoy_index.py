"""Approximate top-K by inner product over an Annoy forest, with checked loading and a benchmark.

Annoy searches by angle, not by inner product, so the item vectors are augmented with one
extra coordinate that gives every item the same norm (``augment_for_inner_product``); a query
gets a 0 there, and the angular order of the augmented items is then exactly the order of the
inner products (Bachrach et al., "Speeding Up the Xbox Recommender System Using a Euclidean
Transformation for Inner-Product Spaces", 2014; the same transform as implicit's Annoy model).

Annoy memory-maps its file and can crash the process on a damaged one, so ``load_index`` checks
size, sha256 and shapes against the ``IndexInfo`` recorded at build time before Annoy sees it.
Item ``i`` of the index is row ``i`` of the item matrix. No workspace knowledge lives here.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from recsys_cli.data.atomic import file_sha256
from recsys_cli.errors import CorruptArtifactError, InvalidParameterError
from recsys_cli.reporting import SILENT, Reporter
from recsys_cli.topk import batched_top_k, default_batch_size

METRIC = "angular+mips-augmentation"
REBUILD_HINT = "rebuild the index (recsys index build RUN)"
SEARCH_K_FACTORS = (0.25, 0.5, 1, 2, 4, 8, 16)  # default sweep, times k * n_trees
_ADD_CHUNK = 65_536  # rows converted to Python lists at a time while adding items
EXACT_THREADS = 2  # batched_top_k's default: the exact path the benchmark compares with


def _check_int(value, what: str, minimum: int, hint: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InvalidParameterError(f"{what} must be an integer >= {minimum}, got {value!r}", hint)
    return int(value)


def _check_vectors(vectors, what: str, dimension: int | None = None) -> np.ndarray:
    array = np.asarray(vectors)
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InvalidParameterError(
            f"{what} must be a non-empty 2-D array (rows x factors), got shape {array.shape}",
            "pass one row of factors per item or user",
        )
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise InvalidParameterError(f"{what} must be numeric, got dtype {array.dtype}", "pass float factors")
    if dimension is not None and array.shape[1] != dimension:
        raise InvalidParameterError(
            f"{what} have {array.shape[1]} factors but the index was built for {dimension}",
            "query with the user factors of the model the index was built from",
        )
    if not np.isfinite(array).all():
        raise InvalidParameterError(f"{what} contain NaN or infinite values", "retrain the model; its factors diverged")
    return array


def augment_for_inner_product(item_vectors: np.ndarray) -> np.ndarray:
    """Items x (d+1): each row gets ``sqrt(max_norm**2 - |v|**2)`` so all rows have norm ``max_norm``.

    For a query ``[q, 0]`` the cosine with an augmented item is ``q.v / (|q| max_norm)``: the
    angular ranking equals the inner-product ranking. Computed in float64; the clip stops the
    rounding of ``max_norm**2 - |v|**2`` for the longest rows from going negative.
    """
    vectors = _check_vectors(item_vectors, "item vectors").astype(np.float64)
    norms_sq = np.einsum("ij,ij->i", vectors, vectors)
    extra = np.sqrt(np.clip(norms_sq.max() - norms_sq, 0.0, None))
    return np.hstack([vectors, extra[:, None]])


@dataclass(frozen=True)
class IndexInfo:
    """What was built; stored beside the index file and checked before every load."""

    dimension: int  # factors of the model (the file holds dimension + 1)
    n_items: int
    n_trees: int
    seed: int
    sha256: str
    size_bytes: int
    max_norm: float
    metric: str = METRIC

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> IndexInfo:
        types = {
            "dimension": int,
            "n_items": int,
            "n_trees": int,
            "seed": int,
            "sha256": str,
            "size_bytes": int,
            "max_norm": (int, float),
            "metric": str,
        }
        if (
            not isinstance(data, dict)
            or set(data) != set(types)
            or any(isinstance(data[key], bool) or not isinstance(data[key], kind) for key, kind in types.items())
        ):
            raise CorruptArtifactError("the index description is malformed", REBUILD_HINT)
        return cls(**{**data, "max_norm": float(data["max_norm"])})


def build_index(
    item_vectors: np.ndarray,
    path: Path,
    n_trees: int = 50,
    seed: int = 42,
    n_jobs: int = 1,
    reporter: Reporter = SILENT,
) -> IndexInfo:
    """Build an angular Annoy forest over the augmented items and write it to ``path`` atomically.

    ``n_jobs`` defaults to 1 because only a single-threaded build is byte-for-byte reproducible:
    with annoy 1.17.3, ``set_seed`` and ``n_jobs > 1`` the threads append their trees in timing
    order, so the file (and its sha256) differs between runs, although in our checks the query
    results were the same. Pass ``n_jobs=-1`` for a faster build when the digest need not repeat.
    """
    from annoy import AnnoyIndex

    n_trees = _check_int(n_trees, "n_trees", 1, "pass a number of trees such as 50")
    seed = _check_int(seed, "seed", 0, "pass a non-negative seed")
    if seed >= 2**32:
        raise InvalidParameterError(f"seed must be below 2**32, got {seed}", "pass a smaller seed")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or not (n_jobs == -1 or n_jobs >= 1):
        raise InvalidParameterError(f"n_jobs must be -1 or >= 1, got {n_jobs!r}", "pass -1 for every core")
    augmented = augment_for_inner_product(item_vectors)
    n_items, dimension = augmented.shape[0], augmented.shape[1] - 1
    max_norm = float(np.linalg.norm(augmented[0]))
    if max_norm == 0.0:
        raise InvalidParameterError("every item vector is zero", "retrain the model; it learned nothing")

    path = Path(path)
    index = AnnoyIndex(dimension + 1, "angular")
    index.set_seed(seed)
    with reporter.task("adding items to the index", total=n_items) as task:
        for start in range(0, n_items, _ADD_CHUNK):
            rows = augmented[start : start + _ADD_CHUNK].tolist()
            for offset, row in enumerate(rows):
                index.add_item(start + offset, row)
            task.advance(len(rows))
    del augmented
    reporter.info(f"building {n_trees} trees over {n_items} items")
    index.build(n_trees, n_jobs=int(n_jobs))

    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        index.save(str(temporary))
        index.unload()
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        info = IndexInfo(dimension, n_items, n_trees, seed, file_sha256(temporary), temporary.stat().st_size, max_norm)
        os.replace(temporary, path)
    finally:
        index.unload()
        temporary.unlink(missing_ok=True)
    return info


def _augmented_queries(users: np.ndarray, chunk: int = 4096):
    """Each user as the Python list ``[q, 0]`` Annoy wants, converting a chunk at a time."""
    for start in range(0, users.shape[0], chunk):
        block = users[start : start + chunk].astype(np.float64)
        yield from np.hstack([block, np.zeros((block.shape[0], 1))]).tolist()


class ItemIndex:
    """A loaded, verified index: top-K items by inner product for batches of user vectors."""

    def __init__(self, annoy_index, info: IndexInfo):
        self._index = annoy_index
        self.info = info

    @property
    def n_items(self) -> int:
        return self.info.n_items

    @property
    def dimension(self) -> int:
        return self.info.dimension

    def close(self) -> None:
        """Unmap the file (the object is unusable afterwards)."""
        self._index.unload()

    def query(self, user_vectors: np.ndarray, k: int, search_k: int = -1, exclude=None) -> np.ndarray:
        """Users x k item indices, best first, padded with -1 where Annoy found fewer.

        ``search_k`` is how many candidates Annoy collects before ranking them exactly (-1:
        Annoy's default, n_trees x the number asked for; more is slower and more exact). ``exclude``
        (users x items, sparse) holds items each user has seen: Annoy is asked for k + (number seen)
        neighbours, seen ones are dropped.
        One user at a time, single-threaded (Annoy has no batch query).
        """
        import scipy.sparse as sp

        users = _check_vectors(user_vectors, "user vectors", self.dimension)
        k = _check_int(k, "k", 1, "pass a positive K such as 10")
        if k > self.n_items:
            raise InvalidParameterError(
                f"k={k} is larger than the catalogue ({self.n_items} items)", f"pass k <= {self.n_items}"
            )
        if (
            isinstance(search_k, bool)
            or not isinstance(search_k, (int, np.integer))
            or not (search_k == -1 or search_k >= 1)
        ):
            raise InvalidParameterError(f"search_k must be -1 or >= 1, got {search_k!r}", "pass -1 for Annoy's default")
        seen = None
        if exclude is not None:
            if not sp.issparse(exclude) or exclude.shape != (users.shape[0], self.n_items):
                raise InvalidParameterError(
                    f"exclude must be a sparse users x items matrix of shape {(users.shape[0], self.n_items)}",
                    "pass the training interactions of the same users, indexed like the item factors",
                )
            seen = sp.csr_matrix(exclude, copy=True)
            seen.sum_duplicates()
            seen.eliminate_zeros()
        out = np.full((users.shape[0], k), -1, dtype=np.int64)
        nns = self._index.get_nns_by_vector
        search_k = int(search_k)
        for row, query in enumerate(_augmented_queries(users)):
            if seen is None:
                found = nns(query, k, search_k)
            else:
                drop = seen.indices[seen.indptr[row] : seen.indptr[row + 1]]
                found = nns(query, min(k + len(drop), self.n_items), search_k)
                if len(drop):
                    drop = set(drop.tolist())
                    found = [item for item in found if item not in drop]
                found = found[:k]
            out[row, : len(found)] = found
        return out


def load_index(path: Path, info: IndexInfo | dict, expected_dimension: int, expected_items: int) -> ItemIndex:
    """Verify the file against ``info`` and the model it must serve, then load it.

    Refuses (``CorruptArtifactError``) an index built for another model or item count, a
    missing file, a size or sha256 that differs from the recorded one, and a file Annoy
    cannot read. Hashing reads the whole file once (about a second per GB).
    """
    from annoy import AnnoyIndex

    if not isinstance(info, IndexInfo):
        info = IndexInfo.from_json(info)
    other = "the index belongs to another model or run: " + REBUILD_HINT
    if info.metric != METRIC:
        raise CorruptArtifactError(f"the index uses metric '{info.metric}', expected '{METRIC}'", other)
    if info.dimension != expected_dimension:
        raise CorruptArtifactError(
            f"the index was built for {info.dimension}-dimensional factors but the model has {expected_dimension}",
            other,
        )
    if info.n_items != expected_items:
        raise CorruptArtifactError(
            f"the index was built for {info.n_items} items but the model has {expected_items}", other
        )
    path = Path(path)
    if not path.is_file():
        raise CorruptArtifactError(f"index file {path} is missing", REBUILD_HINT)
    size = path.stat().st_size
    if size != info.size_bytes:
        raise CorruptArtifactError(
            f"index file {path} has {size} bytes, expected {info.size_bytes} (truncated or replaced)", REBUILD_HINT
        )
    if file_sha256(path) != info.sha256:
        raise CorruptArtifactError(f"index file {path} does not match its recorded sha256 (damaged)", REBUILD_HINT)
    index = AnnoyIndex(info.dimension + 1, "angular")
    try:
        index.load(str(path))
    except OSError as error:
        raise CorruptArtifactError(f"Annoy cannot read index file {path}: {error}", REBUILD_HINT) from None
    if index.get_n_items() != info.n_items or index.f != info.dimension + 1 or index.get_n_trees() != info.n_trees:
        found = (index.get_n_items(), index.f - 1, index.get_n_trees())
        index.unload()
        raise CorruptArtifactError(
            f"index file {path} holds {found[0]} items, {found[1]} factors and {found[2]} trees; its description says "
            f"{info.n_items}, {info.dimension} and {info.n_trees}",
            REBUILD_HINT,
        )
    return ItemIndex(index, info)


def _exact_lists(user_vectors: np.ndarray, item_vectors: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k by inner product the way the CLI ranks: ``batched_top_k`` over ``users @ items.T``."""

    lists, _scores = batched_top_k(
        lambda batch: user_vectors[batch] @ item_vectors.T,
        np.arange(len(user_vectors)),
        k,
        batch_size=default_batch_size(item_vectors.shape[0]),
        n_threads=EXACT_THREADS,
    )
    return lists


@dataclass(frozen=True)
class BenchRow:
    search_k: int
    recall: float  # mean |annoy ∩ exact| / k over the sampled users
    qps: float  # single-threaded Annoy queries per second
    speedup_vs_exact: float  # qps / exact_qps; below 1 means exact scoring is faster


@dataclass(frozen=True)
class BenchResult:
    k: int
    n_queries: int
    n_items: int
    dimension: int
    n_trees: int
    target_recall: float
    rows: tuple[BenchRow, ...]
    exact_qps: float  # batched_top_k (matrix product + top_k) over the same users
    exact_threads: int  # batched_top_k's worker threads (BLAS may add its own); Annoy uses one
    target_search_k: int | None  # smallest swept search_k whose recall reaches the target

    @property
    def target_row(self) -> BenchRow | None:
        return next((row for row in self.rows if row.search_k == self.target_search_k), None)

    @property
    def exact_is_faster(self) -> bool:
        """True when no swept search_k reaches the target recall faster than exact scoring."""
        row = self.target_row
        return row is None or row.speedup_vs_exact <= 1.0

    def to_json(self) -> dict:
        data = asdict(self)
        data["rows"] = [asdict(row) for row in self.rows]
        row = self.target_row
        data["target_speedup"] = None if row is None else row.speedup_vs_exact
        data["exact_is_faster"] = self.exact_is_faster
        return data


def bench_index(
    index: ItemIndex,
    user_vectors: np.ndarray,
    item_vectors: np.ndarray,
    k: int = 100,
    search_ks=None,
    target_recall: float = 0.95,
    n_queries: int = 1000,
    seed: int = 0,
    reporter: Reporter = SILENT,
) -> BenchResult:
    """Recall@k against exact scoring and queries per second, for a sweep of ``search_k``.

    ``n_queries`` users are sampled (seeded, without replacement; all of them when there are
    fewer). The exact path is timed as the CLI runs it: ``batched_top_k`` (two threads) over
    ``users @ items.T`` blocks. Each Annoy row is a single-threaded loop of queries,
    after one untimed warm-up pass that pages the file in.
    """
    items = _check_vectors(item_vectors, "item vectors", index.dimension)
    users = _check_vectors(user_vectors, "user vectors", index.dimension)
    if items.shape[0] != index.n_items:
        raise InvalidParameterError(
            f"the index holds {index.n_items} items but {items.shape[0]} item vectors were given",
            "pass the item factors the index was built from",
        )
    k = _check_int(k, "k", 1, "pass a positive K such as 100")
    if k > index.n_items:
        raise InvalidParameterError(
            f"k={k} is larger than the catalogue ({index.n_items} items)", f"pass k <= {index.n_items}"
        )
    n_queries = _check_int(n_queries, "n_queries", 1, "pass a number of queries such as 1000")
    if not 0.0 < target_recall <= 1.0:
        raise InvalidParameterError(f"target recall must be in (0, 1], got {target_recall}", "pass e.g. 0.95")
    if search_ks is None:
        base = k * index.info.n_trees
        search_ks = [max(1, round(base * factor)) for factor in SEARCH_K_FACTORS]
    search_ks = sorted({_check_int(s, "search_k", 1, "pass search_k values >= 1") for s in search_ks})
    if not search_ks:
        raise InvalidParameterError("no search_k values to try", "pass at least one search_k")

    rng = np.random.default_rng(seed)
    chosen = (
        np.arange(len(users)) if n_queries >= len(users) else np.sort(rng.choice(len(users), n_queries, replace=False))
    )
    sample = users[chosen]
    dtype = np.result_type(items.dtype, np.float32)
    items_t, sample_t = items.astype(dtype, copy=False), sample.astype(dtype, copy=False)

    _exact_lists(sample_t[:1], items_t, k)  # warm-up: BLAS threads, page faults
    started = time.perf_counter()
    exact = _exact_lists(sample_t, items_t, k)
    exact_qps = len(sample) / (time.perf_counter() - started)
    reporter.info(f"exact scoring: {exact_qps:.0f} queries/s")

    index.query(sample[: min(len(sample), 100)], k, search_ks[-1])  # warm-up
    rows = []
    with reporter.task("sweeping search_k", total=len(search_ks)) as task:
        for search_k in search_ks:
            started = time.perf_counter()
            found = index.query(sample, k, search_k)
            qps = len(sample) / (time.perf_counter() - started)
            hits = sum(len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found, exact))
            rows.append(BenchRow(search_k, hits / (k * len(sample)), qps, qps / exact_qps))
            task.advance()
    target = next((row.search_k for row in rows if row.recall >= target_recall), None)
    return BenchResult(
        k,
        len(sample),
        index.n_items,
        index.dimension,
        index.info.n_trees,
        float(target_recall),
        tuple(rows),
        exact_qps,
        EXACT_THREADS,
        target,
    )
