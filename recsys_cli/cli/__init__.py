"""The ``recsys`` command: global options and the command groups.

One module per command group (``datasets.py``, ``ingest.py`` ...); each
command parses its options, makes one library call and renders the result.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from recsys_cli.cli.application import Application, QuietOption, VerboseOption
from recsys_cli.settings import DEFAULT_WORKSPACE, ENV_WORKSPACE
from recsys_cli.version import __version__

app = typer.Typer(
    name="recsys",
    help="A workbench for two-stage recommender systems: ingest, split, train, index, rank, evaluate.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"recsys {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    workspace: Annotated[
        Path,
        typer.Option(
            "--workspace",
            "-w",
            envvar=ENV_WORKSPACE,
            help="Workspace folder (catalog and artifacts).",
            show_default=True,
        ),
    ] = DEFAULT_WORKSPACE,
    quiet: QuietOption = False,
    verbose: VerboseOption = False,
    version: Annotated[
        Optional[bool],
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """recsys: the two-stage recommender loop, reproducible from a shell."""
    ctx.obj = Application(workspace, verbosity=-1 if quiet else (1 if verbose else 0))


def _register() -> None:
    from recsys_cli.cli import (
        cache,
        datasets,
        demo,
        evaluate,
        features,
        index,
        ingest,
        recommend,
        run_recipe,
        runs,
        split,
        sql,
        train,
    )

    app.add_typer(datasets.app, name="datasets")
    app.add_typer(ingest.app, name="ingest")
    app.command("split")(split.split_command)
    app.add_typer(train.app, name="train")
    app.command("evaluate")(evaluate.evaluate_command)
    app.add_typer(runs.app, name="runs")
    app.add_typer(features.app, name="features")
    app.add_typer(index.app, name="index")
    app.command("recommend")(recommend.recommend_command)
    app.command("candidates")(recommend.candidates_command)
    app.command("sql")(sql.sql_command)
    app.command("demo")(demo.demo_command)
    app.command("run")(run_recipe.run_command)
    app.add_typer(cache.app, name="cache")


_register()


EXIT_TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process SIGTERM ended


class Terminated(BaseException):
    """Raised in the main thread when SIGTERM arrives. A BaseException, like KeyboardInterrupt, so
    nothing that catches ``Exception`` swallows it, while every ``finally`` and context manager on
    the way out runs: staging and scratch folders are removed and locks released."""


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
    raise Terminated


def main() -> None:
    """The ``recsys`` entry point: SIGTERM is handled like Ctrl-C (one line on stderr, cleanup, exit 143)."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        app()
    except Terminated:
        print("terminated", file=sys.stderr)
        sys.exit(EXIT_TERMINATED)
    finally:
        signal.signal(signal.SIGTERM, previous)
