"""A recipe as a list of stages: what each stage does, what its key hashes, what it produces.

Stages, in order: ``ingest``, ``split``, ``train <run>`` per generator, ``index <run>`` (when the
index is enabled, for factor models), ``candidates <run>`` and ``ranker`` (when the ranker is
enabled), ``evaluate <run>`` per generator and ``evaluate stages`` (ranker on). Each stage calls
the same library function as its CLI command, with ``force=True``: the stage cache, not the
name, decides whether it runs.

Workspace names: the dataset and split keep the recipe's names (recipes on the same data share
them, and so share the cache); a generator's run is ``<recipe run>.<run>`` so two recipe runs never
replace each other's models.

:func:`build_plan` checks everything that can be checked without touching the workspace (names,
the dataset card and source, split options, model parameters, ranker settings), so a mistake in a
recipe fails before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys_cli.data.atomic import file_sha256
from recsys_cli.data.fold_splits import fold_names, is_member, make_folds
from recsys_cli.data.folds import FOLD_STRATEGIES, FoldConfig
from recsys_cli.data.records import RunRecord, SplitRecord, validate_name
from recsys_cli.data.splits import COLD_START_STRATEGIES, TIME_ORDERED_STRATEGIES, SplitConfig, make_split
from recsys_cli.data.workspace import Workspace
from recsys_cli.datasets import sources
from recsys_cli.datasets.cards import card_names, load_card
from recsys_cli.datasets.ingest import ingest_card, ingest_synthetic
from recsys_cli.datasets.synthetic import SyntheticConfig
from recsys_cli.errors import RecsysError, WouldDeleteError
from recsys_cli.evaluation.requirements import Requirement
from recsys_cli.models.registry import create_model, model_class
from recsys_cli.pipeline import cache
from recsys_cli.pipeline.checks import recipe_requirements
from recsys_cli.pipeline.recipe import Recipe, RecipeError
from recsys_cli.ranking.features import FEATURES
from recsys_cli.ranking.params import RANKER_DEFAULTS, RankerParams
from recsys_cli.reporting import Reporter
from recsys_cli.runs.artifacts import (
    INDEX_KIND,
    RANKER_KIND,
    STAGES_KIND,
    TEST_EVALUATION_KIND,
    candidates_kind,
)
from recsys_cli.runs.evaluate import evaluate_run
from recsys_cli.runs.indexing import build_run_index
from recsys_cli.runs.ranker import train_ranker
from recsys_cli.runs.recommendations import generate_candidates
from recsys_cli.runs.stage_evaluation import evaluate_stages
from recsys_cli.runs.training import train_candidates
from recsys_cli.vocabulary import STAGE_ROWS


@dataclass
class Stage:
    name: str
    kind: str
    config: dict[str, Any]  # what the key hashes, besides the inputs
    needs: tuple[str, ...]  # stages whose outputs it reads
    outputs: tuple[str, ...]  # catalog refs it produces (see cache.current_path)
    action: Callable[[Workspace, Reporter], Any]
    source_checksum: Callable[[], str] | None = None  # ingest: the raw data's identity


@dataclass
class Plan:
    recipe: Recipe
    name: str  # the recipe run
    dataset: str
    split: str
    runs: dict[str, str]  # the recipe's run name -> the workspace run name
    primary: str  # the ranker's (and the stage table's) generator, as a workspace run name
    stages: list[Stage] = field(default_factory=list)
    seeds: dict[str, Any] = field(default_factory=dict)
    requirements: list[Requirement] = field(default_factory=list)  # checks.require, checked after the run
    folds: int | None = None  # split.folds: cross-validation over the folds <split>.fold-<i>
    fold_runs: dict[str, list[str]] = field(default_factory=dict)  # with folds: each generator's run per fold

    @property
    def split_names(self) -> list[str]:
        """The splits the split stage makes: the split, or the K folds."""
        return [self.split] if self.folds is None else fold_names(self.split, self.folds)

    @property
    def ranker_enabled(self) -> bool:
        return bool(self.recipe.config["ranker"]["enabled"])


def default_run_name(recipe: Recipe) -> str:
    return Path(recipe.path).stem


def build_plan(recipe: Recipe, name: str | None = None) -> Plan:
    """The stages of ``recipe`` for the recipe run ``name``; raises on anything that cannot run."""
    config = recipe.config
    name = name or default_run_name(recipe)
    _check_name(recipe, "run", name, "the recipe run", "name it with --run NAME (no '.')", dots=False)
    dataset, split = config["dataset"]["name"], config["split"]["name"]
    _check_name(recipe, "dataset", dataset, "dataset.name", None)
    _check_name(recipe, "split", split, "split.name", None)
    runs = {c["run"]: f"{name}.{c['run']}" for c in config["candidates"]}
    for position, (short, full) in enumerate(runs.items()):
        _check_name(recipe, "run", short, f"candidates.{position}.run", None, dots=False)
        _check_name(recipe, "run", full, f"candidates.{position}.run", "use a shorter recipe run (--run) or run name")
    primary = runs[config["candidates"][0]["run"]]
    plan = Plan(recipe, name, dataset, split, runs, primary)
    if config["split"]["folds"] is not None:
        _plan_folds(recipe, plan)
    plan.seeds = {
        "dataset": config["dataset"]["seed"] if config["dataset"]["synthetic"] else None,
        "split": config["split"]["seed"],
        "candidates": {c["run"]: c["seed"] for c in config["candidates"]},
        "index": config["index"]["seed"] if config["index"]["enabled"] else None,
        "ranker": config["ranker"]["seed"] if config["ranker"]["enabled"] else None,
    }
    plan.stages.append(_ingest_stage(recipe, plan))
    plan.stages.append(_split_stage(recipe, plan) if plan.folds is None else _folds_stage(recipe, plan))
    for table in config["candidates"]:
        if plan.folds is None:
            plan.stages.extend(_generator_stages(recipe, plan, table))
        else:
            plan.stages.extend(_fold_train_stages(recipe, plan, table))
    if plan.ranker_enabled:
        plan.stages.append(_ranker_stage(recipe, plan))
    plan.stages.extend(_evaluate_stages(recipe, plan))
    names = [stage.name for stage in plan.stages]
    clash = next((n for n in names if names.count(n) > 1), None)
    if clash:
        raise RecipeError(
            f"{recipe.path}: two stages would be called '{clash}'",
            "rename the [[candidates]] run whose name is 'stages'",
        )
    plan.requirements = recipe_requirements(recipe)
    return plan


# -- what a recipe run may delete ---------------------------------------------------------------
def _made_by(plan: Plan, workspace: Workspace) -> Callable[[SplitRecord | RunRecord], bool]:
    """Whether a split or run is this recipe run's own, so that replacing its dataset or split may
    delete it without ``replace``: a generation folder its stage records name, one of its generator
    runs (``<recipe run>.*``, which its train stages replace anyway) or the split it declares (which
    its split stage replaces anyway)."""
    recorded = cache.recorded_paths(workspace, recipe_run=plan.name)

    def made(record: SplitRecord | RunRecord) -> bool:
        if record.path in recorded:
            return True
        if isinstance(record, RunRecord):
            return record.name.startswith(f"{plan.name}.")
        if record.dataset != plan.dataset:
            return False
        return record.name in plan.split_names or (plan.folds is not None and is_member(record, plan.split))

    return made


def _refusal(plan: Plan, error: WouldDeleteError, key: str) -> WouldDeleteError:
    """The library's refusal, in a recipe's words: what this recipe run did not make, and its key."""
    return WouldDeleteError(
        error.target,
        error.splits,
        error.runs,
        whose=f"that recipe run '{plan.name}' did not make",
        hint=f"to replace it and delete them, rerun with --set {key}=true or set {key} = true in the recipe; "
        f"or use another {key.split('.')[0]} name or workspace",
    )


def _ingest_stage(recipe: Recipe, plan: Plan) -> Stage:
    section, dataset = recipe.config["dataset"], plan.dataset

    def ingest_with_rules(workspace: Workspace, reporter: Reporter, ingest: Callable[..., Any]) -> None:
        """Identical data is reused; other data replaces the dataset only if nothing this recipe run did
        not make goes with it, unless dataset.replace."""
        try:
            result = ingest(
                workspace, replace=section["replace"], disposable=_made_by(plan, workspace), reporter=reporter
            )
        except WouldDeleteError as error:
            raise _refusal(plan, error, "dataset.replace") from None
        if result.reused:
            reporter.info(f"dataset '{dataset}' is unchanged: reused")
        elif result.dropped_splits or result.dropped_runs:  # its own, or dataset.replace = true said so
            reporter.warn(
                f"replaced dataset '{dataset}' and deleted what was built on it: "
                + "; ".join(
                    f"{kind} {', '.join(names)}"
                    for kind, names in (("splits", result.dropped_splits), ("runs", result.dropped_runs))
                    if names
                )
            )

    if section["synthetic"]:
        given = {k: section[k] for k in ("users", "items", "interactions") if section[k] is not None}
        synthetic = _checked(lambda: SyntheticConfig(**given, seed=section["seed"]), recipe, "dataset")
        _checked(synthetic.validate, recipe, "dataset")

        def ingest(workspace: Workspace, reporter: Reporter) -> None:
            ingest_with_rules(
                workspace,
                reporter,
                lambda ws, **options: ingest_synthetic(ws, dataset, synthetic, force=True, **options),
            )

        config = {"dataset": dataset, "synthetic": vars(synthetic)}
        return Stage("ingest", "ingest", config, (), (f"dataset:{dataset}",), ingest)

    if dataset not in card_names():
        raise RecipeError(
            f"{recipe.path}: dataset.name '{dataset}' is not a dataset card",
            f"cards: {', '.join(card_names())}; or set dataset.synthetic = true",
        )
    card = load_card(dataset)
    source = section["source"]
    if source is not None and not str(source).lower().startswith(sources.URL_SCHEMES):
        # relative to the folder the command runs in, as `recsys ingest --source` reads it
        source = str(Path(source).expanduser().absolute())
    source_plan = sources.plan_source(card, source)  # a missing or wrong source fails here, before anything runs

    def ingest(workspace: Workspace, reporter: Reporter) -> None:
        ingest_with_rules(
            workspace, reporter, lambda ws, **options: ingest_card(ws, dataset, source, force=True, **options)
        )

    def checksum() -> str:
        return _source_checksum(card, source_plan)

    config = {"dataset": dataset, "card": card.name}
    return Stage("ingest", "ingest", config, (), (f"dataset:{dataset}",), ingest, checksum)


def _source_checksum(card, plan) -> str:
    """The raw data's identity: the zip's sha256, the folder's files', or the card's pinned sha256 for a URL."""

    if plan.kind == "zip":
        return f"sha256:{file_sha256(plan.path)}"
    if plan.kind == "folder":
        files, _ = sources.locate_in_folder(card, plan.path)
        return "files:" + ",".join(f"{role}={file_sha256(path)}" for role, path in sorted(files.items()))
    if plan.location == card.url and card.sha256:
        return f"sha256:{card.sha256}"  # the download is checked against it
    return f"url:{plan.location}"


def _split_stage(recipe: Recipe, plan: Plan) -> Stage:
    dataset, split = plan.dataset, plan.split
    # `replace` is a permission, not part of the split: it stays out of the options and the stage key;
    # `folds` is unset here (else _folds_stage), and left out so that the keys of recipes without it stay
    options = {k: v for k, v in recipe.config["split"].items() if k not in ("name", "replace", "folds")}
    if options["given"] is None:  # cold-users only: unset, it stays out of the keys of the recipes before it
        del options["given"]
    split_config = _checked(lambda: SplitConfig(**options).resolve(), recipe, "split")

    def make(workspace: Workspace, reporter: Reporter) -> None:
        made = _made_by(plan, workspace)

        def guard(runs: list[RunRecord]) -> None:
            others = [run.name for run in runs if not made(run)]
            if others and not recipe.config["split"]["replace"]:
                raise _refusal(plan, WouldDeleteError(f"split '{dataset}/{split}'", [], others), "split.replace")

        result = make_split(
            workspace, dataset, split, split_config, force=True, guard=guard, reuse_identical=True, reporter=reporter
        )
        if result.reused:
            reporter.info(f"split '{dataset}/{split}' is unchanged: reused")
        elif result.dropped_runs:
            reporter.warn(
                f"replaced split '{dataset}/{split}' and deleted the runs trained on it: "
                + ", ".join(result.dropped_runs)
            )

    config = {"dataset": dataset, "split": split, "options": options}
    return Stage("split", "split", config, ("ingest",), (f"split:{dataset}/{split}",), make)


def _trainer(plan: Plan, table: dict[str, Any], split: str, run: str) -> Callable[[Workspace, Reporter], None]:
    """The train stage's action: the generator ``table`` trained on ``split`` as ``run``."""

    def train(workspace: Workspace, reporter: Reporter) -> None:
        train_candidates(
            workspace,
            plan.dataset,
            split,
            table["model"],
            run,
            params=table["params"],
            seed=table["seed"],
            values=table["values"],
            force=True,
            reporter=reporter,
        )

    return train


def _generator_stages(recipe: Recipe, plan: Plan, table: dict[str, Any]) -> list[Stage]:

    run = plan.runs[table["run"]]
    _check_generator(recipe, table)

    train = _trainer(plan, table, plan.split, run)

    train_name = f"train {table['run']}"
    config = {"run": run, **{k: table[k] for k in ("model", "params", "seed", "values")}}
    stages = [Stage(train_name, "train", config, ("split",), (f"run:{run}",), train)]
    index = recipe.config["index"]
    if index["enabled"] and model_class(table["model"]).indexable:

        def build(workspace: Workspace, reporter: Reporter) -> None:
            build_run_index(workspace, run, n_trees=index["trees"], seed=index["seed"], reporter=reporter)

        stages.append(
            Stage(
                f"index {table['run']}",
                "index",
                {"run": run, "trees": index["trees"], "seed": index["seed"]},
                (train_name,),
                (f"artifact:{run}/{INDEX_KIND}",),
                build,
            )
        )
    if plan.ranker_enabled:

        def candidates(workspace: Workspace, reporter: Reporter) -> None:
            generate_candidates(workspace, run, k=table["k"], part="val", reporter=reporter)

        stages.append(
            Stage(
                f"candidates {table['run']}",
                "candidates",
                {"run": run, "k": table["k"], "part": "val"},
                (train_name,),
                (f"artifact:{run}/{candidates_kind('val')}",),
                candidates,
            )
        )
    return stages


def _ranker_stage(recipe: Recipe, plan: Plan) -> Stage:

    section, split = recipe.config["ranker"], recipe.config["split"]
    # the ranker's labels and features come from a time-ordered window of users and items train knows well
    if split["strategy"] in COLD_START_STRATEGIES:
        raise RecipeError(
            f"{recipe.path}: the ranker cannot run on a {split['strategy']} split: its label window and "
            "features come from users and items train knows well, and a cold-start split evaluates new ones",
            f"set ranker.enabled = false ({split['strategy']} compares the generators alone)",
        )
    if split["strategy"] not in TIME_ORDERED_STRATEGIES:
        raise RecipeError(
            f"{recipe.path}: the ranker needs a time-ordered split, not split.strategy = '{split['strategy']}'",
            f"use one of {', '.join(TIME_ORDERED_STRATEGIES)} with a validation part, or set ranker.enabled = false",
        )
    if all(split[k] is None for k in ("val_fraction", "val_after", "val_n")):
        raise RecipeError(
            f"{recipe.path}: the ranker learns from the validation part, but the split has none",
            "set split.val_fraction (or split.val_after / split.val_n), or set ranker.enabled = false",
        )
    params = _checked(lambda: RankerParams(**{k: section[k] for k in RANKER_DEFAULTS}).validated(), recipe, "ranker")
    others = [run for run in plan.runs.values() if run != plan.primary]
    if section["features"]:
        unknown = [f for f in section["features"] if f not in FEATURES]
        if unknown:
            raise RecipeError(
                f"{recipe.path}: ranker.features has unknown feature '{unknown[0]}'",
                f"features: {', '.join(FEATURES)} (recsys features list)",
            )

    def train(workspace: Workspace, reporter: Reporter) -> None:
        train_ranker(
            workspace,
            plan.primary,
            with_runs=others,
            features=section["features"] or None,
            labels=section["labels"],
            params=params,
            refit_generators=section["refit"],
            reporter=reporter,
        )

    needs = tuple(s for short in plan.runs for s in (f"train {short}", f"candidates {short}"))
    config = {"primary": plan.primary, "with": others, **{k: v for k, v in section.items() if k != "enabled"}}
    return Stage("ranker", "ranker", config, ("split", *needs), (f"artifact:{plan.primary}/{RANKER_KIND}",), train)


def _evaluate_stages(recipe: Recipe, plan: Plan) -> list[Stage]:
    """One stage per generator (full ranking) and, with the ranker, one for the two-stage table, so a
    new ranker re-evaluates only the two-stage table."""

    section = recipe.config["evaluation"]
    ks = tuple(section["ks"])
    if not ks or any(k < 1 for k in ks):
        raise RecipeError(f"{recipe.path}: evaluation.ks must be whole numbers >= 1, not {list(ks)}")
    if plan.ranker_enabled:
        too_big = [k for k in ks if k > recipe.config["candidates"][0]["k"]]
        if too_big:
            raise RecipeError(
                f"{recipe.path}: evaluation.ks {too_big} exceed the primary generator's "
                f"{recipe.config['candidates'][0]['k']} candidates",
                "lower evaluation.ks or raise candidates.0.k",
            )
    unknown = [row for row in section["rows"] if row not in STAGE_ROWS]
    if unknown:
        raise RecipeError(
            f"{recipe.path}: evaluation.rows has unknown row '{unknown[0]}'", f"rows: {', '.join(STAGE_ROWS)}"
        )
    minimum = section["relevant_min_rating"]
    config = {"ks": list(ks), "relevant_min_rating": minimum}
    stages = []
    for short, run, trained in _evaluated_runs(plan):

        def evaluate(workspace: Workspace, reporter: Reporter, run: str = run) -> None:
            evaluate_run(workspace, run, ks=ks, relevant_min_rating=minimum, reporter=reporter)

        stages.append(
            Stage(
                f"evaluate {short}",
                "evaluate",
                {"run": run, **config},
                ("split", trained),
                (f"artifact:{run}/{TEST_EVALUATION_KIND}",),
                evaluate,
            )
        )
    if plan.ranker_enabled:

        def evaluate_both(workspace: Workspace, reporter: Reporter) -> None:
            evaluate_stages(workspace, plan.primary, ks=ks, relevant_min_rating=minimum, reporter=reporter)

        needs = ("split", *(f"train {short}" for short in plan.runs), "ranker")
        stages.append(
            Stage(
                "evaluate stages",
                "evaluate",
                {"run": plan.primary, **config},
                needs,
                (f"artifact:{plan.primary}/{STAGES_KIND}",),
                evaluate_both,
            )
        )
    return stages


def _check_name(recipe: Recipe, kind: str, value: str, where: str, hint: str | None, *, dots: bool = True) -> None:

    try:
        validate_name(kind, value)
    except RecsysError as error:
        raise RecipeError(f"{recipe.path}: {where} '{value}': {error.message}", hint or error.hint) from None
    if not dots and "." in value:  # generator runs are <recipe run>.<run>: a '.' in either is ambiguous
        raise RecipeError(
            f"{recipe.path}: {where} '{value}' contains '.'",
            hint or "generator runs are named <recipe run>.<run>, so neither may contain '.'",
        )


def _check_generator(recipe: Recipe, table: dict[str, Any]) -> None:
    """A generator's parameters, and the users' demographics it needs where the dataset's card has none
    (refused before anything runs, not at its train stage after the others have trained)."""
    where = f"candidates.{recipe.config['candidates'].index(table)}"
    cls = model_class(table["model"])
    _checked(lambda: create_model(cls, table["params"], seed=table["seed"]), recipe, where)
    dataset = recipe.config["dataset"]
    if cls.needs_user_metadata and not dataset["synthetic"] and "users" not in load_card(dataset["name"]).files:
        raise RecipeError(
            f"{recipe.path}: [{where}]: model '{table['model']}' needs the users' demographics, and the "
            f"{dataset['name']} release has no users file",
            "use popular, or a dataset with demographics (ml-100k, ml-1m)",
        )


def _checked(make: Callable[[], Any], recipe: Recipe, section: str) -> Any:
    """Run a library validation; its error becomes a RecipeError naming the recipe section."""

    try:
        return make()
    except RecipeError:
        raise
    except RecsysError as error:
        raise RecipeError(f"{recipe.path}: [{section}]: {error.message}", error.hint) from None
    except TypeError as error:  # an option the library does not take
        raise RecipeError(f"{recipe.path}: [{section}]: {error}") from None


# -- cross-validation (split.folds) ------------------------------------------------------------------
# With split.folds = K the split stage makes the K folds <split>.fold-<i> (recsys_cli.data.fold_splits),
# every generator is trained and evaluated on every fold as <recipe run>.<run>.fold-<i>, and the runner
# reports the mean, sd and 95% interval per metric (recsys_cli.pipeline.folds). The ranker and the index
# are refused, not skipped: a recipe that asks for them would otherwise silently not get them.
_FOLD_OPTIONS = ("strategy", "seed", "min_rating", "k_core")  # the [split] keys folds take (besides name, replace)


def _plan_folds(recipe: Recipe, plan: Plan) -> None:
    """Check a recipe with split.folds and name its fold splits and runs."""
    config = recipe.config
    plan.folds = config["split"]["folds"]
    if plan.ranker_enabled:
        raise RecipeError(
            f"{recipe.path}: split.folds cross-validates the generators, and the ranker cannot be: it learns "
            "from a time-ordered validation window, which random folds do not have",
            "set ranker.enabled = false (or --set ranker.enabled=false), or remove split.folds",
        )
    if config["index"]["enabled"]:
        raise RecipeError(
            f"{recipe.path}: split.folds evaluates full rankings on every fold, so an index would be built and "
            "never used",
            "set index.enabled = false, or remove split.folds",
        )
    if config["split"]["strategy"] not in FOLD_STRATEGIES:
        raise RecipeError(
            f"{recipe.path}: split.folds deals the interactions to folds at random, so it cannot be combined "
            f"with split.strategy = '{config['split']['strategy']}'",
            f"use split.strategy = one of {', '.join(FOLD_STRATEGIES)} (default with folds: random), "
            "or remove split.folds",
        )
    for key, value in config["split"].items():
        if key not in (*_FOLD_OPTIONS, "name", "replace", "folds") and value is not None:
            raise RecipeError(
                f"{recipe.path}: split.{key} does not apply with split.folds",
                "each fold's test part is its 1/K of the interactions and there is no validation part: "
                f"remove split.{key}",
            )
    try:
        fold_names(plan.split, plan.folds)
    except RecsysError as error:
        raise RecipeError(f"{recipe.path}: split.name '{plan.split}': {error.message}", error.hint) from None
    for position, (short, full) in enumerate(plan.runs.items()):
        plan.fold_runs[short] = [f"{full}.fold-{fold}" for fold in range(1, plan.folds + 1)]
        _check_name(
            recipe,
            "run",
            plan.fold_runs[short][-1],
            f"candidates.{position}.run",
            "fold runs are <recipe run>.<run>.fold-<i>: use a shorter recipe run (--run) or run name",
        )


def _folds_stage(recipe: Recipe, plan: Plan) -> Stage:
    dataset, group = plan.dataset, plan.split
    options = {k: recipe.config["split"][k] for k in _FOLD_OPTIONS}
    fold_config = _checked(lambda: FoldConfig.from_split_options(plan.folds, options).resolve(), recipe, "split")

    def make(workspace: Workspace, reporter: Reporter) -> None:
        made = _made_by(plan, workspace)

        def guard(runs: list[RunRecord]) -> None:
            others = [run.name for run in runs if not made(run)]
            if others and not recipe.config["split"]["replace"]:
                target = f"cross-validation group '{dataset}/{group}'"
                raise _refusal(plan, WouldDeleteError(target, [], others), "split.replace")

        result = make_folds(workspace, dataset, group, fold_config, force=True, guard=guard, reporter=reporter)
        if result.reused:
            reporter.info(f"the {plan.folds} folds '{dataset}/{group}' are unchanged: reused")
        elif result.dropped_runs:
            reporter.warn(
                f"replaced the folds '{dataset}/{group}' and deleted the runs trained on them: "
                + ", ".join(result.dropped_runs)
            )

    config = {"dataset": dataset, "split": group, "options": options, "folds": plan.folds}
    outputs = tuple(f"split:{dataset}/{name}" for name in plan.split_names)
    return Stage("split", "split", config, ("ingest",), outputs, make)


def _fold_train_stages(recipe: Recipe, plan: Plan, table: dict[str, Any]) -> list[Stage]:
    _check_generator(recipe, table)
    stages = []
    for fold, (split, run) in enumerate(zip(plan.split_names, plan.fold_runs[table["run"]]), 1):
        train = _trainer(plan, table, split, run)
        config = {"run": run, "split": split, **{k: table[k] for k in ("model", "params", "seed", "values")}}
        stages.append(Stage(f"train {table['run']} fold-{fold}", "train", config, ("split",), (f"run:{run}",), train))
    return stages


def _evaluated_runs(plan: Plan) -> list[tuple[str, str, str]]:
    """(label, workspace run, its train stage) of every run the evaluate stages evaluate."""
    if plan.folds is None:
        return [(short, run, f"train {short}") for short, run in plan.runs.items()]
    return [
        (f"{short} fold-{fold}", run, f"train {short} fold-{fold}")
        for short, runs in plan.fold_runs.items()
        for fold, run in enumerate(runs, 1)
    ]
