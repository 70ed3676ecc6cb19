"""Every table in every format: csv prints one `# table: NAME` section per table, markdown each under its
title, and `--table NAME` prints one of them (plain CSV by default) on every command that prints data.

One small demo workspace is built per module (recipe run `demo`; runs demo.als with a ranker and its
stage evaluation, demo.knn, demo.pop); every test copies it first."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.support import all_commands, build_template, copy_workspace, invoke_json

DEMO = ("demo", "--users", "400", "--items", "300", "--interactions", "20000")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return build_template(tmp_path_factory, "tables-template", lambda root: invoke_json(root, *DEMO))[0]


@pytest.fixture
def ws(template, workspace_dir) -> Path:
    return copy_workspace(template, workspace_dir)


def csv_sections(text: str) -> dict[str, list[list[str]]]:
    """`# table: NAME` sections, a blank line between them, each a CSV table (header first)."""
    sections = {}
    for block in text.split("\n\n"):
        first, _, body = block.partition("\n")
        assert first.startswith("# table: "), block[:200]
        name = first.removeprefix("# table: ")
        assert name not in sections, name
        sections[name] = list(csv.reader(io.StringIO(body)))
    return sections


def printed(cli, *args: str) -> str:
    result = cli(*args)
    assert result.exit_code == 0, (args, result.stderr)
    return result.stdout


def check_every_table(cli, args: tuple[str, ...], names: list[str], titles: list[str]) -> dict:
    """csv has one section per table, in order, each a table with a header; markdown has every title;
    --table NAME gives each section alone as plain CSV."""
    sections = csv_sections(printed(cli, *args, "-f", "csv"))
    assert list(sections) == names
    assert all(len(rows) >= 2 and len(set(map(len, rows))) == 1 for rows in sections.values()), sections
    markdown = printed(cli, *args, "-f", "markdown")
    assert all(f"### {title}" in markdown for title in titles), markdown
    assert markdown.count("\n### ") + markdown.startswith("### ") == len(names)
    for name in names:
        alone = printed(cli, *args, "-f", "csv", "--table", name)
        assert list(csv.reader(io.StringIO(alone))) == sections[name], name
    return sections


def test_a_recipe_run_prints_every_table(cli, ws):
    names = ["stages", "generators", "two-stages"]
    titles = ["recipe run 'demo'", "candidate generators trained on train", "two stages on test"]
    sections = check_every_table(cli, DEMO, names, titles)  # every stage cached: quick
    assert [row[0] for row in sections["stages"][1:]][:2] == ["ingest", "split"]
    assert [row[0] for row in sections["two-stages"][1:]] == [
        "popular",
        "candidates",
        "ranker",
        "lift (ranker / candidates)",
    ]
    shown = check_every_table(cli, ("runs", "show", "demo"), ["manifest", *names], ["recipe run demo", *titles])
    assert shown["generators"] == sections["generators"]


def test_runs_show_prints_the_manifest_and_every_evaluation(cli, ws):
    sections = check_every_table(
        cli,
        ("runs", "show", "demo.als"),
        ["manifest", "evaluation-stages", "evaluation-test"],
        ["run demo.als", "ranker on test", "evaluation on test"],
    )
    assert sections["manifest"][0] == ["field", "value"] and ["model", "als"] in sections["manifest"]
    assert sections["evaluation-test"][0] == ["metric", "@10", "@20"]


def test_runs_compare_keeps_the_paired_intervals(cli, ws):
    sections = check_every_table(
        cli,
        ("runs", "compare", "demo.als", "demo.knn", "demo.pop"),
        ["runs", "differences"],
        ["runs on test", "paired differences per user against demo.als"],
    )
    assert [row[0] for row in sections["runs"][1:]] == ["demo.als", "demo.knn", "demo.pop"]
    assert sections["differences"][0][:3] == ["run", "metric", "difference vs demo.als"]
    assert {(row[0], row[1]) for row in sections["differences"][1:]} == {
        (run, metric) for run in ("demo.knn", "demo.pop") for metric in ("recall@10", "ndcg@10")
    }


def test_evaluate_with_stages_prints_a_table_per_k_and_the_intervals(cli, ws):
    sections = check_every_table(
        cli,
        ("evaluate", "demo.als", "--k", "10,20"),
        ["stages@10", "stages@20", "intervals"],
        ["demo.als on demo/temporal test @10", "demo.als on demo/temporal test @20", "paired bootstrap over users"],
    )
    assert [row[0] for row in sections["stages@10"][1:]][:3] == ["popular", "candidates", "ranker"]
    assert sections["intervals"][0][:2] == ["comparison", "metric"]


def test_table_picks_one_table_in_every_tabular_format(cli, ws):
    args = ("runs", "compare", "demo.als", "demo.knn")
    # without --format (stdout is not a terminal) --table means csv, since json has no tables
    assert printed(cli, *args, "--table", "differences") == printed(cli, *args, "-f", "csv", "--table", "differences")
    markdown = printed(cli, *args, "-f", "markdown", "--table", "differences")
    assert "### paired differences per user" in markdown and "runs on test" not in markdown
    table = printed(cli, *args, "-f", "table", "--table", "runs")
    assert "runs on test" in table and "paired differences" not in table
    # a command with one table takes its name too, and prints it alone as before
    assert printed(cli, "runs", "list", "-f", "csv", "--table", "runs") == printed(cli, "runs", "list", "-f", "csv")


@pytest.mark.parametrize(
    "args, names",
    [
        (("runs", "compare", "demo.als", "demo.knn"), "runs, differences"),
        (("runs", "show", "demo.als"), "manifest, evaluation-stages, evaluation-test"),
        (("runs", "list"), "runs"),
        (("sql", "SELECT 1 AS one"), "result"),
    ],
)
def test_an_unknown_table_is_a_usage_error_that_lists_the_tables(cli, ws, args, names):
    result = cli(*args, "-f", "csv", "--table", "nope")
    assert result.exit_code == 2 and result.stdout == ""
    assert f"no table 'nope'; its tables: {names}" in result.stderr


def test_table_with_json_is_a_usage_error(cli, ws):
    result = cli("runs", "show", "demo.als", "-f", "json", "--table", "manifest")
    assert result.exit_code == 2 and result.stdout == ""
    assert "json prints the whole document" in result.stderr


def test_every_command_that_prints_data_takes_table():
    for path, command in all_commands():
        options = {name for param in command.params for name in getattr(param, "opts", [])}
        assert {"--format", "--table"} <= options, f"`recsys {' '.join(path)}` lacks --table"
