"""`recsys ingest`: a dataset card (`recsys ingest NAME --source ...`), any file, or synthetic data."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from recsys_cli.cli.application import FormatOption, get_app, handles_errors
from recsys_cli.cli.output import Result, Table


class _CardByDefault(TyperGroup):
    """`recsys ingest ml-100k ...` means `recsys ingest card ml-100k ...`."""

    def parse_args(self, ctx, args):
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["card", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_CardByDefault,
    help="Turn a dataset into a workspace dataset: `recsys ingest NAME --source PATH_OR_URL` for a "
    "dataset card (see `recsys datasets list`), `ingest csv` for any file, `ingest synthetic` for generated data.",
    no_args_is_help=True,
)


class BadLines(str, Enum):
    error = "error"
    skip = "skip"


class Encoding(str, Enum):
    # the encodings DuckDB's CSV reader knows without an extension
    utf_8 = "utf-8"
    latin_1 = "latin-1"
    utf_16 = "utf-16"


ForceOption = Annotated[
    bool,
    typer.Option(
        "--force",
        help="Replace an existing dataset of this name if no split or run is built on it "
        "(data identical to it is reused, whatever the source).",
    ),
]
ReplaceOption = Annotated[
    bool,
    typer.Option(
        "--replace",
        help="Replace an existing dataset of this name and delete the splits and runs built on it "
        "(data identical to it is reused and deletes nothing).",
    ),
]

OnBadLines = Annotated[
    BadLines,
    typer.Option(
        "--on-bad-lines",
        help="What to do with a malformed line: error (stop and name it) or skip (drop and count).",
        case_sensitive=False,
    ),
]


def parse_separator(value: Optional[str]) -> Optional[str]:
    """``--sep`` as typed in a shell: ``\\t`` or ``tab`` is a tab, ``\\\\`` a backslash, anything else itself."""
    if value is None:
        return None
    if value == "":
        raise typer.BadParameter("the separator is empty", param_hint="'--sep'")
    if value.lower() == "tab":
        return "\t"
    return re.sub(r"\\([\\t])", lambda m: "\t" if m.group(1) == "t" else "\\", value)


def ingest_result(result, what: str) -> Result:
    record = result.dataset
    stats = record.stats
    document = {
        "dataset": record.name,
        "card": record.card,
        "source": record.source,
        "source_sha256": record.source_sha256,
        "path": record.path,
        "interactions": record.n_interactions,
        "users": record.n_users,
        "items": record.n_items,
        "catalog_items": record.n_catalog_items,
        "density": stats.get("density"),
        "bad_lines_skipped": result.bad_lines_skipped,
        "replaced": result.replaced,
        "reused": result.reused,
        "dropped_splits": result.dropped_splits,
        "dropped_runs": result.dropped_runs,
    }
    table = Table(
        ["dataset", "interactions", "users", "items", "catalogue items", "density", "bad lines skipped"],
        [
            [
                record.name,
                record.n_interactions,
                record.n_users,
                record.n_items,
                record.n_catalog_items,
                stats.get("density"),
                result.bad_lines_skipped,
            ]
        ],
        title=f"reused {record.name} (unchanged)" if result.reused else f"ingested {what}",
    )
    return Result(document, [table])


def _report(ctx: typer.Context, result, what: str, fmt) -> None:
    application = get_app(ctx)
    for note in result.notes:
        application.warn(note) if "skipped" in note or note.startswith("ignored") else application.info(note)
    if result.reused:
        application.info(f"dataset '{result.dataset.name}' is unchanged: reused")
    if result.replaced:
        application.warn(f"replaced the existing dataset '{result.dataset.name}'")
    if result.dropped_splits:
        application.warn(f"dropped its splits, which were made from the old data: {', '.join(result.dropped_splits)}")
    if result.dropped_runs:
        application.warn(f"dropped the runs trained on the old data: {', '.join(result.dropped_runs)}")
    application.emit(ingest_result(result, what), fmt)


@app.command("card")
@handles_errors
def card_command(
    ctx: typer.Context,
    card: Annotated[str, typer.Argument(help="Dataset card name, e.g. ml-100k (see `recsys datasets list`).")],
    source: Annotated[
        Optional[str],
        typer.Option(
            "--source",
            "-s",
            help="The release's zip, its extracted folder, or a URL (http(s):// or file://). "
            "Default: the card's official URL.",
        ),
    ] = None,
    name: Annotated[
        Optional[str], typer.Option("--name", help="Register under this name (default: the card's).")
    ] = None,
    on_bad_lines: OnBadLines = BadLines.error,
    allow_count_mismatch: Annotated[
        bool,
        typer.Option(
            "--allow-count-mismatch",
            help="Accept a release whose number of interactions differs from the card's published count "
            "(a partial or modified copy); it is then only a warning.",
        ),
    ] = False,
    force: ForceOption = False,
    replace: ReplaceOption = False,
    fmt: FormatOption = None,
) -> None:
    """Ingest a public dataset described by a card in datasets/ (MovieLens releases)."""
    from recsys_cli.datasets.ingest import ingest_card

    application = get_app(ctx)
    result = ingest_card(
        application.workspace,
        card,
        source,
        dataset_name=name,
        force=force,
        replace=replace,
        on_bad_lines=on_bad_lines.value,
        allow_count_mismatch=allow_count_mismatch,
        reporter=application.reporter(),
    )
    _report(ctx, result, card, fmt)


@app.command("csv")
@handles_errors
def csv_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV, TSV or Parquet file of interactions.")],
    name: Annotated[str, typer.Option("--name", help="Name of the dataset to create.")],
    user_col: Annotated[str, typer.Option("--user-col", help="Column with user ids (name or 1-based position).")],
    item_col: Annotated[str, typer.Option("--item-col", help="Column with item ids (name or 1-based position).")],
    rating_col: Annotated[
        Optional[str], typer.Option("--rating-col", help="Column with ratings or counts (default: every row is 1).")
    ] = None,
    timestamp_col: Annotated[
        Optional[str],
        typer.Option("--timestamp-col", help="Column with epoch seconds or a date/time (default: none)."),
    ] = None,
    sep: Annotated[
        Optional[str],
        typer.Option(
            "--sep",
            help="Field separator, e.g. ',' '\\t' (or tab) '::' '|' (default: detected).",
            callback=parse_separator,
        ),
    ] = None,
    header: Annotated[
        Optional[bool],
        typer.Option("--header/--no-header", help="Whether the first line names the columns (default: detected)."),
    ] = None,
    encoding: Annotated[
        Encoding, typer.Option("--encoding", help="Text encoding of a CSV file.", case_sensitive=False)
    ] = Encoding.utf_8,
    on_bad_lines: OnBadLines = BadLines.error,
    force: ForceOption = False,
    replace: ReplaceOption = False,
    fmt: FormatOption = None,
) -> None:
    """Ingest any interaction file (string or numeric ids, with or without a header)."""
    from recsys_cli.datasets.ingest import ingest_file
    from recsys_cli.datasets.interaction_file import ColumnMapping, CsvDialect

    application = get_app(ctx)
    result = ingest_file(
        application.workspace,
        path,
        name,
        ColumnMapping(user_col, item_col, rating_col, timestamp_col),
        dialect=CsvDialect(sep=sep, header=header, encoding=encoding.value),
        on_bad_lines=on_bad_lines.value,
        force=force,
        replace=replace,
        reporter=application.reporter(),
    )
    _report(ctx, result, path.name, fmt)


@app.command("synthetic")
@handles_errors
def synthetic_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Name of the dataset to create.")] = "synthetic",
    users: Annotated[int, typer.Option("--users", min=2, help="Number of users.")] = 2000,
    items: Annotated[int, typer.Option("--items", min=2, help="Number of items.")] = 1000,
    interactions: Annotated[int, typer.Option("--interactions", min=1, help="Number of interactions.")] = 100_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed gives the same data.")] = 42,
    force: ForceOption = False,
    replace: ReplaceOption = False,
    fmt: FormatOption = None,
) -> None:
    """Generate a seeded dataset with real structure (tastes, popularity, genres, drift)."""
    from recsys_cli.datasets.ingest import ingest_synthetic
    from recsys_cli.datasets.synthetic import SyntheticConfig

    application = get_app(ctx)
    config = SyntheticConfig(users=users, items=items, interactions=interactions, seed=seed)
    result = ingest_synthetic(
        application.workspace, name, config, force=force, replace=replace, reporter=application.reporter()
    )
    _report(ctx, result, f"synthetic (seed {seed})", fmt)
