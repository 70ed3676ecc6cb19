"""The check of LightGBM's model text before LightGBM parses it (recsys_cli/ranking/model_text.py).

A real ranker is trained on a small synthetic label window; its text is then damaged the ways a fault
injection found crash LightGBM (exit 134 inside `Booster(model_str=...)`): truncated, a split on
feature 99999, 2,000,000,000 leaves, a child -99999, a leaf value 1e308, 16 flipped bytes. Each is
refused with a CorruptArtifactError, both as edited (the tree sizes no longer match) and with the
header's tree_sizes fixed up, so that the check that names the problem is the one that fires.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pytest

from recsys_cli.errors import CorruptArtifactError
from recsys_cli.ranking.lambdarank import load_ranker, predict, train_lambdarank
from recsys_cli.ranking.model_text import MAX_LEAVES, checked_model_text
from recsys_cli.ranking.params import RankerParams
from tests.support import (
    MODEL_TEXT_FAULTS,
    damaged_ranker_files,
    edit_model_field,
    fix_tree_sizes,
    flip_bytes,
    split_tree,
)

COLUMNS = ["f_signal", "f_noise", "f_sparse"]
HINT = "train the ranker again: recsys train ranker als"


@cache
def trained() -> tuple[str, np.ndarray]:
    """A small lambdarank model over COLUMNS, and a feature matrix to score with it."""
    rng = np.random.default_rng(3)
    users = np.repeat(np.arange(60), 15)
    features = rng.normal(size=(users.size, len(COLUMNS))).astype(np.float32)
    features[rng.random(users.size) < 0.3, 2] = np.nan
    grades = (features[:, 0] + 0.5 * rng.normal(size=users.size) > 0.8).astype(np.int32)
    params = RankerParams(trees=8, num_leaves=6, min_data_in_leaf=5, early_stopping=0)
    model = train_lambdarank(features, grades, users, COLUMNS, [0.0, 1.0], params)
    return model.model_text, features


def check(text, columns=COLUMNS):
    return checked_model_text(text, columns, "run 'als's ranker.txt", HINT)


# what the refusal names once the tree sizes match, for each of the fault injection's edits
NAMED = {
    "truncated": "cut short",
    "split_feature=99999": "feature 99999",
    "num_leaves=2000000000": "2000000000 leaves",
    "left_child=-99999": "-99999",
    "leaf_value=1e308": "'1e308'",
}


# -- tests -----------------------------------------------------------------------------------------------
def test_a_trained_model_passes_and_predicts_as_the_full_text_does():
    import lightgbm as lgb

    text, features = trained()
    checked = check(text)
    assert checked.features == COLUMNS and checked.trees == text.count("\nTree=")
    # the trailer (importances, parameters) is not handed on; the trees are, byte for byte
    assert text.startswith(checked.text) and checked.text.endswith("end of trees\n")
    assert "parameters:" in text and "parameters:" not in checked.text
    booster = load_ranker(text.encode(), COLUMNS, "ranker.txt", HINT)
    expected = lgb.Booster(model_str=text).predict(features)
    assert np.array_equal(predict(booster, features), expected)
    assert np.unique(expected).size > 1  # the model splits: the checks below see real trees


@pytest.mark.parametrize("fault", [*MODEL_TEXT_FAULTS, "16 flipped bytes"])
def test_each_fault_injection_case_is_refused(fault):
    with pytest.raises(CorruptArtifactError) as caught:
        check(damaged_ranker_files(trained()[0])[fault])
    error = caught.value
    assert "run 'als's ranker.txt is damaged or was edited" in error.message
    assert "\n" not in str(error) and error.hint == HINT


@pytest.mark.parametrize("fault", [name for name in MODEL_TEXT_FAULTS if name != "truncated"])
def test_each_fault_is_named_when_the_tree_sizes_were_fixed_up(fault):
    """LightGBM reads a split on feature 99999 or a child -99999 out of bounds without a word once the
    tree sizes match: the scores would be garbage."""
    damaged = fix_tree_sizes(MODEL_TEXT_FAULTS[fault](trained()[0]))
    assert fix_tree_sizes(trained()[0]) == trained()[0]  # it changes nothing on a sound text
    with pytest.raises(CorruptArtifactError, match=re.escape(NAMED[fault])):
        check(damaged)


@pytest.mark.parametrize("seed", range(5))
def test_sixteen_flipped_bytes_are_refused_not_a_unicode_error(seed):
    damaged = flip_bytes(trained()[0].encode(), seed=seed)
    with pytest.raises(CorruptArtifactError, match="damaged or was edited"):
        load_ranker(damaged, COLUMNS, "run 'als's ranker.txt", HINT)


def test_bytes_that_are_not_utf8_are_named_as_such():
    damaged = trained()[0].encode().replace(b"Tree=0", b"Tree=\xff", 1)
    with pytest.raises(CorruptArtifactError, match=r"not UTF-8 text \(at byte \d+\)"):
        load_ranker(damaged, COLUMNS, "ranker.txt", HINT)


def test_single_bit_flips_are_refused_or_left_to_the_checksum():
    """One bit flipped at 200 seeded places: refused, or (a digit changed) well-formed; never another error."""
    data = trained()[0].encode()
    end = data.index(b"end of trees\n") + len(b"end of trees\n")
    for position in np.random.default_rng(1).choice(end, size=200, replace=False):
        damaged = bytearray(data)
        damaged[position] ^= 0x01
        try:
            check(bytes(damaged))
        except CorruptArtifactError:
            continue
        # a flip that keeps the text well-formed (a digit of a value: 3 -> 2) is for the sha256 to catch
        assert chr(data[position]).isdigit() or data[position] in b"-.e", (
            position,
            data[position - 20 : position + 20],
        )


def _swap_children(text: str) -> str:
    """Point the split tree's root at itself (a cycle LightGBM would walk for ever)."""
    return edit_model_field(text, "left_child", "0")


STRUCTURE = {
    "a child pointing back at its node": (_swap_children, "not a later node"),
    "a leaf reached twice": (
        lambda text: edit_model_field(text, "right_child", edit_left_leaf(text)),
        "do not form a tree",
    ),
    "a categorical decision": (lambda text: edit_model_field(text, "decision_type", "1"), "not a numerical split"),
    "categorical splits": (lambda text: edit_model_field(text, "num_cat", "1", None), "categorical splits"),
    "a linear tree": (lambda text: edit_model_field(text, "is_linear", "1", None), "linear tree"),
    "a NaN threshold": (lambda text: edit_model_field(text, "threshold", "nan"), "'nan'"),
    "an infinite leaf value": (lambda text: edit_model_field(text, "leaf_value", "inf"), "'inf'"),
    "a short leaf_value": (lambda text: edit_model_field(text, "leaf_value", "0.5", None), "leaf_value has 1 entries"),
    "an extra split_feature": (lambda text: edit_model_field(text, "split_feature", "0 0", 0), "split_feature has"),
    "zero leaves": (lambda text: edit_model_field(text, "num_leaves", "0", None), "0 leaves"),
    "too many leaves": (lambda text: edit_model_field(text, "num_leaves", str(MAX_LEAVES + 1), None), "leaves (1 to"),
    "an unknown tree line": (lambda text: text.replace("\nshrinkage=", "\nsurprise=1\nshrinkage=", 1), "surprise"),
    "another objective": (lambda text: text.replace("objective=lambdarank", "objective=regression"), "objective"),
    "two classes": (lambda text: text.replace("num_class=1", "num_class=2"), "num_class"),
    "a NUL byte": (lambda text: text.replace("Tree=0", "Tree=0\x00", 1), "NUL"),
    "no end of trees": (lambda text: text.replace("end of trees", "end of treez"), "end of trees"),
    "a header without trees": (lambda text: text[: text.index("\n\n")], "no tree follows"),
}


def edit_left_leaf(text: str) -> str:
    """The first leaf the split tree's nodes reach on the left (to point a right child at it too)."""
    start = text.index(f"Tree={split_tree(text)}\n")
    line = text[text.index("\nleft_child=", start) + 1 :].split("\n", 1)[0]
    return next(token for token in line.split("=")[1].split(" ") if token.startswith("-"))


@pytest.mark.parametrize("case", STRUCTURE)
def test_malformed_structure_is_refused(case):
    edit, named = STRUCTURE[case]
    with pytest.raises(CorruptArtifactError, match=re.escape(named)):
        check(fix_tree_sizes(edit(trained()[0])))


def test_a_model_over_other_features_is_refused():
    with pytest.raises(CorruptArtifactError, match="expects features"):
        check(trained()[0], ["f_signal", "f_noise", "other"])
    with pytest.raises(CorruptArtifactError, match="expects features"):
        check(trained()[0], COLUMNS[:2])


def test_a_one_leaf_tree_passes():
    """LightGBM writes a tree that could not split with empty node arrays and an empty leaf_weight."""
    text = trained()[0]
    tree = split_tree(text)
    start = text.index(f"Tree={tree}\n")
    end = text.index("\n\n", start)
    one_leaf = (
        f"Tree={tree}\nnum_leaves=1\nnum_cat=0\nsplit_feature=\nsplit_gain=\nthreshold=\ndecision_type=\n"
        "left_child=\nright_child=\nleaf_value=0\nleaf_weight=\nleaf_count=900\ninternal_value=\n"
        "internal_weight=\ninternal_count=\nis_linear=0\nshrinkage=1"
    )
    assert check(fix_tree_sizes(text[:start] + one_leaf + text[end:])).trees == text.count("\nTree=")


def test_an_infinite_threshold_passes_and_loads():
    """LightGBM itself writes a threshold of inf where every value falls on one side (seen in a real
    ranker on ml-latest-small): it splits nothing and must not be refused."""
    import lightgbm as lgb

    text, features = trained()
    infinite = fix_tree_sizes(edit_model_field(text, "threshold", "inf"))
    assert check(infinite).trees == text.count("\nTree=")
    booster = load_ranker(infinite.encode(), COLUMNS, "ranker.txt", HINT)
    assert np.array_equal(predict(booster, features), lgb.Booster(model_str=infinite).predict(features))
