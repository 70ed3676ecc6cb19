"""The docs stay true: README's commands are what CI runs, and every command is documented."""

from __future__ import annotations

from tests.support import REPO, all_commands

TEST_COMMAND = ".venv/bin/python -m pytest -q"
INSTALL_COMMAND = 'python3 -m venv .venv && .venv/bin/pip install -e ".[test]" && .venv/bin/recsys demo'


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    assert INSTALL_COMMAND in readme
    assert TEST_COMMAND in readme
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert TEST_COMMAND in ci_lines


def test_every_command_is_in_the_cli_reference():
    reference = (REPO / "docs" / "cli.md").read_text()
    for path, _command in all_commands():
        assert f"recsys {' '.join(path)}" in reference, f"docs/cli.md does not mention `recsys {' '.join(path)}`"


def test_every_dataset_card_is_in_the_datasets_doc():
    doc = (REPO / "docs" / "datasets.md").read_text()
    for card in sorted((REPO / "datasets").glob("*.toml")):
        assert f"`{card.stem}`" in doc, f"docs/datasets.md does not mention {card.stem}"
