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
silenced (PYTHONWARNINGS=ignore): a library's notice is not the tool's output. The prose lives in
this script: edit it here, not in docs/tutorial.md. README.md holds two transcripts between
``<!-- tutorial:begin NAME -->`` and ``<!-- tutorial:end NAME -->``; the rest of README.md is
hand-written and left alone.

No recsys_cli import here: the script drives the command line only.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "docs" / "tutorial.md"
README = ROOT / "README.md"
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets"
SHOWN_DATASETS = "../shared/datasets"  # how the transcripts name the datasets folder
SHOWN_CWD = "~/tutorial"  # how they name the folder the commands ran in
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
RUN_TITLE = r"^\s*recipe run '[^']*' \(.*\):"  # the title of a recipe run's stage table
GENERATORS_TITLE = r"^\s*candidate generators trained"  # and of its generators table
BOX_RUN = re.compile(r"([─━═])\1+")
NUMBER = re.compile(r"[-+]?\d[\d,]*(?:\.\d+)?(?:[eE][-+]?\d+)?")
TOLERANCE = 1e-3  # numbers agree to 3 decimals
# The libraries whose releases can move a metric (BPR's numbers differ between implicit 0.7.2 and
# 0.7.3, for instance): the tutorial records their versions, and --check compares numbers only
# when they are the same (with others it still checks every command, word and table shape).
LIBRARIES = ("implicit", "lightgbm", "numpy", "scipy", "annoy", "duckdb", "pyarrow")
VERSIONS_LINE = re.compile(r"<!-- library versions: (.*?) -->")


@dataclass(frozen=True)
class Step:
    """One shell line of a transcript and how its output is shown.

    ``show``: print the output (else only the command; it must still succeed). ``quiet_stages``:
    of a recipe run's progress keep only the ``[k/N] stage`` lines. ``cut``: (A, B) regex pairs; the
    lines from the first matching A up to the first later one matching B (not included) become one
    ``...`` line. ``drop``: a regex of lines left out. ``volatile``: a regex of lines that may or
    may not be printed (they depend on the machine's speed): shown, but not compared. ``readme``:
    the README region that shows this step too, after the further cuts ``readme_cut``.
    """

    command: str
    show: bool = True
    quiet_stages: bool = False
    cut: tuple[tuple[str, str], ...] = ()
    drop: str | None = None
    volatile: str | None = None
    readme: str | None = None
    readme_cut: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Session:
    """Commands that share one workspace (one temporary folder), with the prose around them: each
    block is prose (a str) or a console block (a list of steps)."""

    name: str
    real_data: bool
    blocks: list[str | list[Step]] = field(default_factory=list)

    @property
    def steps(self) -> list[Step]:
        return [step for block in self.blocks if isinstance(block, list) for step in block]


@dataclass
class StepResult:
    step: Step
    lines: list[str]  # the output as shown (paths replaced, cuts applied), before masking
    readme_lines: list[str]
    returncode: int
    seconds: float


# ----------------------------------------------------------------------------------------------
# The tutorial. Prose is Markdown; a list is a console block.
# ----------------------------------------------------------------------------------------------

HEADER = f"""\
# Tutorial: every command, with real output

<!-- Generated by docs/make_tutorial.py from real runs: edit the script, not this file. -->

A longer walk through the `recsys` commands than the README's. Every transcript below is real:
[`docs/make_tutorial.py`](make_tutorial.py) ran the commands in an empty folder (`{SHOWN_CWD}`),
next to the real MovieLens files in `{SHOWN_DATASETS}` (see the README's note on tests), and
wrote what they printed, stderr and stdout together. It ran them with stdout piped, so it added
`--format table`, what a terminal gets by default. `tests/docs/test_tutorial.py` reruns them
and fails when a table no longer matches (numbers to 3 decimals, when the libraries are the
versions recorded below; other releases can move a metric, so then only the words and table shapes
are compared); timings, peak memory, stage keys and generation folders vary from run to run and
are not compared. To refresh this file after a
change that alters the output: `.venv/bin/python docs/make_tutorial.py`.

Contents: [the demo](#the-demo) · [scripts and errors](#scripts-and-errors) ·
[a real dataset](#a-real-dataset) · [recipes](#recipes-the-whole-loop-in-one-command) ·
[candidate generation and evaluation](#candidate-generation-and-evaluation) ·
[two stages by hand](#two-stages-by-hand) · [from Python](#from-python)
"""

DEMO = Session(
    "demo",
    real_data=False,
    blocks=[
        """\
## The demo

`recsys demo` runs the demo recipe ([`recipes/demo.toml`](../recipes/demo.toml)): it generates a
synthetic dataset (latent tastes, popularity skew, time), splits it in time, trains ALS, item-kNN
and popularity, builds an Annoy index, generates each generator's candidates for the label window
(the val part), trains a LambdaRank ranker over their union and evaluates both stages on the same
test users. Each stage prints a line on stderr (shortened here); the tables go to stdout:""",
        [
            Step(
                "recsys demo",
                quiet_stages=True,
                cut=((r"^\[3/14\] ", r"^\[13/14\] "),),
                readme="demo",
                readme_cut=((r"^\[2/14\] ", GENERATORS_TITLE),),
            )
        ],
        """\
The stage table says what ran, how long it took, its peak memory and its cache key. The
two-stage table's `candidates` row is ALS refitted on train + val, the history the test window
really has ([ranking.md](ranking.md)), which is why it is higher than `als` in the generators
table, fitted on train alone. Run `recsys demo` again and every stage says `cached`: the whole
run takes about a second and prints the same tables.""",
        """\
## Scripts and errors

In scripts, output is JSON when stdout is not a terminal (or ask with `--format json|csv|markdown`),
errors are one line on stderr, and the exit code says what happened (0 ok, 1 bad input, 2 usage,
3 internal error):""",
        [
            Step(r"printf 'u,i,r\n1,2,3\n1,3,x\n' > bad.csv"),
            Step("recsys ingest csv bad.csv --name x --user-col u --item-col i --rating-col r; echo $?"),
        ],
    ],
)

DATASETS = Session(
    "datasets",
    real_data=True,
    blocks=[
        f"""\
## A real dataset

Cards for MovieLens 100K, 1M, 10M, 20M, 25M, 32M and latest-small live in
[`datasets/`](../datasets/) ([datasets.md](datasets.md)). `--source` takes the release's zip, its
folder or a URL; without it, the official URL is downloaded and its checksum verified before
anything is parsed. Here the releases come from `{SHOWN_DATASETS}`.
`datasets show` prints the card (URL, checksums, files and their columns, licence, citation;
left out below) and, once the dataset is ingested, its statistics:""",
        [
            Step("recsys datasets list"),
            Step(f"recsys ingest ml-latest-small --source {SHOWN_DATASETS}/ml-latest-small/ml-latest-small.zip"),
            Step(f"recsys ingest ml-100k --source {SHOWN_DATASETS}/ml-100k"),
            Step("recsys datasets show ml-100k", cut=((r"^card ml-100k$", r"^dataset ml-100k "),)),
        ],
        """\
Any other file (CSV, TSV, `::`, Parquet; string or numeric ids; header or not), here Last.fm's
plays per user and artist:""",
        [
            Step(
                f"recsys ingest csv {SHOWN_DATASETS}/hetrec2011-lastfm-2k/user_artists.dat --name lastfm "
                "--user-col userID --item-col artistID --rating-col weight --sep '\\t'"
            )
        ],
        """\
Splits: `random`, `random-per-user` (stratified), `temporal` (one time cut, by fraction or date),
`temporal-per-user` and `leave-last`, with optional validation, `--min-rating` and `--k-core`:""",
        [Step("recsys split ml-100k --name temporal --strategy temporal --test-fraction 0.2")],
        "Read-only SQL over everything registered (one schema per dataset):",
        [
            Step("""recsys sql 'SELECT i.title, count(*) AS ratings, round(avg(r.rating), 2) AS mean
              FROM "ml-100k".interactions r JOIN "ml-100k".items i USING (item_idx)
              GROUP BY i.title ORDER BY ratings DESC LIMIT 3'"""),
            Step(
                """recsys sql 'SELECT split, part, count(*) AS n FROM "ml-100k".splits GROUP BY ALL ORDER BY ALL' """
                "-f csv"
            ),
        ],
    ],
)

RECIPE = Session(
    "recipe",
    real_data=True,
    blocks=[
        """\
## Recipes: the whole loop in one command

A recipe is one TOML file for the whole loop ([recipes.md](recipes.md) lists every key;
[`recipes/`](../recipes/) ships demo, ml-100k, ml-latest-small, ml-1m, ml-20m, ml-32m and the
published ML-100K protocol). MovieLens recipes download the release from the card's URL, or take
a local copy:""",
        [
            Step(
                f"recsys run recipes/ml-100k.toml --set dataset.source={SHOWN_DATASETS}/ml-100k",
                quiet_stages=True,
                cut=((r"^\[2/14\] ", RUN_TITLE),),
                readme="ml-100k",
                readme_cut=((r"^recipe run 'ml-100k' \(", GENERATORS_TITLE),),
            )
        ],
        """\
Running it again reuses every stage (`[1/14] ingest: cached (...)`, under two seconds, the same
tables). A stage's key hashes its config, its inputs' digests and the package version, so a change
reruns only what depends on it; `--dry-run` shows which:""",
        [
            Step(
                f"recsys run recipes/ml-100k.toml --set dataset.source={SHOWN_DATASETS}/ml-100k "
                "--set ranker.labels=binary --dry-run"
            )
        ],
        """\
Every recipe run keeps `manifest.json` (resolved recipe, stage keys, seeds, versions, platform,
input checksums, timings, peak memory), `metrics.json` and its per-user values:
`recsys runs show ml-100k` prints them, and `recsys runs compare A B` gives every metric of both
runs side by side with a paired bootstrap 95% interval of the difference. `recsys runs list` shows
the recipe run beside the runs it trained, headlined by its ranker's ndcg@10.

A CI job gates on quality ([ci.md](ci.md)): `recsys run ... --require` or, for a finished run,
`recsys runs check`, prints each requirement with its value and exits 4 when one fails:""",
        [
            Step(
                'recsys runs check ml-100k --require "ranker.ndcg@10>=0.2" '
                '--require "lift.ranker_vs_candidates.ndcg@10.low>0"'
            ),
            Step('recsys runs check ml-100k --require "ranker.ndcg@10>=0.3"; echo "exit $?"'),
        ],
    ],
)

PUBLISHED = Session(
    "published",
    real_data=True,
    blocks=[
        """\
The published protocol (per-user stratified 75/25, K=10, every test rating relevant), where peers
report BPR nDCG@10 0.442 / P@10 0.388 and BiVAE 0.475 / 0.412 ([models.md](models.md)):""",
        [
            Step(
                f"recsys run recipes/ml-100k-published.toml --set dataset.source={SHOWN_DATASETS}/ml-100k",
                quiet_stages=True,
                cut=((r"^\[2/12\] ", RUN_TITLE),),
            )
        ],
    ],
)

CANDIDATES = Session(
    "candidates",
    real_data=True,
    blocks=[
        """\
## Candidate generation and evaluation

Train a generator on a split, evaluate it with full ranking (every item, train items excluded;
the protocol is printed above the table), compare runs. The metrics are defined in
[metrics.md](metrics.md), the generators in [models.md](models.md):""",
        [
            Step(f"recsys ingest ml-100k --source {SHOWN_DATASETS}/ml-100k", show=False),
            Step(
                "recsys split ml-100k --name per-user-75 --strategy random-per-user --test-fraction 0.25 --seed 42",
                show=False,
            ),
            Step("recsys train candidates ml-100k --split per-user-75 --model als --run als"),
            Step("recsys evaluate als"),
            Step("recsys train candidates ml-100k --split per-user-75 --model ease --run ease", show=False),
            Step("recsys train candidates ml-100k --split per-user-75 --model popular --run popular", show=False),
            Step("recsys evaluate ease && recsys evaluate popular", show=False),
            Step("recsys runs compare als ease popular"),
        ],
        """\
ALS and EASE are not distinguishable on this split (the interval of their difference contains 0);
both are far above popularity. Other tools' lists are scored with the same definitions:
`recsys evaluate --predictions recs.csv --truth test.csv --k 10`.

One user's recommendations, with the past items behind each (original ids in and out; an unknown
user gets the most popular items, and the output says so):""",
        [Step("recsys recommend als --user 196 -k 3 --explain")],
        """\
Candidates for a ranker, and an Annoy index measured against exact search on 300 users' queries
(on 1,682 items exact scoring wins, and the bench says so; [performance.md](performance.md) has the
1M-item figures):""",
        [
            Step("recsys candidates als -k 200"),
            Step(
                "recsys index build als && recsys index bench als --queries 300",
                volatile=r"^warning: exact scoring is faster",
            ),
        ],
    ],
)

TWO_STAGES = Session(
    "two-stages",
    real_data=True,
    blocks=[
        """\
## Two stages by hand

What a recipe does, one command at a time. The ranker needs a time-ordered split with a label
window: here each user's last 20% is test and the 20% before it the label window (the val part).
It learns from the union of three generators' label-window candidates, with SQL features that
read the train part only; `recsys evaluate` then puts popularity, ALS alone and ALS + ranker side
by side on the same test users, with paired 95% intervals ([ranking.md](ranking.md) has the
protocol, the features and results on ml-latest-small):""",
        [
            Step(f"recsys ingest ml-100k --source {SHOWN_DATASETS}/ml-100k", show=False),
            Step(
                "recsys split ml-100k --name tpu --strategy temporal-per-user --test-fraction 0.2 --val-fraction 0.2",
                show=False,
            ),
            Step("recsys train candidates ml-100k --split tpu --model als --run als", show=False),
            Step("recsys train candidates ml-100k --split tpu --model item-knn --run knn", show=False),
            Step("recsys train candidates ml-100k --split tpu --model popular --run pop", show=False),
            Step(
                "recsys candidates als --on val -k 200 && recsys candidates knn --on val -k 100 "
                "&& recsys candidates pop --on val -k 50",
                show=False,
            ),
            Step("recsys train ranker als --with knn,pop", drop=r" \.\.\.$"),
            Step("recsys evaluate als --k 10", drop=r" \.\.\.$"),
        ],
    ],
)

PYTHON = Session(
    "python",
    real_data=False,
    blocks=[
        """\
## From Python

The library holds all the logic; the CLI only parses and renders. The top-level API:

```python
from recsys_cli import Workspace, ingest_card, make_split, SplitConfig
import pyarrow.parquet as pq

ws = Workspace("recsys-workspace")
result = ingest_card(ws, "ml-100k", "path/to/ml-100k.zip")
split = make_split(ws, "ml-100k", "last-10", SplitConfig(strategy="leave-last", n=10))
train = pq.read_table(ws.resolve(split.split.path) / "train.parquet")   # user_idx, item_idx, rating, ts
```

A whole recipe, with overrides, and two recipe runs compared:

```python
from recsys_cli.pipeline import load_recipe, run_recipe, compare_recipe_runs

recipe = load_recipe("recipes/ml-100k.toml", ["dataset.source=path/to/ml-100k.zip"])
result = run_recipe(ws, recipe)                      # stages cached in ws are reused
result.metrics["stages"]["stages"]["ranker"]["ndcg@10"], [o.status for o in result.outcomes]
run_recipe(ws, load_recipe("recipes/ml-100k.toml", ["dataset.source=path/to/ml-100k.zip", "ranker.trees=100"]),
           name="ml-100k-100-trees")
comparison = compare_recipe_runs(ws, "ml-100k", "ml-100k-100-trees")
```

Errors are narrow `RecsysError` subclasses with `.message` and `.hint`. Which package holds what
(training, evaluation, ranking, the workspace) is in [architecture.md](architecture.md).""",
    ],
)

SESSIONS = [DEMO, DATASETS, RECIPE, PUBLISHED, CANDIDATES, TWO_STAGES, PYTHON]


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
