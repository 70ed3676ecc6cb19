"""Commands that only read a workspace refuse a path that holds none (a missing folder, a file, a folder
without catalog.duckdb) instead of reading it as an empty workspace; commands that write still create one."""

from __future__ import annotations

import json

import pytest

from tests.support import assert_refused, run_json

READING_COMMANDS = [
    ("datasets", "list"),
    ("datasets", "show", "ml-100k"),
    ("runs", "list"),
    ("runs", "show", "als"),
    ("runs", "compare", "als", "pop"),
    ("sql", "SELECT 1"),
    ("cache", "list"),
]

NOT_A_WORKSPACE = {
    "missing": "the folder does not exist",
    "file": "it is a file",
    "empty folder": "the folder has no catalog.duckdb",
}


@pytest.mark.parametrize("command", READING_COMMANDS, ids=" ".join)
@pytest.mark.parametrize("kind", NOT_A_WORKSPACE)
def test_a_reading_command_refuses_a_path_that_is_no_workspace(cli, workspace_dir, command, kind):
    if kind == "file":
        workspace_dir.write_text("not a workspace\n")
    elif kind == "empty folder":
        workspace_dir.mkdir()
    fragments = [f"no recsys workspace at {workspace_dir}: {NOT_A_WORKSPACE[kind]}", "--workspace", "recsys ingest"]
    assert_refused(cli, workspace_dir, [*command, "--format", "json"], fragments)
    assert workspace_dir.exists() == (kind != "missing")  # nothing created
    if kind == "file":
        assert workspace_dir.read_text() == "not a workspace\n"


def test_a_workspace_named_in_the_environment_is_checked_too(cli_default_workspace, monkeypatch, tmp_path):
    monkeypatch.setenv("RECSYS_WORKSPACE", str(tmp_path / "typo"))
    for command in (("runs", "list"), ("datasets", "list")):
        result = cli_default_workspace(*command, "--format", "json")
        assert result.exit_code == 1, (command, result.stdout)
        assert f"no recsys workspace at {tmp_path / 'typo'}" in result.stderr and result.stdout == ""
    assert not (tmp_path / "typo").exists()


def test_writing_commands_still_create_the_workspace(cli, workspace_dir):
    assert cli("runs", "list").exit_code == 1
    run_json(cli, "ingest", "synthetic", "--name", "syn", "--users", "20", "--items", "15", "--interactions", "200")
    assert (workspace_dir / "catalog.duckdb").is_file()
    assert run_json(cli, "runs", "list") == []
    assert run_json(cli, "cache", "list") == []
    assert run_json(cli, "sql", "SELECT count(*) AS n FROM interactions") == [{"n": 200}]


def test_before_any_workspace_the_default_one_shows_the_cards_and_nothing_else(cli_default_workspace, tmp_path):
    # No --workspace and no RECSYS_WORKSPACE: a new user's first commands list the cards they can ingest
    # (the default folder is created by the first ingest); what needs a workspace says there is none.
    listed = cli_default_workspace("datasets", "list", "--format", "json")
    assert listed.exit_code == 0, listed.stderr
    assert {"ml-100k", "ml-1m"} <= {d["name"] for d in json.loads(listed.stdout)["datasets"]}
    shown = cli_default_workspace("datasets", "show", "ml-100k", "--format", "json")
    assert shown.exit_code == 0 and '"dataset": null' in shown.stdout
    for command in (("runs", "list"), ("sql", "SELECT 1"), ("cache", "list")):
        result = cli_default_workspace(*command)
        assert result.exit_code == 1, command
        assert f"no recsys workspace at {tmp_path / 'recsys-workspace'}" in result.stderr
    assert not (tmp_path / "recsys-workspace").exists()
    # a default path that exists but is no workspace is an error for the datasets commands too
    (tmp_path / "recsys-workspace").write_text("")
    result = cli_default_workspace("datasets", "list")
    assert result.exit_code == 1 and "it is a file" in result.stderr
