"""Benchmark the whole recipe (`recsys run`) on synthetic data at MovieLens-1M and -20M shape.

    python benchmarks/pipeline.py --shape 1m       # ML-1M shape: 6,040 x 3,706, 1,000,209 rows; ~2 min
    python benchmarks/pipeline.py --shape 20m      # ML-20M shape: 138,493 x 26,744, 20,000,263 rows; ~10 min
    python benchmarks/pipeline.py                  # both, 1m first
    python benchmarks/pipeline.py --quick          # a smoke run at a tiny shape (results not written)

For each shape the script writes a recipe (RECIPES below: synthetic dataset, temporal-per-user split
with a val part, ALS + item-kNN + popular generators, Annoy index, LambdaRank ranker with refit,
evaluation), runs it in-process through ``recsys_cli.pipeline.runner.run_recipe`` in a fresh
workspace under --work (on disk; TMPDIR points there too, so the ranker's scratch folders are on
disk and not in /dev/shm), and records:

* per stage: wall seconds and peak RSS (VmHWM, reset before each stage) from the run's manifest;
* the whole recipe: wall time of the run_recipe call, peak RSS;
* library seconds: before the run, the bare library entry points the pipeline calls are wrapped
  (here only, by monkeypatching) with timers that add up seconds per library and per stage:

    implicit          AlternatingLeastSquares.fit, BayesianPersonalizedRanking.fit, the item-item
                      recommenders' fit (ItemItemRecommender / BM25 / TF-IDF / Cosine), bm25_weight,
                      tfidf_weight
    lightgbm          lightgbm.train, Booster.__init__ (model text parsing), Booster.predict,
                      Booster.model_to_string, Booster.feature_importance
    annoy             AnnoyIndex add_item, build, save, load, unload, get_nns_by_vector
    duckdb            every method call on a connection from duckdb.connect (execute, sql, register,
                      fetch*, close, ...) and on the relations it returns; connect itself. DuckDB's
                      connection type cannot be patched, so duckdb.connect returns a thin proxy.
    pyarrow.parquet   read_table, write_table, read_metadata, read_schema

  The timers measure the union of intervals in which at least one wrapped call is running, so a
  wrapped call made inside another (lightgbm.train building a Booster, BM25Recommender.fit calling
  bm25_weight) or from a second thread is not counted twice; the time goes to the outermost call.
  Calls on the workspace catalog's DuckDB connection (catalog.duckdb) are timed separately as
  "catalog" and count as workbench: a bare script has no catalog.

  Everything else is workbench: numpy / scipy code (the synthetic generator, CSR building, scoring
  matrix products, top-k, metrics, the candidate pool), pyarrow table building, checksums, fsyncs,
  the catalog, the stage cache. overhead = (wall - library seconds) / library seconds, per stage and
  for the whole recipe. A few workbench functions are timed too (same mechanism, a separate clock),
  to show where workbench time goes: the synthetic generator, exact_top_k (scoring + top-k),
  score_pool, evaluate_lists (metrics).

* the stage-cache rerun: a second run_recipe on the same workspace (every stage cached), as a
  ratio of the first run's wall time.

Results: benchmarks/results/pipeline-1m.json and pipeline-20m.json (machine, versions, the resolved
recipe, per-stage table, overhead, targets). Targets (issue 5): overhead <= 15% at 20M shape, and the
whole 20M-shape recipe under 10 minutes on this machine.
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
sys.path.insert(0, str(ROOT))

SHAPES = {
    "quick": {"users": 1_500, "items": 800, "interactions": 60_000},
    "1m": {"users": 6_040, "items": 3_706, "interactions": 1_000_209},
    "20m": {"users": 138_493, "items": 26_744, "interactions": 20_000_263},
}

# The generators and ranker per shape. The 20M sizing is the point of this benchmark: the
# candidate pool (label-window users x the union of the generators' k) drives the feature query
# and LambdaRank; every full-catalogue scoring pass costs users x items. See docs/performance.md.
RECIPE = """\
# {shape} shape, written by benchmarks/pipeline.py
[dataset]
name = "bench"
synthetic = true
users = {users}
items = {items}
interactions = {interactions}
seed = 42

[split]
name = "tpu"
strategy = "temporal-per-user"
test_fraction = 0.2
val_fraction = 0.2

[[candidates]]
run = "als"
model = "als"
k = {als_k}
params = {{ factors = {factors}, regularization = 20.0, alpha = 2.0, iterations = {iterations} }}

[[candidates]]
run = "knn"
model = "item-knn"
k = {knn_k}
params = {{ neighbours = {neighbours} }}

[[candidates]]
run = "pop"
model = "popular"
k = {pop_k}

[index]
enabled = true
trees = {index_trees}

[ranker]
trees = {trees}
early_stopping = {early_stopping}
learning_rate = {learning_rate}
{features_line}
[evaluation]
ks = [10, 20]
"""

# Every feature the synthetic data supports but the two costliest pair-level joins (cooc_recent,
# item_count_user_30d: about 30% of the feature query's time in benchmarks/ranking.py at 4M rows).
# Tried at 20M shape (with "features": DEFAULT_FEATURES_BUT_TWO in SIZING); that run failed with
# DuckDB out of memory in the test window's features (docs/performance.md), so it is not used now.
DEFAULT_FEATURES_BUT_TWO = [
    "candidate_score",
    "candidate_rank",
    "source_count",
    "source_scores",
    "item_count",
    "item_count_7d",
    "item_count_30d",
    "item_trend",
    "item_recent_share",
    "item_age_days",
    "item_mean_rating",
    "item_rating_std",
    "user_count",
    "user_recency_days",
    "user_span_days",
    "user_mean_rating",
    "item_rating_gap",
    "genre_affinity",
    "user_age",
    "item_same_age_share",
]

SIZING = {
    "quick": {
        "als_k": 50,
        "factors": 32,
        "iterations": 5,
        "knn_k": 20,
        "neighbours": 50,
        "pop_k": 10,
        "index_trees": 10,
        "trees": 30,
        "early_stopping": 10,
        "learning_rate": 0.1,
    },
    "1m": {
        "als_k": 100,
        "factors": 64,
        "iterations": 15,
        "knn_k": 50,
        "neighbours": 100,
        "pop_k": 20,
        "index_trees": 50,
        "trees": 300,
        "early_stopping": 30,
        "learning_rate": 0.05,
    },
    "20m": {
        "als_k": 20,
        "factors": 32,
        "iterations": 8,
        "knn_k": 10,
        "neighbours": 50,
        "pop_k": 10,
        "index_trees": 20,
        "trees": 40,
        "early_stopping": 10,
        "learning_rate": 0.1,
    },
}

LIBRARIES = ("implicit", "lightgbm", "annoy", "duckdb", "pyarrow.parquet")
CATALOG = "catalog"  # DuckDB calls on catalog.duckdb: workbench bookkeeping, reported apart


# -- timing --------------------------------------------------------------------------------------------


class Clock:
    """Seconds per (stage, tag) over the union of intervals in which a timed call runs (any thread)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.began = 0.0
        self.owner: tuple[str, str] | None = None
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.calls: dict[tuple[str, str], int] = defaultdict(int)
        self.stage = "(runner)"

    def enter(self, tag: str) -> None:
        now = time.perf_counter()
        with self.lock:
            if self.active == 0:
                self.began, self.owner = now, (self.stage, tag)
                self.calls[self.owner] += 1
            self.active += 1

    def exit(self) -> None:
        now = time.perf_counter()
        with self.lock:
            self.active -= 1
            if self.active == 0:
                self.seconds[self.owner] += now - self.began

    def wrap(self, fn, tag):
        """``fn`` timed under ``tag`` (a string, or a callable of the call's arguments giving one)."""

        @functools.wraps(fn)
        def timed(*args, **kwargs):
            self.enter(tag(*args, **kwargs) if callable(tag) else tag)
            try:
                return fn(*args, **kwargs)
            finally:
                self.exit()

        timed.__wrapped_by_bench__ = True
        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def by_stage(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = defaultdict(dict)
        for (stage, tag), seconds in self.seconds.items():
            out[stage][tag] = round(seconds, 3)
        return dict(out)


LIB = Clock()  # the bare library calls
WORK = Clock()  # a few workbench functions, to show where workbench time goes
_local = threading.local()


class _Proxy:
    """A DuckDB connection or relation whose every method call is timed (their types cannot be patched)."""

    __slots__ = ("_tag", "_target")

    def __init__(self, target, tag: str) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_tag", tag)

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args, **kwargs):
            LIB.enter(self._tag)
            try:
                result = attr(*args, **kwargs)
            finally:
                LIB.exit()
            return self._rewrap(result)

        return call

    def _rewrap(self, result):
        import duckdb

        if result is self._target:
            return self  # con.execute(...) returns the connection: keep chaining through the proxy
        if isinstance(result, (duckdb.DuckDBPyRelation, duckdb.DuckDBPyConnection)):
            return _Proxy(result, self._tag)
        return result

    def __setattr__(self, name, value):
        setattr(self._target, name, value)

    def __enter__(self):
        self._target.__enter__()
        return self

    def __exit__(self, *exc):
        LIB.enter(self._tag)
        try:
            return self._target.__exit__(*exc)
        finally:
            LIB.exit()

    def __iter__(self):
        return iter(self._target)


def install_timers() -> None:
    """Wrap the library entry points (see the module docstring) and a few workbench functions."""
    import annoy
    import duckdb
    import implicit.cpu.als
    import implicit.nearest_neighbours as nn
    import lightgbm
    import pyarrow.parquet as pq

    import recsys_cli.data.catalog as catalog_module
    from recsys_cli.datasets import ingest, synthetic
    from recsys_cli.evaluation import metrics
    from recsys_cli.pipeline import runner
    from recsys_cli.ranking import pool
    from recsys_cli.runs import evaluate as run_evaluation
    from recsys_cli.runs import ranker, recommendations, retrieval, stage_evaluation

    # implicit
    als = implicit.cpu.als.AlternatingLeastSquares
    als.fit = LIB.wrap(als.fit, "implicit")
    try:
        import implicit.cpu.bpr

        bpr = implicit.cpu.bpr.BayesianPersonalizedRanking
        bpr.fit = LIB.wrap(bpr.fit, "implicit")
    except (ImportError, AttributeError, TypeError):
        pass
    for cls in (nn.ItemItemRecommender, nn.BM25Recommender, nn.TFIDFRecommender, nn.CosineRecommender):
        if "fit" in cls.__dict__:
            cls.fit = LIB.wrap(cls.__dict__["fit"], "implicit")
    nn.bm25_weight = LIB.wrap(nn.bm25_weight, "implicit")
    nn.tfidf_weight = LIB.wrap(nn.tfidf_weight, "implicit")

    # lightgbm
    lightgbm.train = LIB.wrap(lightgbm.train, "lightgbm")
    for name in ("__init__", "predict", "model_to_string", "feature_importance"):
        setattr(lightgbm.Booster, name, LIB.wrap(getattr(lightgbm.Booster, name), "lightgbm"))

    # annoy: a C type; its methods cannot be patched, a subclass's can
    real_annoy = annoy.AnnoyIndex
    timed_annoy = type(
        "AnnoyIndex",
        (real_annoy,),
        {
            name: LIB.wrap(getattr(real_annoy, name), "annoy")
            for name in ("add_item", "build", "save", "load", "unload", "get_nns_by_vector", "get_nns_by_item")
        },
    )
    annoy.AnnoyIndex = timed_annoy

    # duckdb: connect returns a proxy; connections opened by the catalog are tagged apart
    real_connect = duckdb.connect

    def connect(*args, **kwargs):
        tag = CATALOG if getattr(_local, "catalog", False) else "duckdb"
        LIB.enter(tag)
        try:
            con = real_connect(*args, **kwargs)
        finally:
            LIB.exit()
        return _Proxy(con, tag)

    duckdb.connect = connect
    real_enter = catalog_module.Catalog.__enter__

    def catalog_enter(self):
        _local.catalog = True
        try:
            return real_enter(self)
        finally:
            _local.catalog = False

    catalog_module.Catalog.__enter__ = catalog_enter

    # pyarrow.parquet (recsys_cli imports the module inside functions and calls pq.<name>)
    for name in ("read_table", "write_table", "read_metadata", "read_schema"):
        setattr(pq, name, LIB.wrap(getattr(pq, name), "pyarrow.parquet"))

    # workbench functions, for the breakdown only (not library time)
    # (each wrapped where it is called: the runs modules import these names at load time)
    synthetic.generate = ingest.generate = WORK.wrap(synthetic.generate, "synthetic generator")
    wrapped = {
        "exact_top_k": WORK.wrap(retrieval.exact_top_k, "exact_top_k (score + top-k)"),
        "score_pool": WORK.wrap(pool.score_pool, "score_pool"),
        "evaluate_lists": WORK.wrap(metrics.evaluate_lists, "evaluate_lists (metrics)"),
    }
    for module in (retrieval, pool, metrics, run_evaluation, stage_evaluation, ranker, recommendations):
        for name, function in wrapped.items():
            if hasattr(module, name):
                setattr(module, name, function)

    # stage labels: wrap each planned stage's action so the clocks know the stage
    real_build_plan = runner.build_plan

    def build_plan(recipe, name=None):
        plan = real_build_plan(recipe, name)
        for stage in plan.stages:
            stage.action = _labelled(stage.name, stage.action)
        return plan

    runner.build_plan = build_plan


def _labelled(name: str, action):
    def run(workspace, reporter):
        LIB.stage = WORK.stage = name
        try:
            return action(workspace, reporter)
        finally:
            LIB.stage = WORK.stage = "(runner)"

    return run


# -- reporting -----------------------------------------------------------------------------------------


def progress_reporter():
    from recsys_cli.reporting import Reporter

    class Progress(Reporter):
        def __init__(self) -> None:
            self.began = time.perf_counter()
            self.log: list[tuple[float, str]] = []

        def info(self, message: str) -> None:
            self.log.append((round(time.perf_counter() - self.began, 1), message))
            print(f"[{time.perf_counter() - self.began:7.1f}s] {message}", file=sys.stderr, flush=True)

        def warn(self, message: str) -> None:
            self.info(f"warning: {message}")

    return Progress()


def machine() -> dict:
    info = {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": platform.platform(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return info


def versions() -> dict:
    out = {}
    for package in ("recsys-cli", "implicit", "lightgbm", "annoy", "duckdb", "pyarrow", "numpy", "scipy"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def stage_rows(manifest: dict, lib: dict, work: dict) -> list[dict]:
    rows = []
    for stage in manifest["stages"]:
        name = stage["stage"]
        libraries = {k: v for k, v in lib.get(name, {}).items() if k != CATALOG}
        library = sum(libraries.values())
        wall = stage["seconds"]
        rows.append(
            {
                "stage": name,
                "status": stage["status"],
                "wall_s": wall,
                "peak_rss_mb": stage["peak_rss_mb"],
                "library_s": round(library, 3),
                "libraries": libraries,
                "catalog_s": lib.get(name, {}).get(CATALOG, 0.0),
                "workbench_s": round(wall - library, 3),
                "overhead": ratio(wall - library, library),
                "workbench_breakdown": work.get(name, {}),
            }
        )
    return rows


def summarise(total_wall: float, manifest: dict, rows: list[dict], lib: dict, work: dict) -> dict:
    library = sum(s for per in lib.values() for tag, s in per.items() if tag != CATALOG)
    per_library: dict[str, float] = defaultdict(float)
    for per in lib.values():
        for tag, seconds in per.items():
            per_library[tag] += seconds
    generator = sum(per.get("synthetic generator", 0.0) for per in work.values())
    in_stages = sum(r["wall_s"] for r in rows)
    return {
        "wall_s": round(total_wall, 3),
        "manifest_wall_s": manifest["wall_seconds"],
        "stages_wall_s": round(in_stages, 3),
        "runner_s": round(total_wall - in_stages, 3),  # digests, cache records, metrics, manifest, publishing
        "peak_rss_mb": manifest["peak_rss_mb"],
        "library_s": round(library, 3),
        "per_library_s": {k: round(v, 3) for k, v in sorted(per_library.items())},
        "workbench_s": round(total_wall - library, 3),
        "overhead": ratio(total_wall - library, library),
        # the synthetic generator stands in for reading a raw file, which a bare pipeline does too
        "synthetic_generator_s": round(generator, 3),
        "overhead_excluding_generator": ratio(total_wall - generator - library, library),
    }


# -- one shape -----------------------------------------------------------------------------------------


def ranker_facts(workspace, primary: str) -> dict:
    """Pool and training sizes from the ranker's artifact, for the docs' sizing argument."""
    try:
        from recsys_cli.runs.artifacts import RANKER_KIND
        from recsys_cli.runs.store import open_run

        with workspace.reading():
            meta = open_run(workspace, primary).artifact(RANKER_KIND).meta
        return {
            k: meta.get(k) for k in ("pool", "training", "label_window", "features_seconds", "wall_seconds", "columns")
        }
    except Exception as error:  # noqa: BLE001 - informative only, never fails the benchmark
        return {"error": repr(error)}


def run_shape(shape: str, work: Path, keep: bool) -> dict:
    from recsys_cli.data.workspace import Workspace
    from recsys_cli.pipeline.recipe import load_recipe
    from recsys_cli.pipeline.runner import run_recipe

    dims = SHAPES[shape]
    work.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"pipeline-{shape}-", dir=work))
    scratch = folder / "tmp"
    scratch.mkdir()
    os.environ["TMPDIR"] = str(scratch)  # the ranker's and evaluation's scratch folders: on disk
    tempfile.tempdir = str(scratch)
    recipe_path = folder / f"bench-{shape}.toml"
    sizing = dict(SIZING[shape])
    features = sizing.pop("features", None)
    features_line = f"features = {json.dumps(features)}\n" if features else ""
    recipe_text = RECIPE.format(shape=shape, features_line=features_line, **dims, **sizing)
    recipe_path.write_text(recipe_text)
    recipe = load_recipe(recipe_path)
    workspace = Workspace(folder / "workspace")
    reporter = progress_reporter()
    print(f"== {shape}: {dims} in {folder}", file=sys.stderr, flush=True)
    try:
        LIB.reset()
        WORK.reset()
        load_before = os.getloadavg()
        began = time.perf_counter()
        try:
            result = run_recipe(workspace, recipe, name="bench", reporter=reporter)
        except Exception as error:
            if shape != "quick":  # what happened, for the record: the progress log and the clocks so far
                RESULTS.mkdir(exist_ok=True)
                (RESULTS / f"pipeline-{shape}-failed.json").write_text(
                    json.dumps(
                        {
                            "shape": {"name": shape, **dims},
                            "recipe_toml": recipe_text,
                            "error": repr(error),
                            "seconds_until_failure": round(time.perf_counter() - began, 1),
                            "machine": machine(),
                            "versions": versions(),
                            "date": time.strftime("%Y-%m-%d %H:%M"),
                            "load_average": [round(x, 2) for x in os.getloadavg()],
                            "progress": reporter.log,
                            "library_s_by_stage": LIB.by_stage(),
                            "workbench_breakdown": WORK.by_stage(),
                        },
                        indent=2,
                    )
                    + "\n"
                )
            raise
        total = time.perf_counter() - began
        load_after = os.getloadavg()
        lib, wb = LIB.by_stage(), WORK.by_stage()
        calls = {f"{stage}|{tag}": n for (stage, tag), n in sorted(LIB.calls.items())}
        manifest = result.manifest
        rows = stage_rows(manifest, lib, wb)
        totals = summarise(total, manifest, rows, lib, wb)
        facts = ranker_facts(workspace, result.plan.primary)

        LIB.reset()
        WORK.reset()
        began = time.perf_counter()
        again = run_recipe(workspace, recipe, name="bench", reporter=reporter)
        rerun = time.perf_counter() - began
        rerun_info = {
            "wall_s": round(rerun, 3),
            "ratio": ratio(rerun, total),
            "cached_stages": again.cached,
            "stages": len(again.outcomes),
            "library_s": round(sum(LIB.seconds.values()), 3),
        }
        stages_metrics = (result.metrics.get("stages") or {}).get("stages", {})
        return {
            "shape": {"name": shape, **dims},
            "sizing": SIZING[shape],
            "recipe_toml": recipe_text,
            "recipe": manifest["recipe"],
            "machine": machine(),
            "versions": versions(),
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
            "stages": rows,
            "runner": {
                "wall_s": totals["runner_s"],
                "libraries": lib.get("(runner)", {}),
                "workbench_breakdown": wb.get("(runner)", {}),
            },
            "totals": totals,
            "library_calls": calls,
            "rerun_all_cached": rerun_info,
            "ranker": facts,
            "quality": {
                "two_stage": stages_metrics,
                "generators": {k: v["metrics"] for k, v in result.metrics.get("generators", {}).items()},
            },
            "targets": {
                "overhead_max": 0.15,
                "overhead_met": totals["overhead"] is not None and totals["overhead"] <= 0.15,
                "wall_max_s": 600,
                "wall_met": total <= 600,
            },
        }
    finally:
        if keep:
            print(f"kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def print_table(result: dict) -> None:
    print(f"\n{result['shape']['name']}: {result['shape']}")
    print(f"{'stage':<16}{'wall s':>9}{'peak MB':>9}{'lib s':>9}{'overhead':>10}  libraries / workbench")
    for row in result["stages"]:
        overhead = f"{row['overhead'] * 100:.0f}%" if row["overhead"] is not None else "-"
        print(
            f"{row['stage']:<16}{row['wall_s']:>9.1f}{row['peak_rss_mb'] or 0:>9.0f}{row['library_s']:>9.1f}"
            f"{overhead:>10}  {row['libraries']} {row['workbench_breakdown']}"
        )
    t = result["totals"]
    print(
        f"{'total':<16}{t['wall_s']:>9.1f}{t['peak_rss_mb']:>9.0f}{t['library_s']:>9.1f}"
        f"{t['overhead'] * 100:>9.0f}%  (runner outside stages {t['runner_s']:.1f}s; "
        f"excluding the generator {t['overhead_excluding_generator'] * 100:.0f}%)"
    )
    r = result["rerun_all_cached"]
    print(
        f"rerun (all cached): {r['wall_s']:.2f}s = {r['ratio']:.4f} of the first run; "
        f"{r['cached_stages']}/{r['stages']} stages cached"
    )


def markdown(result: dict) -> str:
    """The docs' table for one results file (``--markdown``)."""

    def pct(x):
        return f"{x * 100:,.0f}%" if x is not None else "-"

    lines = [
        "| stage | wall s | peak RSS MB | library s | overhead | where the time goes |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in result["stages"]:
        parts = [f"{k} {v:,.1f}" for k, v in sorted(row["libraries"].items(), key=lambda kv: -kv[1]) if v >= 0.05]
        parts += [
            f"*{k} {v:,.1f}*" for k, v in sorted(row["workbench_breakdown"].items(), key=lambda kv: -kv[1]) if v >= 0.05
        ]
        lines.append(
            f"| {row['stage']} | {row['wall_s']:,.1f} | {row['peak_rss_mb'] or 0:,.0f} | "
            f"{row['library_s']:,.1f} | {pct(row['overhead'])} | {', '.join(parts)} |"
        )
    t = result["totals"]
    lines.append(
        f"| (runner: digests, cache records, metrics, publish) | {t['runner_s']:,.1f} | | "
        f"{sum(v for k, v in result['runner']['libraries'].items() if k != CATALOG):,.1f} | | |"
    )
    lines.append(
        f"| **whole recipe** | **{t['wall_s']:,.1f}** | **{t['peak_rss_mb']:,.0f}** | "
        f"**{t['library_s']:,.1f}** | **{pct(t['overhead'])}** | "
        + ", ".join(f"{k} {v:,.1f}" for k, v in t["per_library_s"].items() if k != CATALOG)
        + f"; catalog queries {t['per_library_s'].get(CATALOG, 0.0):,.1f} (workbench) |"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=("1m", "20m", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="a tiny shape, for a smoke run; no results file")
    parser.add_argument(
        "--work",
        type=Path,
        default=HERE / "work",
        help="where the temporary workspaces go (on disk); default benchmarks/work",
    )
    parser.add_argument("--keep", action="store_true", help="keep the workspace afterwards")
    parser.add_argument(
        "--markdown",
        type=Path,
        nargs="+",
        metavar="RESULTS_JSON",
        help="only print the docs' table for these results files",
    )
    args = parser.parse_args()
    if args.markdown:
        for path in args.markdown:
            print(f"{path.name}:\n{markdown(json.loads(path.read_text()))}\n")
        return

    install_timers()
    shapes = ["quick"] if args.quick else (["1m", "20m"] if args.shape == "both" else [args.shape])
    for shape in shapes:
        result = run_shape(shape, args.work, args.keep)
        print_table(result)
        if shape != "quick":
            RESULTS.mkdir(exist_ok=True)
            out = RESULTS / f"pipeline-{shape}.json"
            out.write_text(json.dumps(result, indent=2) + "\n")
            print(f"wrote {out}")


if __name__ == "__main__":
    main()
