"""Saving and loading models without pickle: ``model.npz`` plus ``model.json``.

model.json names the model, its parameters, its shape, every array's shape and
dtype, and the npz file's sha256. Loading checks all of them before building
the model, so a damaged or swapped file is a clear error, never a crash or a
model that silently scores garbage.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from recsys_cli.data.atomic import file_sha256
from recsys_cli.errors import CorruptArtifactError, RecsysError
from recsys_cli.models.base import CandidateModel
from recsys_cli.models.registry import create_model, model_class

MODEL_FILE = "model.npz"
CONFIG_FILE = "model.json"
FORMAT_VERSION = 1


def save_model(model: CandidateModel, folder: Path) -> dict:
    """Write model.npz and model.json into ``folder`` (a staging folder); returns the config."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {name: np.ascontiguousarray(value) for name, value in model.state().items()}
    for name, value in arrays.items():
        if value.dtype == object:
            raise AssertionError(f"{model.name} state '{name}' is an object array")
    np.savez(folder / MODEL_FILE, **arrays)
    config = {
        "format": FORMAT_VERSION,
        "model": model.name,
        "params": model.params.to_dict(),
        "seed": model.seed,
        "n_users": model.n_users,
        "n_items": model.n_items,
        "arrays": {name: {"shape": list(v.shape), "dtype": v.dtype.str} for name, v in arrays.items()},
        "sha256": file_sha256(folder / MODEL_FILE),
    }
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return config


def load_model(folder: Path, *, what: str = "model") -> CandidateModel:
    """Load a model saved by ``save_model``; CorruptArtifactError on any inconsistency."""
    config_path, npz_path = folder / CONFIG_FILE, folder / MODEL_FILE
    try:
        config = json.loads(config_path.read_text())
        name, params = config["model"], config["params"]
        n_users, n_items = int(config["n_users"]), int(config["n_items"])
        declared, sha256 = config["arrays"], config["sha256"]
        seed = int(config.get("seed", 42))
        if not isinstance(declared, dict) or not isinstance(params, dict):
            raise TypeError("'arrays' and 'params' must be objects")
    except FileNotFoundError:
        raise CorruptArtifactError(f"{what} has no {CONFIG_FILE} ({folder})") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptArtifactError(f"{what}'s {CONFIG_FILE} is unreadable: {exc}") from None
    if not npz_path.is_file():
        raise CorruptArtifactError(f"{what} has no {MODEL_FILE} ({folder})")
    if file_sha256(npz_path) != sha256:
        raise CorruptArtifactError(f"{what}'s {MODEL_FILE} does not match its recorded checksum")
    try:
        model = create_model(model_class(name), params, seed=seed)
    except RecsysError as exc:  # a model.json naming no model, or parameters it cannot have
        raise CorruptArtifactError(f"{what}'s {CONFIG_FILE} is invalid: {exc.message}") from None
    model.n_users, model.n_items = n_users, n_items
    try:
        with np.load(npz_path, allow_pickle=False) as npz:
            state = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CorruptArtifactError(f"{what}'s {MODEL_FILE} cannot be read: {exc}") from None
    not_arrays = sorted(key for key, value in state.items() if not isinstance(value, np.ndarray))
    if not_arrays:  # np.load hands back raw bytes for a member that is not a .npy array
        raise CorruptArtifactError(f"{what}'s {MODEL_FILE} holds members that are not arrays: {not_arrays}")
    _check_state(state, model.expected_state(), declared, what)
    try:
        model.restore(state, n_users, n_items)
    except (ValueError, IndexError) as exc:
        raise CorruptArtifactError(f"{what}'s arrays are inconsistent: {exc}") from None
    return model


def _check_state(state, expected, declared, what: str) -> None:
    if set(state) != set(expected):
        raise CorruptArtifactError(f"{what} holds arrays {sorted(state)}, expected {sorted(expected)}")
    for key, (shape, kind) in expected.items():
        value = state[key]
        ok_shape = len(shape) == value.ndim and all(s in (-1, v) for s, v in zip(shape, value.shape))
        entry = declared.get(key)
        declared_shape = entry.get("shape") if isinstance(entry, dict) else None
        if not ok_shape or value.dtype.kind != kind or list(value.shape) != declared_shape:
            raise CorruptArtifactError(
                f"{what}'s array '{key}' has shape {value.shape} and dtype {value.dtype}, expected {shape} ({kind})"
            )
        if kind == "f" and not np.isfinite(value).all():
            raise CorruptArtifactError(f"{what}'s array '{key}' holds NaN or infinite values")
