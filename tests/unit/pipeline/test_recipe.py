"""The recipe format (groundwork for `recsys run`): every key typed, every mistake named."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from recsys_cli.pipeline.recipe import SCHEMA, RecipeError, load_recipe
from tests.support import REPO

DOCS = REPO / "docs" / "recipes.md"

MINIMAL = """
[dataset]
name = "ml-100k"

[split]
name = "tpu"
test_fraction = 0.2
val_fraction = 0.2

[[candidates]]
run = "als"
model = "als"
params = { factors = 32 }

[[candidates]]
run = "knn"
model = "item-knn"
k = 100
"""


@pytest.fixture
def recipe(tmp_path) -> Path:
    path = tmp_path / "r.toml"
    path.write_text(MINIMAL)
    return path


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def error_of(path, overrides=()) -> str:
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, overrides)
    text = str(caught.value)
    assert "\n" not in text
    return text


def test_defaults_are_filled_in_and_typed(recipe):
    config = load_recipe(recipe).config
    assert config["split"]["strategy"] == "temporal-per-user"
    assert config["split"]["test_fraction"] == 0.2 and config["split"]["seed"] is None
    assert [c["run"] for c in config["candidates"]] == ["als", "knn"]
    assert config["candidates"][0]["k"] == 200 and config["candidates"][0]["params"] == {"factors": 32}
    assert config["candidates"][1]["k"] == 100
    assert config["ranker"]["enabled"] is True and config["ranker"]["threads"] == 1
    assert config["evaluation"]["ks"] == [10, 20]
    assert set(config) == set(SCHEMA)


def test_canonical_json_is_sorted_and_stable(recipe, tmp_path):
    first = load_recipe(recipe).canonical_json()
    reordered = tmp_path / "reordered.toml"
    # the same recipe with its keys in another order: the same canonical form
    reordered.write_text(MINIMAL.replace('name = "tpu"\ntest_fraction = 0.2', 'test_fraction = 0.2\nname = "tpu"'))
    assert load_recipe(reordered).canonical_json() == first
    assert json.loads(first)["split"]["name"] == "tpu"


def test_set_overrides_any_key_with_a_typed_value(recipe):
    config = load_recipe(
        recipe,
        [
            "split.test_fraction=0.25",
            "candidates.1.k=50",
            "ranker.labels=binary",
            "evaluation.ks=[5, 10]",
            "ranker.refit=false",
            "dataset.source=/data/ml-100k.zip",
        ],
    ).config
    assert config["split"]["test_fraction"] == 0.25
    assert config["candidates"][1]["k"] == 50 and config["candidates"][0]["k"] == 200
    assert config["ranker"]["labels"] == "binary" and config["ranker"]["refit"] is False
    assert config["evaluation"]["ks"] == [5, 10]
    assert config["dataset"]["source"] == "/data/ml-100k.zip"


def test_a_whole_number_is_a_number_but_true_is_not(recipe):
    assert load_recipe(recipe, ["split.test_fraction=1"]).config["split"]["test_fraction"] == 1.0
    assert "must be a whole number >= 1, not True" in error_of(recipe, ["candidates.0.k=true"])


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("split.foo=1", ("--set split.foo=1: unknown key 'split.foo'", "keys of [split]")),
        ("split.test_fractoin=0.1", ("unknown key", "did you mean 'test_fraction'")),
        ("nosuch.x=1", ("unknown section 'nosuch'",)),
        ("split", ("expected SECTION.KEY=VALUE",)),
        ("candidates.k=3", ("give its position", "--set candidates.0.k=3")),
        ("candidates.2.k=3", ("has 2 [[candidates]] table(s)", "up to 1")),
        ("split.test_fraction=abc", ("--set split.test_fraction=abc: split.test_fraction must be a number",)),
        ("ranker.labels=stars", ("ranker.labels must be a string, one of graded, binary, not 'stars'",)),
        ("evaluation.ks=[10, true]", ("evaluation.ks must be a list of whole numbers",)),
    ],
)
def test_bad_set(recipe, override, fragments):
    text = error_of(recipe, [override])
    for fragment in fragments:
        assert fragment in text, text


@pytest.mark.parametrize(
    "edit, fragments",
    [
        (lambda t: t + "\n[split2]\nx = 1\n", ("unknown section [split2]",)),
        (
            lambda t: t.replace('name = "tpu"', 'name = "tpu"\ntest_fractoin = 0.1'),
            ("unknown key 'split.test_fractoin'", "did you mean 'test_fraction'"),
        ),
        (
            lambda t: t.replace("test_fraction = 0.2", 'test_fraction = "0.2"'),
            ("split.test_fraction must be a number, not '0.2'",),
        ),
        (
            lambda t: t.replace('model = "item-knn"', 'model = "knn"'),
            ("candidates.1.model must be a string, one of als, bpr, item-knn, ease, popular",),
        ),
        (lambda t: t.replace('run = "knn"', 'run = "als"'), ("run name 'als' is used by two [[candidates]]",)),
        (lambda t: t.replace('[dataset]\nname = "ml-100k"', "[dataset]"), ("dataset.name is required",)),
        (lambda t: t.split("[[candidates]]")[0], ("the [[candidates]] section is missing",)),
        (
            lambda t: t.replace("params = { factors = 32 }", "params = { factors = [32] }"),
            ("candidates.0.params must be a table of name = value",),
        ),
        (lambda t: t.replace("[split]", "split = 3\n[splat]"), ("unknown section",)),
        (lambda t: t + "\n[ranker\n", ("not valid TOML",)),
    ],
)
def test_bad_recipe(tmp_path, edit, fragments):
    path = write(tmp_path, edit(MINIMAL))
    text = error_of(path)
    assert str(path) in text
    for fragment in fragments:
        assert fragment in text, text


def test_missing_file(tmp_path):
    assert "does not exist" in error_of(tmp_path / "nope.toml")


def test_every_key_is_documented():
    text = DOCS.read_text()
    for section, keys in SCHEMA.items():
        heading = f"### `[[{section}]]`" if section == "candidates" else f"### `[{section}]`"
        assert heading in text, heading
        block = text.split(heading, 1)[1].split("\n### ", 1)[0]
        documented = set(re.findall(r"^\| `([a-z_]+)` \|", block, flags=re.M))
        assert documented == set(keys), (section, documented ^ set(keys))


SHIPPED = sorted((REPO / "recipes").glob("*.toml"))


def test_the_shipped_recipes_are_the_promised_ones_and_the_readme_lists_them():
    names = {path.stem for path in SHIPPED}
    assert {"demo", "ml-100k", "ml-100k-published", "ml-latest-small", "ml-1m", "ml-20m", "ml-32m"} <= names
    readme = (REPO / "recipes" / "README.md").read_text()
    for name in names:
        assert f"`{name}.toml`" in readme or f"`{name}.toml`," in readme, f"recipes/README.md does not list {name}"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_recipe_checks_and_plans_without_touching_anything(path, tmp_path, monkeypatch):
    from recsys_cli.pipeline.plan import build_plan

    monkeypatch.chdir(tmp_path)  # where a workspace or download would appear
    plan = build_plan(load_recipe(path))
    names = [stage.name for stage in plan.stages]
    assert names[:2] == ["ingest", "split"] and names[-1].startswith("evaluate ")
    assert ("ranker" in names) == plan.ranker_enabled
    assert list(tmp_path.iterdir()) == []


def test_the_published_protocol_recipe_is_the_published_protocol():
    config = load_recipe(REPO / "recipes" / "ml-100k-published.toml").config
    assert config["dataset"]["name"] == "ml-100k"
    assert config["split"]["strategy"] == "random-per-user" and config["split"]["test_fraction"] == 0.25
    assert config["evaluation"]["ks"] == [10] and config["evaluation"]["relevant_min_rating"] is None
    assert config["ranker"]["enabled"] is False


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("candidates.0.seed=-1", "candidates.0.seed must be a whole number from 0 to 4294967295, not -1"),
        ("ranker.seed=4294967296", "ranker.seed must be a whole number from 0 to 4294967295"),
        ("index.trees=0", "index.trees must be a whole number >= 1, not 0"),
        ("candidates.0.k=0", "candidates.0.k must be a whole number >= 1, not 0"),
        ("evaluation.ks=[10, 0]", "evaluation.ks must be a list of whole numbers >= 1"),
        ("evaluation.relevant_min_rating=nan", "evaluation.relevant_min_rating must be a number, not nan"),
    ],
)
def test_values_out_of_range_are_refused_before_anything_runs(tmp_path, override, fragment):
    recipe = write(tmp_path, MINIMAL)
    assert fragment in error_of(recipe, [override])


def test_set_reaches_one_model_parameter(tmp_path):
    recipe = write(tmp_path, MINIMAL)
    config = load_recipe(recipe, ["candidates.0.params.factors=16", "candidates.0.params.alpha=2.0"]).config
    assert config["candidates"][0]["params"] == {"factors": 16, "alpha": 2.0}
    assert "unknown key 'candidates.factors'" in error_of(recipe, ["candidates.0.factors=8"])


def test_a_folder_is_named_as_a_folder(tmp_path):
    folder = tmp_path / "recipes"
    folder.mkdir()
    with pytest.raises(RecipeError, match="is a folder, not a recipe file") as caught:
        load_recipe(folder)
    assert caught.value.hint == "pass a recipe file (.toml)"
    (folder / "mine.toml").write_text("[dataset]\n")
    with pytest.raises(RecipeError, match="is a folder") as caught:
        load_recipe(folder)
    assert caught.value.hint == f"pass one of its recipes, e.g. {folder / 'mine.toml'}"


def test_a_recipe_nested_a_thousand_levels_deep_is_a_clean_error(tmp_path, cli, workspace_dir):
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 1000 + "]" * 1000 + "\n")
    with pytest.raises(RecipeError, match="nested too deeply"):
        load_recipe(deep)
    result = cli("run", deep)  # exit 1 with one line, not an internal error (exit 3)
    assert result.exit_code == 1, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"error: recipe {deep} is nested too deeply to read (hint: a recipe is a few flat tables)"
    ]
    assert not workspace_dir.exists()
