"""Reading recipe runs back: `recsys runs show NAME` and `recsys runs compare A B` for recipe runs.

Every recipe run keeps its per-user values (per_user.parquet: one row per table, row and user),
so comparing two runs is exact: for each evaluated row both runs have (a generator, or a stage of
the two-stage table) and each per-user metric, the mean difference B - A over the users both
evaluated, with a paired bootstrap 95% interval (:func:`~recsys_cli.evaluation.significance.paired_bootstrap_many`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from recsys_cli.data.faults import read_parquet
from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import CorruptArtifactError, InvalidParameterError, UnknownNameError
from recsys_cli.evaluation.significance import METHOD, paired_intervals
from recsys_cli.reporting import SILENT
from recsys_cli.runs.artifacts import MANIFEST_FILE, METRICS_FILE, METRICS_SHA256, PER_USER_FILE
from recsys_cli.runs.measures import Measures, stage_measures
from recsys_cli.runs.summaries import HEADLINE

# a cross-validated recipe run's measures beside each metric's mean: generators.<run>.<metric>.<one of these>
FOLD_INTERVAL_MEASURES = ("sd", "low", "high")


@dataclass
class RecipeRunReport:
    name: str
    path: str
    manifest: dict[str, Any]
    metrics: dict[str, Any]

    def document(self) -> dict[str, Any]:
        return {"recipe_run": self.name, "path": self.path, "manifest": self.manifest, "metrics": self.metrics}


def recipe_run_names(workspace: Workspace) -> list[str]:
    if not workspace.exists():
        return []
    with workspace.catalog() as catalog:
        return [r.name for r in catalog.pipeline_runs()]


def is_recipe_run(workspace: Workspace, name: str) -> bool:
    return name in recipe_run_names(workspace)


def show_recipe_run(workspace: Workspace, name: str) -> RecipeRunReport:
    with workspace.reading():
        record = None
        if workspace.exists():
            with workspace.catalog() as catalog:
                record = catalog.pipeline_run(name)
        if record is None:
            raise UnknownNameError(
                "recipe run", name, recipe_run_names(workspace), hint="run a recipe first: recsys run recipes/demo.toml"
            )
        return _read_report(workspace, record)


def _read_report(workspace: Workspace, record) -> RecipeRunReport:
    """A recipe run's manifest and checked metrics (the caller holds the readers' lock)."""
    name, folder = record.name, workspace.resolve(record.path)
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
        metrics_bytes = (folder / METRICS_FILE).read_bytes()
        _check_metrics(record, folder / METRICS_FILE, metrics_bytes)
        metrics = json.loads(metrics_bytes)
    except (OSError, ValueError, RecursionError) as error:
        raise CorruptArtifactError(
            f"recipe run '{name}' is damaged ({folder}): {error}",
            f"remove it with: recsys runs remove {name}, and run the recipe again",
        ) from None
    if not isinstance(manifest, dict) or not isinstance(metrics, dict):
        raise CorruptArtifactError(
            f"recipe run '{name}' is damaged ({folder})",
            f"remove it with: recsys runs remove {name}, and run the recipe again",
        )
    return RecipeRunReport(name, record.path, manifest, metrics)


def _check_metrics(record, path, data: bytes) -> None:
    """metrics.json against the sha256 recorded in the run's catalog row when it was published (runs
    published before digests were recorded carry none and are read unchecked)."""
    recorded = record.manifest.get(METRICS_SHA256) if isinstance(record.manifest, dict) else None
    if recorded is not None and hashlib.sha256(data).hexdigest() != recorded:
        raise CorruptArtifactError(
            f"the workspace file {path} is damaged or was edited (its sha256 is not the one recorded when "
            f"recipe run '{record.name}' was published)",
            f"rerun the recipe (with the same --set options): recsys run {record.recipe} --run {record.name}",
        )


def recipe_measures(metrics: dict[str, Any]) -> Measures:
    """A recipe run's metrics.json flattened (the full tree stays in metrics.json and the JSON output)."""
    measures: Measures = {}
    for short, generator in metrics.get("generators", {}).items():
        measures.update({f"generators.{short}.{key}": value for key, value in generator["metrics"].items()})
        for key, statistics in generator.get("cross_validation", {}).get("metrics", {}).items():
            measures.update({f"generators.{short}.{key}.{w}": statistics[w] for w in FOLD_INTERVAL_MEASURES})
    if metrics.get("stages"):
        measures.update(stage_measures(metrics["stages"]))
    return measures


def recipe_headline(metrics: dict[str, Any], primary: str | None = None) -> tuple[str, float | None] | None:
    """The number a recipe run is known by: the two-stage ranker's ndcg@10, else its primary
    generator's (a recipe without a ranker); None when it evaluated no ndcg@10. ``primary`` names it
    (the recipe's first [[candidates]] run): metrics.json stores the generators sorted by name, so
    without it a re-read run would be known by another generator than the one it printed."""
    measures = recipe_measures(metrics)
    generators = list(metrics.get("generators", {}))
    if primary in generators:
        generators.insert(0, primary)
    for name in [f"ranker.{HEADLINE}", *(f"generators.{g}.{HEADLINE}" for g in generators[:1])]:
        if name in measures:
            return name, measures[name]
    return None


@dataclass
class RecipeRunSummary:
    """A recipe run as `recsys runs list` shows it, beside the trained runs."""

    name: str
    recipe: str
    dataset: str
    split: str
    models: str  # its generators, and the ranker when it has one
    headline: tuple[str, float | None] | None  # (measure, value); None when damaged or no ndcg@10
    created_at: str
    damaged: str | None = None  # why its metrics could not be read

    def document(self) -> dict[str, Any]:
        return {
            "run": self.name,
            "kind": "recipe",
            "model": self.models,
            "dataset": self.dataset,
            "split": self.split,
            HEADLINE: self.headline[1] if self.headline else None,
            "headline_measure": self.headline[0] if self.headline else None,
            "params": None,  # the same keys as a trained run's row: its recipe holds the parameters
            "artifacts": None,
            "recipe": self.recipe,
            "created_at": self.created_at,
            "damaged": self.damaged,
        }


def list_recipe_runs(workspace: Workspace, dataset: str | None = None) -> list[RecipeRunSummary]:
    """Every recipe run (on ``dataset``), with its headline: the ranker's ndcg@10 on test."""
    with workspace.reading():
        with workspace.catalog() as catalog:
            records = catalog.pipeline_runs()
        wanted = [r for r in records if dataset is None or _recipe(r).get("dataset", {}).get("name") == dataset]
        return [_summary(workspace, record) for record in wanted]


def _recipe(record) -> dict[str, Any]:
    """The resolved recipe a run recorded ({} for a record too damaged to hold one)."""
    return record.manifest.get("recipe", {}) if isinstance(record.manifest, dict) else {}


def _summary(workspace: Workspace, record) -> RecipeRunSummary:
    """One row of `runs list` (the caller holds the readers' lock); a damaged run says why."""
    recipe = _recipe(record)
    models = "+".join(c.get("model", "?") for c in recipe.get("candidates", []))
    if recipe.get("ranker", {}).get("enabled"):
        models += " > lambdarank"
    headline, damaged = None, None
    try:
        primary = next((c.get("run") for c in recipe.get("candidates", [])), None)
        headline = recipe_headline(_read_report(workspace, record).metrics, primary)
    except CorruptArtifactError as error:
        damaged = error.message
    return RecipeRunSummary(
        record.name,
        record.recipe,
        recipe.get("dataset", {}).get("name", "?"),
        recipe.get("split", {}).get("name", "?"),
        models,
        headline,
        record.created_at,
        damaged,
    )


def remove_recipe_run(workspace: Workspace, name: str, reporter=None) -> str:
    """Unregister a recipe run and delete its folder (even a damaged one); its datasets, splits and
    runs stay. Returns the folder it had."""

    with workspace.writing(reporter or SILENT, command=f"runs remove {name}"):
        with workspace.catalog(read_only=False) as catalog:
            removed = catalog.delete_pipeline_run(name)
            known = [r.name for r in catalog.pipeline_runs()]
        if removed is None:
            raise UnknownNameError("recipe run", name, known)
        workspace.retire([removed.path])
    return removed.path


@dataclass
class MetricComparison:
    table: str  # generators or stages
    row: str
    metric: str
    a: float
    b: float
    interval: dict[str, Any] | None  # paired bootstrap of mean(b - a), when the runs are paired

    def to_json(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "row": self.row,
            "metric": self.metric,
            "a": self.a,
            "b": self.b,
            "difference": self.b - self.a,
            "interval": self.interval,
        }


@dataclass
class RecipeRunComparison:
    a: RecipeRunReport
    b: RecipeRunReport
    ks: list[int]
    rows: list[MetricComparison]
    warnings: list[str]

    def document(self) -> dict[str, Any]:
        return {
            "a": self.a.name,
            "b": self.b.name,
            "ks": self.ks,
            "method": METHOD,
            "comparisons": [r.to_json() for r in self.rows],
            "warnings": self.warnings,
        }


def compare_recipe_runs(workspace: Workspace, a: str, b: str, k: int | str | None = None) -> RecipeRunComparison:
    """Every metric of every row both runs evaluated, at ``k`` (default: the smallest K both have; 'all')."""

    first, second = show_recipe_run(workspace, a), show_recipe_run(workspace, b)
    with workspace.reading():
        tables = [read_parquet(workspace.resolve(r.path) / PER_USER_FILE) for r in (first, second)]
    common = [c for c in tables[0].column_names if "@" in c and c in tables[1].column_names]
    ks = sorted({int(c.split("@")[1]) for c in common})
    if not ks:
        raise InvalidParameterError(f"recipe runs '{a}' and '{b}' share no metric", "evaluate both at a common K")
    if k is None:
        wanted = [ks[0]]
    elif k == "all":
        wanted = ks
    elif int(k) in ks:
        wanted = [int(k)]
    else:
        raise InvalidParameterError(f"no metric at K={k}", f"K's both runs evaluated: {', '.join(map(str, ks))}")
    metrics = [c for c in common if int(c.split("@")[1]) in wanted]
    warnings = []
    differing = [what for what, value in _pairing(first.manifest).items() if _pairing(second.manifest)[what] != value]
    paired = not differing
    if differing:
        warnings.append(
            f"the runs differ in {', '.join(differing)}: their users or relevant items differ, "
            "so no paired interval is given"
        )
    frames = [_by_row(t, metrics) for t in tables]
    rows = []
    for key in [key for key in frames[0] if key in frames[1]]:
        (users_a, values_a), (users_b, values_b) = frames[0][key], frames[1][key]
        shared, index_a, index_b = _align(users_a, users_b)
        intervals = {}
        if paired and len(shared):
            intervals = paired_intervals(
                {m: values_a[m][index_a] for m in metrics}, {m: values_b[m][index_b] for m in metrics}, metrics
            )
        for metric in metrics:
            rows.append(
                MetricComparison(
                    key[0],
                    key[1],
                    metric,
                    float(values_a[metric].mean()),
                    float(values_b[metric].mean()),
                    intervals.get(metric),
                )
            )
    return RecipeRunComparison(first, second, wanted, rows, warnings)


def _pairing(manifest: dict[str, Any]) -> dict[str, Any]:
    """What must be equal for two runs' per-user values to be paired: the same split (its content
    digest, which covers the dataset's) and the same relevance rule."""
    split = next((s for s in manifest.get("stages", []) if s.get("stage") == "split"), {})
    return {
        "split data": [o.get("digest") for o in split.get("outputs", [])],
        "evaluation.relevant_min_rating": manifest.get("recipe", {}).get("evaluation", {}).get("relevant_min_rating"),
    }


def _by_row(table, metrics: list[str]) -> dict[tuple[str, str], tuple[Any, dict[str, Any]]]:
    """(table, row) -> (user ids, {metric: values}), rows in the order the run stored them."""
    import numpy as np

    groups = table.column("table").to_numpy(zero_copy_only=False)
    names = table.column("row").to_numpy(zero_copy_only=False)
    users = np.asarray(table.column("user_id").to_pylist(), dtype=object)
    columns = {m: table.column(m).to_numpy() for m in metrics}
    found: dict[tuple[str, str], tuple[Any, dict[str, Any]]] = {}
    for key in dict.fromkeys(zip(groups.tolist(), names.tolist())):
        mask = (groups == key[0]) & (names == key[1])
        found[key] = (users[mask], {m: values[mask] for m, values in columns.items()})
    return found


def _align(a, b):
    """Users in both, and where each sits in a and in b."""
    import numpy as np

    position_b = {user: i for i, user in enumerate(b.tolist())}
    pairs = [(i, position_b[user]) for i, user in enumerate(a.tolist()) if user in position_b]
    index_a = np.array([p[0] for p in pairs], dtype=np.int64)
    index_b = np.array([p[1] for p in pairs], dtype=np.int64)
    return a[index_a], index_a, index_b
