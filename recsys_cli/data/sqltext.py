"""Small helpers for writing SQL text and reading DuckDB's error messages.

Every value pasted into SQL text goes through :func:`sql_literal` or
:func:`sql_ident`, so a quote in a file name, a column name or an option
cannot end the literal early.
"""

from __future__ import annotations

MESSAGE_LIMIT = 200


def sql_literal(text: str) -> str:
    """``text`` as a single-quoted SQL string literal."""
    return "'" + str(text).replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """``name`` as a double-quoted SQL identifier (any column name, even one with quotes)."""
    return '"' + str(name).replace('"', '""') + '"'


def first_line(exc: BaseException | str, limit: int = MESSAGE_LIMIT) -> str:
    """The part of an error message that says what went wrong, as one line of at most ``limit`` characters.

    DuckDB's messages put the error on the first line and a caret diagram or
    candidates below it; but some first lines only introduce what follows
    ("... due to the following Python exception:"), and then the substance is
    the next line, or the last line of a pasted traceback.
    """
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__ if isinstance(exc, BaseException) else ""
    text = lines[0]
    if text.endswith(":") and len(lines) > 1:
        rest = lines[1:]
        text = f"{text} {rest[-1] if rest[0].startswith('Traceback') else rest[0]}"
    if len(text) > limit:
        text = text[: limit - 3].rstrip() + "..."
    return text
