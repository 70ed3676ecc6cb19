"""Time-ordered windows for a learned ranker: temporal-per-user, and temporal's --val-after."""

from __future__ import annotations

from functools import partial

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.data.splits import (
    STRATEGIES,
    TEST,
    TIME_ORDERED_STRATEGIES,
    TRAIN,
    VAL,
    SplitConfig,
    assign_parts,
    canonical,
    compute_split,
    round_half_up,
)
from recsys_cli.errors import InvalidParameterError
from tests.support import assert_refused as refused
from tests.support import build_template, copy_workspace, run_json

# split errors: only progress lines ("splitting toy ...") may precede the error line; no hint required
assert_refused = partial(refused, hint=False, only_progress_before=True)

DAY = 86_400
T0 = 946_684_800  # 2000-01-01T00:00:00Z: day d is 2000-01-(d+1)

# (user, item, day), in a file order that is not the canonical one: ties on a day are decided by item
ROWS = [
    (0, 0, 1),
    (0, 1, 2),
    (0, 4, 3),
    (0, 2, 3),
    (0, 3, 3),  # five rows, three on day 3
    (1, 5, 2),  # one row: always train
    (2, 1, 5),
    (2, 0, 2),  # two rows
    (3, 2, 6),
    (3, 0, 6),
    (3, 1, 6),  # three rows on the same day
]
# temporal-per-user, --test-fraction 0.4 --val-fraction 0.3: n_u = 5 -> test 2, val round(1.5) = 2;
# n_u = 1 -> nothing held out; n_u = 2 -> test 1, val 1 capped to 0; n_u = 3 -> test 1, val 1
PER_USER = {
    "train": {(0, 0, 1), (1, 5, 2), (2, 0, 2), (3, 0, 6)},
    "val": {(0, 1, 2), (0, 2, 3), (3, 1, 6)},
    "test": {(0, 3, 3), (0, 4, 3), (2, 1, 5), (3, 2, 6)},
}


def arrays(rows=ROWS):
    u, i, d = (np.array(column) for column in zip(*rows))
    return u, i, np.ones(len(u)), T0 + d * DAY


def parts_of(data, parts) -> dict[str, set]:
    days = (data.ts - T0) // DAY
    return {
        name: {(int(u), int(i), int(d)) for u, i, d in zip(data.user_idx[sel], data.item_idx[sel], days[sel])}
        for name, sel in (("train", parts == TRAIN), ("val", parts == VAL), ("test", parts == TEST))
    }


def split_of(rows=ROWS, **config):
    data = canonical(*arrays(rows))
    return compute_split(data, SplitConfig(**config).resolve())


# -- the constants -------------------------------------------------------------------------------
def test_time_ordered_strategies_are_known_strategies():
    assert TIME_ORDERED_STRATEGIES == ("temporal", "temporal-per-user", "leave-last")
    assert set(TIME_ORDERED_STRATEGIES) <= set(STRATEGIES)


# -- temporal-per-user on arrays -----------------------------------------------------------------
def test_temporal_per_user_known_answer():
    data, parts, summary = split_of(strategy="temporal-per-user", test_fraction=0.4, val_fraction=0.3)
    assert parts_of(data, parts) == PER_USER
    assert summary["test"]["interactions"] == 4 and summary["val"]["interactions"] == 3
    assert "test_cut_ts" not in summary and "val_cut_ts" not in summary


def test_temporal_per_user_ties_go_by_item_like_leave_last():
    # one user, four rows on the same day: the larger item_idx is the later one, for both strategies
    rows = [(0, 3, 1), (0, 0, 1), (0, 2, 1), (0, 1, 1)]
    data, parts, _ = split_of(rows, strategy="temporal-per-user", test_fraction=0.25, val_fraction=0.25)
    assert parts_of(data, parts) == {"train": {(0, 0, 1), (0, 1, 1)}, "val": {(0, 2, 1)}, "test": {(0, 3, 1)}}
    _, last, _ = split_of(rows, strategy="leave-last", n=1, val_n=1)
    assert np.array_equal(parts, last)


def test_temporal_per_user_defaults_and_params():
    config = SplitConfig("temporal-per-user").resolve()
    assert config.params() == {"strategy": "temporal-per-user", "test_fraction": 0.2, "val_fraction": 0.0}
    data, parts, summary = split_of(strategy="temporal-per-user")
    # 0.2 * n_u rounds to 1 for n_u = 5 and 3, to 0 for n_u = 1 and 2
    assert parts_of(data, parts)["test"] == {(0, 4, 3), (3, 2, 6)}
    assert summary["val"]["interactions"] == 0


def test_temporal_per_user_ignores_the_row_order_of_the_input():
    shuffled = [ROWS[k] for k in np.random.default_rng(0).permutation(len(ROWS))]
    data, parts, _ = split_of(shuffled, strategy="temporal-per-user", test_fraction=0.4, val_fraction=0.3)
    assert parts_of(data, parts) == PER_USER


@pytest.mark.parametrize(
    "config, fragment",
    [
        (dict(strategy="temporal-per-user", seed=1), "--seed does not apply to the temporal-per-user strategy"),
        (dict(strategy="temporal-per-user", n=1), "--n does not apply"),
        (dict(strategy="temporal-per-user", test_after="2000-01-01"), "--test-after does not apply"),
        (dict(strategy="temporal-per-user", val_after="2000-01-01"), "--val-after does not apply"),
        (dict(strategy="temporal-per-user", test_fraction=0.5, val_fraction=0.5), "below 1"),
        (dict(strategy="random-per-user", val_after="2000-01-01"), "--val-after does not apply"),
        (dict(strategy="leave-last", val_after="2000-01-01"), "--val-after does not apply"),
        (
            dict(strategy="temporal", val_fraction=0.1, val_after="2000-01-01"),
            "--val-fraction and --val-after both set the validation window",
        ),
        (dict(strategy="temporal", val_after="next week"), "cannot read --val-after 'next week'"),
        (dict(strategy="temporal", val_after=float("inf")), "--val-after must be finite"),
    ],
)
def test_bad_configs_are_refused(config, fragment):
    with pytest.raises(InvalidParameterError) as info:
        SplitConfig(**config).resolve()
    assert fragment in str(info.value)


def first(values):
    return values.min() if len(values) else None


def check_time_ordered(data, parts):
    """Per user: every train row <= every val row <= every test row, by (ts, item_idx)."""
    key = data.ts.astype(np.int64) * (int(data.item_idx.max(initial=0)) + 1) + data.item_idx
    for user in np.unique(data.user_idx):
        mine = data.user_idx == user
        ts = {code: data.ts[mine & (parts == code)] for code in (TRAIN, VAL, TEST)}
        order = {code: key[mine & (parts == code)] for code in (TRAIN, VAL, TEST)}
        present = [code for code in (TRAIN, VAL, TEST) if len(ts[code])]
        for before, after in zip(present, present[1:]):
            assert ts[before].max() <= ts[after].min()
            assert order[before].max() <= order[after].min()  # ties: the larger item_idx is later


@settings(max_examples=80, deadline=None)
@given(
    rows=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 6), st.integers(0, 5)), min_size=1, max_size=80),
    tf=st.floats(0.01, 0.7),
    vf=st.floats(0.0, 0.29),
)
def test_temporal_per_user_property(rows, tf, vf):
    u, i, d = (np.array(column) for column in zip(*rows))
    data = canonical(u, i, np.ones(len(u)), T0 + d * DAY)
    parts, extra = assign_parts(data, SplitConfig("temporal-per-user", test_fraction=tf, val_fraction=vf).resolve())
    assert extra == {}
    check_time_ordered(data, parts)
    counts = np.bincount(data.user_idx)
    for user in np.flatnonzero(counts):
        n_u, mine = counts[user], parts[data.user_idx == user]
        n_test = min(int(round_half_up(tf * n_u)), n_u - 1)
        assert np.count_nonzero(mine == TEST) == n_test
        assert np.count_nonzero(mine == VAL) == min(int(round_half_up(vf * n_u)), n_u - 1 - n_test)
        assert np.count_nonzero(mine == TRAIN) >= 1


# -- temporal --val-after on arrays -----------------------------------------------------------------
def test_val_after_known_answer():
    # test: day >= 4 (2000-01-05); val: day 3 (2000-01-04) up to the test cut; train: before day 3
    data, parts, summary = split_of(strategy="temporal", test_after="2000-01-05", val_after="2000-01-04")
    assert parts_of(data, parts) == {
        "train": {(0, 0, 1), (0, 1, 2), (1, 5, 2), (2, 0, 2)},
        "val": {(0, 2, 3), (0, 3, 3), (0, 4, 3)},
        "test": {(2, 1, 5), (3, 0, 6), (3, 1, 6), (3, 2, 6)},
    }
    assert summary["val_cut_ts"] == T0 + 3 * DAY and summary["val_cut"] == "2000-01-04T00:00:00Z"
    assert summary["test_cut_ts"] == T0 + 4 * DAY


def test_val_after_with_a_test_fraction():
    # --test-fraction 0.3 of 11 rows: the cut that leaves 3 at or after it is day 6
    data, parts, summary = split_of(strategy="temporal", test_fraction=0.3, val_after=T0 + 4 * DAY)
    assert summary["test_cut_ts"] == T0 + 6 * DAY and summary["val_cut_ts"] == T0 + 4 * DAY
    assert parts_of(data, parts)["val"] == {(2, 1, 5)}
    assert SplitConfig("temporal", val_after="2000-01-05").resolve().params() == {
        "strategy": "temporal",
        "test_fraction": 0.2,
        "val_after": T0 + 4 * DAY,
    }


@pytest.mark.parametrize(
    "config, fragment",
    [
        (dict(test_after="2000-01-05", val_after="2000-01-05"), "is not before the test cut"),
        (dict(test_after="2000-01-05", val_after="2000-01-06"), "move --val-after earlier, or --test-after later"),
        (dict(test_fraction=0.3, val_after="2000-01-08"), "or lower --test-fraction"),
        (dict(test_after="2000-01-05", val_after="2000-01-01"), "move --val-after later"),  # train empty
        (dict(test_after="2000-01-06", val_after="2000-01-05"), "leaves val empty"),  # nothing on day 4
    ],
)
def test_val_after_refusals(config, fragment):
    with pytest.raises(InvalidParameterError) as info:
        split_of(strategy="temporal", **config)
    assert fragment in str(info.value)


@settings(max_examples=60, deadline=None)
@given(
    days=st.lists(st.integers(0, 20), min_size=3, max_size=60),
    val_after=st.integers(1, 19),
    gap=st.integers(1, 10),
)
def test_val_after_windows_are_ordered(days, val_after, gap):
    d = np.array(days)
    data = canonical(np.arange(len(d)) % 4, np.arange(len(d)) % 7, np.ones(len(d)), T0 + d * DAY)
    config = SplitConfig("temporal", test_after=T0 + (val_after + gap) * DAY, val_after=T0 + val_after * DAY)
    parts, extra = assign_parts(data, config.resolve())
    assert extra["val_cut_ts"] == T0 + val_after * DAY
    assert np.all(data.ts[parts == TRAIN] < extra["val_cut_ts"])
    assert np.all((data.ts[parts == VAL] >= extra["val_cut_ts"]) & (data.ts[parts == VAL] < extra["test_cut_ts"]))
    assert np.all(data.ts[parts == TEST] >= extra["test_cut_ts"])
    check_time_ordered(data, parts)


# -- through the CLI ---------------------------------------------------------------------------------
def ingest_tiny_and_flat(root) -> None:
    from recsys_cli.data.workspace import Workspace
    from recsys_cli.datasets.ingest import ingest_file
    from recsys_cli.datasets.interaction_file import ColumnMapping

    ws = Workspace(root)
    for name, with_ts in (("tiny", True), ("flat", False)):
        lines = ["user,item,rating" + (",ts" if with_ts else "")]
        lines += [f"u{u},i{i},1" + (f",{T0 + d * DAY}" if with_ts else "") for u, i, d in ROWS]
        csv = root.parent / f"{name}.csv"
        csv.write_text("\n".join(lines) + "\n")
        ingest_file(ws, csv, name, ColumnMapping("user", "item", "rating", "ts" if with_ts else None))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A workspace with 'tiny' (ROWS, timestamps) and 'flat' (no timestamps), ingested once."""
    return build_template(tmp_path_factory, "time-windows-template", ingest_tiny_and_flat)[0]


@pytest.fixture
def tiny(template, workspace_dir):
    copy_workspace(template, workspace_dir)
    return "tiny"


def read_parts(folder) -> dict[str, set]:
    out = {}
    for part in ("train", "val", "test"):
        table = pq.read_table(folder / f"{part}.parquet").to_pydict()
        out[part] = {(u, i, (ts - T0) // DAY) for u, i, ts in zip(table["user_idx"], table["item_idx"], table["ts"])}
    return out


def test_cli_temporal_per_user(cli, tiny, workspace_dir):
    doc = run_json(
        cli,
        "split",
        "tiny",
        "--name",
        "tpu",
        "--strategy",
        "temporal-per-user",
        "--test-fraction",
        "0.4",
        "--val-fraction",
        "0.3",
    )
    assert doc["strategy"] == "temporal-per-user"
    assert doc["params"] == {"strategy": "temporal-per-user", "test_fraction": 0.4, "val_fraction": 0.3}
    assert read_parts(workspace_dir / doc["path"]) == PER_USER  # u<k> and i<k> ingest as index k


def test_cli_val_after(cli, tiny, workspace_dir):
    result = cli(
        "split",
        "tiny",
        "--name",
        "va",
        "--strategy",
        "temporal",
        "--test-after",
        "2000-01-05",
        "--val-after",
        "2000-01-04",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stderr
    assert "val: interactions from 2000-01-04T00:00:00Z" in result.stderr
    doc = run_json(
        cli,
        "split",
        "tiny",
        "--name",
        "va",
        "--strategy",
        "temporal",
        "--test-after",
        "2000-01-05",
        "--val-after",
        "2000-01-04",
        "--force",
    )
    assert doc["params"]["val_after"] == T0 + 3 * DAY and "val_fraction" not in doc["params"]
    assert doc["summary"]["val_cut"] == "2000-01-04T00:00:00Z"
    assert read_parts(workspace_dir / doc["path"])["val"] == {(0, 2, 3), (0, 3, 3), (0, 4, 3)}


@pytest.mark.parametrize(
    "args, fragment",
    [
        (
            ["--strategy", "temporal", "--val-after", "2000-01-04", "--val-fraction", "0.1"],
            "--val-fraction and --val-after both set the validation window",
        ),
        (
            ["--strategy", "temporal", "--test-after", "2000-01-05", "--val-after", "2000-01-06"],
            "is not before the test cut",
        ),
        (
            ["--strategy", "temporal", "--test-after", "2000-01-05", "--val-after", "2000-01-05"],
            "is not before the test cut",
        ),
        (
            ["--strategy", "random-per-user", "--val-after", "2000-01-04"],
            "--val-after does not apply to the random-per-user strategy",
        ),
        (
            ["--strategy", "temporal-per-user", "--val-after", "2000-01-04"],
            "--val-after does not apply to the temporal-per-user strategy",
        ),
        (["--strategy", "temporal-per-user", "--seed", "3"], "--seed does not apply to the temporal-per-user strategy"),
        (["--strategy", "temporal", "--val-after", "someday"], "cannot read --val-after"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(cli, tiny, workspace_dir, args, fragment):
    assert_refused(cli, workspace_dir, ["split", "tiny", "--name", "s", *args], fragment)


def test_temporal_per_user_needs_timestamps(cli, tiny, workspace_dir):
    assert_refused(
        cli, workspace_dir, ["split", "flat", "--name", "s", "--strategy", "temporal-per-user"], "has no timestamps"
    )
