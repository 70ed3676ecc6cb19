"""Recipes: one TOML file that describes a whole two-stage run (groundwork for `recsys run`).

A recipe has the sections ``[dataset]``, ``[split]``, ``[[candidates]]`` (one table per
generator), ``[index]``, ``[ranker]`` and ``[evaluation]``. Every key is declared in
:data:`SCHEMA` with its type and default, so a recipe is checked completely before anything
runs: an unknown key, a wrong type or a missing required key is a :class:`RecipeError` naming
the file, the key path and what was expected. ``--set section.key=value`` overrides any key
(``--set candidates.0.k=100`` for the first generator); the value is read as a TOML value
(``0.2``, ``true``, ``[10, 20]``, ``"x"``), and a bare word is taken as a string.

The resolved recipe (defaults filled in, keys sorted) is what a run records and hashes.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys_cli.data.folds import DEFAULT_FOLD_STRATEGY
from recsys_cli.data.split_strategies import STRATEGIES
from recsys_cli.errors import RecsysError
from recsys_cli.ranking.params import RANKER_DEFAULTS
from recsys_cli.vocabulary import LABEL_SCHEMES, MATRIX_VALUES, MODEL_NAMES, STAGE_ROWS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

REQUIRED = object()
SEED = {"minimum": 0, "maximum": 2**32 - 1}  # what numpy's and LightGBM's seeds take


class RecipeError(RecsysError):
    """A recipe that cannot be run as written: bad TOML, unknown key, wrong type, bad --set."""

    default_hint = "see docs/recipes.md for every key"


@dataclass(frozen=True)
class Key:
    kind: str  # int, float, str, bool, list[int], list[str], table
    default: Any = None
    choices: tuple[str, ...] | None = None
    minimum: int | None = None  # for whole numbers
    maximum: int | None = None

    def describe(self) -> str:
        names = {
            "int": "a whole number",
            "float": "a number",
            "str": "a string",
            "bool": "true or false",
            "list[int]": "a list of whole numbers",
            "list[str]": "a list of strings",
            "table": "a table of name = value",
        }
        text = names[self.kind]
        if self.minimum is not None and self.maximum is not None:
            text += f" from {self.minimum} to {self.maximum}"
        elif self.minimum is not None:
            text += f" >= {self.minimum}"
        return f"{text}, one of {', '.join(self.choices)}" if self.choices else text


SCHEMA: dict[str, dict[str, Key]] = {
    "dataset": {
        "name": Key("str", REQUIRED),
        "source": Key("str"),  # a path or URL; default: the card's URL (or nothing for synthetic)
        "synthetic": Key("bool", False),
        "users": Key("int", minimum=1),
        "items": Key("int", minimum=1),
        "interactions": Key("int", minimum=1),
        "seed": Key("int", 42, **SEED),
        "replace": Key("bool", False),  # may replace the dataset though others' splits and runs go with it
    },
    "split": {
        "name": Key("str", REQUIRED),
        "strategy": Key("str", "temporal-per-user", STRATEGIES),
        "test_fraction": Key("float"),
        "val_fraction": Key("float"),
        "test_after": Key("str"),
        "val_after": Key("str"),
        "n": Key("int", minimum=1),
        "val_n": Key("int", minimum=1),
        "given": Key("int", minimum=0),  # cold-users: each held-out user's first N interactions stay in train
        "min_rating": Key("float"),
        "k_core": Key("int", minimum=1),
        "seed": Key("int", **SEED),
        "replace": Key("bool", False),  # may replace the split though others' runs go with it
        "folds": Key("int", minimum=2),  # K-fold cross-validation: K splits <name>.fold-<i> (plan.py)
    },
    "candidates": {
        "run": Key("str", REQUIRED),
        "model": Key("str", REQUIRED, MODEL_NAMES),
        "k": Key("int", 200, minimum=1),
        "params": Key("table", {}),
        "seed": Key("int", 42, **SEED),
        "values": Key("str", "ones", MATRIX_VALUES),
    },
    "index": {"enabled": Key("bool", False), "trees": Key("int", 50, minimum=1), "seed": Key("int", 42, **SEED)},
    "ranker": {
        "enabled": Key("bool", True),
        "features": Key("list[str]", []),  # empty: every feature the data supports
        "labels": Key("str", LABEL_SCHEMES[0], LABEL_SCHEMES),
        **{name: Key(type(default).__name__, default) for name, default in RANKER_DEFAULTS.items() if name != "seed"},
        "seed": Key("int", RANKER_DEFAULTS["seed"], **SEED),
        "refit": Key("bool", True),
    },
    "evaluation": {
        "ks": Key("list[int]", [10, 20], minimum=1),
        "relevant_min_rating": Key("float"),
        "rows": Key("list[str]", list(STAGE_ROWS)),  # each one of STAGE_ROWS (checked by the plan)
    },
    # quality gates, e.g. "ranker.ndcg@10 >= 0.23": checked after the run (exit 4 when one fails)
    "checks": {"require": Key("list[str]", [])},
}
LIST_SECTIONS = ("candidates",)  # arrays of tables: [[candidates]]
REQUIRED_SECTIONS = ("dataset", "split", "candidates")


@dataclass(frozen=True)
class Recipe:
    """A checked recipe: every section with every key, defaults filled in."""

    path: str
    config: dict[str, Any]

    def canonical_json(self) -> str:
        """The resolved recipe as sorted, compact JSON: what a run records and its stage keys hash."""
        return json.dumps(self.config, sort_keys=True, separators=(",", ":"))


def load_recipe(
    path: Path | str, overrides: list[str] | tuple[str, ...] = (), requirements: list[str] | tuple[str, ...] = ()
) -> Recipe:
    """Read, override (``--set``) and check a recipe; raises RecipeError naming file and key.
    ``requirements`` (``--require``) are added to the recipe's ``checks.require``."""
    path = Path(path)
    if path.is_dir():
        inside = sorted(p.name for p in path.glob("*.toml"))
        hint = f"pass one of its recipes, e.g. {path / inside[0]}" if inside else "pass a recipe file (.toml)"
        raise RecipeError(f"recipe {path} is a folder, not a recipe file", hint)
    if not path.is_file():
        raise RecipeError(f"recipe {path} does not exist", "check the path, e.g. recipes/demo.toml")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise RecipeError(f"recipe {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as error:
        raise RecipeError(f"{path}: not valid TOML: {error}", "fix the line it names") from None
    except RecursionError:  # tomllib recurses once per level of nested arrays or inline tables
        raise RecipeError(f"recipe {path} is nested too deeply to read", "a recipe is a few flat tables") from None
    origins = {}  # key path -> the --set that wrote it, so a bad value names its --set
    for override in overrides:
        origins[_apply_override(raw, override, path)] = f"--set {override}"
    if requirements:
        checks = raw.setdefault("checks", {})
        if not isinstance(checks, dict) or not isinstance(checks.setdefault("require", []), list):
            raise RecipeError(f"{path}: checks must be a table with require = [...], written [checks]")
        checks["require"] = [*checks["require"], *requirements]
    return Recipe(str(path), _check(raw, path, origins))


def _apply_override(raw: dict[str, Any], override: str, path: Path) -> str:
    """Write one ``SECTION.KEY=VALUE`` into the raw recipe; returns the key path it wrote."""
    where = f"--set {override}"
    key_path, sep, text = override.partition("=")
    parts = [p.strip() for p in key_path.strip().split(".")]
    if not sep or len(parts) < 2 or not all(parts):
        raise RecipeError(f"{where}: expected SECTION.KEY=VALUE", "e.g. --set split.test_fraction=0.2")
    try:
        value = tomllib.loads(f"value = {text.strip()}")["value"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word: a string
    section = parts[0]
    if section not in SCHEMA:
        raise RecipeError(f"{where}: unknown section '{section}'", f"sections: {', '.join(SCHEMA)}")
    if section in LIST_SECTIONS:
        tables = raw.setdefault(section, [])
        if len(parts) == 4 and SCHEMA[section].get(parts[2], Key("str")).kind == "table":
            # candidates.0.params.factors=32: one entry of a table-valued key
            parts, entry = parts[:3], parts[3]
        else:
            entry = None
        position = int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else -1
        if not isinstance(tables, list) or position >= len(tables):
            count = len(tables) if isinstance(tables, list) else 0
            raise RecipeError(
                f"{where}: {path} has {count} [[{section}]] table(s)",
                f"positions start at 0 and go up to {count - 1}" if count else f"add a [[{section}]] table",
            )
        if position < 0:
            raise RecipeError(
                f"{where}: {section} is a list of tables: give its position",
                f"e.g. --set {section}.0.{parts[-1]}={text.strip()}",
            )
        target, key, where_key = tables[position], parts[2], f"{section}.{position}.{parts[2]}"
        if not isinstance(target, dict):
            raise RecipeError(f"{path}: {section} must be a list of tables, written [[{section}]]")
        if entry is not None:
            table = target.setdefault(key, {})
            if not isinstance(table, dict):
                raise RecipeError(f"{where}: {where_key} is not a table in {path}")
            table[entry] = value
            return where_key
    else:
        if len(parts) != 2:
            raise RecipeError(f"{where}: expected SECTION.KEY=VALUE", f"e.g. --set {section}.{parts[1]}=...")
        target, key, where_key = raw.setdefault(section, {}), parts[1], f"{section}.{parts[1]}"
    if key not in SCHEMA[section]:
        raise _unknown_key(f"{where}", section, key)
    target[key] = value
    return where_key


def _unknown_key(where: str, section: str, key: str) -> RecipeError:
    import difflib

    close = difflib.get_close_matches(key, list(SCHEMA[section]), n=1)
    hint = (f"did you mean '{close[0]}'? " if close else "") + f"keys of [{section}]: {', '.join(SCHEMA[section])}"
    return RecipeError(f"{where}: unknown key '{section}.{key}'", hint)


def _check(raw: dict[str, Any], path: Path, origins: dict[str, str]) -> dict[str, Any]:
    for section in raw:
        if section not in SCHEMA:
            raise RecipeError(f"{path}: unknown section [{section}]", f"sections: {', '.join(SCHEMA)}")
    for section in REQUIRED_SECTIONS:
        if section not in raw or (section in LIST_SECTIONS and raw[section] == []):
            brackets = f"[[{section}]]" if section in LIST_SECTIONS else f"[{section}]"
            raise RecipeError(f"{path}: the {brackets} section is missing", f"every recipe needs {brackets}")
    config: dict[str, Any] = {}
    for section in SCHEMA:
        value = raw.get(section, [] if section in LIST_SECTIONS else {})
        if section in LIST_SECTIONS:
            if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
                raise RecipeError(f"{path}: {section} must be a list of tables, written [[{section}]]")
            config[section] = [_check_table(t, f"{section}.{i}", section, path, origins) for i, t in enumerate(value)]
        else:
            if not isinstance(value, dict):
                raise RecipeError(f"{path}: {section} must be a table, written [{section}]")
            config[section] = _check_table(value, section, section, path, origins)
    if config["split"]["folds"] is not None and "strategy" not in raw["split"]:
        # folds deal rows at random: the strategy's default is then random (as `recsys split --folds`)
        config["split"]["strategy"] = DEFAULT_FOLD_STRATEGY
    runs = [table["run"] for table in config["candidates"]]
    repeated = sorted({run for run in runs if runs.count(run) > 1})
    if repeated:
        raise RecipeError(
            f"{path}: run name '{repeated[0]}' is used by two [[candidates]] tables",
            "give each generator its own run name",
        )
    return config


def _check_table(
    table: dict[str, Any], where: str, section: str, path: Path, origins: dict[str, str]
) -> dict[str, Any]:
    keys = SCHEMA[section]
    for key in table:
        if key not in keys:
            raise _unknown_key(str(path), section, key)
    checked = {}
    for key, spec in keys.items():
        if key not in table:
            if spec.default is REQUIRED:
                raise RecipeError(f"{path}: {where}.{key} is required ({spec.describe()})")
            checked[key] = spec.default
            continue
        key_path = f"{where}.{key}"
        checked[key] = _check_value(table[key], spec, key_path, origins.get(key_path, str(path)))
    return checked


def _check_value(value: Any, spec: Key, where: str, origin: str) -> Any:
    def wrong() -> RecipeError:
        return RecipeError(f"{origin}: {where} must be {spec.describe()}, not {value!r}")

    kind = spec.kind
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or not _in_range(value, spec):
            raise wrong()
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise wrong()
        value = float(value)
    elif kind == "str":
        if not isinstance(value, str):
            raise wrong()
    elif kind == "bool":
        if not isinstance(value, bool):
            raise wrong()
    elif kind in ("list[int]", "list[str]"):
        item = int if kind == "list[int]" else str
        if not isinstance(value, list) or any(isinstance(v, bool) or not isinstance(v, item) for v in value):
            raise wrong()
        if kind == "list[int]" and any(not _in_range(v, spec) for v in value):
            raise wrong()
    elif kind == "table":
        if not isinstance(value, dict) or any(isinstance(v, (dict, list)) for v in value.values()):
            raise wrong()
    if spec.choices and value not in spec.choices:
        raise wrong()
    return value


def _in_range(value: int, spec: Key) -> bool:
    return (spec.minimum is None or value >= spec.minimum) and (spec.maximum is None or value <= spec.maximum)
