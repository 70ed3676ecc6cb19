"""What the catalog stores, as plain values: one dataclass per catalog table, and the name rules.

The DuckDB ``Catalog`` (catalog.py) reads and writes these; modules that only pass records
around or check a name import them from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recsys_cli.errors import InvalidParameterError

# Dataset and split names are catalog keys, folder names and (datasets) SQL schema names.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# schemas `recsys sql` already uses, or DuckDB's own
_RESERVED = {"catalog", "main", "temp", "system", "information_schema", "pg_catalog"}


def validate_name(kind: str, name: str) -> None:
    """Raise InvalidParameterError unless ``name`` can name a ``kind`` ('dataset' or 'split')."""
    if not _NAME.match(name):
        raise InvalidParameterError(
            f"invalid {kind} name '{name}'",
            "use letters, digits, '.', '_' or '-' (at most 64 characters, starting with a letter or digit)",
        )
    if kind == "dataset" and name.lower() in _RESERVED:
        raise InvalidParameterError(f"'{name}' is reserved", "choose another dataset name")


@dataclass
class DatasetRecord:
    name: str
    card: str | None
    source: str | None
    source_sha256: str | None
    path: str
    n_interactions: int
    n_users: int
    n_items: int
    n_catalog_items: int
    stats: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    recsys_version: str | None = None


@dataclass
class SplitRecord:
    dataset: str
    name: str
    strategy: str
    params: dict[str, Any]
    path: str
    summary: dict[str, Any]
    created_at: datetime | None = None


@dataclass
class RunRecord:
    """A trained candidate generator: its model folder and how it was made."""

    name: str
    dataset: str
    split: str
    model: str
    params: dict[str, Any]
    path: str
    manifest: dict[str, Any]
    created_at: datetime | None = None


@dataclass
class ArtifactRecord:
    """Something built from a run (an evaluation, an index, candidates), one per (run, kind)."""

    run: str
    kind: str
    path: str
    meta: dict[str, Any]
    created_at: datetime | None = None


@dataclass
class PipelineRunRecord:
    """One `recsys run` of a recipe: its folder holds manifest.json, metrics.json and per-user values."""

    name: str
    recipe: str
    path: str
    manifest: dict[str, Any]
    created_at: datetime | None = None


@dataclass
class Dropped:
    """What a replaced or removed dataset or split took with it (already unregistered)."""

    splits: list[SplitRecord] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    artifacts: list[ArtifactRecord] = field(default_factory=list)

    @property
    def paths(self) -> list[str]:
        return [r.path for r in (*self.splits, *self.runs, *self.artifacts)]
