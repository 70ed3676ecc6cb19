"""Benchmark: Annoy top-K by inner product against exact scoring, on ALS-like synthetic factors.

    python benchmarks/index.py                   # 1,000,000 items x 32 factors, 25 trees, 1000 queries, k=100
    python benchmarks/index.py --items 20000     # a quick smoke run
    python benchmarks/index.py --dim 64 --n-trees 50   # the heavier variant (build alone ~8 min on 2 cores)

Item and user factors are drawn the same way, like ALS factors: a mixture of Gaussian
clusters of Zipf-distributed sizes (taste groups), with log-normal norms (popular items
have longer vectors). The index is built with recsys_cli.index.build_index, then
bench_index sweeps search_k and reports recall@k against exact scoring (the CLI's
full-ranking path, recsys_cli.topk.batched_top_k over users @ items.T)
and queries per second. Annoy queries run on one thread; the exact path on two. Results go to
benchmarks/results/index-<items>.json. Target (issue 3): recall@100 >= 0.95 at >= 3x the
exact path's queries per second.

Defaults, and why: 32 factors and 25 trees keep a 1M-item run near 6 minutes on 2 cores
(64 factors with 50 trees took 8.4 minutes to build alone, a 1.06 GB file, and recalled
less at every search_k). The sweep runs to 64 * k * n_trees because recall@100 at 1M
items stays far below 0.95 at Annoy's usual search_k. The machine's load average is
recorded: qps figures from a shared machine are only as good as that.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def make_factors(n: int, dim: int, n_clusters: int, seed: int, stream: int):
    """``n`` x ``dim`` float32 factors; clusters (centres, sizes) depend on ``seed`` only,
    so items (stream 0) and users (stream 1) share the same taste groups."""
    import numpy as np

    shared = np.random.default_rng([seed, 0])
    centres = shared.normal(size=(n_clusters, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = 1.0 / np.arange(1, n_clusters + 1) ** 0.8
    weights /= weights.sum()
    rng = np.random.default_rng([seed, 1 + stream])
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        cluster = rng.choice(n_clusters, m, p=weights)
        x = centres[cluster] + rng.normal(scale=0.6 / np.sqrt(dim), size=(m, dim))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        x *= rng.lognormal(0.0, 0.5, size=(m, 1))
        out[start : start + m] = x
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--n-trees", type=int, default=25)
    parser.add_argument("--n-jobs", type=int, default=-1, help="build threads (-1: all; 1 gives a reproducible file)")
    parser.add_argument("--search-k", type=int, nargs="*", help="search_k values (default: k*n_trees*[0.25..64])")
    parser.add_argument("--target-recall", type=float, default=0.95)
    parser.add_argument("--target-speedup", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, default=HERE / "work")
    args = parser.parse_args()

    import annoy  # noqa: F401  (fail early when missing)
    import numpy as np

    from recsys_cli.index import bench_index, build_index, load_index

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    items = make_factors(args.items, args.dim, args.clusters, args.seed, stream=0)
    users = make_factors(args.queries, args.dim, args.clusters, args.seed, stream=1)
    log(f"generated {args.items} x {args.dim} item factors in {time.perf_counter() - t0:.1f}s")

    args.work.mkdir(parents=True, exist_ok=True)
    path = args.work / f"index-{args.items}.ann"
    t0 = time.perf_counter()
    info = build_index(items, path, n_trees=args.n_trees, seed=args.seed, n_jobs=args.n_jobs)
    build_s = time.perf_counter() - t0
    log(f"built {args.n_trees} trees in {build_s:.1f}s ({info.size_bytes / 1e6:.0f} MB)")

    t0 = time.perf_counter()
    index = load_index(path, info.to_json(), expected_dimension=args.dim, expected_items=args.items)
    load_s = time.perf_counter() - t0
    search_ks = args.search_k or [round(args.k * args.n_trees * f) for f in (0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)]
    bench = bench_index(
        index,
        users,
        items,
        k=args.k,
        search_ks=search_ks,
        target_recall=args.target_recall,
        n_queries=args.queries,
        seed=args.seed,
    )
    index.close()
    path.unlink()

    met = [r for r in bench.rows if r.recall >= args.target_recall and r.speedup_vs_exact >= args.target_speedup]
    result = {
        "benchmark": "annoy (angular + MIPS augmentation) vs exact top-k by inner product",
        "items": args.items,
        "dim": args.dim,
        "clusters": args.clusters,
        "queries": bench.n_queries,
        "k": args.k,
        "n_trees": args.n_trees,
        "build_n_jobs": args.n_jobs,
        "build_s": round(build_s, 2),
        "load_verify_s": round(load_s, 2),
        "index_bytes": info.size_bytes,
        "exact_qps": round(bench.exact_qps, 1),
        "exact_threads": bench.exact_threads,
        "annoy_threads": 1,
        "sweep": [
            {
                "search_k": r.search_k,
                "recall": round(r.recall, 4),
                "qps": round(r.qps, 1),
                "speedup_vs_exact": round(r.speedup_vs_exact, 2),
            }
            for r in bench.rows
        ],
        "target_recall": args.target_recall,
        "target_speedup": args.target_speedup,
        "smallest_search_k_reaching_recall": bench.target_search_k,
        "exact_is_faster_at_target_recall": bench.exact_is_faster,
        "target_met": bool(met),
        "fastest_search_k_meeting_target": None if not met else met[0].search_k,
        "annoy": importlib.metadata.version("annoy"),
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"index-{args.items}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
