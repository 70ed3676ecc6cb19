"""Ranking kernels: the candidate pool, SQL features over it, and the LambdaRank ranker.

    from recsys_cli.ranking import RankerParams, FEATURES, compute_features

Knows no workspace: ``recsys_cli.runs.ranker`` trains a run's ranker on its label
window and ``recsys_cli.runs.stage_evaluation`` scores it on the test part.
Names resolve lazily, so importing the package (``recsys features list``) stays light.
"""

__all__ = [
    "FEATURES",
    "Feature",
    "RankerParams",
    "compute_features",
    "resolve_features",
]

_HOMES = {
    "FEATURES": "feature_registry",
    "Feature": "feature_registry",
    "compute_features": "features",
    "resolve_features": "features",
    "RankerParams": "params",
}


def __getattr__(name: str):
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f"recsys_cli.ranking.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'recsys_cli.ranking' has no attribute {name!r}")
