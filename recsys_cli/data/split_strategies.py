"""The split strategies as pure numpy: which row of a dataset goes to train, val or test.

No workspace here: :mod:`recsys_cli.data.splits` reads the interactions, calls
:func:`compute_split` and publishes the parts.

Every strategy first sorts the interactions canonically by ``(user_idx, ts, item_idx, rating)``,
so the result never depends on the order of rows in the file, and draws its randomness from
``numpy.random.default_rng(seed)``: the same data and seed give byte-identical files. Counts are
rounded half up, ``round_half_up(x) = floor(x + 0.5)`` (with a 1e-9 nudge so that 0.15 * 10
counts as 1.5, as a person would expect), never Python's banker's rounding.

``random``           a seeded permutation of all rows: exactly ``round_half_up(test_fraction * n)``
                     rows to test and ``round_half_up(val_fraction * n)`` to val.
``random-per-user``  the same within each user (``n_u`` rows): test gets
                     ``round_half_up(test_fraction * n_u)`` and val ``round_half_up(val_fraction * n_u)``,
                     capped so the user keeps at least one training row (test has priority over
                     val); a user with one interaction stays in train.
``temporal``         one global time cut: test is ``ts >= cut``. The cut is ``test_after`` or the
                     timestamp that puts the share of rows closest to ``test_fraction`` at or after
                     it (equal timestamps never straddle a cut, so the share is only about right;
                     the summary reports the actual one; on a tie the smaller test set wins). Val is
                     carved the same way from the rows before the test cut, ``val_fraction`` of all
                     rows, or is ``val_after <= ts < cut``.
``temporal-per-user`` the counts of random-per-user (same rounding, same cap), but each user's
                     last rows by time (ties by item_idx, as leave-last) go to test and the ones
                     just before them to val. No seed.
``leave-last``       each user's last ``n`` interactions (by ts, ties by item_idx) to test and the
                     ``val_n`` before them to val; every user keeps at least one training row.
``cold-items``       new items: a seeded permutation of the items that have interactions;
                     ``round_half_up(test_fraction * n_items)`` of them are held out with *every*
                     interaction going to test, the next ``round_half_up(val_fraction * n_items)`` likewise
                     to val. Train never sees a held-out item (evaluation ranks only them: docs/metrics.md).
``cold-users``       new users, "given N": a seeded permutation of the users with more than ``given``
                     interactions; ``round_half_up(test_fraction * n_eligible)`` of them are held out, their
                     first ``given`` interactions by time (ties by item_idx) staying in train and the rest
                     going to test, the next ``round_half_up(val_fraction * n_eligible)`` likewise to val.
                     Users with ``given`` or fewer interactions stay wholly in train (counted in the
                     summary). The kernel is :mod:`recsys_cli.data.cold_users`.

Filters run before the split: ``min_rating`` keeps ``rating >= min_rating``, then ``k_core``
repeatedly drops users and items with fewer than ``k`` interactions (counting rows, so duplicate
user-item pairs count each time) until every remaining user and item has at least ``k``.

A requested part that comes out empty (train, test, or val when a val size was given) is refused
with :class:`InvalidParameterError` rather than computed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace
from datetime import datetime, timezone
from typing import Any

from recsys_cli.data.cold_users import DEFAULT_GIVEN, eligible_users, held_out_rows
from recsys_cli.errors import InvalidParameterError

STRATEGIES = ("random", "random-per-user", "temporal", "leave-last", "temporal-per-user", "cold-items", "cold-users")
# Splits that hold out whole items: evaluation ranks only the held-out items of the part (docs/metrics.md).
COLD_ITEMS = "cold-items"
# Splits that hold out users but for their first `given` interactions (docs/metrics.md, "Cold-start protocols").
COLD_USERS = "cold-users"
# The cold-start protocols: no ranker on them (its label window holds what they hold out).
COLD_START_STRATEGIES = (COLD_ITEMS, COLD_USERS)
# Splits whose val lies after train and test after val for every user: a ranker's label window can be val.
TIME_ORDERED_STRATEGIES = ("temporal", "temporal-per-user", "leave-last")
PARTS = ("train", "val", "test")
COLUMNS = ("user_idx", "item_idx", "rating", "ts")
DEFAULT_TEST_FRACTION = 0.2
DEFAULT_SEED = 42
TRAIN, VAL, TEST = 0, 1, 2

_FLAGS = {
    o: "--" + o.replace("_", "-")
    for o in ("test_fraction", "test_after", "n", "val_fraction", "val_n", "seed", "val_after", "given")
}
# Options each strategy understands; min_rating and k_core apply to all.
_OPTIONS = {
    "random": ("test_fraction", "val_fraction", "seed"),
    "random-per-user": ("test_fraction", "val_fraction", "seed"),
    "temporal": ("test_fraction", "test_after", "val_fraction", "val_after"),
    "temporal-per-user": ("test_fraction", "val_fraction"),
    "leave-last": ("n", "val_n"),
    COLD_ITEMS: ("test_fraction", "val_fraction", "seed"),
    COLD_USERS: ("test_fraction", "val_fraction", "seed", "given"),
}
_FRACTION_STRATEGIES = ("random", "random-per-user", "temporal", "temporal-per-user", COLD_ITEMS, COLD_USERS)
_NEEDS_TIME = ("temporal", "temporal-per-user", "leave-last", COLD_USERS)


def round_half_up(x):
    """floor(x + 0.5) on a float or an array: the one rounding rule of every split."""
    import numpy as np

    return np.floor(np.asarray(x, dtype=np.float64) + 0.5 + 1e-9).astype(np.int64)


@dataclass
class SplitConfig:
    """What to split and how; ``None`` means "the strategy's default" (see :meth:`resolve`)."""

    strategy: str = "random-per-user"
    test_fraction: float | None = None
    test_after: str | int | float | None = None
    n: int | None = None
    val_fraction: float | None = None
    val_after: str | int | float | None = None
    val_n: int | None = None
    min_rating: float | None = None
    k_core: int | None = None
    seed: int | None = None
    given: int | None = None  # cold-users: how many of a held-out user's first interactions train keeps

    def resolve(self) -> SplitConfig:
        """Validate and return a copy with defaults filled in; raises InvalidParameterError."""
        strategy = str(getattr(self.strategy, "value", self.strategy))
        if strategy not in STRATEGIES:
            raise InvalidParameterError(
                f"unknown split strategy '{strategy}'", f"valid strategies: {', '.join(STRATEGIES)}"
            )
        allowed = _OPTIONS[strategy]
        for name, flag in _FLAGS.items():
            if getattr(self, name) is not None and name not in allowed:
                takes = ", ".join(_FLAGS[o] for o in allowed)
                raise InvalidParameterError(
                    f"{flag} does not apply to the {strategy} strategy", f"{strategy} takes {takes}"
                )
        cfg = replace(self, strategy=strategy)
        if strategy == "temporal" and cfg.test_after is not None and cfg.test_fraction is not None:
            raise InvalidParameterError("--test-fraction and --test-after both set the test cut", "pass one of them")
        if cfg.val_after is not None and cfg.val_fraction is not None:
            raise InvalidParameterError(
                "--val-fraction and --val-after both set the validation window", "pass one of them"
            )
        if strategy in _FRACTION_STRATEGIES:
            if cfg.test_after is None and cfg.test_fraction is None:
                cfg.test_fraction = DEFAULT_TEST_FRACTION
            if cfg.test_fraction is not None:
                cfg.test_fraction = _fraction(cfg.test_fraction, "--test-fraction", allow_zero=False)
            if cfg.val_after is None:
                cfg.val_fraction = _fraction(cfg.val_fraction or 0.0, "--val-fraction", allow_zero=True)
            if (cfg.test_fraction or 0.0) + (cfg.val_fraction or 0.0) >= 1.0:
                raise InvalidParameterError(
                    f"--test-fraction {cfg.test_fraction:g} plus --val-fraction {cfg.val_fraction:g}"
                    " leaves nothing to train on",
                    "their sum must be below 1",
                )
        if strategy in ("random", "random-per-user", *COLD_START_STRATEGIES):
            cfg.seed = _integer(DEFAULT_SEED if cfg.seed is None else cfg.seed, "--seed", minimum=0)
        if cfg.test_after is not None:
            cfg.test_after = parse_time(cfg.test_after)
        if cfg.val_after is not None:
            cfg.val_after = parse_time(cfg.val_after, "--val-after")
        if strategy == "leave-last":
            cfg.n = _integer(1 if cfg.n is None else cfg.n, "--n", minimum=1)
            cfg.val_n = _integer(cfg.val_n or 0, "--val-n", minimum=0)
        if strategy == COLD_USERS:
            cfg.given = _integer(DEFAULT_GIVEN if cfg.given is None else cfg.given, "--given", minimum=0)
        resolve_filters(cfg)
        return cfg

    def params(self) -> dict[str, Any]:
        """The set options as a JSON-ready dict (what the catalog records)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}


def resolve_filters(cfg) -> None:
    """Check and convert, in place, the filters every split takes (``min_rating``, ``k_core``)."""
    if cfg.min_rating is not None:
        try:
            cfg.min_rating = float(cfg.min_rating)
        except (TypeError, ValueError):
            raise InvalidParameterError(f"--min-rating must be a number, not {cfg.min_rating!r}") from None
        if not math.isfinite(cfg.min_rating):
            raise InvalidParameterError(f"--min-rating must be finite, not {cfg.min_rating}")
    if cfg.k_core is not None:
        cfg.k_core = _integer(cfg.k_core, "--k-core", minimum=1)


def _fraction(value: Any, flag: str, allow_zero: bool) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"{flag} must be a number, not {value!r}") from None
    low_ok = value >= 0.0 if allow_zero else value > 0.0
    if not (math.isfinite(value) and low_ok and value < 1.0):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise InvalidParameterError(f"{flag} must be in {interval}, not {value:g}", "e.g. 0.2 for 20%")
    return value


def _integer(value: Any, flag: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        try:
            if float(value) != int(value):
                raise ValueError
            value = int(value)
        except (TypeError, ValueError, OverflowError):
            raise InvalidParameterError(f"{flag} must be a whole number, not {value!r}") from None
    if value < minimum:
        raise InvalidParameterError(f"{flag} must be at least {minimum}, not {value}")
    return int(value)


def parse_time(value: str | int | float, flag: str = "--test-after") -> int:
    """Epoch seconds from epoch seconds or an ISO date/datetime (naive means UTC, as at ingest)."""
    if isinstance(value, bool):
        raise InvalidParameterError(f"{flag} must be a date or epoch seconds, not {value!r}")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise InvalidParameterError(f"{flag} must be finite, not {value}")
        return math.ceil(value)  # ts are whole seconds: ts >= 1.5 is ts >= 2
    text = str(value).strip()
    try:
        return math.ceil(float(text)) if re.fullmatch(r"[+-]?\d+(\.\d*)?", text) else _parse_iso(text)
    except (ValueError, OverflowError):
        raise InvalidParameterError(
            f"cannot read {flag} '{value}' as a date or epoch seconds",
            "use e.g. 2003-01-01, 2003-01-01T12:00:00, 2003-01-01T12:00:00+02:00 or 1041379200",
        ) from None


def _parse_iso(text: str) -> int:
    if text.endswith(("Z", "z")):  # Python 3.10's fromisoformat does not take 'Z'
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return math.ceil(moment.timestamp())


def iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # timestamps that are not seconds
        return None


# -- the computation (pure numpy; no workspace) -------------------------------------------------
@dataclass
class Interactions:
    """Columns of an interactions table as numpy arrays, in canonical order."""

    user_idx: Any
    item_idx: Any
    rating: Any
    ts: Any

    def __len__(self) -> int:
        return len(self.user_idx)

    def take(self, index) -> Interactions:
        return Interactions(self.user_idx[index], self.item_idx[index], self.rating[index], self.ts[index])


def canonical(user_idx, item_idx, rating, ts) -> Interactions:
    """Arrays with the split schema's dtypes, sorted by (user_idx, ts, item_idx, rating)."""
    import numpy as np

    data = Interactions(
        np.asarray(user_idx, dtype=np.int32),
        np.asarray(item_idx, dtype=np.int32),
        np.asarray(rating, dtype=np.float32),
        np.asarray(ts, dtype=np.int64),
    )
    if len(data) < 2:
        return data
    # Ingest writes (user_idx, ts, item_idx) order already: checking is far cheaper than
    # sorting, and only duplicate (user, ts, item) rows may still need ordering by rating.
    less, equal = _pair_order(data, (data.user_idx, data.ts, data.item_idx))
    if not np.all(less | equal):
        return data.take(np.lexsort((data.rating, data.item_idx, data.ts, data.user_idx)))
    if not np.any(equal & (data.rating[:-1] > data.rating[1:])):
        return data
    group = np.concatenate(([0], np.cumsum(~equal)))
    tied = np.flatnonzero(np.concatenate((equal, [False])) | np.concatenate(([False], equal)))
    order = np.arange(len(data))
    order[tied] = tied[np.lexsort((data.rating[tied], group[tied]))]  # groups are contiguous runs
    return data.take(order)


def _pair_order(data: Interactions, keys):
    """For each pair of neighbouring rows: strictly ordered by ``keys``, and equal on all of them."""
    first = keys[0]
    less, equal = first[:-1] < first[1:], first[:-1] == first[1:]
    for key in keys[1:]:
        less |= equal & (key[:-1] < key[1:])
        equal &= key[:-1] == key[1:]
    return less, equal


def apply_filters(data: Interactions, min_rating: float | None, k_core: int | None) -> tuple[Interactions, dict]:
    """Drop rows below ``min_rating``, then reduce to the ``k_core``; returns counts removed."""
    import numpy as np

    stats: dict[str, Any] = {"input_interactions": len(data)}
    if min_rating is None and k_core is None:
        return data, stats
    keep = np.arange(len(data))
    if min_rating is not None:
        keep = np.flatnonzero(data.rating >= np.float32(min_rating))
        stats["removed_by_min_rating"] = len(data) - len(keep)
    if k_core is not None:
        before, rounds = len(keep), 0
        n_users, n_items = int(data.user_idx.max(initial=-1)) + 1, int(data.item_idx.max(initial=-1)) + 1
        while len(keep):
            u, i = data.user_idx[keep], data.item_idx[keep]
            ok = np.bincount(u, minlength=n_users)[u] >= k_core
            ok &= np.bincount(i, minlength=n_items)[i] >= k_core
            rounds += 1
            if ok.all():
                break
            keep = keep[ok]
        stats["removed_by_k_core"] = before - len(keep)
        stats["k_core_rounds"] = rounds
    # keep is ascending, so the canonical order survives
    return data.take(keep), stats


def assign_parts(data: Interactions, config: SplitConfig) -> tuple[Any, dict[str, Any]]:
    """An int8 array (TRAIN/VAL/TEST per row of canonically sorted ``data``) and cut details."""
    import numpy as np

    strategy = config.strategy
    n = len(data)
    parts = np.zeros(n, dtype=np.int8)
    extra: dict[str, Any] = {}
    if strategy == "random":
        n_test = int(round_half_up(config.test_fraction * n))
        n_val = int(round_half_up(config.val_fraction * n))
        order = np.random.default_rng(config.seed).permutation(n)
        parts[order[:n_test]] = TEST
        parts[order[n_test : n_test + n_val]] = VAL
    elif strategy == "random-per-user":
        counts, start, position = _user_groups(data.user_idx)
        rng = np.random.default_rng(config.seed)
        # user in the high 32 bits, a random draw in the low: one sort shuffles within users
        draw = rng.integers(0, 2**32, size=n, dtype=np.uint32).astype(np.int64)
        key = (data.user_idx.astype(np.int64) << 32) | draw
        order = np.argsort(key, kind="stable")
        rank = np.empty(n, dtype=np.int64)
        rank[order] = position - start  # users stay in place, so user_idx[order] == user_idx
        n_test, n_val = _per_user_fractions(counts, config)
        _by_rank(parts, rank, n_test[data.user_idx], n_val[data.user_idx])
    elif strategy in ("leave-last", "temporal-per-user"):
        counts, start, position = _user_groups(data.user_idx)
        # 0 for a user's last row in canonical order: latest ts, and on equal ts the larger item_idx
        from_end = start + counts[data.user_idx] - 1 - position
        if strategy == "leave-last":
            n_test, n_val = _capped(counts, np.full_like(counts, config.n), np.full_like(counts, config.val_n))
        else:
            n_test, n_val = _per_user_fractions(counts, config)
        _by_rank(parts, from_end, n_test[data.user_idx], n_val[data.user_idx])
    elif strategy == COLD_ITEMS:
        extra = _hold_out_items(data.item_idx, parts, config)
    elif strategy == COLD_USERS:
        extra = _hold_out_users(data.user_idx, parts, config)
    else:
        extra = _temporal(data.ts, parts, config)
    return parts, extra


def _user_groups(user_idx):
    """Per-user row counts, each row's user's first position, and each row's position."""
    import numpy as np

    counts = np.bincount(user_idx, minlength=int(user_idx.max(initial=-1)) + 1).astype(np.int64)
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    return counts, first[user_idx], np.arange(len(user_idx), dtype=np.int64)


def _per_user_fractions(counts, config: SplitConfig):
    """random-per-user's and temporal-per-user's test and val rows per user, capped."""
    return _capped(counts, round_half_up(config.test_fraction * counts), round_half_up(config.val_fraction * counts))


def _capped(counts, n_test, n_val):
    """Cap held-out rows at n_u - 1 so every user keeps a training row; test keeps priority."""
    import numpy as np

    room = np.maximum(counts - 1, 0)
    n_test = np.minimum(n_test, room)
    return n_test, np.minimum(n_val, room - n_test)


def _by_rank(parts, rank, n_test, n_val) -> None:
    parts[rank < n_test] = TEST
    parts[(rank >= n_test) & (rank < n_test + n_val)] = VAL


def _hold_out_items(item_idx, parts, config: SplitConfig) -> dict[str, Any]:
    """cold-items: whole items to test (then val), drawn by a seeded permutation of the items present."""
    import numpy as np

    items = np.unique(item_idx)  # sorted: the draw does not depend on row order
    n_test = int(round_half_up(config.test_fraction * items.size))
    n_val = int(round_half_up(config.val_fraction * items.size))
    order = np.random.default_rng(config.seed).permutation(items)
    for code, held in ((TEST, order[:n_test]), (VAL, order[n_test : n_test + n_val])):
        parts[np.isin(item_idx, held)] = code
    return {"held_out_items": {"test": n_test, "val": n_val}, "items_with_interactions": int(items.size)}


def _hold_out_users(user_idx, parts, config: SplitConfig) -> dict[str, Any]:
    """cold-users: the eligible users' draw and rows (recsys_cli.data.cold_users), counted with this rounding."""
    counts, start, position = _user_groups(user_idx)
    eligible, ineligible = eligible_users(counts, config.given)
    n_test = int(round_half_up(config.test_fraction * eligible.size))
    n_val = int(round_half_up(config.val_fraction * eligible.size))
    place = position - start
    to_test, to_val = held_out_rows(user_idx, place, eligible, n_test, n_val, config.given, config.seed)
    parts[to_test], parts[to_val] = TEST, VAL
    return {
        "held_out_users": {"test": n_test, "val": n_val},
        "given": config.given,
        "eligible_users": int(eligible.size),
        "ineligible_users": ineligible,
    }


def _temporal(ts, parts, config: SplitConfig) -> dict[str, Any]:

    n = len(ts)
    if config.test_after is not None:
        test_cut = int(config.test_after)
    else:
        test_cut = _cut_for_count(ts, int(round_half_up(config.test_fraction * n)))
        if test_cut is None:
            raise InvalidParameterError(
                "every interaction has the same timestamp, so there is no time to cut",
                "use --strategy random-per-user",
            )
    parts[ts >= test_cut] = TEST
    extra: dict[str, Any] = {"test_cut_ts": test_cut, "test_cut": iso(test_cut)}
    if config.val_after is not None:
        val_cut = int(config.val_after)
        if val_cut >= test_cut:
            raise InvalidParameterError(
                f"--val-after {iso(val_cut) or val_cut} is not before the test cut ({iso(test_cut) or test_cut})",
                "validation is the interactions from --val-after up to the test cut: move --val-after earlier"
                + (", or --test-after later" if config.test_after is not None else ", or lower --test-fraction"),
            )
        parts[(ts >= val_cut) & (ts < test_cut)] = VAL
        extra.update(val_cut_ts=val_cut, val_cut=iso(val_cut))
    elif config.val_fraction:
        before = ts[ts < test_cut]
        val_cut = _cut_for_count(before, int(round_half_up(config.val_fraction * n)))
        if val_cut is None:
            raise InvalidParameterError(
                f"no time before the test cut ({iso(test_cut) or test_cut}) is left to carve validation from",
                "lower --val-fraction, or move the test cut later",
            )
        parts[(ts >= val_cut) & (ts < test_cut)] = VAL
        extra.update(val_cut_ts=int(val_cut), val_cut=iso(int(val_cut)))
    return extra


def _cut_for_count(ts, target: int) -> int | None:
    """The timestamp t (not the earliest) with count(ts >= t) closest to ``target``; ties: fewer rows."""
    import numpy as np

    values, counts = np.unique(ts, return_counts=True)
    if len(values) < 2:
        return None
    at_or_after = np.cumsum(counts[::-1])[::-1][1:]  # from the second value: train keeps a row
    distance = np.abs(at_or_after - target)
    best = len(distance) - 1 - int(np.argmin(distance[::-1]))
    return int(values[1 + best])


def summarize(data: Interactions, parts) -> dict[str, Any]:
    """Per-part counts and the cold-start overlap between parts."""
    import numpy as np

    n = len(data)
    n_users = int(data.user_idx.max(initial=-1)) + 1
    n_items = int(data.item_idx.max(initial=-1)) + 1
    summary: dict[str, Any] = {"interactions": n}
    present = {}
    for code, part in enumerate(PARTS):
        sel = parts == code
        users = np.bincount(data.user_idx[sel], minlength=n_users) > 0
        items = np.bincount(data.item_idx[sel], minlength=n_items) > 0
        present[part] = (users, items)
        rows = int(np.count_nonzero(sel))
        summary[part] = {
            "interactions": rows,
            "users": int(np.count_nonzero(users)),
            "items": int(np.count_nonzero(items)),
            "fraction": rows / n if n else 0.0,
        }
    train_users, train_items = present["train"]
    for part in ("val", "test"):
        users, items = present[part]
        summary[f"{part}_users_not_in_train"] = int(np.count_nonzero(users & ~train_users))
        summary[f"{part}_items_not_in_train"] = int(np.count_nonzero(items & ~train_items))
    return summary


def compute_split(data: Interactions, config: SplitConfig) -> tuple[Interactions, Any, dict[str, Any]]:
    """Filter, assign parts and summarise; refuses a split with an empty part."""
    data, summary = apply_filters(data, config.min_rating, config.k_core)
    if len(data) == 0:
        raise InvalidParameterError(
            f"the filters left no interactions (of {summary['input_interactions']:,})",
            "lower --min-rating or --k-core",
        )
    parts, extra = assign_parts(data, config)
    summary.update(summarize(data, parts))
    summary.update(extra)
    _check_not_empty(summary, config, data)
    return data, parts, summary


def _check_not_empty(summary: dict[str, Any], config: SplitConfig, data: Interactions) -> None:
    n = summary["interactions"]
    span = ""
    if config.strategy == "temporal":
        span = f"the data spans {iso(int(data.ts.min()))} to {iso(int(data.ts.max()))}; "
    if summary["test"]["interactions"] == 0:
        hint = {
            "random": "raise --test-fraction",
            "random-per-user": "raise --test-fraction (users with one interaction stay in train)",
            "temporal": span + ("raise --test-fraction" if config.test_after is None else "move --test-after earlier"),
            "temporal-per-user": "raise --test-fraction (users with one interaction stay in train)",
            "leave-last": "every user has a single interaction, so nothing can be left out",
            COLD_ITEMS: "raise --test-fraction (too few items to hold one out)",
            COLD_USERS: "raise --test-fraction, or lower --given (only users with more than --given "
            "interactions can be held out)"
            if summary.get("eligible_users", 1)
            else f"no user has more than {config.given} interactions: lower --given",
        }[config.strategy]
        raise InvalidParameterError(f"the {config.strategy} split leaves test empty ({n:,} interactions)", hint)
    if summary["train"]["interactions"] == 0:
        if config.val_after is not None:
            hint = span + "move --val-after later"
        else:
            hint = span + "move --test-after later" if config.test_after is not None else "lower the fractions"
        raise InvalidParameterError(f"the {config.strategy} split leaves train empty ({n:,} interactions)", hint)
    if (config.val_fraction or config.val_n or config.val_after is not None) and summary["val"]["interactions"] == 0:
        if config.val_after is not None:
            hint = span + "move --val-after earlier, or leave it out for a split without validation"
        else:
            flag = "--val-n" if config.val_n else "--val-fraction"
            hint = f"raise {flag}, or leave it out for a split without validation"
        raise InvalidParameterError(f"the {config.strategy} split leaves val empty ({n:,} interactions)", hint)
