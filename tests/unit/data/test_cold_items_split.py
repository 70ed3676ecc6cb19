"""The cold-items split (new items): whole items held out, every one of their rows in test (or val), none
in train; seeded counts rounded half up; the same data and seed give the same parts whatever the row
order; held-out items without metadata are counted (the workspace warns), never refused."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recsys_cli.data.splits import (
    TEST,
    TRAIN,
    VAL,
    SplitConfig,
    canonical,
    compute_split,
    held_out_without_metadata,
    round_half_up,
    split_notes,
)
from recsys_cli.errors import InvalidParameterError


def rows(seed: int = 0, n: int = 800, users: int = 50, items: int = 90):
    rng = np.random.default_rng(seed)
    # skewed items, so some have one interaction and some many
    return (
        rng.integers(0, users, n),
        np.minimum(rng.geometric(0.04, n) - 1, items - 1),
        rng.integers(1, 6, n).astype(float),
        rng.integers(0, 1000, n),
    )


def cold_split(data_rows, **options):
    data = canonical(*(np.asarray(a) for a in data_rows))
    return compute_split(data, SplitConfig(strategy="cold-items", **options).resolve())


def part_items(data, parts, code) -> set[int]:
    return set(np.unique(data.item_idx[parts == code]).tolist())


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    data_seed=st.integers(0, 1000),
    test_fraction=st.sampled_from([0.1, 0.15, 0.2, 0.35]),
    val_fraction=st.sampled_from([0.0, 0.05, 0.1, 0.25]),
)
def test_held_out_items_take_every_row_with_them(seed, data_seed, test_fraction, val_fraction):
    options = {"test_fraction": test_fraction, "val_fraction": val_fraction, "seed": seed}
    data, parts, summary = cold_split(rows(data_seed), **options)
    present = np.unique(data.item_idx)
    test, val, train = (part_items(data, parts, code) for code in (TEST, VAL, TRAIN))
    assert len(test) == round_half_up(test_fraction * present.size)
    assert len(val) == round_half_up(val_fraction * present.size)
    # an item is in exactly one part: all its rows went where it went
    assert not (test & val) and not (test & train) and not (val & train)
    assert test | val | train == set(present.tolist())
    assert summary["held_out_items"] == {"test": len(test), "val": len(val)}
    assert summary["items_with_interactions"] == present.size
    assert summary["test_items_not_in_train"] == len(test) and summary["val_items_not_in_train"] == len(val)
    for code, items in ((TEST, test), (VAL, val)):
        assert (parts[np.isin(data.item_idx, list(items))] == code).all()


def test_the_draw_is_a_seeded_permutation_of_the_items_present():
    data, parts, _ = cold_split(rows(1), test_fraction=0.2, val_fraction=0.1, seed=7)
    present = np.unique(data.item_idx)
    order = np.random.default_rng(7).permutation(present)
    n_test, n_val = int(round_half_up(0.2 * present.size)), int(round_half_up(0.1 * present.size))
    assert part_items(data, parts, TEST) == set(order[:n_test].tolist())
    assert part_items(data, parts, VAL) == set(order[n_test : n_test + n_val].tolist())


def test_same_seed_same_parts_whatever_the_row_order_and_another_seed_differs():
    original = rows(2)
    shuffle = np.random.default_rng(0).permutation(len(original[0]))
    first = cold_split(original, seed=5)
    again = cold_split(tuple(a[shuffle] for a in original), seed=5)
    assert np.array_equal(first[1], again[1]) and np.array_equal(first[0].item_idx, again[0].item_idx)
    other = cold_split(original, seed=6)
    assert not np.array_equal(first[1], other[1])


def test_defaults_and_options():
    config = SplitConfig(strategy="cold-items").resolve()
    assert (config.test_fraction, config.val_fraction, config.seed) == (0.2, 0.0, 42)
    with pytest.raises(InvalidParameterError, match="--n does not apply to the cold-items strategy"):
        SplitConfig(strategy="cold-items", n=1).resolve()
    with pytest.raises(InvalidParameterError, match="leaves nothing to train on"):
        SplitConfig(strategy="cold-items", test_fraction=0.6, val_fraction=0.4).resolve()


def test_too_few_items_to_hold_one_out_is_refused():
    few = (np.arange(6) % 3, np.array([0, 1, 0, 1, 0, 1]), np.ones(6), np.zeros(6))
    with pytest.raises(InvalidParameterError, match="cold-items split leaves test empty") as info:
        cold_split(few, test_fraction=0.2)
    assert "raise --test-fraction" in info.value.hint


def test_held_out_items_without_metadata_are_counted(tmp_path):
    data, parts, summary = cold_split(rows(3), test_fraction=0.3, val_fraction=0.2, seed=1)
    test, val = sorted(part_items(data, parts, TEST)), sorted(part_items(data, parts, VAL))
    # metadata for every item except: two test items (one with only blanks, one missing from the file)
    # and one val item (nulls); a catalogue row without item_idx is ignored
    blank, missing, null = test[0], test[1], val[0]
    described = [i for i in range(int(data.item_idx.max()) + 1) if i not in (blank, missing, null)]
    table = pa.table(
        {
            "item_idx": pa.array([*described, blank, null, None], type=pa.int32()),
            "title": [*(f"t{i}" if i % 2 else None for i in described), "  ", None, "unrated"],
            "year": [*(None if i % 2 else 1990 for i in described), None, None, 2000],
            "genres": [*([] for _ in described), ["", " "], None, ["Drama"]],
        }
    )
    pq.write_table(table, tmp_path / "items.parquet")
    n_items = int(data.item_idx.max()) + 1
    counts = held_out_without_metadata(tmp_path, n_items, data, parts)
    assert counts == {"test": 2, "val": 1}
    # no items file (a CSV ingest): every held-out item
    counts_without = held_out_without_metadata(tmp_path / "elsewhere", n_items, data, parts)
    assert counts_without == {"test": len(test), "val": len(val)}
    notes, warnings = split_notes({**summary, "held_out_without_metadata": counts})
    assert f"2 of the {len(test)} held-out test items have no metadata" in warnings[0]
    assert f"1 of the {len(val)} held-out val items have no metadata" in warnings[1]
    assert len(warnings) == 2  # new items are the point of the split: no "never appear in train" warning
    assert any(note.startswith(f"test: {len(test)} of ") for note in notes)
