"""Model names -> classes; typed parameters from user input."""

from __future__ import annotations

import dataclasses
from typing import Any

from recsys_cli.errors import UnknownNameError
from recsys_cli.models.base import CandidateModel, params_from_dict
from recsys_cli.models.content import ContentModel
from recsys_cli.models.ease import EASEModel
from recsys_cli.models.factorization import ALSModel, BPRModel
from recsys_cli.models.hybrid import HybridModel
from recsys_cli.models.neighbours import ItemKNNModel
from recsys_cli.models.popular import PopularModel
from recsys_cli.models.random_scores import RandomModel
from recsys_cli.models.rating import SVDModel, SVDppModel
from recsys_cli.models.segment import SegmentPopularModel
from recsys_cli.vocabulary import MODEL_NAMES

MODELS: dict[str, type[CandidateModel]] = {
    cls.name: cls
    for cls in (
        ALSModel,
        BPRModel,
        ItemKNNModel,
        EASEModel,
        PopularModel,
        ContentModel,
        RandomModel,
        HybridModel,
        SVDModel,
        SVDppModel,
        SegmentPopularModel,
    )
}
if tuple(MODELS) != MODEL_NAMES:  # the CLI and recipes offer MODEL_NAMES without importing the classes
    raise AssertionError(f"model classes {tuple(MODELS)} do not match recsys_cli.vocabulary.MODEL_NAMES")


def model_class(name: str) -> type[CandidateModel]:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownNameError("model", name, MODELS) from None


def create_model(cls: type[CandidateModel], params: dict[str, Any] | None = None, seed: int = 42) -> CandidateModel:
    """A model with validated parameters (unknown names and bad values are user errors)."""
    return cls(params_from_dict(cls.Params, params or {}, cls.name), seed=seed)


def parameter_help() -> dict[str, list[tuple[str, Any, str]]]:
    """Each model's parameters: (name, default, help), for help text and docs."""
    return {
        name: [
            (f.name.replace("_", "-"), f.default, f.metadata.get("help", "")) for f in dataclasses.fields(cls.Params)
        ]
        for name, cls in MODELS.items()
    }
