"""Benchmark the candidate stage against the bare libraries, in the same run, on the same data.

    python benchmarks/candidates.py                       # MovieLens-20M shape (138k users, 27k items, 20M rows)
    python benchmarks/candidates.py --users 6040 --items 3706 --interactions 1000209   # ML-1M shape

(a) training: `recsys train candidates --model als` against a bare script that reads the same
    train.parquet with pyarrow, builds the CSR and fits implicit's ALS with the same parameters
    (BLAS pinned to one thread in both). Target: wall-time ratio <= 1.1.
(b) evaluation: `recsys evaluate RUN --k 100` (full ranking of every test user, every metric,
    per-user Parquet written) against a bare script that loads the same factors and calls
    implicit.evaluation.ranking_metrics_at_k(K=100). Target: ours at least as fast (goal 2x).

Each side runs in its own process (benchmarks/measure.py: wall time and peak RSS), alternating,
best of --repeat. Results: benchmarks/results/candidates-<interactions>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from measure import measure

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"

BARE_TRAIN = """
import sys, numpy as np, pyarrow.parquet as pq, scipy.sparse as sp
from threadpoolctl import threadpool_limits
from implicit.cpu.als import AlternatingLeastSquares
train, n_users, n_items, factors, reg, alpha, iters, out = sys.argv[1:]
t = pq.read_table(train, columns=["user_idx", "item_idx"])
u, i = t.column("user_idx").to_numpy(), t.column("item_idx").to_numpy()
m = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(int(n_users), int(n_items)))
with threadpool_limits(1, "blas"):
    model = AlternatingLeastSquares(factors=int(factors), regularization=float(reg), alpha=float(alpha),
                                    iterations=int(iters), random_state=42)
    model.fit(m, show_progress=False)
np.savez(out, user_factors=model.user_factors, item_factors=model.item_factors)
"""

BARE_EVALUATE = """
import sys, numpy as np, pyarrow.parquet as pq, scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.evaluation import ranking_metrics_at_k
train, test, model_npz, n_users, n_items, k = sys.argv[1:]
def csr(path):
    t = pq.read_table(path, columns=["user_idx", "item_idx"])
    u, i = t.column("user_idx").to_numpy(), t.column("item_idx").to_numpy()
    m = sp.csr_matrix((np.ones(len(u), np.float32), (u, i)), shape=(int(n_users), int(n_items)))
    m.data[:] = 1
    return m
with np.load(model_npz, allow_pickle=False) as z:
    uf, itf = z["user_factors"], z["item_factors"]
model = AlternatingLeastSquares(factors=uf.shape[1])
model.user_factors, model.item_factors = uf, itf
print(ranking_metrics_at_k(model, csr(train), csr(test), K=int(k), show_progress=False))
"""


def recsys(workspace: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "recsys_cli", "--quiet", "--workspace", str(workspace), *args, "--format", "json"]


def run_json(command: list[str]) -> dict:
    out = subprocess.run(command, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(command)}\n{out.stderr}")
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=138_493)
    parser.add_argument("--items", type=int, default=26_744)
    parser.add_argument("--interactions", type=int, default=20_000_263)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--regularization", type=float, default=20.0)
    parser.add_argument("--alpha", type=float, default=2.0)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-train", action="store_true", help="only (b); reuse the trained run")
    parser.add_argument("--work", type=Path, default=HERE / "work")
    args = parser.parse_args()

    workspace = args.work / f"candidates-{args.interactions}"
    name = "bench"
    if not (workspace / "catalog.duckdb").exists():
        t0 = time.perf_counter()
        run_json(
            recsys(
                workspace,
                "ingest",
                "synthetic",
                "--name",
                name,
                "--users",
                str(args.users),
                "--items",
                str(args.items),
                "--interactions",
                str(args.interactions),
            )
        )
        run_json(
            recsys(workspace, "split", name, "--name", "s", "--strategy", "random-per-user", "--test-fraction", "0.2")
        )
        print(f"data ready in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    dataset = run_json(recsys(workspace, "datasets", "show", name))["dataset"]
    n_users, n_items = dataset["users"], dataset["items"]
    split_path = run_json(recsys(workspace, "sql", "SELECT path FROM catalog.splits WHERE name = 's'"))[0]["path"]
    train, test = workspace / split_path / "train.parquet", workspace / split_path / "test.parquet"
    bare_model = args.work / "bare-als.npz"

    result: dict = {
        "shape": {"users": n_users, "items": n_items, "interactions": dataset["interactions"]},
        "params": {
            "factors": args.factors,
            "regularization": args.regularization,
            "alpha": args.alpha,
            "iterations": args.iterations,
        },
    }
    train_runs: dict[str, list] = {"bare": [], "recsys": []}
    if not args.skip_train:
        for attempt in range(args.repeat):
            train_runs["bare"].append(
                measure(
                    [
                        sys.executable,
                        "-c",
                        BARE_TRAIN,
                        str(train),
                        str(n_users),
                        str(n_items),
                        str(args.factors),
                        str(args.regularization),
                        str(args.alpha),
                        str(args.iterations),
                        str(bare_model),
                    ]
                )
            )
            train_runs["recsys"].append(
                measure(
                    recsys(
                        workspace,
                        "train",
                        "candidates",
                        name,
                        "--split",
                        "s",
                        "--model",
                        "als",
                        "--run",
                        "als",
                        "--factors",
                        str(args.factors),
                        "--regularization",
                        str(args.regularization),
                        "--alpha",
                        str(args.alpha),
                        "--iterations",
                        str(args.iterations),
                        "--force",
                    )
                )
            )
            print(
                f"train {attempt + 1}: bare {train_runs['bare'][-1]['wall_s']:.1f}s, "
                f"recsys {train_runs['recsys'][-1]['wall_s']:.1f}s",
                file=sys.stderr,
            )
        bare = min(train_runs["bare"], key=lambda r: r["wall_s"])
        ours = min(train_runs["recsys"], key=lambda r: r["wall_s"])
        result["train"] = {
            "bare": bare,
            "recsys": ours,
            "ratio": ours["wall_s"] / bare["wall_s"],
            "target_ratio": 1.1,
            "all_runs": train_runs,
        }

    run = run_json(recsys(workspace, "runs", "show", "als"))
    model_npz = workspace / run["path"] / "model.npz"
    eval_runs: dict[str, list] = {"bare": [], "recsys": []}
    for attempt in range(args.repeat):
        eval_runs["bare"].append(
            measure(
                [
                    sys.executable,
                    "-c",
                    BARE_EVALUATE,
                    str(train),
                    str(test),
                    str(model_npz),
                    str(n_users),
                    str(n_items),
                    str(args.k),
                ]
            )
        )
        eval_runs["recsys"].append(measure(recsys(workspace, "evaluate", "als", "--k", str(args.k))))
        print(
            f"evaluate {attempt + 1}: implicit {eval_runs['bare'][-1]['wall_s']:.1f}s, "
            f"recsys {eval_runs['recsys'][-1]['wall_s']:.1f}s",
            file=sys.stderr,
        )
    bare = min(eval_runs["bare"], key=lambda r: r["wall_s"])
    ours = min(eval_runs["recsys"], key=lambda r: r["wall_s"])
    result["evaluate"] = {
        "implicit_ranking_metrics_at_k": bare,
        "recsys": ours,
        "speedup": bare["wall_s"] / ours["wall_s"],
        "target_speedup": 1.0,
        "goal_speedup": 2.0,
        "k": args.k,
        "all_runs": eval_runs,
    }
    import implicit
    import numpy

    result |= {
        "implicit": implicit.__version__,
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"candidates-{args.interactions}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items()}, indent=2, default=str))


if __name__ == "__main__":
    main()
