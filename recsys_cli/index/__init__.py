"""Approximate nearest-neighbour retrieval: an Annoy index over item factors for top-K by inner product.

Imports numpy (and annoy inside functions); the CLI imports this package lazily, inside commands.
"""

from recsys_cli.index.annoy_index import (
    METRIC,
    BenchResult,
    BenchRow,
    IndexInfo,
    ItemIndex,
    augment_for_inner_product,
    bench_index,
    build_index,
    load_index,
)

__all__ = [
    "METRIC",
    "BenchResult",
    "BenchRow",
    "IndexInfo",
    "ItemIndex",
    "augment_for_inner_product",
    "bench_index",
    "build_index",
    "load_index",
]
