"""The application object every command receives, and the CLI's shared options.

``Application`` holds the global options (workspace, verbosity, colour) and
the two consoles: data to stdout, everything for people (progress, notices,
errors) to stderr, so ``recsys ... --format json | jq`` always works.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from recsys_cli.cli.output import OutputFormat, Result, render, resolve_format
from recsys_cli.data.sqltext import first_line
from recsys_cli.errors import EXIT_INTERNAL, RecsysError, UnknownNameError, WorkspaceError
from recsys_cli.reporting import Reporter, Task
from recsys_cli.settings import debug_enabled

F = TypeVar("F", bound=Callable[..., Any])


class Application:
    def __init__(self, workspace: Path, verbosity: int = 0):
        from rich.console import Console

        self.workspace_root = workspace
        self.verbosity = verbosity
        self.table: str | None = None  # --table NAME: print only that table (set by handles_errors)
        no_color = bool(os.environ.get("NO_COLOR"))
        self.err = Console(stderr=True, no_color=no_color, highlight=False, soft_wrap=True)
        # Piped tables (-f table > file) would be cut at Rich's default 80 columns.
        width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
        self.out = Console(no_color=no_color, highlight=False, soft_wrap=False, width=width)

    @property
    def workspace(self):
        from recsys_cli.data.workspace import Workspace

        return Workspace(self.workspace_root)

    # -- messages for people (stderr) ------------------------------------------------
    def info(self, message: str) -> None:
        if self.verbosity >= 0:
            self.err.print(message, markup=False)

    def success(self, message: str) -> None:
        if self.verbosity >= 0:
            self.err.print(f"[green]ok[/green] {_escape(message)}")

    def warn(self, message: str) -> None:
        # -q silences progress and chatter, never a warning: a quiet script must still learn that
        # something was replaced, cut short or guessed
        self.err.print(f"[yellow]warning:[/yellow] {_escape(message)}")

    def debug(self, message: str) -> None:
        if self.verbosity > 0:
            self.err.print(f"[dim]{_escape(message)}[/dim]")

    def error(self, error: RecsysError) -> None:
        text = f"[bold red]error:[/bold red] {_escape(error.message)}"
        if error.hint:
            text += f" [dim](hint: {_escape(error.hint)})[/dim]"
        self.err.print(text, soft_wrap=True)

    # -- data (stdout) ---------------------------------------------------------------------
    def output_format(self, fmt: OutputFormat | None) -> OutputFormat:
        """What ``emit`` prints in: --format, else table on a terminal and json otherwise; with
        --table (one table, which JSON does not have), csv instead of json."""
        resolved = resolve_format(fmt)
        return OutputFormat.csv if self.table is not None and resolved is OutputFormat.json else resolved

    def emit(self, result: Result, fmt: OutputFormat | None) -> None:
        if self.table is not None:
            chosen = result.only(self.table)
            if chosen is None:
                raise typer.BadParameter(
                    f"this output has no table '{self.table}'; its tables: {', '.join(result.table_names()) or 'none'}",
                    param_hint="'--table'",
                )
            result = chosen
        render(result, self.output_format(fmt), self.out)

    def reporter(self) -> Reporter:
        return _RichReporter(self)


class _RichReporter(Reporter):
    def __init__(self, app: Application):
        self.app = app

    def info(self, message: str) -> None:
        self.app.info(message)

    def warn(self, message: str) -> None:
        self.app.warn(message)

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Task]:
        if self.app.verbosity < 0:
            yield Task()
            return
        if not self.app.err.is_terminal:
            self.app.info(f"{description} ...")
            yield Task()
            return
        from rich.progress import BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), BarColumn()]
        if total and total > 1e5:  # byte counts: show them as sizes
            columns.append(DownloadColumn())
        columns.append(TimeElapsedColumn())
        with Progress(*columns, console=self.app.err, transient=True) as progress:
            task_id = progress.add_task(description, total=total)
            yield _RichTask(progress, task_id)
        self.app.debug(f"done: {description}")


class _RichTask(Task):
    def __init__(self, progress, task_id):
        self.progress = progress
        self.task_id = task_id

    def advance(self, amount: float = 1) -> None:
        self.progress.advance(self.task_id, amount)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def get_app(ctx: typer.Context) -> Application:
    root = ctx.find_root()
    if not isinstance(root.obj, Application):  # called without the root callback (tests of a sub-app)
        from recsys_cli.settings import default_workspace

        root.obj = Application(default_workspace())
    return root.obj


def workspace_named(ctx: typer.Context) -> bool:
    """Whether the workspace was named (--workspace before or after the command, or RECSYS_WORKSPACE)
    rather than the default."""
    # by name: Typer carries its own copy of click, whose ParameterSource is another enum
    named = ("COMMANDLINE", "ENVIRONMENT")
    after_command = ctx.get_parameter_source(_GLOBAL_WORKSPACE)
    return getattr(after_command, "name", None) in named or (
        getattr(ctx.find_root().get_parameter_source("workspace"), "name", None) in named
    )


def _apply_global_options(app: Application, workspace: Path | None, quiet: bool, verbose: bool) -> None:
    """The global options given after the command: the workspace overrides the one before it (and
    RECSYS_WORKSPACE); -q wins over -v wherever each was given, as it does before the command."""
    if workspace is not None:
        app.workspace_root = workspace
    if quiet:
        app.verbosity = -1
    elif verbose and app.verbosity >= 0:
        app.verbosity = 1


def handles_errors(func: F) -> F:
    """Translate library errors into one red line and an exit code; no tracebacks.

    Every command wears it, so it also gives each command that prints data (one with a
    ``FormatOption`` parameter) the ``--table`` option (``TableOption``), declared once here: the
    wrapper takes it and ``Application.emit`` prints only that table. Likewise every command gets
    the global options ``--workspace``, ``--quiet`` and ``--verbose`` after its name, applied onto
    the Application before the command runs.
    """
    signature = inspect.signature(func, eval_str=True)
    if "ctx" not in signature.parameters:  # the global options after the command are applied through it
        raise TypeError(f"command {func.__name__} must take ctx: typer.Context")
    format_param = next((name for name, p in signature.parameters.items() if p.annotation is FormatOption), None)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        table = kwargs.pop(_TABLE_PARAM, None)
        global_options = [kwargs.pop(name, None) for name in _GLOBAL_PARAMS]
        ctx = kwargs.get("ctx") or next((a for a in args if isinstance(a, typer.Context)), None)
        app = get_app(ctx) if ctx is not None else None
        if app is not None:
            _apply_global_options(app, *global_options)
        if table is not None:
            if kwargs.get(format_param or "") is OutputFormat.json:
                raise typer.BadParameter(
                    "--table picks one table of the table, csv or markdown output; json prints the whole document",
                    param_hint="'--table'",
                )
            if app is not None:
                app.table = table
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter):
            raise
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise typer.Exit(130) from None
        except Exception as error:
            if debug_enabled():
                traceback.print_exc()
            known = _not_ingested(error) if isinstance(error, RecsysError) else _environment_error(error)
            if known is not None:
                (app.error(known) if app else print(f"error: {known}", file=sys.stderr))
                raise typer.Exit(known.exit_code) from None
            # anything else is a bug, not the user's fault
            message = f"internal error: {type(error).__name__}: {first_line(error)}"
            hint = "rerun with RECSYS_DEBUG=1 for the traceback, and please report it"
            if app:
                app.err.print(f"[bold red]{_escape(message)}[/bold red] [dim](hint: {hint})[/dim]")
            else:
                print(f"{message} (hint: {hint})", file=sys.stderr)
            raise typer.Exit(EXIT_INTERNAL) from None

    # Typer reads the options from the signature
    added = [(_TABLE_PARAM, None, TableOption)] if format_param is not None else []
    added += [
        (_GLOBAL_WORKSPACE, None, CommandWorkspaceOption),
        (_GLOBAL_QUIET, False, QuietOption),
        (_GLOBAL_VERBOSE, False, VerboseOption),
    ]
    parameters = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default, annotation=annotation)
        for name, default, annotation in added
    ]
    wrapper.__signature__ = signature.replace(parameters=[*signature.parameters.values(), *parameters])  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _not_ingested(error: RecsysError) -> RecsysError:
    """An unknown dataset that is a card's name: the user skipped `recsys ingest`, so say so and give
    the command, instead of suggesting another dataset's name (every command that needs one)."""
    # exactly UnknownNameError: a subclass (a dataset removed meanwhile) says something else
    if type(error) is not UnknownNameError or error.kind != "dataset":
        return error
    from recsys_cli.datasets.cards import card_names

    try:
        cards = card_names()
    except RecsysError:  # no cards installed: the original error says enough
        return error
    if error.name not in cards:
        return error
    return RecsysError(
        f"dataset '{error.name}' is a dataset card that is not ingested in this workspace",
        f"ingest it first: recsys ingest {error.name}, or recsys ingest {error.name} --source PATH from a local copy",
    )


def _environment_error(error: Exception) -> RecsysError | None:
    """Disk full, permission denied, a path that is a file: the machine's problem, not a bug."""
    if isinstance(error, OSError):
        where = f": {error.filename}" if error.filename else ""
        return WorkspaceError(f"{error.strerror or error}{where}")
    kind = type(error)
    if kind.__module__.split(".")[0] in ("duckdb", "_duckdb") and kind.__name__ in (
        "IOException",
        "PermissionException",
    ):
        return WorkspaceError(first_line(error))
    return None


# -- options shared by many commands ------------------------------------------------------
FormatOption = Annotated[
    Optional[OutputFormat],
    typer.Option(
        "--format",
        "-f",
        help="Output format: table, json, csv or markdown. Default: table on a terminal, json otherwise.",
        case_sensitive=False,
    ),
]
TableOption = Annotated[
    Optional[str],
    typer.Option(
        "--table",
        help="Print only this table (csv names each one on a '# table: NAME' line; a wrong name lists them): "
        "as plain CSV, or as a table or Markdown with --format table|markdown.",
        show_default=False,
    ),
]
"""Not declared by commands: ``handles_errors`` adds it to every command that takes ``FormatOption``."""
_TABLE_PARAM = "output_table"
ForceOption = Annotated[bool, typer.Option("--force", help="Replace an existing entry of the same name.")]


def k_option(help: str, **settings: Any) -> Any:
    """The cut-off option of every command that takes one: ``-k`` and ``--k`` alike (the K's type and
    default differ by command, so each declares its own ``Annotated``)."""
    return typer.Option("-k", "--k", help=help, **settings)


# The global options: the root callback declares them before the command, and ``handles_errors`` adds
# them to every command too, so `recsys runs list -w WS` works like `recsys -w WS runs list`.
QuietOption = Annotated[
    bool, typer.Option("--quiet", "-q", help="Print only data, warnings and errors (no progress or notices).")
]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v", help="Print more detail on stderr.")]
CommandWorkspaceOption = Annotated[
    Optional[Path],
    typer.Option(
        "--workspace",
        "-w",
        # no envvar here: RECSYS_WORKSPACE is read once, before the command, and this overrides it
        help="Workspace folder (catalog and artifacts); the same as before the command.",
        show_default=False,
    ),
]
_GLOBAL_WORKSPACE, _GLOBAL_QUIET, _GLOBAL_VERBOSE = "global_workspace", "global_quiet", "global_verbose"
_GLOBAL_PARAMS = (_GLOBAL_WORKSPACE, _GLOBAL_QUIET, _GLOBAL_VERBOSE)

__all__ = [
    "Application",
    "get_app",
    "handles_errors",
    "workspace_named",
    "FormatOption",
    "TableOption",
    "ForceOption",
    "k_option",
    "QuietOption",
    "VerboseOption",
]


def choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str Enum of ``values`` for a Typer option (members named with ``_`` for ``-``), so every choice
    list comes from the vocabulary that owns it."""
    return Enum(name, {value.replace("-", "_"): value for value in values}, type=str)
