"""Quality gates on recipe runs: a recipe's ``[checks]`` and ``recsys run --require`` / ``runs check``.

A recipe run's measures are the two-stage table's (``ranker.ndcg@10``, ``lift.ranker_vs_candidates
.ndcg@10.low``, ``pool_recall``: :mod:`recsys_cli.runs.measures`) plus each generator's own
evaluation as ``generators.<run>.<metric>`` (with ``split.folds``: the mean over the folds, and
``generators.<run>.<metric>.sd`` / ``.low`` / ``.high`` its sd and 95% interval). Every name a
recipe can produce is known from the recipe alone, so a misspelt requirement is refused before any
stage runs, not after ten minutes.
"""

from __future__ import annotations

from typing import Any

from recsys_cli.data.workspace import Workspace
from recsys_cli.errors import RecsysError, UnknownNameError
from recsys_cli.evaluation.rating_errors import RATING_ERRORS
from recsys_cli.evaluation.requirements import (
    CheckResult,
    Requirement,
    check_names,
    check_requirements,
    parse_requirement,
    parse_requirements,
)
from recsys_cli.models.registry import model_class
from recsys_cli.pipeline.recipe import Recipe, RecipeError
from recsys_cli.pipeline.reports import FOLD_INTERVAL_MEASURES, recipe_measures, show_recipe_run
from recsys_cli.runs.measures import Measures, metric_keys, stage_measure_names


def recipe_measure_names(config: dict[str, Any]) -> list[str]:
    """Every measure a run of this (checked) recipe reports."""
    ks = config["evaluation"]["ks"]
    names = [
        f"generators.{c['run']}.{key}"
        for c in config["candidates"]
        # a rating model's evaluation adds its rating errors (runs/evaluate.py)
        for key in metric_keys(ks) + (list(RATING_ERRORS) if model_class(c["model"]).predicts_ratings else [])
    ]
    if config["split"].get("folds") is not None:  # cross-validated: each mean's sd and 95% interval too
        names += [f"{name}.{what}" for name in names for what in FOLD_INTERVAL_MEASURES]
    if config["ranker"]["enabled"]:
        names += stage_measure_names(ks)
    return names


def recipe_requirements(recipe: Recipe) -> list[Requirement]:
    """The recipe's ``checks.require`` (with any ``--require``), each naming a measure the recipe reports.
    An error names the requirement as written (it may come from the file or from ``--require``)."""
    known = recipe_measure_names(recipe.config)
    requirements = []
    for text in recipe.config["checks"]["require"]:
        try:
            requirement = parse_requirement(text)
            check_names([requirement], known)
        except UnknownNameError as error:
            raise RecipeError(
                f"{recipe.path}: requirement '{text}': no measure '{error.name}' in this recipe's results", error.hint
            ) from None
        except RecsysError as error:
            raise RecipeError(f"{recipe.path}: {error.message}", error.hint) from None
        requirements.append(requirement)
    return requirements


def check_recipe_run(
    workspace: Workspace, name: str, requirements: list[Requirement] | None = None
) -> tuple[list[CheckResult], Measures, list[Requirement]]:
    """A finished recipe run against ``requirements`` (default: the ones its recipe recorded).
    Returns the results, the run's measures and the requirements checked."""
    report = show_recipe_run(workspace, name)
    measures = recipe_measures(report.metrics)
    if requirements is None:
        recorded = report.manifest.get("recipe", {}).get("checks", {}).get("require", [])
        requirements = parse_requirements(recorded)
    return check_requirements(requirements, measures), measures, requirements
