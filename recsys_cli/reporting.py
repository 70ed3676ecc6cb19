"""How library code reports progress and notices without knowing about terminals.

Library functions take an optional ``reporter``; the CLI passes one backed by
Rich (progress bars on a terminal, plain lines otherwise), Python callers get
the silent default or pass their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class Task:
    """One unit of progress; ``advance`` is called as work completes."""

    def advance(self, amount: float = 1) -> None:  # pragma: no cover - trivial
        pass


class Reporter:
    """Silent reporter; subclasses render somewhere."""

    def info(self, message: str) -> None:
        pass

    def warn(self, message: str) -> None:
        pass

    @contextmanager
    def task(self, description: str, total: float | None = None) -> Iterator[Task]:
        yield Task()


SILENT = Reporter()


class RecordingReporter(Reporter):
    """Keeps every message; useful in tests and notebooks."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def info(self, message: str) -> None:
        self.messages.append(("info", message))

    def warn(self, message: str) -> None:
        self.messages.append(("warn", message))
