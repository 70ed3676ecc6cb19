"""Rendering results: JSON that any parser reads, CSV and tables for every value a query returns."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal

import pytest

from recsys_cli.cli.output import OutputFormat, Result, Table, format_cell, json_safe, render, to_csv, to_json


def strict_loads(text: str):
    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize(
    "value, expected",
    [
        (float("nan"), None),
        (float("inf"), None),
        (float("-inf"), None),
        (Decimal("1.25"), 1.25),
        (Decimal("12345678901234567890123"), 12345678901234567890123),
        (Decimal("NaN"), None),
        (b"\x00\xff", "00ff"),
        (timedelta(days=1, hours=2, seconds=3.5), "P1DT2H3.5S"),
        (timedelta(seconds=-90), "-PT1M30S"),
        (timedelta(0), "PT0S"),
        (date(2020, 1, 2), "2020-01-02"),
        (datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "2020-01-02T03:04:05+00:00"),
        (time(10, 30), "10:30:00"),
        ([1.0, float("nan"), {"k": float("inf")}], [1.0, None, {"k": None}]),
        ((1, b"\x01"), [1, "01"]),
        (OutputFormat.json, "json"),
        (True, True),
    ],
)
def test_json_safe(value, expected):
    assert json_safe(value) == expected
    assert strict_loads(to_json({"v": value})) == {"v": expected}


def test_arrow_intervals_are_iso_durations():
    pa = pytest.importorskip("pyarrow")
    value = pa.array([pa.MonthDayNano([14, 3, 3_600_000_000_123])], type=pa.month_day_nano_interval()).to_pylist()[0]
    assert json_safe(value) == "P14M3DT1H0.000000123S"
    assert format_cell(value) == "P14M3DT1H0.000000123S"


def test_numpy_values():
    np = pytest.importorskip("numpy")
    assert strict_loads(to_json([np.int64(3), np.float32("nan"), np.array([1.5, np.inf])])) == [3, None, [1.5, None]]


def test_non_string_keys():
    keyed = {1: "a", date(2020, 1, 1): "b", None: "c"}
    assert strict_loads(to_json(keyed)) == {"1": "a", "2020-01-01": "b", "null": "c"}


def test_csv_cells():
    table = Table(["b", "l", "d", "n"], [[b"\xab", [date(2020, 1, 1), float("nan")], timedelta(hours=1), None]])
    assert to_csv(table).splitlines() == ["b,l,d,n", 'ab,"[""2020-01-01"", null]",PT1H,']


def test_table_shows_data_as_text_not_markup():
    from rich.console import Console

    # a str cell is Rich markup: "[/]" crashed the table, "[bold]" vanished
    table = Table(["[/]", "x"], [["[/]", "[bold]not bold[/bold]"]], title="[red]")
    console = Console(record=True, width=120)
    render(Result([], [table]), OutputFormat.table, console)
    text = console.export_text()
    assert "[bold]not bold[/bold]" in text and "[/]" in text and "[red]" in text


def test_csv_prints_every_table_in_a_named_section():
    from recsys_cli.cli.output import to_csv_sections

    one = Table(["a"], [[1]], title="Runs on test (2 runs)")
    two = Table(["b", "c"], [["x", None]], title="ignored for the name", name="pairs")
    three = Table(["d"], [[2]], name="pairs")  # a repeated name is kept apart
    result = Result({}, [one, two, three])
    assert result.table_names() == ["runs-on-test-2-runs", "pairs", "pairs-2"]
    assert to_csv_sections(result) == (
        "# table: runs-on-test-2-runs\na\n1\n\n# table: pairs\nb,c\nx,\n\n# table: pairs-2\nd\n2\n"
    )
    assert to_csv_sections(Result({}, [one])) == "a\n1\n"  # one table: plain CSV, as before
    assert result.only("pairs-2").tables == [three] and result.only("nope") is None
    assert Table(["a"], []).slug == "table"


def test_markdown_heads_every_table(capsys):
    tables = [Table(["a"], [[1]], title="first"), Table(["b"], [[2]], name="second")]
    render(Result({}, tables, preamble=["protocol:"]), OutputFormat.markdown, None)
    out = capsys.readouterr().out
    assert out.startswith("protocol:\n\n### first\n") and "\n### second\n\n| b |" in out
    render(Result({}, [Table(["a"], [[1]])]), OutputFormat.markdown, None)
    assert capsys.readouterr().out == "| a |\n|---|\n| 1 |\n"  # a lone untitled table needs no heading
