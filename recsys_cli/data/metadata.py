"""What a dataset says about its items and users, read from its items.parquet and users.parquet.

The data layer reads them (one reader each, shared by training, the split's cold-item warning and the
``--by genre`` breakdown) and hands the models plain tuples: a model never reads files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from recsys_cli.data.canonical import ITEMS_FILE, USERS_FILE
from recsys_cli.data.faults import read_parquet
from recsys_cli.errors import InvalidParameterError


@dataclass(frozen=True)
class ItemMetadata:
    """What the dataset says about each item, indexed like the matrix's columns (None: not known).

    Read by the workspace for a model whose ``needs_item_metadata`` is true; a model never reads files.
    """

    titles: tuple[str | None, ...]
    years: tuple[int | None, ...]
    genres: tuple[tuple[str, ...], ...]
    # the tags people applied to each item (MovieLens' tags file); () when the dataset has none
    tags: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        if not self.tags:
            object.__setattr__(self, "tags", ((),) * len(self.titles))
        if not len(self.titles) == len(self.years) == len(self.genres) == len(self.tags):
            raise InvalidParameterError(
                f"item metadata has {len(self.titles)} titles, {len(self.years)} years, {len(self.genres)} "
                f"genre lists and {len(self.tags)} tag lists",
                "give one of each per item",
            )

    @property
    def n_items(self) -> int:
        return len(self.titles)

    def described(self) -> list[bool]:
        """Per item: whether it has any metadata at all (a title, a year, genres or tags)."""
        return [
            bool(t and t.strip())
            or y is not None
            or any(x and x.strip() for x in g)
            or any(x and x.strip() for x in tg)
            for t, y, g, tg in zip(self.titles, self.years, self.genres, self.tags)
        ]

    def present(self) -> dict[str, int]:
        """How many items have a title, a year, genres, tags."""
        return {
            "titles": sum(1 for t in self.titles if t and t.strip()),
            "years": sum(1 for y in self.years if y is not None),
            "genres": sum(1 for g in self.genres if any(x and x.strip() for x in g)),
            "tags": sum(1 for t in self.tags if any(x and x.strip() for x in t)),
        }


# What a users file can say about a user (UserMetadata's fields, singular): the demographics of ML-100K and ML-1M.
USER_ATTRIBUTES = ("gender", "age", "occupation")


@dataclass(frozen=True)
class UserMetadata:
    """What the dataset says about each user, indexed like the matrix's rows (None: not known).

    ``ages`` are years (ML-100K) or the lower bound of an age band: ML-1M's codes 1 (under 18), 18, 25, 35,
    45, 50 and 56, which fall in the same bands as the years they name. Read by the workspace for a model
    whose ``needs_user_metadata`` is true; a model never reads files.
    """

    genders: tuple[str | None, ...]
    ages: tuple[int | None, ...]
    occupations: tuple[str | None, ...]

    def __post_init__(self) -> None:
        if not len(self.genders) == len(self.ages) == len(self.occupations):
            raise InvalidParameterError(
                f"user metadata has {len(self.genders)} genders, {len(self.ages)} ages and "
                f"{len(self.occupations)} occupations",
                "give one of each per user",
            )

    @property
    def n_users(self) -> int:
        return len(self.genders)

    def values(self, attribute: str) -> tuple:
        """Every user's value of one of USER_ATTRIBUTES."""
        return {"gender": self.genders, "age": self.ages, "occupation": self.occupations}[attribute]

    def present(self) -> dict[str, int]:
        """How many users have a gender, an age, an occupation."""
        return {a: sum(1 for v in self.values(a) if v is not None) for a in USER_ATTRIBUTES}


def read_item_metadata(dataset_folder: Path, n_items: int) -> ItemMetadata:
    """The titles, release years, genres and tags of a dataset's items, one entry per item index (None, or
    no genres, where its items file says nothing: a CSV ingest has none of them)."""
    titles: list[str | None] = [None] * n_items
    years: list[int | None] = [None] * n_items
    genres: list[tuple[str, ...]] = [()] * n_items
    path = dataset_folder / ITEMS_FILE
    if not path.is_file():  # no items file: nothing is said about any item
        return ItemMetadata(tuple(titles), tuple(years), tuple(genres))
    table = read_parquet(path)
    names = table.column_names
    columns = {c: table.column(c).to_pylist() if c in names else [None] * table.num_rows for c in ("title", "year")}
    genre_lists = table.column("genres").to_pylist() if "genres" in names else [None] * table.num_rows
    tag_lists = table.column("tags").to_pylist() if "tags" in names else [None] * table.num_rows
    tags: list[tuple[str, ...]] = [()] * n_items
    for row, idx in enumerate(table.column("item_idx").to_pylist()):
        if idx is None or not 0 <= idx < n_items:  # a catalogue item nobody interacted with
            continue
        titles[idx], years[idx] = columns["title"][row], columns["year"][row]
        genres[idx] = tuple(g for g in genre_lists[row] or () if g)
        tags[idx] = tuple(t for t in tag_lists[row] or () if t)
    return ItemMetadata(tuple(titles), tuple(years), tuple(genres), tuple(tags))


def read_user_metadata(dataset_folder: Path, n_users: int) -> UserMetadata:
    """The genders, ages and occupations of a dataset's users, one entry per user index (None where its users
    file says nothing, or has no such column; every entry None without a users file). Ages are years, or an
    age band's lowest age: ML-1M's codes are numbers already, and a band written out ('25-34', 'Under 18',
    '56+', as the synthetic generator writes ``age_group``) becomes its first number (under 18: 1, ML-1M's code)."""
    genders: list[str | None] = [None] * n_users
    ages: list[int | None] = [None] * n_users
    occupations: list[str | None] = [None] * n_users
    path = dataset_folder / USERS_FILE
    if path.is_file():
        table = read_parquet(path)
        names = table.column_names

        def column(name: str) -> list:
            return table.column(name).to_pylist() if name in names else [None] * table.num_rows

        age_column = "age" if "age" in names else "age_group"
        for idx, gender, age, occupation in zip(
            column("user_idx"), column("gender"), column(age_column), column("occupation")
        ):
            if idx is None or not 0 <= idx < n_users:
                continue
            genders[idx], ages[idx], occupations[idx] = _text(gender), _age(age), _text(occupation)
    return UserMetadata(tuple(genders), tuple(ages), tuple(occupations))


def _text(value) -> str | None:
    """A users-file value as text (ML-1M's occupation codes are numbers), None when blank."""
    text = None if value is None else str(value).strip()
    return text or None


def _age(value) -> int | None:
    if value is None or isinstance(value, (int, float)):
        # value != value: NaN; a negative age is a file's "unknown", not an age
        return None if value is None or value != value or value < 0 else int(value)
    text = str(value).strip().lower()
    if text.startswith("under"):
        return 1
    found = re.search(r"\d+", text)
    return int(found.group()) if found else None
