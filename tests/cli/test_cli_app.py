"""The command line as a whole: entry points, global options, formats, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from recsys_cli import __version__
from recsys_cli.cli import app
from tests.support import all_commands


def test_every_command_has_help_text():
    commands = all_commands()
    assert len(commands) >= 7
    for path, command in commands:
        assert command.help and len(command.help) > 20, f"`recsys {' '.join(path)}` lacks help text"
        for param in command.params:
            if param.param_type_name == "option" and param.name not in ("help",):
                assert param.help, f"`recsys {' '.join(path)} --{param.name}` lacks help text"


def test_data_commands_take_format():
    for path, command in all_commands():
        names = {p.name for p in command.params}
        assert "fmt" in names, f"`recsys {' '.join(path)}` has no --format"


def test_version_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "recsys_cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == f"recsys {__version__}"


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; from typer.testing import CliRunner; from recsys_cli.cli import app;"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0;"
        "heavy = ('duckdb', 'implicit', 'lightgbm', 'annoy', 'numpy', 'pyarrow', 'surprise');"
        "heavy = [m for m in heavy if m in sys.modules];"
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_default_format_is_json_when_stdout_is_not_a_terminal(cli, tmp_path):
    (tmp_path / "r.csv").write_text("u,i\n1,2\n")
    result = cli("ingest", "csv", tmp_path / "r.csv", "--name", "d", "--user-col", "u", "--item-col", "i")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["interactions"] == 1


def test_usage_error_exits_2(cli):
    result = cli("split")
    assert result.exit_code == 2


def test_internal_error_exits_3_without_traceback_unless_debug(cli, tmp_path, monkeypatch):
    import recsys_cli.data.query as query

    def broken(*args, **kwargs):
        raise ZeroDivisionError("boom")

    (tmp_path / "r.csv").write_text("u,i\n1,2\n")
    cli("ingest", "csv", tmp_path / "r.csv", "--name", "d", "--user-col", "u", "--item-col", "i")
    monkeypatch.setattr(query, "open_views", broken)
    result = cli("sql", "SELECT 1")
    assert result.exit_code == 3
    assert "internal error: ZeroDivisionError: boom" in result.stderr
    assert "Traceback" not in result.stderr
    monkeypatch.setenv("RECSYS_DEBUG", "1")
    result = cli("sql", "SELECT 1")
    assert result.exit_code == 3 and "Traceback" in result.stderr


def test_workspace_from_environment(tmp_path):
    env = {**os.environ, "RECSYS_WORKSPACE": str(tmp_path / "envws"), "NO_COLOR": "1"}
    (tmp_path / "r.csv").write_text("u,i\n1,2\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "recsys_cli",
            "ingest",
            "csv",
            str(tmp_path / "r.csv"),
            "--name",
            "d",
            "--user-col",
            "u",
            "--item-col",
            "i",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "envws" / "catalog.duckdb").exists()


def test_quiet_prints_only_data(cli, tmp_path, workspace_dir):
    from typer.testing import CliRunner

    (tmp_path / "r.csv").write_text("u,i\n1,2\n")
    result = CliRunner().invoke(
        app,
        [
            "-q",
            "--workspace",
            str(workspace_dir),
            "ingest",
            "csv",
            str(tmp_path / "r.csv"),
            "--name",
            "d",
            "--user-col",
            "u",
            "--item-col",
            "i",
        ],
    )
    assert result.exit_code == 0
    assert result.stderr == ""


def test_no_color_output_has_no_escape_codes(cli, tmp_path):
    (tmp_path / "r.csv").write_text("u,i\n1,2\n")
    result = cli(
        "ingest", "csv", tmp_path / "r.csv", "--name", "d", "--user-col", "u", "--item-col", "i", "-f", "table"
    )
    assert "\x1b[" not in result.stdout + result.stderr
