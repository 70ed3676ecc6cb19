"""Benchmark the ranking stage: feature computation, and LambdaRank training against bare LightGBM.

    python benchmarks/ranking.py --quick                  # ~1k users, a smoke run (results not written)
    python benchmarks/ranking.py --users 20000 --work benchmarks/work          # 4M rows, per-feature timings (~8 min)
    python benchmarks/ranking.py --no-per-feature --work benchmarks/work       # 100,000 x 200 = 20M rows (~25 min)

Inputs are synthetic, MovieLens-20M-shaped, drawn with a fixed seed into a temporary folder (or
--work, where they are kept and reused): a history of ~--history-per-user interactions per user over
--items items (Zipf popularity, ratings 1..5, timestamps over 3 years, each user active in a window of
it), items with 1-3 of 18 genres, users with gender / age (ML-1M codes) / occupation, and per user
--candidates candidates: the top-N of an ALS-like score (a latent taste dot product plus log
popularity) as source 0, and a popularity source 1 (score for every pair, rank where the pair is in
the global top-N, NULL elsewhere). Labels: each candidate is a positive with a probability falling
with its rank (~8 per user), rated 1..5, graded by recsys_cli's grade_labels.

(a) features: recsys_cli.ranking.features.compute_features with the full default feature set
    (resolve_features(None, capabilities(...))), in its own process: wall time, peak RSS, rows/s.
    With --per-feature (the default), each feature alone too, against a run with no feature at all
    (reading the candidates, sorting and writing the Parquet), so the slow features stand out.
(b) training: recsys_cli.ranking.lambdarank.train_lambdarank against a bare lightgbm.train on the
    same float32 matrix (the full feature set's output, read from Parquet before the clock starts),
    the same rows (users with a positive, as `recsys train ranker` keeps), the same held-out users
    (the seeded permutation train_lambdarank uses), the same params (lightgbm_params) and the same
    number of trees (early stopping off on both sides). The clock runs from arrays in memory to a
    trained booster. Target: wall-time ratio <= 1.2. The two model texts are compared too.

Each measured step runs in its own process (benchmarks/measure.py: wall time and peak RSS); the
training sides alternate, best of --repeat. Results: benchmarks/results/ranking-<users>x<candidates>.json.
The machine's load average is recorded: figures from a shared machine are only as good as that.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from measure import measure

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SEED = 20
DAY = 86_400
START_TS = 1_400_000_000  # 2014-05
YEARS = 3
GENRES = (
    "Drama",
    "Comedy",
    "Thriller",
    "Romance",
    "Action",
    "Crime",
    "Horror",
    "Documentary",
    "Adventure",
    "Sci-Fi",
    "Mystery",
    "Fantasy",
    "War",
    "Children",
    "Musical",
    "Animation",
    "Western",
    "Film-Noir",
)
AGE_CODES = (1, 18, 25, 35, 45, 50, 56)
SOURCES = ["als", "pop"]

FEATURES_CHILD = """
import json, os, sys
from recsys_cli.ranking.features import compute_features
spec = json.loads(sys.argv[1])
os.chdir(spec["cwd"])  # DuckDB spills to ./.tmp when it runs out of memory
report = compute_features(spec["candidates"], [spec["history"]], spec["items"], spec["users"], spec["out"],
                          names=spec["names"], sources=spec["sources"], as_of=spec["as_of"])
with open(spec["report"], "w") as f:
    json.dump(report.to_dict(), f)
"""

# Both training sides load the matrix the same way (before the clock), then train.
LOAD = """
import hashlib, json, math, sys, time
import numpy as np, pyarrow.parquet as pq
spec = json.loads(sys.argv[1])
table = pq.read_table(spec["features"])
columns = [c for c in table.column_names if c not in ("user_idx", "item_idx")]
features = np.column_stack([table.column(c).to_numpy(zero_copy_only=False).astype(np.float32) for c in columns])
users = table.column("user_idx").to_numpy().astype(np.int64)
del table
grades = np.load(spec["grades"])
keep = np.isin(users, np.unique(users[grades > 0]))  # users with a positive, as `recsys train ranker` keeps
features, grades, users = features[keep], grades[keep], users[keep]
del keep
gains, trees, params = spec["gains"], spec["trees"], spec["ranker_params"]
"""

RECSYS_TRAIN = (
    LOAD
    + """
import lightgbm  # imported before the clock on both sides (train_lambdarank imports it lazily)
from recsys_cli.ranking.lambdarank import RankerParams, train_lambdarank
started = time.perf_counter()
trained = train_lambdarank(features, grades, users, columns, gains, RankerParams(**params))
seconds = time.perf_counter() - started
out = {"seconds": seconds, "trees": trained.trees, "rows": int(users.size),
       "model_sha256": hashlib.sha256(trained.model_text.encode()).hexdigest(), "valid_ndcg@10": trained.valid_ndcg}
with open(spec["report"], "w") as f:
    json.dump(out, f)
"""
)

BARE_TRAIN = (
    LOAD
    + """
import lightgbm as lgb
config = spec["lightgbm_params"]
started = time.perf_counter()
distinct = np.unique(users)
n_valid = int(math.floor(distinct.size * params["valid_fraction"] + 0.5))
held_out = np.zeros(int(distinct.max()) + 1, dtype=bool)
held_out[np.random.default_rng(params["seed"]).permutation(distinct)[:n_valid]] = True
valid_rows = held_out[users]
fit = lgb.Dataset(features[~valid_rows], grades[~valid_rows],
                  group=np.unique(users[~valid_rows], return_counts=True)[1], feature_name=columns,
                  free_raw_data=True, params={"verbosity": -1})
valid = lgb.Dataset(features[valid_rows], grades[valid_rows],
                    group=np.unique(users[valid_rows], return_counts=True)[1], reference=fit)
booster = lgb.train(config, fit, num_boost_round=trees, valid_sets=[valid], valid_names=["valid"])
seconds = time.perf_counter() - started
text = booster.model_to_string(num_iteration=booster.current_iteration())
out = {"seconds": seconds, "trees": booster.current_iteration(), "rows": int(users.size),
       "model_sha256": hashlib.sha256(text.encode()).hexdigest()}
with open(spec["report"], "w") as f:
    json.dump(out, f)
"""
)


# -- synthetic data -----------------------------------------------------------------------------------


def generate(folder: Path, n_users: int, n_candidates: int, n_items: int, per_user: int, seed: int) -> dict:
    """Write history / items / users / candidates Parquet files and the labels into ``folder``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from recsys_cli.ranking.lambdarank import grade_labels

    shape = {"users": n_users, "candidates": n_candidates, "items": n_items, "history_per_user": per_user, "seed": seed}
    meta_path = folder / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta["shape"] == shape:
            return meta
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    dim = 16

    # items: Zipf popularity (item_idx is not in popularity order), latent factors, genres
    pop_rank = rng.permutation(n_items)
    weight = 1.0 / (pop_rank + 10.0) ** 0.9
    weight /= weight.sum()
    item_factors = rng.normal(0.0, 1.0 / np.sqrt(dim), (n_items, dim)).astype(np.float32)
    genre_p = 1.0 / np.arange(1, len(GENRES) + 1) ** 0.8
    genre_p /= genre_p.sum()
    genres = [
        list(np.asarray(GENRES)[rng.choice(len(GENRES), k, replace=False, p=genre_p)])
        for k in rng.integers(1, 4, n_items)
    ]
    pq.write_table(
        pa.table(
            {
                "item_idx": pa.array(np.arange(n_items, dtype=np.int32)),
                "item_id": pa.array([str(i + 1) for i in range(n_items)]),
                "title": pa.array([f"Movie {i + 1}" for i in range(n_items)]),
                "year": pa.array(rng.integers(1920, 2015, n_items).astype(np.int32)),
                "genres": pa.array(genres, type=pa.list_(pa.string())),
            }
        ),
        folder / "items.parquet",
    )

    # users: ML-1M-like demographics
    pq.write_table(
        pa.table(
            {
                "user_idx": pa.array(np.arange(n_users, dtype=np.int32)),
                "user_id": pa.array([str(u + 1) for u in range(n_users)]),
                "gender": pa.array(np.where(rng.random(n_users) < 0.72, "M", "F")),
                "age": pa.array(
                    np.asarray(AGE_CODES, dtype=np.int32)[
                        rng.choice(len(AGE_CODES), n_users, p=[0.04, 0.18, 0.35, 0.2, 0.09, 0.08, 0.06])
                    ]
                ),
                "occupation": pa.array(rng.integers(0, 21, n_users).astype(np.int32)),
            }
        ),
        folder / "users.parquet",
    )

    # history: log-normal activity (>= 20 each, like ML-20M), items by popularity, one window per user
    counts = np.maximum(rng.lognormal(np.log(per_user) - 0.6, 1.0, n_users), 20).astype(np.int64)
    counts = np.minimum(counts, n_items // 2)
    users = np.repeat(np.arange(n_users, dtype=np.int64), counts)
    items = np.minimum(np.searchsorted(np.cumsum(weight), rng.random(users.size)), n_items - 1)
    keys = np.unique(users * n_items + items)  # one interaction per (user, item), like MovieLens
    users, items = keys // n_items, keys % n_items
    total = YEARS * 365 * DAY
    begin = rng.uniform(0, total, n_users)
    span = np.minimum(rng.exponential(200 * DAY, n_users), total - begin)
    ts = (START_TS + begin[users] + rng.random(users.size) * span[users]).astype(np.int64)
    rating = (rng.choice(5, users.size, p=[0.06, 0.11, 0.27, 0.35, 0.21]) + 1).astype(np.float32)
    pq.write_table(
        pa.table(
            {
                "user_idx": pa.array(users.astype(np.int32)),
                "item_idx": pa.array(items.astype(np.int32)),
                "rating": pa.array(rating),
                "ts": pa.array(ts),
            }
        ),
        folder / "history.parquet",
        compression="zstd",
    )
    n_history = int(users.size)
    as_of = int(ts.max())
    del users, items, keys, ts, rating

    # candidates: source 0 = top-N of taste . item + log popularity; source 1 = global popularity
    user_factors = rng.normal(0.0, 1.0 / np.sqrt(dim), (n_users, dim)).astype(np.float32)
    log_pop = np.log(weight).astype(np.float32)
    pop_top = np.full(n_items, -1, dtype=np.int32)
    pop_top[np.argsort(-weight)[:n_candidates]] = np.arange(1, n_candidates + 1, dtype=np.int32)
    cand_items, cand_scores, cand_ranks = [], [], []
    block = max(1, 40_000_000 // n_items)
    for lo in range(0, n_users, block):
        scores = user_factors[lo : lo + block] @ item_factors.T * 3.0 + 0.3 * log_pop
        top = np.argpartition(-scores, n_candidates - 1, axis=1)[:, :n_candidates]
        top_scores = np.take_along_axis(scores, top, axis=1)
        ranks = np.empty_like(top, dtype=np.int32)
        np.put_along_axis(
            ranks, np.argsort(-top_scores, axis=1), np.arange(1, n_candidates + 1, dtype=np.int32), axis=1
        )
        order = np.argsort(top, axis=1)  # rows sorted by (user, item)
        cand_items.append(np.take_along_axis(top, order, axis=1).ravel().astype(np.int32))
        cand_scores.append(np.take_along_axis(top_scores, order, axis=1).ravel())
        cand_ranks.append(np.take_along_axis(ranks, order, axis=1).ravel())
    items = np.concatenate(cand_items)
    rank = np.concatenate(cand_ranks)
    rank_1 = pop_top[items]
    pq.write_table(
        pa.table(
            {
                "user_idx": pa.array(np.repeat(np.arange(n_users, dtype=np.int32), n_candidates)),
                "item_idx": pa.array(items),
                "score_0": pa.array(np.concatenate(cand_scores).astype(np.float32)),
                "rank_0": pa.array(rank),
                "score_1": pa.array(log_pop[items]),
                "rank_1": pa.array(rank_1, mask=rank_1 < 0),
            }
        ),
        folder / "candidates.parquet",
    )

    # labels: positive with a probability falling with the rank, rated 1..5
    positive = rng.random(rank.size) < 0.2 / (1.0 + rank / 15.0)
    ratings = np.full(rank.size, np.nan)
    ratings[positive] = rng.choice(5, int(positive.sum()), p=[0.04, 0.08, 0.25, 0.38, 0.25]) + 1
    labels = grade_labels(ratings)
    np.save(folder / "grades.npy", labels.grades)

    meta = {
        "shape": shape,
        "as_of": as_of,
        "history_interactions": n_history,
        "candidate_rows": int(rank.size),
        "positives": int(positive.sum()),
        "gains": labels.gains,
        "generate_s": round(time.perf_counter() - started, 1),
    }
    meta_path.write_text(json.dumps(meta))
    return meta


# -- measuring ----------------------------------------------------------------------------------------


def run_features(folder: Path, names: list[str], as_of: int, out: Path) -> dict:
    """compute_features in its own process: wall / peak RSS (measure) plus the function's own seconds."""
    report = out.with_suffix(".report.json")
    spec = {
        "candidates": str(folder / "candidates.parquet"),
        "history": str(folder / "history.parquet"),
        "items": str(folder / "items.parquet"),
        "users": str(folder / "users.parquet"),
        "out": str(out),
        "names": names,
        "sources": SOURCES,
        "as_of": as_of,
        "report": str(report),
        "cwd": str(out.parent),
    }
    result = measure([sys.executable, "-c", FEATURES_CHILD, json.dumps(spec)])
    done = json.loads(report.read_text())
    result |= {
        "compute_s": done["seconds"],
        "rows": done["rows"],
        "rows_per_s": round(done["rows"] / done["seconds"]) if done["seconds"] else None,
        "load_1m_after": round(os.getloadavg()[0], 2),
    }
    return result


def run_training(script: str, spec: dict, report: Path) -> dict:
    result = measure([sys.executable, "-c", script, json.dumps(spec | {"report": str(report)})])
    return result | json.loads(report.read_text()) | {"load_1m_after": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--history-per-user", type=int, default=100)
    parser.add_argument("--trees", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument(
        "--per-feature",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also time each feature alone (one process each)",
    )
    parser.add_argument(
        "--skip-train",
        action="store_true",
        help="only (a); keep (b) from the results file of an earlier run of the same shape",
    )
    parser.add_argument("--quick", action="store_true", help="1,000 users, 10 trees, 1 repeat; no results file")
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="keep the synthetic inputs here and reuse them (default: a temporary folder)",
    )
    args = parser.parse_args()
    if args.quick:
        args.users, args.trees, args.repeat = 1_000, 10, 1

    from recsys_cli.ranking.features import (
        capabilities,
        feature_columns,
        resolve_features,
    )
    from recsys_cli.ranking.lambdarank import RankerParams, lightgbm_params

    load_before = os.getloadavg()
    temporary = args.work is None
    work = Path(tempfile.mkdtemp(prefix="recsys-bench-ranking-")) if temporary else args.work.resolve()
    data = work / f"ranking-{args.users}x{args.candidates}"
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=work))
    try:
        meta = generate(data, args.users, args.candidates, args.items, args.history_per_user, SEED)
        print(
            f"data: {meta['candidate_rows']:,} candidate rows, {meta['history_interactions']:,} history "
            f"interactions ({meta['generate_s']}s to generate)",
            file=sys.stderr,
        )
        caps = capabilities([data / "history.parquet"], data / "items.parquet", data / "users.parquet", len(SOURCES))
        names = resolve_features(None, caps)
        columns = feature_columns(names, SOURCES)
        result: dict = {
            "benchmark": "recsys ranking: compute_features rows/s; train_lambdarank vs bare lightgbm.train",
            "shape": {
                "users": args.users,
                "candidates_per_user": args.candidates,
                "candidate_rows": meta["candidate_rows"],
                "items": args.items,
                "history_interactions": meta["history_interactions"],
                "positives": meta["positives"],
                "sources": SOURCES,
            },
            "generate_s": meta["generate_s"],
        }

        # (a) features
        features_path = scratch / "features.parquet"
        full = run_features(data, names, meta["as_of"], features_path)
        print(
            f"features (all {len(columns)} columns): {full['compute_s']:.1f}s, {full['rows_per_s']:,} rows/s, "
            f"peak {full['peak_rss_mb']:.0f} MB",
            file=sys.stderr,
        )
        from recsys_cli.settings import feature_memory_limit

        result["features"] = {
            "names": names,
            "columns": columns,
            "duckdb_memory_limit": feature_memory_limit(),
            "full": full,
        }
        if args.per_feature:
            baseline = run_features(data, [], meta["as_of"], scratch / "alone.parquet")
            alone: dict = {"(none: read, sort, write)": baseline}
            for name in names:
                one = run_features(data, [name], meta["as_of"], scratch / "alone.parquet")
                one["marginal_s"] = round(one["compute_s"] - baseline["compute_s"], 3)
                alone[name] = one
                print(
                    f"  {name:28s} {one['compute_s']:7.2f}s (+{one['marginal_s']:.2f}) "
                    f"peak {one['peak_rss_mb']:.0f} MB",
                    file=sys.stderr,
                )
            (scratch / "alone.parquet").unlink(missing_ok=True)
            result["features"]["alone"] = alone

        # (b) training
        if not args.skip_train:
            params = RankerParams(trees=args.trees, early_stopping=0)
            spec = {
                "features": str(features_path),
                "grades": str(data / "grades.npy"),
                "gains": meta["gains"],
                "trees": args.trees,
                "ranker_params": params.to_dict(),
                "lightgbm_params": lightgbm_params(params, meta["gains"]),
            }
            runs: dict[str, list] = {"bare": [], "recsys": []}
            for attempt in range(args.repeat):
                runs["bare"].append(run_training(BARE_TRAIN, spec, scratch / "bare.json"))
                runs["recsys"].append(run_training(RECSYS_TRAIN, spec, scratch / "recsys.json"))
                print(
                    f"train {attempt + 1}: bare {runs['bare'][-1]['seconds']:.1f}s, "
                    f"recsys {runs['recsys'][-1]['seconds']:.1f}s",
                    file=sys.stderr,
                )
            bare = min(runs["bare"], key=lambda r: r["seconds"])
            ours = min(runs["recsys"], key=lambda r: r["seconds"])
            result["train"] = {
                "params": spec["lightgbm_params"],
                "trees": args.trees,
                "rows": ours["rows"],
                "bare": bare,
                "recsys": ours,
                "ratio": round(ours["seconds"] / bare["seconds"], 3),
                "wall_ratio": round(ours["wall_s"] / bare["wall_s"], 3),
                "target_ratio": 1.2,
                "identical_model": bare["model_sha256"] == ours["model_sha256"],
                "note": "seconds: arrays in memory to a trained booster (the ratio); wall_s / peak_rss_mb: "
                "the whole process, loading the matrix from Parquet included",
                "all_runs": runs,
            }

        import duckdb
        import lightgbm

        result |= {
            "duckdb": duckdb.__version__,
            "lightgbm": lightgbm.__version__,
            "numpy": np.__version__,
            "pyarrow": importlib.metadata.version("pyarrow"),
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
            "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
            "date": time.strftime("%Y-%m-%d"),
            "commit": git_commit(),
        }
    finally:
        shutil.rmtree(work if temporary else scratch, ignore_errors=True)

    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        out = RESULTS / f"ranking-{args.users}x{args.candidates}.json"
        if args.skip_train and out.exists():
            earlier = json.loads(out.read_text())
            if "train" in earlier and earlier.get("shape") == result["shape"]:
                result["train"] = earlier["train"] | {
                    "from_earlier_run": {
                        "date": earlier.get("date"),
                        "load_average_before_after": earlier.get("load_average_before_after"),
                    }
                }
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}", file=sys.stderr)
    summarize(result)


def git_commit() -> str | None:
    """HEAD, with "+dirty" when recsys_cli/ differs from it (the code measured)."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, check=False
    )
    if head.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "recsys_cli"],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return head.stdout.strip() + ("+dirty" if dirty else "")


def summarize(result: dict) -> None:
    shape, features = result["shape"], result["features"]
    full = features["full"]
    print(
        f"\n{shape['users']:,} users x {shape['candidates_per_user']} candidates = {shape['candidate_rows']:,} rows; "
        f"history {shape['history_interactions']:,}"
    )
    print(f"{'step':34s} {'seconds':>9s} {'rows/s':>11s} {'peak MB':>9s}")
    print(
        f"{'features: all ' + str(len(features['columns'])) + ' columns':34s} {full['compute_s']:9.2f} "
        f"{full['rows_per_s']:11,} {full['peak_rss_mb']:9.0f}"
    )
    for name, one in features.get("alone", {}).items():
        print(f"{'  ' + name:34s} {one['compute_s']:9.2f} {one['rows_per_s']:11,} {one['peak_rss_mb']:9.0f}")
    if "train" in result:
        train = result["train"]
        for side in ("bare", "recsys"):
            run = train[side]
            print(
                f"{'train ' + side + ' (' + str(run['trees']) + ' trees)':34s} {run['seconds']:9.2f} "
                f"{run['rows'] / run['seconds']:11,.0f} {run['peak_rss_mb']:9.0f}"
            )
        print(
            f"ratio recsys / bare: {train['ratio']:.3f} (target <= {train['target_ratio']}); "
            f"identical model: {train['identical_model']}"
        )


if __name__ == "__main__":
    main()
