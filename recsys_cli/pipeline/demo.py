"""The offline demo: the demo recipe (synthetic data, no download) run end to end.

``recsys demo`` is ``recsys run recipes/demo.toml`` with the size and seed as options. The recipe
ships inside the package (``recipes/demo.toml`` links to it), so an installed workbench has it too.
Its stages are cached like any recipe's: a second demo with the same options reuses them all.
"""

from __future__ import annotations

from pathlib import Path

from recsys_cli.data.workspace import Workspace
from recsys_cli.pipeline.recipe import Recipe, load_recipe
from recsys_cli.pipeline.runner import PipelineResult, run_recipe
from recsys_cli.reporting import SILENT, Reporter

DEMO_RECIPE = Path(__file__).with_name("demo.toml")
DEMO_RUN = "demo"


def demo_recipe(*, users: int = 2000, items: int = 1000, interactions: int = 100_000, seed: int = 42) -> Recipe:
    overrides = [
        f"dataset.users={users}",
        f"dataset.items={items}",
        f"dataset.interactions={interactions}",
        f"dataset.seed={seed}",
    ]
    return load_recipe(DEMO_RECIPE, overrides)


def run_demo(
    workspace: Workspace,
    *,
    users: int = 2000,
    items: int = 1000,
    interactions: int = 100_000,
    seed: int = 42,
    force: bool = False,
    reporter: Reporter = SILENT,
) -> PipelineResult:
    recipe = demo_recipe(users=users, items=items, interactions=interactions, seed=seed)
    return run_recipe(workspace, recipe, name=DEMO_RUN, force=force, reporter=reporter)
