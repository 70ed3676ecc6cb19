"""Saved models that were damaged, edited or swapped: every one is refused with a one-line
CorruptArtifactError before numpy or implicit see it (models are npz with allow_pickle=False)."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from recsys_cli.errors import CorruptArtifactError
from recsys_cli.models import MODEL_NAMES, create_model, load_model, model_class, save_model
from recsys_cli.models.persistence import CONFIG_FILE, MODEL_FILE, file_sha256
from tests.support import N_ITEMS, N_USERS, block_matrix, rated_block_matrix, training_data

DATA = training_data(block_matrix())
RATED = training_data(rated_block_matrix())  # the rating models (svd, svdpp) refuse a matrix of ones


# -- persistence: damaged artifacts --------------------------------------------------------------
@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Every model fitted once and saved; tests copy the folder they damage."""
    root = tmp_path_factory.mktemp("saved")
    params: dict[str, dict] = {
        "als": {"factors": 4},
        "bpr": {"factors": 4, "iterations": 5},
        "ease": {"regularization": 10.0},
    }
    for name in MODEL_NAMES:
        model = create_model(model_class(name), params.get(name, {}))
        model.fit(RATED if model.predicts_ratings else DATA)
        save_model(model, root / name)
    return root


@pytest.fixture
def saved(saved_models, tmp_path):
    import shutil

    def copy(name: str = "als"):
        target = tmp_path / name
        shutil.copytree(saved_models / name, target)
        return target

    return copy


def rewrite_config(folder, **changes):
    config = json.loads((folder / CONFIG_FILE).read_text())
    config.update(changes)
    (folder / CONFIG_FILE).write_text(json.dumps(config))
    return config


def refresh_checksum(folder):
    rewrite_config(folder, sha256=file_sha256(folder / MODEL_FILE))


def corrupt(folder, fragment: str):
    with pytest.raises(CorruptArtifactError) as info:
        load_model(folder, what="run 'x'")
    message = str(info.value)
    assert fragment in message, message
    assert message.startswith("run 'x'") and "\n" not in info.value.message
    return info.value


def test_flipped_bytes_fail_the_checksum(saved):
    folder = saved()
    raw = bytearray((folder / MODEL_FILE).read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (folder / MODEL_FILE).write_bytes(bytes(raw))
    error = corrupt(folder, "does not match its recorded checksum")
    assert "train the run again" in error.hint


@pytest.mark.parametrize("where", ["data", "header", "directory"])
def test_flipped_bytes_with_a_matching_checksum_are_still_caught(saved, where):
    folder = saved()
    raw = bytearray((folder / MODEL_FILE).read_bytes())
    position = {"data": len(raw) // 2, "header": 40, "directory": len(raw) - 30}[where]
    for offset in range(4):
        raw[position + offset] ^= 0xFF
    (folder / MODEL_FILE).write_bytes(bytes(raw))
    refresh_checksum(folder)
    corrupt(folder, "run 'x'")


def test_truncated_npz(saved):
    folder = saved()
    raw = (folder / MODEL_FILE).read_bytes()
    (folder / MODEL_FILE).write_bytes(raw[: len(raw) // 2])
    corrupt(folder, "checksum")
    refresh_checksum(folder)
    corrupt(folder, "cannot be read")


def test_empty_npz(saved):
    folder = saved()
    (folder / MODEL_FILE).write_bytes(b"")
    refresh_checksum(folder)
    corrupt(folder, "cannot be read")


def test_wrong_checksum_in_model_json(saved):
    folder = saved()
    rewrite_config(folder, sha256="0" * 64)
    corrupt(folder, "does not match its recorded checksum")


def test_missing_files(saved):
    folder = saved()
    (folder / MODEL_FILE).unlink()
    corrupt(folder, f"has no {MODEL_FILE}")
    folder = saved("bpr")
    (folder / CONFIG_FILE).unlink()
    corrupt(folder, f"has no {CONFIG_FILE}")
    corrupt(folder.parent / "nowhere", f"has no {CONFIG_FILE}")


@pytest.mark.parametrize("text", ["", "{not json", "[]", "{}", '{"model": "als"}', "null"])
def test_unreadable_model_json(saved, text):
    folder = saved()
    (folder / CONFIG_FILE).write_text(text)
    corrupt(folder, f"{CONFIG_FILE} is unreadable")


def test_declared_shapes_that_do_not_match(saved):
    folder = saved()
    config = json.loads((folder / CONFIG_FILE).read_text())
    arrays = config["arrays"]
    arrays["user_factors"]["shape"] = [N_USERS + 1, 4]
    rewrite_config(folder, arrays=arrays)
    corrupt(folder, "array 'user_factors' has shape")


def test_model_json_for_another_shape(saved):
    folder = saved()
    rewrite_config(folder, n_items=N_ITEMS + 3)
    corrupt(folder, "array 'item_factors' has shape (48, 4)")
    folder = saved("ease")
    rewrite_config(folder, n_users=N_USERS, n_items=N_ITEMS - 1)
    corrupt(folder, "array 'weights'")


def test_model_json_with_other_parameters(saved):
    folder = saved()
    config = json.loads((folder / CONFIG_FILE).read_text())
    rewrite_config(folder, params={**config["params"], "factors": 16})
    corrupt(folder, "expected (61, 16)")


def test_arrays_swapped_for_wrong_shapes_and_dtypes(saved):
    folder = saved()
    with np.load(folder / MODEL_FILE) as npz:
        state = dict(npz)
    np.savez(folder / MODEL_FILE, user_factors=state["item_factors"], item_factors=state["user_factors"])
    refresh_checksum(folder)
    corrupt(folder, "has shape")
    as_ints = state["user_factors"].astype(np.int32)
    np.savez(folder / MODEL_FILE, user_factors=as_ints, item_factors=state["item_factors"])
    refresh_checksum(folder)
    corrupt(folder, "dtype int32")
    np.savez(folder / MODEL_FILE, user_factors=state["user_factors"])
    refresh_checksum(folder)
    corrupt(folder, "holds arrays ['user_factors']")


def test_non_finite_values(saved):
    folder = saved()
    with np.load(folder / MODEL_FILE) as npz:
        state = dict(npz)
    state["item_factors"][3, 1] = np.nan
    np.savez(folder / MODEL_FILE, **state)
    refresh_checksum(folder)
    corrupt(folder, "NaN or infinite")


def test_inconsistent_sparse_similarity(saved):
    folder = saved("item-knn")
    with np.load(folder / MODEL_FILE) as npz:
        state = dict(npz)
    state["similarity_indices"] = state["similarity_indices"].copy()
    state["similarity_indices"][0] = N_ITEMS + 5
    np.savez(folder / MODEL_FILE, **state)
    refresh_checksum(folder)
    corrupt(folder, "inconsistent")


def test_pickled_object_arrays_are_never_loaded(saved):
    folder = saved("popular")
    np.savez(folder / MODEL_FILE, item_scores=np.array([object()] * N_ITEMS, dtype=object))
    refresh_checksum(folder)
    corrupt(folder, "cannot be read")


def test_npz_that_is_a_zip_of_something_else(saved):
    folder = saved("popular")
    with zipfile.ZipFile(folder / MODEL_FILE, "w") as archive:
        archive.writestr("item_scores.npy", b"not an array")
    refresh_checksum(folder)
    corrupt(folder, "holds members that are not arrays: ['item_scores']")


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"model": "slim"}, "model.json is invalid: unknown model 'slim'"),
        ({"params": {"factors": 0}}, "model.json is invalid: parameter 'factors' must be at least 1"),
        ({"params": {"colour": "red"}}, "model.json is invalid: model 'als' has no parameter 'colour'"),
        ({"params": None}, "model.json is unreadable"),
        ({"seed": "abc"}, "model.json is unreadable"),
        ({"arrays": []}, "model.json is unreadable"),
        ({"arrays": {"user_factors": [61, 4], "item_factors": None}}, "array 'user_factors' has shape"),
    ],
)
def test_model_json_with_impossible_values(saved, changes, fragment):
    folder = saved()
    rewrite_config(folder, **changes)
    corrupt(folder, fragment)
