"""The split strategies: exact counts, determinism, no leakage, filters, atomic publication."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.data.splits import (
    TEST,
    TRAIN,
    VAL,
    SplitConfig,
    assign_parts,
    canonical,
    compute_split,
    make_split,
    parse_time,
    round_half_up,
)
from recsys_cli.data.workspace import Workspace
from recsys_cli.datasets.ingest import ingest_file
from recsys_cli.datasets.interaction_file import ColumnMapping
from recsys_cli.errors import (
    AlreadyExistsError,
    InvalidParameterError,
    UnknownNameError,
    WorkspaceError,
)
from tests.support import build_template, copy_workspace

PARTS = ("train", "val", "test")


def random_rows(seed: int = 0, n: int = 600, users: int = 40, items: int = 60, ts_values: int = 200):
    rng = np.random.default_rng(seed)
    # skewed users so that some have one or two interactions
    u = np.minimum(rng.geometric(0.08, n) - 1, users - 1)
    return u, rng.integers(0, items, n), rng.integers(1, 6, n).astype(float), rng.integers(0, ts_values, n) * 60


def write_csv(path: Path, u, i, r, ts=None) -> Path:
    lines = ["user,item,rating" + (",ts" if ts is not None else "")]
    for k in range(len(u)):
        line = f"u{u[k]},i{i[k]},{r[k]:g}"
        lines.append(line + (f",{ts[k]}" if ts is not None else ""))
    path.write_text("\n".join(lines) + "\n")
    return path


def ingest(ws: Workspace, tmp_path: Path, name: str, rows, with_ts: bool = True) -> None:
    u, i, r, ts = rows
    csv = write_csv(tmp_path / f"{name}.csv", u, i, r, ts if with_ts else None)
    ingest_file(ws, csv, name, ColumnMapping("user", "item", "rating", "ts" if with_ts else None))


def ingest_toy_shuffled_and_flat(root: Path) -> None:
    ws = Workspace(root)
    rows = random_rows(seed=1)
    shuffle = np.random.default_rng(1).permutation(len(rows[0]))
    ingest(ws, root.parent, "toy", rows)
    ingest(ws, root.parent, "shuffled", tuple(x[shuffle] for x in rows))
    ingest(ws, root.parent, "flat", rows, with_ts=False)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """'toy', the same rows shuffled as 'shuffled', and 'flat' without timestamps: ingested once."""
    return build_template(tmp_path_factory, "splits-template", ingest_toy_shuffled_and_flat)[0]


@pytest.fixture
def ws(template, tmp_path) -> Workspace:
    return Workspace(copy_workspace(template, tmp_path / "ws"))


def split_of(rows, **config):
    data = canonical(*(np.asarray(a) for a in (rows[0], rows[1], rows[2], rows[3])))
    return compute_split(data, SplitConfig(**config).resolve())


# -- rounding and configuration ------------------------------------------------------------------
def test_round_half_up_is_not_bankers_rounding():
    assert list(round_half_up([0.5, 1.5, 2.5, 2.4999, 0.15 * 10, 0.0])) == [1, 2, 3, 2, 2, 0]


@pytest.mark.parametrize(
    "config, fragment",
    [
        (dict(strategy="nope"), "valid strategies: random, random-per-user, temporal, leave-last"),
        (dict(strategy="random", test_fraction=0.0), "(0, 1)"),
        (dict(strategy="random", test_fraction=1.0), "(0, 1)"),
        (dict(strategy="random", test_fraction=float("nan")), "(0, 1)"),
        (dict(strategy="random", val_fraction=-0.1), "[0, 1)"),
        (dict(strategy="random", test_fraction=0.6, val_fraction=0.4), "below 1"),
        (dict(strategy="leave-last", n=0), "at least 1"),
        (dict(strategy="leave-last", val_n=-1), "at least 0"),
        (dict(strategy="leave-last", test_fraction=0.2), "does not apply"),
        (dict(strategy="random", n=2), "does not apply"),
        (dict(strategy="temporal", seed=3), "does not apply"),
        (dict(strategy="temporal", test_fraction=0.2, test_after="2000-01-01"), "pass one"),
        (dict(strategy="temporal", test_after="last tuesday"), "2003-01-01"),
        (dict(strategy="random", k_core=0), "at least 1"),
        (dict(strategy="random", seed=-1), "at least 0"),
        (dict(strategy="random", min_rating="high"), "number"),
    ],
)
def test_bad_configs_are_refused_with_a_hint(config, fragment):
    with pytest.raises(InvalidParameterError) as info:
        SplitConfig(**config).resolve()
    assert fragment in str(info.value)


def test_defaults_are_filled_per_strategy():
    assert SplitConfig("random").resolve().params() == {
        "strategy": "random",
        "test_fraction": 0.2,
        "val_fraction": 0.0,
        "seed": 42,
    }
    assert SplitConfig("leave-last").resolve().params() == {"strategy": "leave-last", "n": 1, "val_n": 0}
    assert SplitConfig("temporal", test_after="2000-01-01").resolve().test_after == 946684800


@pytest.mark.parametrize(
    "text, expected",
    [
        ("946684800", 946684800),
        (946684800, 946684800),
        ("2000-01-01", 946684800),
        ("2000-01-01T00:00:00Z", 946684800),
        ("2000-01-01T02:00:00+02:00", 946684800),
        (1.5, 2),
    ],
)
def test_parse_time(text, expected):
    assert parse_time(text) == expected


# -- strategies on arrays ------------------------------------------------------------------------
@pytest.mark.parametrize("n, tf, vf", [(100, 0.2, 0.1), (7, 0.25, 0.0), (33, 0.15, 0.15)])
def test_random_counts_are_exact(n, tf, vf):
    rows = random_rows(n=n)
    data, parts, summary = split_of(rows, strategy="random", test_fraction=tf, val_fraction=vf)
    assert summary["test"]["interactions"] == round_half_up(tf * n) == np.count_nonzero(parts == TEST)
    assert summary["val"]["interactions"] == round_half_up(vf * n) == np.count_nonzero(parts == VAL)
    assert summary["train"]["interactions"] == n - round_half_up(tf * n) - round_half_up(vf * n)


def check_per_user_counts(u, parts, tf, vf):
    counts = np.bincount(u)
    for user in np.flatnonzero(counts):
        n_u = counts[user]
        mine = parts[u == user]
        expected_test = min(int(round_half_up(tf * n_u)), n_u - 1)
        expected_val = min(int(round_half_up(vf * n_u)), n_u - 1 - expected_test)
        assert np.count_nonzero(mine == TEST) == expected_test
        assert np.count_nonzero(mine == VAL) == expected_val
        assert np.count_nonzero(mine == TRAIN) >= 1


def test_random_per_user_counts_are_exact_and_every_user_keeps_train():
    rows = random_rows(seed=3)
    data, parts, summary = split_of(rows, strategy="random-per-user", test_fraction=0.3, val_fraction=0.2)
    check_per_user_counts(data.user_idx, parts, 0.3, 0.2)
    assert summary["test_users_not_in_train"] == 0
    assert summary["train"]["users"] == len(np.unique(rows[0]))


@settings(max_examples=60, deadline=None)
@given(
    users=st.lists(st.integers(0, 12), min_size=1, max_size=120),
    tf=st.floats(0.01, 0.7),
    vf=st.floats(0.0, 0.29),
    seed=st.integers(0, 2**32),
)
def test_random_per_user_counts_property(users, tf, vf, seed):
    u = np.array(users)
    data = canonical(u, np.arange(len(u)), np.ones(len(u)), np.zeros(len(u)))
    config = SplitConfig("random-per-user", test_fraction=tf, val_fraction=vf, seed=seed).resolve()
    parts, _ = assign_parts(data, config)
    check_per_user_counts(data.user_idx, parts, tf, vf)


def test_random_choices_are_spread_within_users():
    # one user, 1000 interactions: a seeded draw, not the first or last rows
    n = 1000
    data = canonical(np.zeros(n), np.arange(n), np.ones(n), np.arange(n))
    parts, _ = assign_parts(data, SplitConfig("random-per-user", test_fraction=0.1).resolve())
    test_positions = np.flatnonzero(parts == TEST)
    assert len(test_positions) == 100
    assert test_positions.min() < 100 and test_positions.max() > 900


@pytest.mark.parametrize("strategy", ["random", "random-per-user"])
def test_same_seed_same_split_different_seed_different(strategy):
    rows = random_rows(seed=5)
    _, a, _ = split_of(rows, strategy=strategy, seed=1, val_fraction=0.1)
    _, b, _ = split_of(rows, strategy=strategy, seed=1, val_fraction=0.1)
    _, c, _ = split_of(rows, strategy=strategy, seed=2, val_fraction=0.1)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("strategy", ["random", "random-per-user", "temporal", "leave-last"])
def test_row_order_of_the_input_does_not_matter(strategy):
    rows = random_rows(seed=6)
    shuffle = np.random.default_rng(0).permutation(len(rows[0]))
    d1, p1, s1 = split_of(rows, strategy=strategy)
    d2, p2, s2 = split_of(tuple(a[shuffle] for a in rows), strategy=strategy)
    assert s1 == s2
    for column in ("user_idx", "item_idx", "rating", "ts"):
        assert np.array_equal(getattr(d1, column)[p1 == TEST], getattr(d2, column)[p2 == TEST])


def test_temporal_fraction_never_straddles_equal_timestamps():
    # 10 timestamps, each shared by 10 rows: 0.25 cannot be hit, 0.2 or 0.3 can
    ts = np.repeat(np.arange(10) * 100, 10)
    n = len(ts)
    rows = (np.arange(n) % 7, np.arange(n) % 11, np.ones(n), ts)
    data, parts, summary = split_of(rows, strategy="temporal", test_fraction=0.25)
    assert summary["test"]["interactions"] == 20  # tie between 20 and 30: the smaller test wins
    assert summary["test_cut_ts"] == 800
    assert data.ts[parts == TRAIN].max() < data.ts[parts == TEST].min()
    data, parts, summary = split_of(rows, strategy="temporal", test_fraction=0.27)
    assert summary["test"]["interactions"] == 30 and summary["test"]["fraction"] == 0.3


def test_temporal_with_validation_orders_train_val_test():
    rows = random_rows(seed=8, n=2000)
    data, parts, summary = split_of(rows, strategy="temporal", test_fraction=0.2, val_fraction=0.1)
    train, val, test = (data.ts[parts == p] for p in (TRAIN, VAL, TEST))
    assert train.max() < val.min() <= val.max() < test.min()
    assert summary["val_cut_ts"] == val.min() and summary["test_cut_ts"] == test.min()
    assert abs(summary["test"]["fraction"] - 0.2) < 0.01 and abs(summary["val"]["fraction"] - 0.1) < 0.01
    # users who appear only after the cut are cold-start users, and the summary says how many
    cold = set(data.user_idx[parts == TEST]) - set(data.user_idx[parts == TRAIN])
    assert summary["test_users_not_in_train"] == len(cold)


def test_temporal_test_after_is_inclusive():
    ts = np.array([0, 100, 200, 300, 400])
    rows = (np.zeros(5), np.arange(5), np.ones(5), ts)
    data, parts, summary = split_of(rows, strategy="temporal", test_after=300)
    assert list(parts) == [TRAIN, TRAIN, TRAIN, TEST, TEST]
    with pytest.raises(InvalidParameterError, match="leaves test empty"):
        split_of(rows, strategy="temporal", test_after=401)
    with pytest.raises(InvalidParameterError, match="leaves train empty"):
        split_of(rows, strategy="temporal", test_after=0)


def test_temporal_refuses_a_single_timestamp():
    rows = (np.arange(4), np.arange(4), np.ones(4), np.full(4, 7))
    with pytest.raises(InvalidParameterError, match="same timestamp"):
        split_of(rows, strategy="temporal")


def test_leave_last_takes_each_users_latest_with_item_tie_break():
    #            user 0: four rows, two share the last ts; user 1: two rows; user 2: one row
    u = np.array([0, 0, 0, 0, 1, 1, 2])
    i = np.array([5, 3, 9, 2, 1, 4, 7])
    ts = np.array([10, 40, 40, 20, 5, 6, 1])
    data, parts, summary = split_of((u, i, np.ones(7), ts), strategy="leave-last", n=2, val_n=1)
    by_row = {(int(a), int(b)): int(p) for a, b, p in zip(data.user_idx, data.item_idx, parts)}
    # user 0 order by (ts, item): 5@10, 2@20, 3@40, 9@40 -> test {3, 9}, val {2}, train {5}
    assert by_row[(0, 9)] == TEST and by_row[(0, 3)] == TEST and by_row[(0, 2)] == VAL and by_row[(0, 5)] == TRAIN
    # user 1 has two rows: one held out, one kept; user 2 keeps its only row
    assert by_row[(1, 4)] == TEST and by_row[(1, 1)] == TRAIN and by_row[(2, 7)] == TRAIN
    assert summary["test"]["interactions"] == 3 and summary["val"]["interactions"] == 1


def test_leave_last_on_random_data():
    rows = random_rows(seed=9)
    data, parts, _ = split_of(rows, strategy="leave-last", n=1)
    for user in np.unique(data.user_idx):
        mine = data.user_idx == user
        order = np.lexsort((data.item_idx[mine], data.ts[mine]))
        expected = np.full(mine.sum(), TRAIN)
        if mine.sum() > 1:
            expected[order[-1]] = TEST
        assert np.array_equal(parts[mine], expected)


# -- filters ----------------------------------------------------------------------------------------
def reference_k_core(u, i, k):
    keep = list(zip(u.tolist(), i.tolist()))
    while True:
        uc, ic = {}, {}
        for a, b in keep:
            uc[a] = uc.get(a, 0) + 1
            ic[b] = ic.get(b, 0) + 1
        kept = [(a, b) for a, b in keep if uc[a] >= k and ic[b] >= k]
        if len(kept) == len(keep):
            return sorted(kept)
        keep = kept


@pytest.mark.parametrize("k", [2, 3, 5])
def test_k_core_matches_a_reference_and_leaves_everyone_with_k(k):
    rows = random_rows(seed=k, n=800, users=80, items=100)
    data, parts, summary = split_of(rows, strategy="random-per-user", k_core=k)
    assert np.bincount(data.user_idx)[np.unique(data.user_idx)].min() >= k
    assert np.bincount(data.item_idx)[np.unique(data.item_idx)].min() >= k
    assert sorted(zip(data.user_idx.tolist(), data.item_idx.tolist())) == reference_k_core(rows[0], rows[1], k)
    assert summary["removed_by_k_core"] == len(rows[0]) - len(data) > 0
    assert summary["k_core_rounds"] >= 2


def test_min_rating_runs_before_k_core():
    rows = random_rows(seed=11)
    data, _, summary = split_of(rows, strategy="random", min_rating=4, k_core=2)
    assert data.rating.min() >= 4
    assert summary["removed_by_min_rating"] == int(np.count_nonzero(rows[2] < 4))
    assert summary["input_interactions"] == len(rows[0])
    assert summary["interactions"] == len(rows[0]) - summary["removed_by_min_rating"] - summary["removed_by_k_core"]


def test_filters_that_remove_everything_are_refused():
    with pytest.raises(InvalidParameterError, match="left no interactions"):
        split_of(random_rows(), strategy="random", min_rating=99)


# -- the workspace: files, catalog, determinism, replacement -----------------------------------------
def test_make_split_writes_three_files_and_the_catalog_row(ws):
    result = make_split(ws, "toy", "s1", SplitConfig("leave-last", n=1))
    base = ws.resolve(result.split.path)
    assert base.parent == ws.splits_dir / "toy" / "s1"
    with ws.catalog() as catalog:
        record = catalog.split("toy", "s1")
        dataset = catalog.dataset("toy")
    assert record.path == result.split.path and record.strategy == "leave-last"
    assert record.params == {"strategy": "leave-last", "n": 1, "val_n": 0}
    assert record.summary == result.summary and record.summary["val"]["interactions"] == 0
    source = pq.read_table(ws.resolve(dataset.path) / "interactions.parquet")
    tables = [pq.read_table(base / f"{p}.parquet") for p in PARTS]
    for table in tables:
        # names and types; nullability flags differ between DuckDB versions
        assert [(f.name, f.type) for f in table.schema] == [(f.name, f.type) for f in source.schema]
    assert pq.ParquetFile(base / "train.parquet").metadata.row_group(0).column(0).compression == "ZSTD"
    assert sum(t.num_rows for t in tables) == source.num_rows
    assert tables[1].num_rows == 0


def test_same_seed_gives_identical_bytes_across_shuffled_inputs(ws):
    config = SplitConfig("random-per-user", val_fraction=0.1, seed=7)
    runs = (("toy", "x"), ("toy", "y"), ("shuffled", "x"))
    paths = [ws.resolve(make_split(ws, d, n, config).split.path) for d, n in runs]
    other = ws.resolve(make_split(ws, "toy", "z", SplitConfig("random-per-user", val_fraction=0.1, seed=8)).split.path)
    for part in PARTS:
        digests = {(p / f"{part}.parquet").read_bytes() for p in paths}
        assert len(digests) == 1
    assert (other / "test.parquet").read_bytes() != (paths[0] / "test.parquet").read_bytes()


def test_a_split_in_a_missing_workspace_is_refused_and_creates_nothing(tmp_path):
    ws = Workspace(tmp_path / "nothing")
    with pytest.raises(WorkspaceError, match="no recsys workspace at .*nothing: the folder does not exist"):
        make_split(ws, "toy", "s", SplitConfig("random"))
    assert not ws.root.exists()


def test_errors_before_anything_is_written(ws):
    with pytest.raises(UnknownNameError) as info:
        make_split(ws, "tyo", "s", SplitConfig("random"))
    assert info.value.suggestion == "toy"
    for strategy in ("temporal", "leave-last"):
        with pytest.raises(InvalidParameterError, match="no timestamps"):
            make_split(ws, "flat", "s", SplitConfig(strategy))
    with pytest.raises(InvalidParameterError, match="invalid split name"):
        make_split(ws, "toy", "../evil", SplitConfig("random"))
    make_split(ws, "toy", "s", SplitConfig("random"))
    with pytest.raises(AlreadyExistsError):
        make_split(ws, "toy", "s", SplitConfig("random"))


def test_force_replaces_and_removes_the_old_generation(ws):
    first = make_split(ws, "toy", "s", SplitConfig("random"))
    second = make_split(ws, "toy", "s", SplitConfig("temporal"), force=True)
    assert second.replaced and second.split.strategy == "temporal"
    assert not ws.resolve(first.split.path).exists()
    assert ws.resolve(second.split.path).exists()
    assert [p.name for p in (ws.splits_dir / "toy" / "s").iterdir()] == [Path(second.split.path).name]


def test_a_failed_split_leaves_no_trace(ws):
    before = sorted(p.relative_to(ws.root) for p in ws.root.rglob("*") if p.name != ".lock")
    with pytest.raises(InvalidParameterError):
        make_split(ws, "toy", "s", SplitConfig("random", min_rating=99))
    after = sorted(p.relative_to(ws.root) for p in ws.root.rglob("*") if p.name != ".lock")
    assert before == after
    with ws.catalog() as catalog:
        assert catalog.splits() == []


def test_canonical_order_matches_a_full_lexsort():
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(1, 40))
        u, i, ts = rng.integers(0, 4, n), rng.integers(0, 3, n), rng.integers(0, 3, n)
        r = rng.integers(0, 3, n).astype(float)
        if trial % 2:  # the order ingest writes: (user, ts, item), ratings of duplicates unordered
            o = np.lexsort((i, ts, u))
            u, i, r, ts = u[o], i[o], r[o], ts[o]
        data = canonical(u, i, r, ts)
        o = np.lexsort((r, i, ts, u))
        for got, want in ((data.user_idx, u), (data.item_idx, i), (data.rating, r), (data.ts, ts)):
            assert np.array_equal(got, want[o])


def test_notes_name_cuts_filters_and_cold_start():
    from recsys_cli.data.splits import split_notes

    # user 2 and item 9 appear only after the cut, and item 2 once its low rating is filtered out
    rows = (
        np.array([0, 0, 1, 1, 2]),
        np.array([1, 2, 1, 2, 9]),
        np.array([5.0, 1, 5, 5, 5]),
        np.array([0, 10, 1, 20, 30]),
    )
    _, _, summary = split_of(rows, strategy="temporal", test_after=20, min_rating=2)
    notes, warnings = split_notes(summary)
    assert "--min-rating removed 1 interactions" in notes
    assert any(n.startswith("test: interactions at or after 1970-01-01T00:00:20Z") for n in notes)
    assert warnings == [
        "1 of 2 test users have no training interactions (cold start)",
        "2 test items never appear in train",
    ]


def test_make_split_result_carries_notes(ws):
    result = make_split(ws, "toy", "t", SplitConfig("temporal", test_fraction=0.5, k_core=2))
    assert any(n.startswith("--k-core removed") for n in result.notes)
    assert any(n.startswith("test: interactions at or after") for n in result.notes)
