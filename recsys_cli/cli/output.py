"""Render command results as a Rich table, JSON, CSV or Markdown.

Every data-printing command builds one :class:`Result`: a JSON-ready
``document`` (what ``--format json`` prints, the stable contract for
scripts) and the ``tables`` a person reads. ``table`` goes to a terminal;
``json`` is the default when stdout is not a terminal. ``csv`` prints the
first table only, since CSV has no room for more.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


@dataclass
class Table:
    columns: list[str]
    rows: list[list[Any]]
    title: str | None = None

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


@dataclass
class Result:
    document: Any
    tables: list[Table] = field(default_factory=list)
    # lines printed above the tables in table/markdown form (e.g. the protocol)
    preamble: list[str] = field(default_factory=list)


def resolve_format(requested: OutputFormat | None, stdout_is_tty: bool | None = None) -> OutputFormat:
    if requested is not None:
        return requested
    if stdout_is_tty is None:
        stdout_is_tty = sys.stdout.isatty()
    return OutputFormat.table if stdout_is_tty else OutputFormat.json


def format_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e7):
            return f"{value:.4g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, default=str)
    return str(value)


def to_json(document: Any) -> str:
    return json.dumps(document, indent=2, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def to_csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow(["" if v is None else (json.dumps(v) if isinstance(v, (list, dict)) else v) for v in row])
    return buffer.getvalue()


def to_markdown(result: Result) -> str:
    parts: list[str] = []
    if result.preamble:
        parts.append("\n".join(result.preamble))
    for table in result.tables:
        lines = []
        if table.title:
            lines.append(f"### {table.title}\n")
        lines.append("| " + " | ".join(table.columns) + " |")
        lines.append("|" + "|".join("---" for _ in table.columns) + "|")
        for row in table.rows:
            lines.append("| " + " | ".join(format_cell(v).replace("|", "\\|") for v in row) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def render(result: Result, fmt: OutputFormat, console) -> None:
    """Write ``result`` to stdout; ``console`` is a Rich console bound to stdout."""
    if fmt is OutputFormat.json:
        sys.stdout.write(to_json(result.document) + "\n")
    elif fmt is OutputFormat.csv:
        sys.stdout.write(to_csv(result.tables[0]) if result.tables else "")
    elif fmt is OutputFormat.markdown:
        sys.stdout.write(to_markdown(result))
    else:
        from rich.table import Table as RichTable

        for line in result.preamble:
            console.print(line, highlight=False, markup=False)
        for table in result.tables:
            rich_table = RichTable(title=table.title, title_justify="left")
            for column, sample in zip(table.columns, table.rows[0] if table.rows else table.columns):
                numeric = isinstance(sample, (int, float)) and not isinstance(sample, bool)
                rich_table.add_column(column, justify="right" if numeric else "left")
            for row in table.rows:
                rich_table.add_row(*(format_cell(v) for v in row))
            console.print(rich_table)
    sys.stdout.flush()
