"""Checking a LightGBM model text before LightGBM parses it.

LightGBM trusts its model text: ``Booster(model_str=...)`` follows ``tree_sizes`` as byte offsets,
reads array fields by the length ``num_leaves`` declares, and predicts by indexing the feature row
with ``split_feature`` and walking ``left_child``/``right_child`` until it meets a leaf. A damaged or
edited file can therefore make it read out of bounds, allocate without limit or loop for ever (an
abort, not an exception). :func:`checked_model_text` parses the text as LightGBM writes it for our
rankers (numerical features, one tree per iteration, ``lambdarank``) and refuses anything else.

The format (LightGBM 4, ``GBDT::SaveModelToString`` and ``Tree::ToString``)::

    tree                                  header: key=value lines, then one blank line
    version=v4
    num_class=1  num_tree_per_iteration=1  label_index=0  max_feature_idx=F-1  objective=lambdarank
    feature_names=a b ...                 F names
    feature_infos=[lo:hi] none ...        F entries: a numeric range, or none (an unused feature)
    tree_sizes=567 567 ...                the byte length of every tree block below

    Tree=0                                a tree block: key=value lines, then blank lines
    num_leaves=L  num_cat=0
    split_feature=... threshold=... decision_type=... left_child=... right_child=...   L-1 each
    split_gain=... internal_value=... internal_weight=... internal_count=...           L-1 each
    leaf_value=... leaf_weight=... leaf_count=...                                       L each
    is_linear=0  shrinkage=...
    ...
    end of trees
    feature_importances: ... parameters: ... pandas_categorical:...   (a trailer LightGBM does not
                                                                        need to predict)

A child is an internal node (``0 .. L-2``) or, written ``~leaf = -(leaf + 1)``, a leaf
(``-L .. -1``). LightGBM numbers a node after its parent, so in a well-formed tree every internal
child has a larger index than its node and every node but the root and every leaf is reached exactly
once: that rules out cycles and shared subtrees. The checked text handed on is the header and the
trees (the trailer, which holds only the training parameters and split counts, is dropped).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from recsys_cli.errors import CorruptArtifactError

MAX_LEAVES = 131_072  # LightGBM refuses num_leaves above this when training
MAX_TREES = 1_000_000
# A leaf's output is a shrunk Newton step on a lambdarank gradient: orders of magnitude below this.
MAX_LEAF_VALUE = 1e6
# Features are float32: a threshold beyond float32's range splits nothing.
MAX_THRESHOLD = 3.5e38
MAX_STATISTIC = 1e300  # gains, weights: informational, but must be finite numbers
MAX_COUNT = 2**31 - 1

END_OF_TREES = b"end of trees\n"
HEADER_KEYS = {
    "version",
    "num_class",
    "num_tree_per_iteration",
    "label_index",
    "max_feature_idx",
    "objective",
    "feature_names",
    "feature_infos",
    "tree_sizes",
}
# arrays with one entry per internal node (num_leaves - 1) and per leaf (num_leaves)
NODE_FLOATS = {"threshold": MAX_THRESHOLD, "split_gain": MAX_STATISTIC, "internal_value": MAX_LEAF_VALUE}
NODE_FLOATS["internal_weight"] = MAX_STATISTIC
NODE_INTS = ("split_feature", "decision_type", "left_child", "right_child", "internal_count")
LEAF_FLOATS = {"leaf_value": MAX_LEAF_VALUE, "leaf_weight": MAX_STATISTIC}
TREE_KEYS = {"num_leaves", "num_cat", "leaf_count", "is_linear", "shrinkage", *NODE_FLOATS, *NODE_INTS, *LEAF_FLOATS}
NEEDED_FOR_SPLITS = ("split_feature", "threshold", "decision_type", "left_child", "right_child")
# decision_type bits: 1 categorical (never ours), 2 default-left, 4..12 the missing-value rule (0 none,
# 1 zero, 2 NaN)
NUMERICAL_DECISIONS = frozenset(default_left | missing << 2 for default_left in (0, 2) for missing in (0, 1, 2))

_INT = re.compile(r"-?\d{1,12}")
_FLOAT = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d{1,4})?")
_RANGE = re.compile(r"\[([^:\]]+):([^:\]]+)\]")


class _Refused(Exception):
    """One reason the text is refused (turned into a CorruptArtifactError naming the file)."""


@dataclass(frozen=True)
class ModelSummary:
    """What the checked text holds."""

    text: str  # header and trees, as LightGBM should parse them
    trees: int
    features: list[str]


def checked_model_text(data: str | bytes, columns: list[str], what: str, hint: str) -> ModelSummary:
    """Parse LightGBM's model text for a ranker over ``columns``; CorruptArtifactError (naming ``what``,
    with ``hint``) on anything LightGBM would not parse safely or that is not a ranker over ``columns``."""
    try:
        return _check(data, list(columns))
    except _Refused as reason:
        raise CorruptArtifactError(f"{what} is damaged or was edited: {reason}", hint) from None


def _check(data: str | bytes, columns: list[str]) -> ModelSummary:
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
        raw.decode("utf-8")
    except UnicodeError as error:
        raise _Refused(f"it is not UTF-8 text (at byte {error.start})") from None
    if b"\x00" in raw or b"\r" in raw:
        raise _Refused("it holds NUL or carriage-return characters")
    header_end = raw.find(b"\n\n")
    if header_end < 0:
        raise _Refused("no tree follows the header (truncated?)")
    sizes, features = _header(raw[:header_end].decode("utf-8"), columns)
    position = header_end + 2
    for index, size in enumerate(sizes):
        block = raw[position : position + size]
        if len(block) != size:
            raise _Refused(f"tree {index} is cut short (truncated?)")
        if not block.isascii():
            raise _Refused(f"tree {index} holds characters that are not ASCII")
        _tree(block.decode("ascii"), index, len(columns))
        position += size
    if not raw.startswith(END_OF_TREES, position):
        raise _Refused(f"'end of trees' does not follow the {len(sizes)} trees tree_sizes declares")
    text = raw[: position + len(END_OF_TREES)].decode("utf-8")
    return ModelSummary(text, len(sizes), features)


def _header(text: str, columns: list[str]) -> tuple[list[int], list[str]]:
    lines = text.split("\n")
    if lines[0] != "tree":
        raise _Refused("it does not start with LightGBM's 'tree' line")
    values = _key_values(lines[1:], HEADER_KEYS, "the header")
    missing = sorted(HEADER_KEYS - set(values))
    if missing:
        raise _Refused(f"the header has no {', '.join(missing)}")
    if not re.fullmatch(r"v\d{1,3}", values["version"]):
        raise _Refused(f"unknown format version {values['version'][:20]!r}")
    for key, expected in (("num_class", 1), ("num_tree_per_iteration", 1), ("label_index", 0)):
        if _integer(values[key], key) != expected:
            raise _Refused(f"{key} is {values[key][:20]}, not {expected}")
    if values["objective"] != "lambdarank":
        raise _Refused(f"the objective is {values['objective'][:40]!r}, not lambdarank")
    features = values["feature_names"].split(" ")
    if features != columns:
        raise _Refused(f"it expects features {features[:50]}, not {columns}")
    if _integer(values["max_feature_idx"], "max_feature_idx") != len(columns) - 1:
        raise _Refused(f"max_feature_idx is {values['max_feature_idx'][:20]}, not {len(columns) - 1}")
    infos = _tokens(values["feature_infos"], "feature_infos")
    if len(infos) != len(columns):
        raise _Refused(f"feature_infos has {len(infos)} entries for {len(columns)} features")
    for info in infos:
        bounds = _RANGE.fullmatch(info)
        if info != "none" and not (bounds and all(_finite(b, MAX_THRESHOLD) for b in bounds.groups())):
            raise _Refused(f"feature_infos entry {info[:40]!r} is not a numeric range")
    sizes = [_integer(size, "tree_sizes") for size in _tokens(values["tree_sizes"], "tree_sizes")]
    if not 1 <= len(sizes) <= MAX_TREES or min(sizes) < 1:
        raise _Refused(f"tree_sizes declares {len(sizes)} trees, or an empty one")
    return sizes, features


def _tree(block: str, index: int, n_features: int) -> None:
    lines = block.split("\n")
    if lines[0] != f"Tree={index}":
        raise _Refused(f"tree {index} starts with {lines[0][:40]!r}, not 'Tree={index}' (tree_sizes does not match)")
    body = lines[1 : lines.index("")] if "" in lines else lines[1:]
    if len(body) + 1 == len(lines) or any(lines[len(body) + 1 :]):
        raise _Refused(f"tree {index} does not end with a blank line (tree_sizes does not match)")
    where = f"tree {index}"
    values = _key_values(body, TREE_KEYS, where)
    for key in ("num_leaves", "num_cat", "leaf_value"):
        if key not in values:
            raise _Refused(f"{where} has no {key}")
    leaves = _integer(values["num_leaves"], f"{where}'s num_leaves")
    if not 1 <= leaves <= MAX_LEAVES:
        raise _Refused(f"{where} declares {values['num_leaves'][:20]} leaves (1 to {MAX_LEAVES} allowed)")
    if _integer(values["num_cat"], f"{where}'s num_cat") != 0:
        raise _Refused(f"{where} has categorical splits, which a ranker never makes")
    if "is_linear" in values and _integer(values["is_linear"], f"{where}'s is_linear") != 0:
        raise _Refused(f"{where} is a linear tree, which a ranker never makes")
    if "shrinkage" in values and not _finite(values["shrinkage"], MAX_STATISTIC):
        raise _Refused(f"{where}'s shrinkage is not a finite number")
    arrays = {}
    for key, bound in {**LEAF_FLOATS, **NODE_FLOATS}.items():
        if key in values:
            # LightGBM writes a threshold of +-inf where every value falls on one side: harmless
            arrays[key] = _floats(values[key], bound, f"{where}'s {key}", infinite_ok=key == "threshold")
    for key in (*NODE_INTS, "leaf_count"):
        if key in values:
            arrays[key] = [_integer(token, f"{where}'s {key}") for token in _tokens(values[key], f"{where}'s {key}")]
    for key, found in arrays.items():
        expected = leaves if key in LEAF_FLOATS or key == "leaf_count" else leaves - 1
        # LightGBM writes a one-leaf tree's leaf_weight empty, and never reads it
        if len(found) != expected and not (leaves == 1 and key == "leaf_weight" and not found):
            raise _Refused(f"{where}'s {key} has {len(found)} entries, expected {expected} for {leaves} leaves")
    if any(count < 0 for key in ("leaf_count", "internal_count") for count in arrays.get(key, [])):
        raise _Refused(f"{where} has a negative count")
    if leaves > 1:
        missing = [key for key in NEEDED_FOR_SPLITS if key not in values]
        if missing:
            raise _Refused(f"{where} has no {', '.join(missing)}")
        _splits(arrays, leaves, n_features, where)


def _splits(arrays: dict[str, list], leaves: int, n_features: int, where: str) -> None:
    """Features in range, numerical decisions, and children that form one tree over every leaf."""
    for node, feature in enumerate(arrays["split_feature"]):
        if not 0 <= feature < n_features:
            raise _Refused(f"{where} splits node {node} on feature {feature}, but the model has {n_features}")
    for node, decision in enumerate(arrays["decision_type"]):
        if decision not in NUMERICAL_DECISIONS:
            raise _Refused(f"{where} node {node} has decision_type {decision}, not a numerical split")
    reached_nodes = [0] * (leaves - 1)
    reached_leaves = [0] * leaves
    reached_nodes[0] = 1  # the root
    for side in ("left_child", "right_child"):
        for node, child in enumerate(arrays[side]):
            if child >= 0:
                if not node < child <= leaves - 2:
                    raise _Refused(f"{where} node {node}'s {side} is {child}: not a later node of this tree")
                reached_nodes[child] += 1
            else:
                leaf = -child - 1  # LightGBM writes leaf i as ~i
                if leaf >= leaves:
                    raise _Refused(f"{where} node {node}'s {side} is {child}: the tree has {leaves} leaves")
                reached_leaves[leaf] += 1
    if any(count != 1 for count in reached_nodes) or any(count != 1 for count in reached_leaves):
        raise _Refused(f"{where}'s children do not form a tree (a node or leaf is reached twice or never)")


def _key_values(lines: list[str], allowed: set[str], where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in lines:
        key, equals, value = line.partition("=")
        if not equals or key not in allowed:
            raise _Refused(f"{where} has an unexpected line {line[:40]!r}")
        if key in values:
            raise _Refused(f"{where} has {key} twice")
        if "=" in value and key != "feature_names":
            raise _Refused(f"{where}'s {key} holds '='")
        values[key] = value
    return values


def _tokens(value: str, what: str) -> list[str]:
    tokens = value.split(" ") if value else []
    if "" in tokens:
        raise _Refused(f"{what} has an empty entry")
    return tokens


def _integer(token: str, what: str) -> int:
    if not _INT.fullmatch(token):
        raise _Refused(f"{what} holds {token[:20]!r}, not a whole number")
    value = int(token)
    if abs(value) > MAX_COUNT:
        raise _Refused(f"{what} holds {token[:20]}, out of range")
    return value


def _finite(token: str, bound: float) -> bool:
    return bool(_FLOAT.fullmatch(token)) and math.isfinite(value := float(token)) and abs(value) <= bound


def _floats(value: str, bound: float, what: str, *, infinite_ok: bool = False) -> list[float]:
    tokens = _tokens(value, what)
    for token in tokens:
        if infinite_ok and token.lstrip("+-") == "inf":
            continue
        if not _finite(token, bound):
            raise _Refused(f"{what} holds {token[:30]!r}: not a finite number of magnitude up to {bound:g}")
    return [float(token) for token in tokens]
