#!/usr/bin/env python3
"""Write docs/tutorial.md (and README.md's walkthrough) from real runs of the recsys CLI, or check them.

    .venv/bin/python docs/make_tutorial.py            # run every command, rewrite both files
    .venv/bin/python docs/make_tutorial.py --check    # run every command, compare with both files
    options: --datasets PATH (the MovieLens files, default ../shared/datasets), --only SESSION,...
             (run those sessions; the others keep their transcripts), --jobs N (sessions side by side)

Every transcript is real: each session below runs its commands with bash, in a fresh temporary
folder that the transcript calls ``~/tutorial``, next to a link ``../shared/datasets`` to the real
MovieLens files, with a copy of recipes/; ``recsys`` is this checkout's CLI (``python -m recsys_cli``).
Output is captured with stdout piped, so the script adds ``--format table`` (what a terminal gets
by default) and sets NO_COLOR=1, TERM=dumb, COLUMNS=120.

What varies between runs (timings, peak memory, stage keys, generation folders, temporary paths)
is written as it came out but masked by ``--check``, which compares every other word and number
with what the files show, numbers within 0.001 (to 3 decimals) when the libraries that compute
them are the versions the file records (else numbers are not compared). Line breaks and padding do not
count, since Rich rewraps a title when a masked timing changes its length. Python warnings are
silenced (PYTHONWARNINGS=ignore): a library's notice is not the tool's output. The prose and the commands
live in docs/tutorial_sessions.py: edit them there, not in docs/tutorial.md. README.md holds two transcripts between
``<!-- tutorial:begin NAME -->`` and ``<!-- tutorial:end NAME -->``; the rest of README.md is
hand-written and left alone.

No recsys_cli import here: the script drives the command line only.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path


def _load_sessions():
    """docs/tutorial_sessions.py, the tutorial's content, loaded by path: docs/ is not a package, and this
    script runs both as a program and from tests/docs/test_tutorial.py."""
    name = "tutorial_sessions"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before exec: its dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


_sessions = _load_sessions()
Step, Session = _sessions.Step, _sessions.Session
SHOWN_DATASETS, SHOWN_CWD, HEADER, SESSIONS = (
    _sessions.SHOWN_DATASETS,
    _sessions.SHOWN_CWD,
    _sessions.HEADER,
    _sessions.SESSIONS,
)

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
README = ROOT / "README.md"
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets"
SHOWN_ROOT = "~/recsys"  # and this checkout
COLUMNS = "120"

# bash runs each command line with `recsys` defined as this checkout's CLI, adding `--format table`
# (a terminal's default) unless the line asks for a format itself.
BASH_PREAMBLE = """\
recsys() {
  case " $* " in
    *" -f "*|*" --format "*|*" --format="*|*" --help "*|*" -h "*|*" --version "*) ;;
    *) set -- "$@" --format table ;;
  esac
  "$RECSYS_TUTORIAL_PYTHON" -m recsys_cli "$@"
}
"""

# Volatile fields: masked before comparing (the files keep what the generating run printed).
MASKS = [
    (re.compile(r"\b\d{8}T\d{6}(?:-[0-9a-f]+)?\b"), "<generation>"),  # runs/<run>/<kind>/<generation>/
    (re.compile(r"\b[0-9a-f]{12}\b"), "<key>"),  # stage keys hash the package version too
    (re.compile(r"\b20[2-9]\d-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?(?:Z|[+-]\d\d:?\d\d)?"), "<when>"),
    (re.compile(r"peak RSS \d+(?:\.\d+)? ?[KMG]i?B"), "peak RSS <memory>"),
    (re.compile(r"[\d,.]+ queries/s"), "<speed> queries/s"),
    (re.compile(r"(?<![\w.])\d+(?:\.\d+)?s\b"), "<seconds>"),  # done in 0.5s, cached, 12.8s
]
VOLATILE_COLUMNS = {"seconds", "peak RSS MB", "fit s", "wall s", "build s", "queries/s", "vs exact"}
STAGE_LINE = re.compile(r"^\[\d+/\d+\] ")
BOX_RUN = re.compile(r"([─━═])\1+")
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
TOLERANCE = 1e-3  # numbers agree to 3 decimals
# The libraries whose releases can move a metric (BPR's numbers differ between implicit 0.7.2 and
# 0.7.3, for instance): the tutorial records their versions, and --check compares numbers only
# when they are the same (with others it still checks every command, word and table shape).
LIBRARIES = ("implicit", "lightgbm", "numpy", "scipy", "annoy", "duckdb", "pyarrow")
VERSIONS_LINE = re.compile(r"<!-- library versions: (.*?) -->")


@dataclass
class StepResult:
    step: Step
    lines: list[str]  # the output as shown (paths replaced, cuts applied), before masking
    readme_lines: list[str]
    returncode: int
    seconds: float


# ----------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------


def _environment(cwd: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_") and k not in ("FORCE_COLOR",)}
    env.update(
        NO_COLOR="1",
        TERM="dumb",
        COLUMNS=COLUMNS,
        PYTHONUNBUFFERED="1",
        PYTHONHASHSEED="0",
        PYTHONWARNINGS="ignore",  # a library's deprecation notice is not the tool's output
        RECSYS_TUTORIAL_PYTHON=sys.executable,
        RECSYS_LOCK_TIMEOUT="60",
        PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
    )
    env.pop("PYTHONSTARTUP", None)
    return env


def _path_pattern(path: str) -> re.Pattern[str]:
    """``path``, also when Rich folded it over lines (whitespace allowed between its characters)."""
    return re.compile(r"\s*".join(re.escape(c) for c in path))


def _substitutions(top: Path, cwd: Path, datasets: Path) -> list[tuple[re.Pattern[str], str]]:
    pairs: list[tuple[str, str]] = []
    for base in {top, top.resolve()}:
        pairs.append((str(base / "shared" / "datasets"), SHOWN_DATASETS))
    pairs.append((str(datasets.resolve()), SHOWN_DATASETS))
    for folder in {cwd, cwd.resolve()}:
        pairs.append((str(folder), SHOWN_CWD))
    pairs.append((str(ROOT), SHOWN_ROOT))
    pairs.sort(key=lambda pair: -len(pair[0]))  # the longest (most specific) first
    return [(_path_pattern(path), shown) for path, shown in pairs]


def _replace_paths(line: str, substitutions: Sequence[tuple[re.Pattern[str], str]]) -> str:
    """Local paths replaced by their shown names; in a table row the cell keeps its width."""

    def replace(text: str) -> str:
        for pattern, shown in substitutions:
            text = pattern.sub(shown, text)
        return text

    if not line.startswith("│"):
        return replace(line)
    cells = line.split("│")
    return "│".join(new.ljust(len(cell)) if (new := replace(cell)) != cell else cell for cell in cells)


def _apply_cuts(lines: list[str], cuts: Iterable[tuple[str, str]]) -> list[str]:
    for start, end in cuts:
        begin = next((i for i, line in enumerate(lines) if re.search(start, line)), None)
        if begin is None:
            continue
        stop = next((i for i in range(begin + 1, len(lines)) if re.search(end, lines[i])), len(lines))
        mark = [] if begin and lines[begin - 1] == "..." else ["..."]
        lines = [*lines[:begin], *mark, *lines[stop:]]
    return lines


def _quiet_stages(lines: list[str]) -> list[str]:
    """Of a recipe run's progress keep the ``[k/N] ...`` lines, not what each stage says in between."""
    kept, inside = [], False
    for line in lines:
        if STAGE_LINE.match(line):
            kept.append(line)
            inside = line.endswith(" ...")
        elif inside and not line.startswith(("recipe run '", "┏")):
            continue
        else:
            inside = False
            kept.append(line)
    return kept


def shown_output(step: Step, raw: str, substitutions: Sequence[tuple[re.Pattern[str], str]]) -> list[str]:
    """What a transcript shows of ``raw`` output: local paths replaced, progress filtered, cuts made."""
    lines = [_replace_paths(line.rstrip(), substitutions) for line in raw.splitlines()]
    text = "\n".join(lines)
    for pattern, shown in substitutions:  # a path Rich folded over lines
        text = pattern.sub(shown, text)
    lines = text.splitlines()
    if step.quiet_stages:
        lines = _quiet_stages(lines)
    if step.drop:
        lines = [line for line in lines if not re.search(step.drop, line)]
    lines = _apply_cuts(lines, step.cut)
    while lines and not lines[-1]:
        lines.pop()
    return lines


def run_session(session: Session, datasets: Path = DEFAULT_DATASETS) -> list[StepResult]:
    """Run a session's commands in a fresh temporary folder; the results say what each printed."""
    results: list[StepResult] = []
    if not session.steps:
        return results
    with tempfile.TemporaryDirectory(prefix="recsys-tutorial-") as tmp:
        top = Path(tmp)
        cwd = top / "tutorial"
        cwd.mkdir()
        (top / "shared").mkdir()
        if session.real_data:
            if not datasets.is_dir():
                raise FileNotFoundError(f"the real datasets folder is missing: {datasets}")
            (top / "shared" / "datasets").symlink_to(datasets.resolve(), target_is_directory=True)
        shutil.copytree(ROOT / "recipes", cwd / "recipes")
        env = _environment(cwd)
        substitutions = _substitutions(top, cwd, datasets)
        for step in session.steps:
            started = time.perf_counter()
            done = subprocess.run(
                ["bash", "-c", BASH_PREAMBLE + step.command],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                encoding="utf-8",
            )
            lines = shown_output(step, done.stdout, substitutions)
            readme_lines = _apply_cuts(lines, step.readme_cut) if step.readme else []
            results.append(StepResult(step, lines, readme_lines, done.returncode, time.perf_counter() - started))
            if done.returncode != 0:
                break  # the later steps need this one
    return results


def run_sessions(
    sessions: Sequence[Session], datasets: Path = DEFAULT_DATASETS, jobs: int = 1
) -> dict[str, list[StepResult]]:
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {s.name: pool.submit(run_session, s, datasets) for s in sessions}
        return {name: future.result() for name, future in futures.items()}


def failures(results: dict[str, list[StepResult]]) -> list[str]:
    problems = []
    for name, steps in results.items():
        session = next(s for s in SESSIONS if s.name == name)
        for result in steps:
            if result.returncode != 0:
                tail = "\n    ".join(result.lines[-8:])
                problems.append(f"[{name}] `{result.step.command}` exited {result.returncode}:\n    {tail}")
        if len(steps) < len(session.steps) and not any(r.returncode for r in steps):
            problems.append(f"[{name}] only {len(steps)} of {len(session.steps)} steps ran")
    return problems


# ----------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------


def _console_block(items: Iterable[tuple[Step, list[str]]]) -> str:
    lines = ["```console"]
    for step, output in items:
        lines.append(f"$ {step.command}")
        if step.show:
            lines.extend(output)
    lines.append("```")
    return "\n".join(lines)


def _still_holds(old: list[str] | None, steps: Sequence[Step], outputs: Sequence[list[str]]) -> bool:
    """Whether an old console block shows ``steps`` with ``outputs``, but for what varies between runs."""
    if old is None:
        return False
    shown, trouble = _split_block(old, steps, "")
    return not trouble and all(
        not step.show or compare_output(before, after, step.volatile) is None
        for step, before, after in zip(steps, shown, outputs)
    )


def render_tutorial(results: dict[str, list[StepResult]], previous: str | None = None) -> str:
    """The tutorial: the prose of this script, the transcripts of ``results``. A transcript of
    ``previous`` (the file as it was) that still holds is kept as it was, timings and all, so a rerun
    changes nothing; a session that did not run keeps its transcripts, if its commands are unchanged."""
    old_blocks = _console_blocks(previous or "")
    expected = [(s, b) for s in SESSIONS for b in s.blocks if isinstance(b, list)]
    if len(old_blocks) != len(expected):
        old_blocks = []
    parts, index = [HEADER.rstrip(), f"<!-- library versions: {library_versions()} -->"], 0
    for session in SESSIONS:
        by_step = {id(r.step): r for r in results.get(session.name, [])}
        for block in session.blocks:
            if isinstance(block, str):
                assert "```console" not in block, "console blocks are transcripts: write them as steps"
                parts.append(block.rstrip())
                continue
            old = old_blocks[index] if old_blocks else None
            index += 1
            if session.name in results:
                outputs = [by_step[id(step)].lines for step in block]
                if not _still_holds(old, block, outputs):
                    parts.append(_console_block(zip(block, outputs)))
                    continue
            elif old is None or _split_block(old, block, "")[1]:
                raise ValueError(f"the transcripts of session {session.name!r} changed: run every session")
            parts.append("\n".join(["```console", *old, "```"]))
    return "\n\n".join(parts) + "\n"


def _region(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- tutorial:begin {re.escape(name)} -->\n)(.*?)(<!-- tutorial:end {re.escape(name)} -->)", re.S
    )


def readme_steps() -> list[tuple[Session, Step]]:
    return [(session, step) for session in SESSIONS for step in session.steps if step.readme]


def render_readme(readme: str, results: dict[str, list[StepResult]]) -> str:
    for session, step in readme_steps():
        if session.name not in results:
            continue
        result = next(r for r in results[session.name] if r.step is step)
        found = _region(step.readme).search(readme)
        old = _console_blocks(found.group(2)) if found else []
        if len(old) == 1 and _still_holds(old[0], [step], [result.readme_lines]):
            continue
        block = _console_block([(step, result.readme_lines)])
        readme, count = _region(step.readme).subn(lambda m, b=block: f"{m.group(1)}{b}\n{m.group(3)}", readme)
        if count != 1:
            raise ValueError(f"README.md needs one <!-- tutorial:begin {step.readme} --> ... end region, has {count}")
    return readme


# ----------------------------------------------------------------------------------------------
# Checking
# ----------------------------------------------------------------------------------------------


def _mask_columns(lines: list[str]) -> list[str]:
    """Replace the cells of volatile columns (timings, memory, speed) of Rich tables by ``<v>``."""
    out, header, masked = [], [], set()
    for line in lines:
        text = line.strip()
        if text.startswith("┏"):
            header, masked = [], set()
        elif text.startswith("┃"):
            header.append([cell.strip() for cell in text.strip("┃").split("┃")])
        elif text.startswith("┡") and header:
            names = [" ".join(filter(None, column)) for column in zip(*header)]
            masked = {i for i, name in enumerate(names) if name in VOLATILE_COLUMNS}
        elif text.startswith("│") and masked:
            cells = text.strip("│").split("│")
            line = "│" + "│".join("<v>" if i in masked else c for i, c in enumerate(cells)) + "│"
        elif text.startswith("└"):
            masked = set()
        out.append(line)
    return out


def masked(lines: Sequence[str], volatile: str | None = None) -> list[str]:
    lines = [line for line in lines if not (volatile and re.search(volatile, line))]
    lines = _mask_columns(list(lines))
    for pattern, replacement in MASKS:
        lines = [pattern.sub(replacement, line) for line in lines]
    return lines


def _tokens(lines: Sequence[str]) -> list[tuple[str, int]]:
    return [(token, number) for number, line in enumerate(lines) for token in BOX_RUN.sub(r"\1", line).split()]


def library_versions() -> str:
    from importlib.metadata import version

    return ", ".join(f"{name} {version(name)}" for name in LIBRARIES)


def numbers_comparable(tutorial: str) -> bool:
    """Whether ``tutorial`` was generated with the library versions installed now."""
    found = VERSIONS_LINE.search(tutorial)
    return found is not None and found.group(1) == library_versions()


def _same_token(a: str, b: str, numbers: bool = True) -> bool:
    if a == b:
        return True
    if NUMBER.sub("#", a) != NUMBER.sub("#", b):
        return False
    if not numbers:
        return True
    pairs = zip(NUMBER.findall(a), NUMBER.findall(b))
    return all(abs(float(x.replace(",", "")) - float(y.replace(",", ""))) < TOLERANCE + 1e-12 for x, y in pairs)


def compare_output(
    expected: Sequence[str], actual: Sequence[str], volatile: str | None = None, numbers: bool = True
) -> str | None:
    """None when ``actual`` prints what ``expected`` shows: the same words in the same order, numbers
    to 3 decimals (any number, with ``numbers=False``), volatile fields masked, line breaks and padding
    ignored; else what differs."""
    want, got = masked(expected, volatile), masked(actual, volatile)
    want_tokens, got_tokens = _tokens(want), _tokens(got)
    for index in range(max(len(want_tokens), len(got_tokens))):
        if (
            index >= len(want_tokens)
            or index >= len(got_tokens)
            or not _same_token(want_tokens[index][0], got_tokens[index][0], numbers)
        ):
            shown = want[want_tokens[index][1]] if index < len(want_tokens) else "(nothing more)"
            printed = got[got_tokens[index][1]] if index < len(got_tokens) else "(nothing more)"
            return f"the file shows:  {shown.strip()}\n    the command printed: {printed.strip()}"
    return None


def _console_blocks(text: str) -> list[list[str]]:
    return [block.splitlines() for block in re.findall(r"^```console\n(.*?)^```$", text, re.S | re.M)]


def _split_block(block: list[str], steps: Sequence[Step], where: str) -> tuple[list[list[str]], list[str]]:
    """The output lines a console block shows for each step (or problems, if its commands are not the steps')."""
    starts, position = [], 0
    for step in steps:
        command = f"$ {step.command}".splitlines()
        while position < len(block) and block[position : position + len(command)] != command:
            position += 1
        if position >= len(block):
            return [], [
                f"{where}: does not show `{step.command}` where the script runs it; regenerate it "
                f"(.venv/bin/python docs/make_tutorial.py)"
            ]
        starts.append((position, len(command)))
        position += len(command)
    outputs = []
    for i, (start, height) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(block)
        outputs.append(block[start + height : end])
    return outputs, []


def compare_tutorial(
    text: str, results: dict[str, list[StepResult]], where: str = "docs/tutorial.md", numbers: bool = True
) -> list[str]:
    """Problems: where the tutorial's transcripts differ from the results of the sessions that ran."""
    blocks = _console_blocks(text)
    expected_blocks = [(s, b) for s in SESSIONS for b in s.blocks if isinstance(b, list)]
    if len(blocks) != len(expected_blocks):
        return [
            f"{where} has {len(blocks)} console blocks, the script {len(expected_blocks)}: regenerate it "
            f"(.venv/bin/python docs/make_tutorial.py)"
        ]
    problems = []
    for block, (session, steps) in zip(blocks, expected_blocks):
        if session.name not in results:
            continue
        by_step = {id(r.step): r for r in results[session.name]}
        outputs, trouble = _split_block(block, steps, where)
        problems += trouble
        for step, shown in zip(steps, outputs):
            result = by_step.get(id(step))
            if result is None or result.returncode != 0 or not step.show:
                continue
            difference = compare_output(shown, result.lines, step.volatile, numbers)
            if difference:
                problems.append(f"{where}, `{step.command.splitlines()[0]}`:\n    {difference}")
    return problems


def compare_readme(
    text: str, results: dict[str, list[StepResult]], where: str = "README.md", numbers: bool = True
) -> list[str]:
    problems = []
    for session, step in readme_steps():
        if session.name not in results:
            continue
        found = _region(step.readme).search(text)
        blocks = _console_blocks(found.group(2)) if found else []
        if len(blocks) != 1:
            problems.append(f"{where}: no console block between <!-- tutorial:begin {step.readme} --> and its end")
            continue
        outputs, trouble = _split_block(blocks[0], [step], f"{where} ({step.readme})")
        problems += trouble
        result = next((r for r in results[session.name] if r.step is step), None)
        if outputs and result is not None and result.returncode == 0:
            difference = compare_output(outputs[0], result.readme_lines, step.volatile, numbers)
            if difference:
                problems.append(f"{where} ({step.readme}), `{step.command}`:\n    {difference}")
    return problems


def compare_commands(tutorial: str, readme: str) -> list[str]:
    """Problems: where the files do not show the commands this script runs (nothing is run)."""
    nothing_ran: dict[str, list[StepResult]] = {s.name: [] for s in SESSIONS}
    return compare_tutorial(tutorial, nothing_ran) + compare_readme(readme, nothing_ran)


def select(names: Iterable[str] | None = None, real_data: bool | None = None) -> list[Session]:
    chosen = [s for s in SESSIONS if (names is None or s.name in names) and real_data in (None, s.real_data)]
    unknown = set(names or ()) - {s.name for s in SESSIONS}
    if unknown:
        raise ValueError(f"unknown session(s) {sorted(unknown)}; known: {[s.name for s in SESSIONS]}")
    return chosen


def check(
    sessions: Sequence[Session] | None = None,
    datasets: Path = DEFAULT_DATASETS,
    jobs: int = 1,
    tutorial: str | None = None,
    readme: str | None = None,
) -> list[str]:
    """Rerun ``sessions`` (default: all) and compare with docs/tutorial.md and README.md (or the texts
    given); returns the problems, empty when every transcript still holds."""
    results = run_sessions(SESSIONS if sessions is None else sessions, datasets, jobs)
    tutorial = TUTORIAL.read_text(encoding="utf-8") if tutorial is None else tutorial
    readme = README.read_text(encoding="utf-8") if readme is None else readme
    numbers = numbers_comparable(tutorial)
    problems = failures(results)
    problems += compare_tutorial(tutorial, results, numbers=numbers)
    problems += compare_readme(readme, results, numbers=numbers)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the files instead of writing them")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the real MovieLens files")
    parser.add_argument(
        "--only",
        help="comma-separated sessions to run (the others keep their transcripts): "
        + ", ".join(s.name for s in SESSIONS),
    )
    parser.add_argument("--jobs", type=int, default=1, help="sessions run side by side")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.check:
        sessions = select(args.only.split(",")) if args.only else SESSIONS
        problems = check(sessions, args.datasets, args.jobs)
        for problem in problems:
            print(problem, file=sys.stderr)
        print(
            f"{'FAILED' if problems else 'ok'}: {len(sessions)} sessions checked in "
            f"{time.perf_counter() - started:.0f}s",
            file=sys.stderr,
        )
        return 1 if problems else 0
    results = run_sessions(select(args.only.split(",")) if args.only else SESSIONS, args.datasets, args.jobs)
    problems = failures(results)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    previous = TUTORIAL.read_text(encoding="utf-8") if TUTORIAL.exists() else None
    TUTORIAL.write_text(render_tutorial(results, previous), encoding="utf-8")
    README.write_text(render_readme(README.read_text(encoding="utf-8"), results), encoding="utf-8")
    for name, steps in results.items():
        print(f"{name}: {len(steps)} commands, {sum(r.seconds for r in steps):.1f}s", file=sys.stderr)
    print(
        f"wrote {TUTORIAL.relative_to(ROOT)} and {README.relative_to(ROOT)} in {time.perf_counter() - started:.0f}s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
