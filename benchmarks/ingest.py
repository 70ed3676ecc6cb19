"""Benchmark: `recsys ingest csv` against a bare DuckDB read_csv -> Parquet of the same file.

    python benchmarks/ingest.py                 # MovieLens-20M shape (20M rows, 138k users, 27k items)
    python benchmarks/ingest.py --rows 2000000  # a quicker look

Each side runs in its own process (measured by benchmarks/measure.py for wall
time and peak RSS), in the same run, on the same file, alternating, and the
best of --repeat runs is kept for each. Results go to
benchmarks/results/ingest-<rows>.json; docs/performance.md summarises them.
Targets (issue 2): wall-time ratio <= 1.3, peak RSS < 4 GB.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from pathlib import Path

from measure import measure

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

BARE = """
import duckdb, sys
con = duckdb.connect()
con.execute(f"COPY (SELECT * FROM read_csv('{sys.argv[1]}')) TO '{sys.argv[2]}' (FORMAT parquet, COMPRESSION zstd)")
"""


def make_csv(path: Path, rows: int, users: int, items: int, seed: int = 0) -> None:
    """A MovieLens-shaped ratings file: Zipf-ish item popularity, heavy-tailed user activity."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    writer = None
    chunk = 2_000_000
    item_weights = 1.0 / np.arange(1, items + 1) ** 0.9
    item_weights /= item_weights.sum()
    user_weights = rng.lognormal(0.0, 1.0, users)
    user_weights /= user_weights.sum()
    item_ids = rng.permutation(items) + 1
    for start in range(0, rows, chunk):
        n = min(chunk, rows - start)
        table = pa.table(
            {
                "userId": rng.choice(users, n, p=user_weights) + 1,
                "movieId": item_ids[rng.choice(items, n, p=item_weights)],
                "rating": rng.integers(1, 11, n) / 2.0,
                "timestamp": rng.integers(789_652_009, 1_427_784_002, n),
            }
        )
        if writer is None:
            writer = pacsv.CSVWriter(path, table.schema)
        writer.write_table(table)
    writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000_263)
    parser.add_argument("--users", type=int, default=138_493)
    parser.add_argument("--items", type=int, default=26_744)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=HERE / "work")
    args = parser.parse_args()

    args.work.mkdir(parents=True, exist_ok=True)
    csv_path = args.work / f"ratings-{args.rows}.csv"
    if not csv_path.exists():
        t0 = time.perf_counter()
        make_csv(csv_path, args.rows, args.users, args.items)
        print(
            f"generated {csv_path} ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f}s",
            file=sys.stderr,
        )

    bare_runs, ours_runs = [], []
    for attempt in range(args.repeat):
        out_parquet = args.work / "bare.parquet"
        out_parquet.unlink(missing_ok=True)
        bare_runs.append(measure([sys.executable, "-c", BARE, str(csv_path), str(out_parquet)]))
        workspace = args.work / "ws"
        shutil.rmtree(workspace, ignore_errors=True)
        ours_runs.append(
            measure(
                [
                    sys.executable,
                    "-m",
                    "recsys_cli",
                    "--quiet",
                    "--workspace",
                    str(workspace),
                    "ingest",
                    "csv",
                    str(csv_path),
                    "--name",
                    "bench",
                    "--user-col",
                    "userId",
                    "--item-col",
                    "movieId",
                    "--rating-col",
                    "rating",
                    "--timestamp-col",
                    "timestamp",
                    "--format",
                    "json",
                ]
            )
        )
        print(
            f"run {attempt + 1}: bare {bare_runs[-1]['wall_s']:.2f}s, recsys {ours_runs[-1]['wall_s']:.2f}s",
            file=sys.stderr,
        )

    bare = min(bare_runs, key=lambda r: r["wall_s"])
    ours = min(ours_runs, key=lambda r: r["wall_s"])
    import duckdb

    result = {
        "benchmark": "ingest csv vs bare duckdb read_csv -> parquet",
        "rows": args.rows,
        "users": args.users,
        "items": args.items,
        "csv_bytes": csv_path.stat().st_size,
        "bare_wall_s": bare["wall_s"],
        "recsys_wall_s": ours["wall_s"],
        "ratio": ours["wall_s"] / bare["wall_s"],
        "bare_peak_rss_mb": bare["peak_rss_mb"],
        "recsys_peak_rss_mb": ours["peak_rss_mb"],
        "target_ratio": 1.3,
        "target_peak_rss_mb": 4096,
        "all_runs": {"bare": bare_runs, "recsys": ours_runs},
        "duckdb": duckdb.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cpus",
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"ingest-{args.rows}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "all_runs"}, indent=2))


if __name__ == "__main__":
    main()
