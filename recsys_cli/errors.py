"""The error hierarchy: every failure a user can cause is a RecsysError.

Each error carries a one-line message, a hint that says what to do about it
and the process exit code. The CLI prints ``error: <message> (hint: <hint>)``
on stderr and exits with ``exit_code``; Python callers catch the narrow type.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_REQUIREMENTS = 4  # a quality gate (--require, a recipe's [checks]) failed; the run itself was written


class RecsysError(Exception):
    """Base class: a problem with the user's input, workspace or environment."""

    exit_code = EXIT_USER_ERROR
    default_hint = ""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class InputFileError(RecsysError):
    """A path that does not exist, an empty file, or a file we cannot read."""

    default_hint = "check the path"


class FormatError(RecsysError):
    """A file whose contents do not match what was declared (columns, types)."""

    default_hint = "check the separator, header and column flags"


class MalformedLineError(FormatError):
    """A line that cannot be parsed; ``line`` is 1-based, counting the header."""

    default_hint = "fix the line, or pass --on-bad-lines skip to drop such lines"

    def __init__(self, message: str, line: int, hint: str | None = None):
        super().__init__(message, hint)
        self.line = line


class ArchiveError(RecsysError):
    """A corrupt, truncated or unsafe archive."""

    default_hint = "download the archive again"


class ChecksumError(ArchiveError):
    """A downloaded or local archive whose digest differs from the card's."""

    default_hint = "the file is damaged or not the official release: delete it and download it again"


class DownloadError(RecsysError):
    default_hint = "check the URL and your network, or pass a local --source"


class UnknownNameError(RecsysError):
    """A dataset, card, split or run that does not exist; suggests the closest."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str | None = None):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.4)
        if hint is None:
            if close:
                hint = f"did you mean '{close[0]}'?"
            elif known:
                hint = f"known {kind}s: {', '.join(known[:8])}" + (" ..." if len(known) > 8 else "")
            else:
                hint = f"no {kind} exists yet"
        super().__init__(f"unknown {kind} '{name}'", hint)
        self.kind = kind
        self.name = name
        self.suggestion = close[0] if close else None


class AlreadyExistsError(RecsysError):
    default_hint = "pass --force to replace it"


class WorkspaceError(RecsysError):
    """A workspace folder that cannot be used: not a folder, not ours, unreadable, full."""

    default_hint = "check the --workspace path, its permissions and free disk space"


class WorkspaceLockedError(RecsysError):
    default_hint = "wait for the other command to finish, or raise RECSYS_LOCK_TIMEOUT"


class InvalidParameterError(RecsysError):
    """A value that parses but makes no sense (a fraction above 1, an empty split)."""


class RequirementsNotMetError(RecsysError):
    """A finished run that misses one of its requirements (``--require``, a recipe's ``[checks]``)."""

    exit_code = EXIT_REQUIREMENTS
    default_hint = "the run was written: recsys runs show RUN"


class SqlError(RecsysError):
    default_hint = "only read-only SELECT queries are allowed; see `recsys sql --help` for the views"


class CorruptArtifactError(RecsysError):
    """A model, index or other run artifact that is damaged or belongs to something else."""

    default_hint = "the file is damaged or was replaced: rebuild it (e.g. train the run again with --force)"


class ResourceLimitError(RecsysError):
    """A request that would not fit in this machine's memory (or another hard limit)."""

    default_hint = "use a smaller model or catalogue"


class WouldDeleteError(AlreadyExistsError):
    """Replacing a dataset or split would delete splits or runs built on it that the caller did not
    say may go (``--replace`` on the command line, ``dataset.replace`` / ``split.replace`` in a recipe).
    ``splits`` and ``runs`` name them."""

    SHOWN = 4  # names shown in the message; the rest are counted

    def __init__(
        self,
        target: str,
        splits: Iterable[str],
        runs: Iterable[str],
        *,
        whose: str = "built on it",
        hint: str | None = None,
    ):
        self.target = target
        self.splits = sorted(splits)  # sorted: the message must not depend on catalog order
        self.runs = sorted(runs)
        counts = " and ".join(
            f"{n} {word}{'' if n == 1 else 's'}"
            for n, word in ((len(self.splits), "split"), (len(self.runs), "run"))
            if n
        )
        names = self.runs + [f"split {name}" for name in self.splits]
        shown = ", ".join(names[: self.SHOWN]) + (
            f" and {len(names) - self.SHOWN} more" if len(names) > self.SHOWN else ""
        )
        super().__init__(f"{target} has {counts} {whose} ({shown}): replacing it would delete them", hint)


class DamagedFileError(CorruptArtifactError):
    """A workspace file that cannot be read as what its command wrote (cut short, overwritten, deleted);
    ``path`` is relative to the workspace, and the hint names the command that makes it again."""

    def __init__(self, path: str, hint: str | None = None, *, missing: bool = False):
        self.path = path
        self.missing = missing
        state = "missing" if missing else "damaged"
        super().__init__(f"the workspace file {path} is {state}: rerun the command that made it", hint)


class DiskFullError(WorkspaceError):
    """No space left (or the quota used up) on the disk holding the workspace; ``root`` is the workspace."""

    default_hint = "free some space on that disk, or use a workspace on another disk with -w or RECSYS_WORKSPACE"

    def __init__(self, root, hint: str | None = None):
        self.root = str(root)
        super().__init__(f"the disk holding the workspace {root} is full", hint)


class RemovedMeanwhileError(UnknownNameError):
    """A dataset, split or run that existed when a command started and that another command removed
    before this one could use it (while it waited for the workspace lock, or ran outside it)."""

    def __init__(self, kind: str, name: str, *, during: str = "waited for the workspace lock", hint: str | None = None):
        super().__init__(
            kind, name, (), hint=hint or "nothing was written; see what exists now with `recsys datasets list`"
        )
        self.message = f"{kind} '{name}' was removed by another command while this one {during}"
        self.args = (self.message,)
