"""The ranking stage: a candidate pool, SQL features over it, and a LambdaRank ranker.

    from recsys_cli.ranking import train_ranker, RankerParams, FEATURES, compute_features

``train_ranker`` learns from a run's label window (the split's val part);
``recsys_cli.evaluation.stages.evaluate_stages`` scores it on the test part.
Names resolve lazily, so importing the package (``recsys features list``) stays light.
"""

__all__ = [
    "FEATURES",
    "Feature",
    "RankerParams",
    "RankerResult",
    "compute_features",
    "resolve_features",
    "train_ranker",
]

_HOMES = {
    "FEATURES": "features",
    "Feature": "features",
    "compute_features": "features",
    "resolve_features": "features",
    "RankerParams": "lambdarank",
    "RankerResult": "training",
    "train_ranker": "training",
}


def __getattr__(name: str):
    if name in _HOMES:
        from importlib import import_module

        return getattr(import_module(f"recsys_cli.ranking.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'recsys_cli.ranking' has no attribute {name!r}")
