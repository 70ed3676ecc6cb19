"""`recsys datasets list|show|remove`: the dataset cards and what the workspace holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Annotated, Any, TypeVar

import typer

from recsys_cli.cli.application import FormatOption, get_app, handles_errors, workspace_named
from recsys_cli.cli.output import OutputFormat, Result, Table, format_cell

T = TypeVar("T")

app = typer.Typer(
    help="Dataset cards (datasets/*.toml) and the datasets ingested in the workspace.", no_args_is_help=True
)

_SEPARATORS = {"\t": "TAB", ",": "comma", ";": "semicolon", " ": "space"}


@app.command("list")
@handles_errors
def list_command(ctx: typer.Context, fmt: FormatOption = None) -> None:
    """List the dataset cards and the ingested datasets.

    Every card (with its published size, whether it has a checksum, and the
    datasets ingested from it), then the workspace's datasets that have no
    card (from `ingest csv` or `ingest synthetic`).
    """
    from recsys_cli.datasets.cards import list_cards

    application = get_app(ctx)
    cards = list_cards()
    records = _read_catalog(ctx, lambda catalog: catalog.datasets(), [])
    known = {card.name for card in cards}
    entries: list[dict[str, Any]] = []
    for card in cards:
        entries.append(
            {
                "name": card.name,
                "kind": "card",
                "title": card.title,
                "interactions": card.counts.get("interactions"),
                "checksum": "sha256" if card.sha256 else ("md5" if card.md5 else None),
                "ingested_as": [r.name for r in records if r.card == card.name],
                "source": card.url,
            }
        )
    for record in records:
        if record.card not in known:
            entries.append(
                {
                    "name": record.name,
                    "kind": "dataset",
                    "title": None,
                    "interactions": record.n_interactions,
                    "checksum": None,
                    "ingested_as": [record.name],
                    "source": record.source,
                }
            )
    table = Table(
        ["name", "title", "interactions", "checksum", "ingested as"],
        [
            [
                e["name"],
                e["title"] or f"no card (source: {e['source'] or '?'})",
                e["interactions"],
                e["checksum"] or "none",
                ", ".join(e["ingested_as"]) or "-",
            ]
            for e in entries
        ],
        title="datasets",
        name="datasets",
    )
    application.emit(Result({"datasets": entries}, [table]), fmt)


@app.command("show")
@handles_errors
def show_command(
    ctx: typer.Context,
    name: Annotated[
        str, typer.Argument(help="A card name (see `recsys datasets list`) or an ingested dataset's name.")
    ],
    fmt: FormatOption = None,
) -> None:
    """Show a dataset card and, once ingested, its statistics.

    The card: URL, checksum, file formats and column meanings, licence and
    citation. The dataset: counts, density, rating histogram, time span and
    splits (with --format csv as raw numbers; --table dataset prints only them).
    """
    from recsys_cli.datasets.cards import card_names, load_card
    from recsys_cli.errors import UnknownNameError

    application = get_app(ctx)

    def read(catalog):
        record = catalog.dataset(name)
        return record, catalog.splits(name) if record else [], catalog.dataset_names()

    record, splits, dataset_names = _read_catalog(ctx, read, (None, [], []))
    cards = card_names()
    if record is not None:  # a dataset shows the card it was made from (none for csv/synthetic)
        card_name = record.card if record.card in cards else None
    else:
        card_name = name if name in cards else None
    if card_name is None and record is None:
        raise UnknownNameError("dataset", name, set(cards) | set(dataset_names))
    card = load_card(card_name) if card_name else None
    document = {
        "name": name,
        "card": card.to_dict() if card else None,
        "dataset": _dataset_document(record) if record else None,
        "splits": [_split_document(s) for s in splits],
    }
    tables: list[Table] = []
    if card:
        tables += _card_tables(card)
    if record:
        # csv: the statistics as raw numbers, for scripts (1234, not "1,234")
        tables.append(_dataset_table(document["dataset"], raw=application.output_format(fmt) is OutputFormat.csv))
        if splits:
            tables.append(
                Table(
                    ["split", "strategy", "created", "parameters"],
                    [[s["name"], s["strategy"], s["created_at"], s["params"]] for s in document["splits"]],
                    title=f"splits of {name}",
                    name="splits",
                )
            )
    elif card:
        tables.append(
            Table(
                ["dataset"],
                [[f"not ingested: run `recsys ingest {card.name} --source PATH_OR_URL`"]],
                title="workspace",
                name="workspace",
            )
        )
    application.emit(Result(document, tables), fmt)


@app.command("remove")
@handles_errors
def remove_command(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name of an ingested dataset.")],
    fmt: FormatOption = None,
) -> None:
    """Remove an ingested dataset and its splits from the workspace (no prompt: scripts use it)."""
    from recsys_cli.datasets.ingest import remove_dataset

    application = get_app(ctx)
    result = remove_dataset(application.workspace, name, reporter=application.reporter())
    document = {
        "removed": name,
        "dropped_splits": result.dropped_splits,
        "dropped_runs": result.dropped_runs,
        "path": result.dataset.path,
    }
    table = Table(
        ["removed", "splits dropped", "runs dropped", "path"],
        [[name, ", ".join(result.dropped_splits) or "-", ", ".join(result.dropped_runs) or "-", result.dataset.path]],
        name="removed",
    )
    application.emit(Result(document, [table]), fmt)


def _read_catalog(ctx: typer.Context, read: Callable[[Any], T], before_any_workspace: T) -> T:
    """``read`` of the workspace's catalog; ``before_any_workspace`` when no workspace was named
    (--workspace, RECSYS_WORKSPACE) and the default folder does not exist yet, so that a new user's
    first commands show the cards. A named path that is not a workspace is an error, as for every reader."""
    application = get_app(ctx)
    if not workspace_named(ctx) and not application.workspace_root.exists():
        return before_any_workspace
    with application.workspace.catalog() as catalog:
        return read(catalog)


# -- documents ------------------------------------------------------------------------------
def _iso_date(ts: int | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc).date().isoformat()


def _dataset_document(record) -> dict[str, Any]:
    stats = record.stats
    timed = stats.get("has_timestamps")
    return {
        "name": record.name,
        "card": record.card,
        "source": record.source,
        "source_sha256": record.source_sha256,
        "path": record.path,
        "created_at": record.created_at.isoformat() if record.created_at else None,
        "recsys_version": record.recsys_version,
        "interactions": record.n_interactions,
        "users": record.n_users,
        "items": record.n_items,
        "catalog_items": record.n_catalog_items,
        "density": stats.get("density"),
        "rating_histogram": stats.get("rating_histogram", {}),
        "rating_min": stats.get("rating_min"),
        "rating_max": stats.get("rating_max"),
        "time_span": {"from": _iso_date(stats.get("ts_min")), "to": _iso_date(stats.get("ts_max"))} if timed else None,
        "bad_lines_skipped": stats.get("bad_lines_skipped", 0),
    }


def _split_document(split) -> dict[str, Any]:
    return {
        "name": split.name,
        "strategy": split.strategy,
        "params": split.params,
        "summary": split.summary,
        "path": split.path,
        "created_at": split.created_at.isoformat() if split.created_at else None,
    }


# -- tables ---------------------------------------------------------------------------------------
def _describe_format(spec) -> str:
    sep = _SEPARATORS.get(spec.separator, f"'{spec.separator}'")
    parts = [f"{sep}-separated", "header" if spec.header else "no header", spec.encoding]
    parts.append("no quoting" if spec.quote == "" else f"quote {spec.quote}")
    if spec.date_format:
        parts.append(f"dates {spec.date_format}")
    return ", ".join(parts)


def _card_tables(card) -> list[Table]:
    counts = ", ".join(f"{v:,} {k}" for k, v in card.counts.items()) or None
    rows = [
        ["title", card.title],
        ["description", card.description],
        ["homepage", card.homepage],
        ["url", card.url],
        [
            "archive",
            f"{card.archive_name}, folder {card.archive_root}/"
            + (f", {card.archive_size:,} bytes" if card.archive_size else ""),
        ],
        ["sha256", card.sha256 or "none published"],
        ["md5", card.md5 or "none published"],
        ["checksum note", card.checksum_note or None],
        ["released", card.released or None],
        ["ratings", card.rating_scale or None],
        ["published counts", counts],
        ["licence", card.licence],
        ["citation", card.citation],
    ]
    tables = [Table(["field", "value"], [r for r in rows if r[1]], title=f"card {card.name}", name="card")]
    tables.append(
        Table(
            ["table", "file", "format", "notes"],
            [[role, spec.file, _describe_format(spec), spec.notes or None] for role, spec in card.files.items()],
            title="files",
            name="files",
        )
    )
    tables.append(
        Table(
            ["file", "column", "type", "kept as", "meaning"],
            [
                [spec.file, c.name, c.type, c.field or "-", c.meaning]
                for spec in card.files.values()
                for c in spec.columns
            ],
            title="columns",
            name="columns",
        )
    )
    codes = [
        [spec.file, column, code, label]
        for spec in card.files.values()
        for column, mapping in spec.codes.items()
        for code, label in mapping.items()
    ]
    if codes:
        tables.append(Table(["file", "field", "code", "meaning"], codes, title="codes", name="codes"))
    return tables


def _dataset_table(doc: dict[str, Any], raw: bool = False) -> Table:
    """The statistics; ``raw`` keeps numbers as numbers (csv), else they are formatted for reading."""
    count = "{}" if raw else "{:,}"
    histogram = " ".join(f"{k}:{count.format(v)}" for k, v in doc["rating_histogram"].items()) or None
    span = doc["time_span"]
    rows = [
        ["interactions", doc["interactions"]],
        ["users", doc["users"]],
        ["items", doc["items"]],
        ["catalogue items", doc["catalog_items"]],
        ["density", doc["density"]],
        ["ratings", histogram],
        ["time span", f"{span['from']} .. {span['to']}" if span else "no timestamps"],
        ["bad lines skipped", doc["bad_lines_skipped"]],
        ["source", doc["source"]],
        ["source sha256", doc["source_sha256"] or (None if raw else "-")],
        ["card", doc["card"] or (None if raw else "-")],
        ["ingested at", doc["created_at"]],
        ["path", doc["path"]],
    ]
    if not raw:
        # pre-formatted so the value column reads as text (left-aligned) whatever the first row holds
        rows = [[label, format_cell(value)] for label, value in rows]
    return Table(["statistic", "value"], rows, title=f"dataset {doc['name']} (in the workspace)", name="dataset")
