"""Render command results as a Rich table, JSON, CSV or Markdown.

Every data-printing command builds one :class:`Result`: a JSON-ready
``document`` (what ``--format json`` prints, the stable contract for
scripts) and the ``tables`` a person reads. ``table`` goes to a terminal;
``json`` is the default when stdout is not a terminal. Every format prints
every table: ``csv`` one section per table, each under a ``# table: NAME``
line (plain CSV when there is one table), ``markdown`` each under its title.
``Result.only(NAME)`` keeps one table (``--table NAME``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
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
    # what `--table NAME` and csv's `# table: NAME` call it: stable across runs (titles name runs,
    # counts, files); without one, a slug of the title
    name: str | None = None

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]

    @property
    def slug(self) -> str:
        return self.name or slugify(self.title or "") or "table"


def slugify(text: str) -> str:
    """'runs on test (2 runs)' -> 'runs-on-test-2-runs': lowercase letters, digits, @ . _ and dashes."""
    return re.sub(r"[^a-z0-9@._]+", "-", text.lower()).strip("-")


@dataclass
class Result:
    document: Any
    tables: list[Table] = field(default_factory=list)
    # lines printed above the tables in table/markdown form (e.g. the protocol)
    preamble: list[str] = field(default_factory=list)

    def table_names(self) -> list[str]:
        """Each table's name, made unique in order (a repeated ``x`` becomes ``x-2``)."""
        names: list[str] = []
        for table in self.tables:
            name, n = table.slug, 2
            while name in names:
                name, n = f"{table.slug}-{n}", n + 1
            names.append(name)
        return names

    def only(self, name: str) -> Result | None:
        """This result with the one table called ``name`` and no preamble, or None if it has none such."""
        for table, table_name in zip(self.tables, self.table_names()):
            if table_name == name:
                return Result(self.document, [table])
        return None


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
    if isinstance(value, (bytes, bytearray, memoryview, timedelta)) or _is_interval(value):
        return _plain(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(format_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(json_safe(value), ensure_ascii=False)
    return str(value)


def to_json(document: Any) -> str:
    """``document`` as JSON that any parser reads: no NaN or Infinity, no Python-only types."""
    return json.dumps(json_safe(document), indent=2, ensure_ascii=False, allow_nan=False)


def json_safe(value: Any) -> Any:
    """``value`` with every part mapped to a JSON type.

    Decimal becomes a float (an int when it has no fraction digits: DuckDB's
    sum() of integers is a 38-digit decimal); NaN and infinities become null;
    dates and times ISO 8601 strings; durations ISO 8601 durations
    (``P1DT2H``); bytes a lowercase hex string, like DuckDB's ``hex()``, so a
    blob reads the same in SQL and in the output.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        if not value.is_finite():
            return None
        return int(value) if value.as_tuple().exponent >= 0 else float(value)
    if isinstance(value, dict):
        return {_json_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray, memoryview, timedelta)) or _is_interval(value):
        return _plain(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, Enum):
        return json_safe(value.value)
    if hasattr(value, "isoformat"):  # datetime, date, time
        return value.isoformat()
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist())
    return str(value)


def _json_key(key: Any) -> Any:
    if key is None or isinstance(key, (str, bool, int)):
        return key
    return str(json_safe(key))


def _is_interval(value: Any) -> bool:
    # pyarrow's MonthDayNano (DuckDB's INTERVAL), duck-typed so that printing needs no pyarrow
    return isinstance(value, tuple) and all(hasattr(value, a) for a in ("months", "days", "nanoseconds"))


def _plain(value: Any) -> Any:
    """Bytes and durations as text; anything else unchanged."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, timedelta):
        nanoseconds = ((value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds) * 1_000
        sign = -1 if nanoseconds < 0 else 1
        days, rest = divmod(abs(nanoseconds), 86_400 * 10**9)
        return iso_duration(0, sign * days, sign * rest)
    if _is_interval(value):
        return iso_duration(value.months, value.days, value.nanoseconds)
    return value


def iso_duration(months: int = 0, days: int = 0, nanoseconds: int = 0) -> str:
    """An ISO 8601 duration; months and days stay apart (a month has no fixed length)."""
    if (months or days or nanoseconds) and months <= 0 and days <= 0 and nanoseconds <= 0:
        return "-" + iso_duration(-months, -days, -nanoseconds)
    text = (f"{months}M" if months else "") + (f"{days}D" if days else "")
    if nanoseconds:
        sign = "-" if nanoseconds < 0 else ""
        hours, rest = divmod(abs(nanoseconds), 3600 * 10**9)
        minutes, rest = divmod(rest, 60 * 10**9)
        seconds, fraction = divmod(rest, 10**9)
        text += "T" + (f"{sign}{hours}H" if hours else "") + (f"{sign}{minutes}M" if minutes else "")
        if seconds or fraction:
            text += f"{sign}{seconds}" + (f".{fraction:09d}".rstrip("0") if fraction else "") + "S"
    return "P" + (text or "T0S")


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    value = _plain(value)
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(json_safe(value), ensure_ascii=False)
    return value


def to_csv(table: Table) -> str:
    """One table as plain CSV: a header line, then the rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([_csv_cell(v) for v in row])
    return buffer.getvalue()


def to_csv_sections(result: Result) -> str:
    """Every table: plain CSV for one; for several, each under a ``# table: NAME`` line, a blank line
    between them (``--table NAME`` prints one of them as plain CSV)."""
    if len(result.tables) == 1:
        return to_csv(result.tables[0])
    return "\n".join(f"# table: {name}\n" + to_csv(t) for t, name in zip(result.tables, result.table_names()))


def to_markdown(result: Result) -> str:
    """The preamble, then every table under a ``###`` heading: its title (or its name, when there
    are several tables and it has no title)."""
    parts: list[str] = []
    if result.preamble:
        parts.append("\n".join(result.preamble))
    several = len(result.tables) > 1
    for table, name in zip(result.tables, result.table_names()):
        lines = []
        heading = table.title or (name if several else None)
        if heading:
            lines.append(f"### {heading}\n")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in table.columns) + " |")
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
        sys.stdout.write(to_csv_sections(result) if result.tables else "")
    elif fmt is OutputFormat.markdown:
        sys.stdout.write(to_markdown(result))
    else:
        from rich.table import Table as RichTable
        from rich.text import Text

        for line in result.preamble:
            console.print(line, highlight=False, markup=False)
        for table in result.tables:
            # Text, not str: Rich reads a str as markup, and data such as "[/]" would crash it
            title = Text(table.title) if table.title is not None else None
            rich_table = RichTable(title=title, title_justify="left")
            for column, sample in zip(table.columns, table.rows[0] if table.rows else table.columns):
                numeric = isinstance(sample, (int, float, Decimal)) and not isinstance(sample, bool)
                rich_table.add_column(Text(str(column)), justify="right" if numeric else "left")
            for row in table.rows:
                rich_table.add_row(*(Text(format_cell(v)) for v in row))
            console.print(rich_table)
    sys.stdout.flush()
