"""Dataset cards: one TOML file per public dataset under the top-level datasets/.

A card says where a release comes from (URL, size, checksums, the folder
inside its zip), under which terms it may be used (licence, citation) and how
each of its files is written (separator, header, encoding, quoting, and what
every column means). :func:`recsys_cli.datasets.ingest.ingest_card` turns a release into a workspace
dataset using nothing but its card, so a new MovieLens-like release needs a
new card, not new code.

Cards are found in the source checkout (``datasets/`` beside ``recsys_cli/``)
or, in an installed wheel, in ``recsys_cli/_dataset_cards`` (pyproject
force-includes the folder there).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys_cli.errors import FormatError, UnknownNameError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# Roles a card may describe, in the order they are loaded and shown.
ROLES = ("interactions", "items", "users", "links", "tags")
# The fields each role must provide; other fields become extra columns.
REQUIRED_FIELDS = {
    "interactions": ("user_id", "item_id"),
    "items": ("item_id",),
    "users": ("user_id",),
    "links": ("item_id",),
    "tags": ("item_id", "tag"),  # free-text tags people applied to items, gathered per item
}
INTERACTION_FIELDS = ("user_id", "item_id", "rating", "timestamp")
COLUMN_TYPES = ("BIGINT", "INTEGER", "DOUBLE", "VARCHAR", "DATE")
ENCODINGS = ("utf-8", "latin-1", "utf-16")

_TOP_KEYS = {
    "name",
    "title",
    "description",
    "homepage",
    "url",
    "archive_size",
    "sha256",
    "md5",
    "checksum_note",
    "archive_root",
    "released",
    "rating_scale",
    "other_files",
    "licence",
    "citation",
    "counts",
    *ROLES,
}
_TABLE_KEYS = {
    "file",
    "separator",
    "header",
    "encoding",
    "quote",
    "escape",
    "date_format",
    "notes",
    "columns",
    "genres",
    "codes",
}
_COLUMN_KEYS = {"name", "type", "field", "meaning"}
_GENRE_KEYS = {"column", "separator", "flags", "none"}
_FIELD = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Column:
    name: str  # as in the file's header, or our name for a headerless file
    type: str = "VARCHAR"
    field: str | None = None  # what it becomes in the workspace; None: documented, not kept
    meaning: str = ""


@dataclass(frozen=True)
class Genres:
    """How a file spells genres: one delimited column, or one 0/1 flag column per genre."""

    column: str | None = None
    separator: str = "|"
    flags: tuple[str, ...] = ()
    none: str | None = None  # the value (or flag) that means "no genres"


@dataclass(frozen=True)
class FileFormat:
    role: str
    file: str
    separator: str
    header: bool
    encoding: str = "utf-8"
    quote: str = '"'
    escape: str | None = None
    date_format: str | None = None
    columns: tuple[Column, ...] = ()
    genres: Genres | None = None
    codes: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: str = ""

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column_for(self, field_name: str) -> str | None:
        return next((c.name for c in self.columns if c.field == field_name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "separator": self.separator,
            "header": self.header,
            "encoding": self.encoding,
            "quote": self.quote,
            "escape": self.escape,
            "date_format": self.date_format,
            "columns": [{"name": c.name, "type": c.type, "field": c.field, "meaning": c.meaning} for c in self.columns],
            "genres": None
            if self.genres is None
            else {
                "column": self.genres.column,
                "separator": self.genres.separator,
                "flags": list(self.genres.flags),
                "none": self.genres.none,
            },
            "codes": self.codes,
            "notes": self.notes,
        }


@dataclass(frozen=True)
class Card:
    name: str
    title: str
    description: str
    homepage: str
    url: str
    archive_root: str
    licence: str
    citation: str
    files: dict[str, FileFormat]
    archive_size: int | None = None
    sha256: str = ""
    md5: str = ""
    checksum_note: str = ""
    released: str = ""
    rating_scale: str = ""
    other_files: tuple[str, ...] = ()
    counts: dict[str, int] = field(default_factory=dict)
    path: Path | None = None

    @property
    def has_checksum(self) -> bool:
        return bool(self.sha256 or self.md5)

    @property
    def archive_name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1] if self.url else f"{self.name}.zip"

    def to_dict(self) -> dict[str, Any]:
        """The card as a JSON-ready dict (the stable shape of `datasets show --format json`)."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "homepage": self.homepage,
            "url": self.url,
            "archive_size": self.archive_size,
            "sha256": self.sha256 or None,
            "md5": self.md5 or None,
            "checksum_note": self.checksum_note,
            "archive_root": self.archive_root,
            "released": self.released,
            "rating_scale": self.rating_scale,
            "counts": dict(self.counts),
            "licence": self.licence,
            "citation": self.citation,
            "files": {role: spec.to_dict() for role, spec in self.files.items()},
            "other_files": list(self.other_files),
        }


# -- finding and parsing cards ---------------------------------------------------------
def cards_dir(package: Path | None = None) -> Path:
    """The folder of card files; ``package`` is the recsys_cli folder (tests pass another)."""
    package = package or Path(__file__).resolve().parents[1]
    packaged = package / "_dataset_cards"
    if packaged.is_dir():
        return packaged
    # A source checkout; pyproject.toml beside it tells it apart from an unrelated
    # top-level 'datasets' folder next to an installed package (site-packages).
    checkout = package.parent
    if (checkout / "datasets").is_dir() and (checkout / "pyproject.toml").is_file():
        return checkout / "datasets"
    raise FormatError(
        f"no dataset cards found (looked in {packaged} and {checkout / 'datasets'})",
        "reinstall recsys-cli; the wheel carries the cards in recsys_cli/_dataset_cards",
    )


def card_names() -> list[str]:
    return sorted(p.stem for p in cards_dir().glob("*.toml"))


def load_card(name: str) -> Card:
    known = card_names()
    if name not in known:
        raise UnknownNameError("dataset card", name, known)
    return parse_card(cards_dir() / f"{name}.toml")


def other_cards(card: Card) -> list[Card]:
    """Every card but ``card``: what a release that does not match it may be instead."""
    return [other for other in list_cards() if other.name != card.name]


def list_cards() -> list[Card]:
    """Every card, smallest release first (the order people try them in)."""
    cards = [parse_card(cards_dir() / f"{name}.toml") for name in card_names()]
    return sorted(cards, key=lambda c: (c.counts.get("interactions", float("inf")), c.name))


def parse_card(path: Path) -> Card:
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise _card_error(path, f"not valid TOML: {exc}") from None
    _no_unknown_keys(path, "card", raw, _TOP_KEYS)
    for key in ("name", "title", "url", "archive_root", "licence", "citation", "interactions"):
        if not raw.get(key):
            raise _card_error(path, f"'{key}' is missing")
    if raw["name"] != path.stem:
        raise _card_error(path, f"name '{raw['name']}' differs from the file name '{path.stem}'")
    sha256 = str(raw.get("sha256", "")).lower()
    md5 = str(raw.get("md5", "")).lower()
    if sha256 and not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise _card_error(path, "sha256 must be 64 hex digits (or empty when none is published)")
    if md5 and not re.fullmatch(r"[0-9a-f]{32}", md5):
        raise _card_error(path, "md5 must be 32 hex digits (or empty when none is published)")
    files = {role: _parse_table(path, role, raw[role]) for role in ROLES if role in raw}
    return Card(
        name=raw["name"],
        title=raw["title"],
        description=_text(raw.get("description", "")),
        homepage=raw.get("homepage", ""),
        url=raw["url"],
        archive_root=raw["archive_root"],
        licence=_text(raw["licence"]),
        citation=_text(raw["citation"]),
        files=files,
        archive_size=raw.get("archive_size"),
        sha256=sha256,
        md5=md5,
        checksum_note=raw.get("checksum_note", ""),
        released=str(raw.get("released", "")),
        rating_scale=raw.get("rating_scale", ""),
        other_files=tuple(raw.get("other_files", ())),
        counts={k: int(v) for k, v in raw.get("counts", {}).items()},
        path=path,
    )


def _parse_table(path: Path, role: str, raw: dict[str, Any]) -> FileFormat:
    where = f"[{role}]"
    _no_unknown_keys(path, where, raw, _TABLE_KEYS)
    for key in ("file", "separator", "header", "columns"):
        if key not in raw:
            raise _card_error(path, f"{where} '{key}' is missing")
    encoding = raw.get("encoding", "utf-8")
    if encoding not in ENCODINGS:
        raise _card_error(path, f"{where} encoding '{encoding}' is not one of {', '.join(ENCODINGS)}")
    columns = []
    for entry in raw["columns"]:
        _no_unknown_keys(path, f"{where} column", entry, _COLUMN_KEYS)
        column = Column(
            entry["name"], entry.get("type", "VARCHAR").upper(), entry.get("field"), entry.get("meaning", "")
        )
        if column.type not in COLUMN_TYPES:
            raise _card_error(path, f"{where} column '{column.name}': type must be one of {', '.join(COLUMN_TYPES)}")
        if column.field is not None and not _FIELD.match(column.field):
            raise _card_error(path, f"{where} column '{column.name}': field '{column.field}' must be snake_case")
        columns.append(column)
    names = [c.name for c in columns]
    fields = [c.field for c in columns if c.field]
    if len(set(names)) != len(names) or len(set(fields)) != len(fields):
        raise _card_error(path, f"{where} column names and fields must be unique")
    for needed in REQUIRED_FIELDS[role]:
        if needed not in fields:
            raise _card_error(path, f"{where} no column has field '{needed}'")
    if role == "interactions" and set(fields) - set(INTERACTION_FIELDS):
        raise _card_error(path, f"{where} fields must be among {', '.join(INTERACTION_FIELDS)}")
    genres = None
    if "genres" in raw:
        g = raw["genres"]
        _no_unknown_keys(path, f"{where} genres", g, _GENRE_KEYS)
        genres = Genres(g.get("column"), g.get("separator", "|"), tuple(g.get("flags", ())), g.get("none"))
        if bool(genres.column) == bool(genres.flags):
            raise _card_error(path, f"{where} genres needs either 'column' or 'flags'")
        if any(name not in names for name in ([genres.column] if genres.column else list(genres.flags))):
            raise _card_error(path, f"{where} genres names a column the file does not have")
    return FileFormat(
        role=role,
        file=raw["file"],
        separator=raw["separator"],
        header=bool(raw["header"]),
        encoding=encoding,
        quote=raw.get("quote", '"'),
        escape=raw.get("escape"),
        date_format=raw.get("date_format"),
        columns=tuple(columns),
        genres=genres,
        codes={k: {str(code): str(label) for code, label in v.items()} for k, v in raw.get("codes", {}).items()},
        notes=raw.get("notes", ""),
    )


def _text(value: str) -> str:
    """TOML multi-line strings keep their line breaks; cards wrap prose at 90 columns."""
    return " ".join(value.split())


def _no_unknown_keys(path: Path, where: str, raw: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:  # a typo in a card should fail loudly, not be ignored
        raise _card_error(path, f"{where}: unknown key(s) {', '.join(unknown)}")


def _card_error(path: Path, problem: str) -> FormatError:
    return FormatError(f"dataset card {path.name}: {problem}", f"fix {path}")
