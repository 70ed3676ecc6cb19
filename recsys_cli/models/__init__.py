"""Candidate generators behind one interface (als, bpr, item-knn, ease, popular, content, ...;
svd and svdpp also predict ratings: ``model.predicts_ratings``, ``model.predict_ratings``).

from recsys_cli.models import create_model, model_class, TrainingData
model = create_model(model_class("als"), {"factors": 64})
model.fit(TrainingData(train_csr, item_idx, ts))
scores = model.score(users, train_csr)
"""

from recsys_cli.models.base import CandidateModel, ItemMetadata, ModelParams, TrainingData, UserMetadata
from recsys_cli.models.persistence import load_model, save_model
from recsys_cli.models.registry import MODEL_NAMES, MODELS, create_model, model_class, parameter_help

__all__ = [
    "CandidateModel",
    "ItemMetadata",
    "ModelParams",
    "TrainingData",
    "UserMetadata",
    "MODELS",
    "MODEL_NAMES",
    "create_model",
    "model_class",
    "parameter_help",
    "load_model",
    "save_model",
]
