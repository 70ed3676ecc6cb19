"""Dataset cards: every shipped card parses, says what it must, and is found from a checkout or a wheel."""

from __future__ import annotations

import json
import shutil
import sys

import pytest

from recsys_cli.datasets.cards import cards_dir, list_cards, load_card, parse_card
from recsys_cli.errors import FormatError, UnknownNameError
from tests.support import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


# Published archive sizes and sha256 (tensorflow/datasets url_checksums/movielens.txt).
PUBLISHED = {
    "ml-25m": (261978986, "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa"),
    "ml-latest-small": (978202, "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436"),
    "ml-100k": (4924029, "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"),
    "ml-1m": (5917549, "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20"),
    "ml-20m": (198702078, "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3"),
}
ROOTS = {
    "ml-100k": "ml-100k",
    "ml-1m": "ml-1m",
    "ml-10m": "ml-10M100K",
    "ml-20m": "ml-20m",
    "ml-25m": "ml-25m",
    "ml-32m": "ml-32m",
    "ml-latest-small": "ml-latest-small",
}


def test_every_release_has_a_card_smallest_first():
    names = [card.name for card in list_cards()]
    assert sorted(names) == sorted(ROOTS)
    assert names[0] == "ml-100k" and names[-1] == "ml-32m"


@pytest.mark.parametrize("name", sorted(ROOTS))
def test_card_says_where_from_how_written_and_under_which_terms(name):
    card = load_card(name)
    assert card.url == f"https://files.grouplens.org/datasets/movielens/{name}.zip"
    assert card.archive_root == ROOTS[name]
    assert "10.1145/2827872" in card.citation and "Harper" in card.citation
    assert "research" in card.licence.lower()
    assert card.homepage.startswith("https://grouplens.org/datasets/movielens/")
    interactions = card.files["interactions"]
    assert [c.field for c in interactions.columns] == ["user_id", "item_id", "rating", "timestamp"]
    assert all(c.meaning for spec in card.files.values() for c in spec.columns)
    assert card.files["items"].column_for("title") is not None
    assert card.files["items"].genres is not None
    json.dumps(card.to_dict())  # the JSON form is plain data


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_checksums(name):
    card = load_card(name)
    assert (card.archive_size, card.sha256) == PUBLISHED[name]


@pytest.mark.parametrize("name", ["ml-10m", "ml-32m"])
def test_cards_without_a_published_sha256_say_so(name):
    card = load_card(name)
    assert card.sha256 == ""
    assert "no published sha256" in card.checksum_note.lower()


def test_checksums_roots_and_counts_tell_the_releases_apart():
    # ingest names the other release by any of these (sources.check_digests, sources._refuse_other_root,
    # movielens.check_counts): two cards sharing one would make those messages wrong
    cards = list_cards()
    for key in (lambda c: c.sha256, lambda c: c.md5, lambda c: c.archive_root, lambda c: c.counts["interactions"]):
        values = [key(c) for c in cards if key(c)]
        assert len(values) == len(set(values))


def test_formats_of_the_three_file_families():
    ml100k, ml1m, small = load_card("ml-100k"), load_card("ml-1m"), load_card("ml-latest-small")
    assert (ml100k.files["interactions"].separator, ml100k.files["interactions"].header) == ("\t", False)
    assert ml100k.files["items"].encoding == "latin-1" and ml100k.files["items"].quote == ""
    assert len(ml100k.files["items"].genres.flags) == 19
    assert ml100k.files["items"].genres.flags[4] == "Children's"
    assert ml1m.files["items"].separator == "::" and ml1m.files["items"].encoding == "latin-1"
    assert ml1m.files["users"].codes["age"]["56"] == "56+"
    assert ml1m.files["users"].codes["occupation"]["12"] == "programmer"
    assert [c.field for c in ml1m.files["users"].columns] == ["user_id", "gender", "age", "occupation", "zip_code"]
    assert "users" not in load_card("ml-10m").files
    assert small.files["interactions"].header is True
    assert small.files["interactions"].column_names == ["userId", "movieId", "rating", "timestamp"]
    assert small.files["items"].genres.none == "(no genres listed)"
    assert small.files["links"].column_for("tmdb_id") == "tmdbId"


def test_unknown_card_suggests_the_closest():
    with pytest.raises(UnknownNameError) as info:
        load_card("ml100k")
    assert info.value.suggestion == "ml-100k"
    assert "did you mean 'ml-100k'" in str(info.value)


def test_cards_found_in_the_checkout():
    assert cards_dir() == REPO / "datasets"


def test_cards_found_in_an_installed_wheel(tmp_path):
    package = tmp_path / "site-packages" / "recsys_cli"
    shutil.copytree(REPO / "datasets", package / "_dataset_cards")
    # an unrelated top-level 'datasets' package beside it must not be mistaken for the cards
    (tmp_path / "site-packages" / "datasets").mkdir()
    assert cards_dir(package) == package / "_dataset_cards"


def test_no_cards_is_a_clear_error(tmp_path):
    (tmp_path / "datasets").mkdir()  # e.g. the HuggingFace package in site-packages
    with pytest.raises(FormatError, match="no dataset cards found"):
        cards_dir(tmp_path / "recsys_cli")


def test_the_wheel_carries_the_cards():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    force = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert force["datasets"] == "recsys_cli/_dataset_cards"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace('archive_root = "ml-100k"', 'archive_root = "ml-100k"\narchive_rot = "x"'), "unknown key"),
        (lambda t: t.replace('sha256 = "50d2', 'sha256 = "zz50d2'), "sha256 must be 64 hex"),
        (
            lambda t: t.replace('field = "user_id", meaning = "user id (1..943)', 'meaning = "user id (1..943)'),
            "no column has field 'user_id'",
        ),
        (lambda t: t.replace('type = "DOUBLE"', 'type = "FLOAT8"'), "type must be one of"),
        (lambda t: t.replace('name = "ml-100k"', 'name = "ml-100"'), "differs from the file name"),
        (lambda t: t + "\n[broken\n", "not valid TOML"),
    ],
)
def test_a_broken_card_fails_loudly(tmp_path, edit, message):
    path = tmp_path / "ml-100k.toml"
    path.write_text(edit((REPO / "datasets" / "ml-100k.toml").read_text()))
    with pytest.raises(FormatError, match=message) as info:
        parse_card(path)
    assert "ml-100k.toml" in str(info.value)
