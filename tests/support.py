"""What tests share besides fixtures (those live in tests/conftest.py): the repository's paths, helpers
that drive the CLI and check its answers, module templates (a workspace built once per module and
copied for every test), and tiny MovieLens releases written by code.

Import it as ``from tests.support import ...`` (pytest puts the repository root on ``sys.path``:
``pythonpath`` in pyproject.toml).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

REPO = Path(__file__).resolve().parents[1]
"""The repository root (the checkout)."""

SHARED_DATASETS = REPO.parent / "shared" / "datasets"
"""The real MovieLens files, beside the checkout; the ``shared_datasets`` fixture skips without them."""

QUIET_ENVIRONMENT = {"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb", "RECSYS_LOCK_TIMEOUT": "20"}
"""Stable, colourless, narrow-enough output, and a lock wait that fails a stuck test."""

CLEARED_ENVIRONMENT = ("RECSYS_WORKSPACE", "RECSYS_DEBUG", "RECSYS_DOWNLOAD_CACHE")
"""Settings from the developer's shell that must not reach a test."""

T = TypeVar("T")


# -- the command line ----------------------------------------------------------------------------------
def quiet_environment(patch: pytest.MonkeyPatch) -> None:
    """Set QUIET_ENVIRONMENT and clear CLEARED_ENVIRONMENT (every test's, and module fixtures' own)."""
    for name, value in QUIET_ENVIRONMENT.items():
        patch.setenv(name, value)
    for name in CLEARED_ENVIRONMENT:
        patch.delenv(name, raising=False)


def invoke_json(root: Path, *args) -> dict:
    """``recsys --workspace ROOT ARGS... --format json`` in process, for module fixtures (which cannot
    use the ``cli`` fixture); fails on a non-zero exit and returns the parsed stdout."""
    from typer.testing import CliRunner

    from recsys_cli.cli import app

    result = CliRunner().invoke(app, ["--workspace", str(root), *map(str, args), "--format", "json"])
    assert result.exit_code == 0, (args, result.stderr, result.exception)
    return json.loads(result.stdout)


def run_json(cli, *args: str):
    """Run a command with --format json and parse stdout (fails the test on a non-zero exit)."""
    result = cli(*args, "--format", "json")
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.stderr}"
    return json.loads(result.stdout)


def stage_statuses(document: dict) -> dict[str, str]:
    """A recipe run's JSON (`recsys run`, `recsys demo`) as stage -> ran / cached / ..."""
    return {stage["stage"]: stage["status"] for stage in document["stages"]}


def all_commands():
    """(path, click command) for every leaf command."""
    from typer.main import get_command

    from recsys_cli.cli import app

    def walk(command, path):
        subcommands = getattr(command, "commands", None)
        if subcommands:
            for name, sub in sorted(subcommands.items()):
                yield from walk(sub, [*path, name])
        else:
            yield path, command

    return list(walk(get_command(app), []))


def snapshot(root: Path) -> dict[str, str]:
    """Every file's content digest and every folder in a workspace (except the lock file's
    content, which names the last writer), for 'unchanged' checks."""
    if not root.exists():
        return {}
    state = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_dir():
            state[key] = "folder"
        elif path.name == ".lock":
            state[key] = "lock"
        else:
            state[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def assert_refused(
    cli, root: Path, args, fragments=(), *, exit_code: int = 1, hint: bool = True, only_progress_before: bool = False
):
    """A refused command: ``exit_code``, no traceback, nothing on stdout, every fragment on stderr,
    the workspace at ``root`` unchanged. With exit 1 the error is one ``error:`` line, last on stderr,
    carrying a ``(hint: ...)`` when ``hint``; the lines before it hold no error (or, with
    ``only_progress_before``, are only progress lines such as ``splitting toy ...``)."""
    before = snapshot(root)
    result = cli(*args)
    assert result.exit_code == exit_code, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    assert result.stdout == ""
    if exit_code == 1:
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("error: "), lines
        if only_progress_before:
            assert all(line.endswith(" ...") for line in lines[:-1]), lines
        else:
            assert not any("error" in line for line in lines[:-1]), lines
        if hint:
            assert "(hint: " in lines[-1], lines[-1]
    for fragment in [fragments] if isinstance(fragments, str) else fragments:
        assert fragment in result.stderr, result.stderr
    assert snapshot(root) == before
    return result


def assert_clean_failure(result, *phrases: str) -> None:
    """Exit 1, one error line (the last on stderr) naming what went wrong, no traceback."""
    assert result.exit_code == 1, (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and result.stderr.strip().splitlines()[-1] == errors[0], result.stderr
    for phrase in phrases:
        assert phrase in errors[0], errors[0]


def query_table(workspace_dir: Path, doc: dict, table: str, sql: str) -> list[tuple]:
    """Run ``sql`` on one table of an ingested dataset (``doc`` is its JSON); ``{t}`` names the table."""
    import duckdb

    path = workspace_dir / doc["path"] / f"{table}.parquet"
    return duckdb.connect().execute(sql.replace("{t}", f"read_parquet('{path}')")).fetchall()


# -- a workspace built once per module, copied for every test -----------------------------------------
def build_template(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], T]) -> tuple[Path, T]:
    """For a module fixture: ``build(root)`` fills a new workspace ``root`` (``<tmp>/NAME<n>/ws``; its
    folder ``root.parent`` may hold what ``build`` writes besides, such as CSVs or a recipe) once, under
    ``quiet_environment``. Returns root and what ``build`` returned. Tests never write to it: they
    copy it with ``copy_workspace``."""
    root = tmp_path_factory.mktemp(name) / "ws"
    with pytest.MonkeyPatch.context() as patch:
        quiet_environment(patch)
        built = build(root)
    return root, built


def copy_workspace(template: Path, target: Path) -> Path:
    """A copy of the workspace ``template`` at ``target`` (which must not exist), for one test; returns target."""
    shutil.copytree(template, target, symlinks=True)
    return target


# -- tiny releases in MovieLens file formats, written by code, for tests that need no real data ---------
def flags(*set_: int) -> str:
    values = ["0"] * 19
    for i in set_:
        values[i] = "1"
    return "|".join(values)


def write_tiny_ml100k(folder: Path) -> Path:
    """A few lines in the ml-100k formats: 3 users, 4 rated items, one unrated catalogue item."""
    folder.mkdir(parents=True, exist_ok=True)
    ratings = [
        (1, 1, 5, 881250949),
        (1, 2, 3, 881250950),
        (2, 1, 4, 881250951),
        (2, 3, 2, 881250952),
        (3, 2, 1, 881250953),
        (3, 4, 4, 881250954),
    ]
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ratings))
    items = [
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags(3, 4, 5)}",
        f"2|Misérables, Les (1995)|01-Jan-1995||http://y|{flags(8, 12)}",
        f"3|unknown||||{flags(0)}",
        f"4|Cité des enfants perdus, La (1995)|01-Jan-1995||http://z|{flags(9)}",
        f"5|Never Rated (1996)|01-Jan-1996||http://w|{flags(1)}",
    ]
    (folder / "u.item").write_bytes(("\n".join(items) + "\n").encode("latin-1"))
    (folder / "u.user").write_text("1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|T8H1N\n")
    return folder


def zip_folder(folder: Path, target: Path, root: str, extra=(), compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(target, "w", compression) as zf:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                zf.write(path, f"{root}/{path.name}" if root else path.name)
        for info, data in extra:
            zf.writestr(info, data)
    return target


def ingest_partial(workspace_dir: Path, card: str, source, **kwargs):
    """Ingest a deliberately partial release (its count is not the card's) through the Python API.

    Tiny releases never have the published interaction count, so they need
    ``allow_count_mismatch=True``; the Python API has it whatever the CLI offers.
    """
    from recsys_cli.data.workspace import Workspace
    from recsys_cli.datasets.ingest import ingest_card

    return ingest_card(Workspace(workspace_dir), card, source, allow_count_mismatch=True, **kwargs)


# -- a trained ranker, and its model text damaged as a fault injection found -------------------------------
def build_ranker_workspace(root: Path) -> dict:
    """A small synthetic dataset, a leave-last split with a label window, an ALS run ``als`` and a
    popularity run ``pop`` with val candidates, and a ranker on ``als`` (``--with pop``, 10 trees);
    returns the ranker's JSON. Call it under ``quiet_environment``."""
    invoke_json(
        root, "ingest", "synthetic", "--name", "syn", "--users", "200", "--items", "120", "--interactions", "4000"
    )
    invoke_json(root, "split", "syn", "--name", "lw", "--strategy", "leave-last", "--n", "3", "--val-n", "3")
    invoke_json(root, "train", "candidates", "syn", "--split", "lw", "--model", "als", "--run", "als", "--factors", "8")
    invoke_json(root, "train", "candidates", "syn", "--split", "lw", "--model", "popular", "--run", "pop")
    invoke_json(root, "candidates", "als", "--on", "val", "-k", "30")
    invoke_json(root, "candidates", "pop", "--on", "val", "-k", "10")
    return invoke_json(root, "train", "ranker", "als", "--with", "pop", "--trees", "10")


def split_tree(text: str) -> int:
    """The index of the first tree of a LightGBM model text that has a split."""
    for match in re.finditer(r"^Tree=(\d+)\nnum_leaves=(\d+)$", text, flags=re.M):
        if int(match.group(2)) > 1:
            return int(match.group(1))
    raise AssertionError("no tree has a split")


def edit_model_field(text: str, key: str, value: str, token: int | None = 0) -> str:
    """Set ``key`` of the first tree with a split: its ``token``-th entry, or the whole value (None)."""
    start = text.index(f"Tree={split_tree(text)}\n")
    line_start = text.index(f"\n{key}=", start) + 1
    line_end = text.index("\n", line_start)
    tokens = text[line_start + len(key) + 1 : line_end].split(" ")
    if token is None:
        tokens = [value]
    else:
        tokens[token] = value
    return text[:line_start] + f"{key}=" + " ".join(tokens) + text[line_end:]


def fix_tree_sizes(text: str) -> str:
    """Rewrite the header's tree_sizes to the tree blocks' byte lengths, as a careful editor would
    (a text without trees or 'end of trees' is returned as it is)."""
    data = text.encode()
    starts = [m.start() for m in re.finditer(rb"^Tree=\d+\n", data, flags=re.M)]
    if not starts or b"end of trees\n" not in data:
        return text
    ends = [*starts[1:], data.index(b"end of trees\n")]
    sizes = " ".join(str(end - start) for start, end in zip(starts, ends))
    return re.sub(r"^tree_sizes=.*$", f"tree_sizes={sizes}", text, count=1, flags=re.M)


def flip_bytes(data: bytes, count: int = 16, seed: int = 0) -> bytes:
    """``data`` with ``count`` bytes at seeded places inverted."""
    damaged = bytearray(data)
    for position in random.Random(seed).sample(range(len(data)), count):
        damaged[position] ^= 0xFF
    return bytes(damaged)


MODEL_TEXT_FAULTS = {
    "truncated": lambda text: text[: len(text) // 2],
    "split_feature=99999": lambda text: edit_model_field(text, "split_feature", "99999"),
    "num_leaves=2000000000": lambda text: edit_model_field(text, "num_leaves", "2000000000", None),
    "left_child=-99999": lambda text: edit_model_field(text, "left_child", "-99999"),
    "leaf_value=1e308": lambda text: edit_model_field(text, "leaf_value", "1e308"),
}
"""The fault injection's edits of a ranker.txt that made LightGBM abort (exit 134), by name."""


def damaged_ranker_files(text: str) -> dict[str, bytes]:
    """Every MODEL_TEXT_FAULTS edit of ``text``, and 16 flipped bytes (once not UTF-8: exit 3 before)."""
    return {
        **{name: edit(text).encode() for name, edit in MODEL_TEXT_FAULTS.items()},
        "16 flipped bytes": flip_bytes(text.encode()),
    }


def ingest_and_split_ml100k(cli, datasets: Path, split: str, *split_options: str) -> None:
    """Ingest the real ML-100K from ``datasets`` and split it as ``split`` (realdata tests)."""
    run_json(cli, "ingest", "ml-100k", "--source", datasets / "ml-100k")
    run_json(cli, "split", "ml-100k", "--name", split, *split_options)


# -- data with a known right answer, for the candidate generators -----------------------------------
GROUPS, GROUP_USERS, BLOCK_ITEMS, PICKS = 4, 15, 12, 6
N_USERS = GROUPS * GROUP_USERS + 1  # the last user has an empty row (cold start)
N_ITEMS = GROUPS * BLOCK_ITEMS


def block_matrix(seed: int = 7):
    """4 user groups x 4 item blocks, each user interacting with half of its own block (users and items
    in group order); the last user has an empty row (cold start)."""
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    rows, cols = [], []
    for group in range(GROUPS):
        for member in range(GROUP_USERS):
            picked = rng.choice(BLOCK_ITEMS, PICKS, replace=False) + group * BLOCK_ITEMS
            rows += [group * GROUP_USERS + member] * PICKS
            cols += picked.tolist()
    data = np.ones(len(rows), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(N_USERS, N_ITEMS))


def block_metadata(n_items: int):
    """Item metadata that mirrors the blocks: the items of block b share genre "g<b>" and no other
    genre; every title holds the common word "film" and a word of its own; all from one decade."""
    from recsys_cli.models import ItemMetadata

    return ItemMetadata(
        tuple(f"Film item{i} (1995)" for i in range(n_items)),
        tuple(1995 for _ in range(n_items)),
        tuple((f"g{i // BLOCK_ITEMS}",) for i in range(n_items)),
    )


def block_user_metadata(n_users: int):
    """User demographics that mirror the groups: each group its own (gender, age band) pair; users beyond
    the groups (the last, empty one) unknown."""
    from recsys_cli.models import UserMetadata

    groups = [i // GROUP_USERS if i < GROUPS * GROUP_USERS else None for i in range(n_users)]
    return UserMetadata(
        tuple(None if g is None else "FM"[g % 2] for g in groups),
        tuple(None if g is None else (22, 40)[g // 2 % 2] for g in groups),
        tuple(None if g is None else "writer" for g in groups),
    )


def training_data(matrix, ts=None):
    """``matrix`` as the models' TrainingData, with ``block_metadata`` and ``block_user_metadata`` for the
    models that read them."""
    import numpy as np

    from recsys_cli.models import TrainingData

    coo = matrix.tocoo()
    order = np.lexsort((coo.col, coo.row))
    items = coo.col[order].astype(np.int64)
    ts = ts if ts is not None else np.zeros(items.size, dtype=np.int64)
    # metadata for the models that need it (content); the others never read it
    return TrainingData(
        matrix,
        items,
        ts,
        item_metadata=block_metadata(matrix.shape[1]),
        user_metadata=block_user_metadata(matrix.shape[0]),
    )


def rated_block_matrix(seed: int = 7):
    """``block_matrix`` with ratings, for the rating-prediction models (svd, svdpp): a user rates the
    items of their own block 5 and two items of every other block 1, so ratings carry the blocks; the
    last user still has an empty row."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rated = (block_matrix(seed) * 5.0).tolil()
    for user in range(N_USERS - 1):
        for block in range(GROUPS):
            if block != user // GROUP_USERS:
                for item in rng.choice(BLOCK_ITEMS, 2, replace=False) + block * BLOCK_ITEMS:
                    rated[user, item] = 1.0
    return rated.tocsr().astype(np.float32)
