"""Recipes: the whole two-stage loop from one TOML file, with a stage cache and a record per run.

    from recsys_cli.pipeline import load_recipe, run_recipe, compare_recipe_runs

``load_recipe`` checks a recipe (and ``--set`` overrides); ``build_plan`` turns it into stages;
``run_recipe`` runs them, reusing cached stages, and registers the recipe run;
``show_recipe_run`` / ``compare_recipe_runs`` read recipe runs back. Names resolve lazily.
"""

__all__ = [
    "PipelineResult",
    "Recipe",
    "RecipeError",
    "build_plan",
    "compare_recipe_runs",
    "load_recipe",
    "run_demo",
    "run_recipe",
    "show_recipe_run",
]

_HOMES = {
    "Recipe": "recipe",
    "RecipeError": "recipe",
    "load_recipe": "recipe",
    "build_plan": "plan",
    "PipelineResult": "runner",
    "run_recipe": "runner",
    "compare_recipe_runs": "reports",
    "show_recipe_run": "reports",
    "run_demo": "demo",
}


def __getattr__(name: str):
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f"recsys_cli.pipeline.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'recsys_cli.pipeline' has no attribute {name!r}")
