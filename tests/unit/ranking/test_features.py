"""The ranker's feature layer: known answers on a tiny history, output shape, no leakage, choosing features, CLI."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys_cli.errors import (
    FormatError,
    InputFileError,
    InvalidParameterError,
    SqlError,
    UnknownNameError,
)
from recsys_cli.ranking.features import (
    FEATURES,
    Capabilities,
    capabilities,
    compute_features,
    feature_columns,
    resolve_features,
)
from tests.support import run_json

DAY = 86_400
T = 1_000_000_000  # as_of: the history's last timestamp
SOURCES = ["als", "knn"]

# (user, item, rating, ts): 3 users with history, items 0..3 in it; item 4 and user 3 have none
HISTORY = [
    (0, 0, 5.0, T - 40 * DAY),
    (0, 1, 4.0, T - 10 * DAY),
    (0, 2, 3.0, T - 2 * DAY),
    (1, 0, 4.0, T - 20 * DAY),
    (1, 2, 2.0, T - 1 * DAY),
    (2, 1, 5.0, T - 5 * DAY),
    (2, 3, 3.0, T - 3 * DAY),
    (2, 2, 4.0, T),
]
GENRES = {0: ["A", "B"], 1: ["B"], 2: ["A", "C"], 3: ["C"], 4: []}
GENDERS = {0: "M", 1: "F", 2: "M", 3: "F"}
# (user, item, score_0, rank_0, score_1, rank_1), deliberately not sorted
CANDIDATES = [
    (3, 3, 0.1, 2, 0.6, None),
    (0, 3, 0.9, 1, 0.2, None),
    (1, 4, 0.3, None, 0.5, 1),
    (1, 1, 0.8, 1, 0.7, 2),
    (2, 0, 0.7, 1, 0.1, None),
    (1, 3, 0.4, 2, 0.3, None),
    (0, 4, 0.2, 2, 0.8, 1),
    (3, 0, 0.6, 1, 0.4, None),
]


def write_history(path: Path, rows=HISTORY) -> Path:
    users, items, ratings, ts = zip(*rows)
    pq.write_table(
        pa.table(
            {
                "user_idx": pa.array(users, pa.int32()),
                "item_idx": pa.array(items, pa.int32()),
                "rating": pa.array(ratings, pa.float32()),
                "ts": pa.array(ts, pa.int64()),
            }
        ),
        path,
    )
    return path


def write_candidates(path: Path, rows=CANDIDATES) -> Path:
    u, i, s0, r0, s1, r1 = zip(*rows)
    pq.write_table(
        pa.table(
            {
                "user_idx": pa.array(u, pa.int32()),
                "item_idx": pa.array(i, pa.int32()),
                "score_0": pa.array(s0, pa.float32()),
                "rank_0": pa.array(r0, pa.int32()),
                "score_1": pa.array(s1, pa.float32()),
                "rank_1": pa.array(r1, pa.int32()),
            }
        ),
        path,
    )
    return path


def write_items(path: Path, genres=GENRES, titles: dict | None = None) -> Path:
    ids = sorted(genres)
    pq.write_table(
        pa.table(
            {
                "item_idx": pa.array(ids, pa.int32()),
                "item_id": [f"m{i}" for i in ids],
                "title": [(titles or {}).get(i, f"Movie {i}") for i in ids],
                "genres": pa.array([genres[i] for i in ids], pa.list_(pa.string())),
            }
        ),
        path,
    )
    return path


def write_users(path: Path, **columns) -> Path:
    ids = sorted(GENDERS)
    data = {"user_idx": pa.array(ids, pa.int32()), "user_id": [f"u{u}" for u in ids]}
    data.update({name: [values[u] for u in ids] for name, values in columns.items()})
    pq.write_table(pa.table(data), path)
    return path


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    return {
        "candidates": write_candidates(folder / "candidates.parquet"),
        "history": write_history(folder / "history.parquet"),
        "items": write_items(folder / "items.parquet"),
        "users": write_users(folder / "users.parquet", gender=GENDERS, zip_code={u: f"0{u}" for u in GENDERS}),
    }


def compute(data, out: Path, names=None, sources=SOURCES, **kwargs):
    caps = capabilities([data["history"]], data["items"], data["users"], len(sources))
    names = resolve_features(names, caps)
    report = compute_features(
        data["candidates"],
        [data["history"]],
        data["items"],
        data["users"],
        out,
        names=names,
        sources=sources,
        as_of=T,
        **kwargs,
    )
    return report, pq.read_table(out)


def by_pair(table: pa.Table) -> dict[tuple[int, int], dict]:
    return {(r["user_idx"], r["item_idx"]): r for r in table.to_pylist()}


def test_known_answers_on_a_tiny_history(data, tmp_path):
    _, table = compute(data, tmp_path / "features.parquet")
    rows = by_pair(table)

    def column(name):
        return {pair: row[name] for pair, row in rows.items()}

    # items: 0 and 1 twice, 3 once, 4 never (count 0, mean NULL)
    assert column("item_count") == {
        (3, 3): 1,
        (0, 3): 1,
        (1, 4): 0,
        (1, 1): 2,
        (2, 0): 2,
        (1, 3): 1,
        (0, 4): 0,
        (3, 0): 2,
    }
    assert [column("item_count_7d")[p] for p in [(2, 0), (1, 1), (1, 3), (1, 4)]] == [0, 1, 1, 0]
    assert [column("item_count_30d")[p] for p in [(2, 0), (1, 1), (1, 3), (1, 4)]] == [1, 2, 1, 0]
    # trend: 5 interactions in 7 days, 7 in 30; item 1 has 1 and 2 of them, item 3 has 1 and 1
    trend = column("item_trend")
    assert trend[(2, 0)] == 0 and trend[(1, 4)] is None
    assert trend[(1, 1)] == pytest.approx((1 / 5) / (2 / 7)) and trend[(1, 3)] == pytest.approx((1 / 5) / (1 / 7))
    assert column("item_age_days")[(2, 0)] == pytest.approx(40) and column("item_age_days")[(1, 4)] is None
    assert [column("item_mean_rating")[p] for p in [(2, 0), (1, 1), (0, 3), (1, 4)]] == [4.5, 4.5, 3.0, None]
    assert column("item_rating_std")[(1, 1)] == pytest.approx(math.sqrt(0.5))
    assert column("item_rating_std")[(0, 3)] is None
    # users: user 3 has no history (count 0, everything else NULL)
    assert {u: column("user_count")[(u, i)] for u, i in rows} == {0: 3, 1: 2, 2: 3, 3: 0}
    assert {u: column("user_recency_days")[(u, i)] for u, i in rows} == {0: 2, 1: 1, 2: 0, 3: None}
    assert {u: column("user_span_days")[(u, i)] for u, i in rows} == {0: 38, 1: 19, 2: 5, 3: None}
    assert column("item_rating_gap")[(2, 0)] == pytest.approx(4.5 - 4.0) and column("item_rating_gap")[(3, 0)] is None
    # genres: user 0 saw {0: AB, 1: B, 2: AC}, user 1 {0: AB, 2: AC}, user 2 {1: B, 3: C, 2: AC}
    affinity = column("genre_affinity")
    assert affinity[(0, 3)] == pytest.approx(1 / 3)  # C: 1 of 3
    assert affinity[(1, 1)] == pytest.approx(1 / 2)  # B: 1 of 2
    assert affinity[(1, 3)] == pytest.approx(1 / 2)  # C: 1 of 2
    assert affinity[(2, 0)] == pytest.approx((1 / 3 + 1 / 3) / 2)  # A: 1 of 3, B: 1 of 3
    assert affinity[(1, 4)] is None and affinity[(3, 0)] is None  # no genres; no history
    # recent lists: user 0 [2, 1, 0], user 1 [2, 0], user 2 [2, 3, 1]; users holding both of
    # {0,1}: 1, {0,2}: 2, {1,2}: 2, {1,3}: 1, {2,3}: 1, {0,3}: 0
    assert column("cooc_recent") == {
        (0, 3): 2,
        (1, 1): 3,
        (1, 3): 1,
        (2, 0): 3,
        (3, 3): 0,
        (3, 0): 0,
        (1, 4): 0,
        (0, 4): 0,
    }
    # item 0's users are M and F, item 1's M and M, item 3's M; item 4 has none
    assert column("item_same_gender_share") == {
        (0, 3): 1,
        (1, 1): 0,
        (1, 3): 0,
        (2, 0): 0.5,
        (3, 0): 0.5,
        (3, 3): 0,
        (1, 4): None,
        (0, 4): None,
    }
    # sources: rank_<i> is NULL outside source i's top-N
    assert column("source_count") == {
        (3, 3): 1,
        (0, 3): 1,
        (1, 4): 1,
        (1, 1): 2,
        (2, 0): 1,
        (1, 3): 1,
        (0, 4): 2,
        (3, 0): 1,
    }
    assert column("candidate_rank")[(1, 4)] is None and column("candidate_score")[(0, 3)] == pytest.approx(0.9)
    assert column("score_knn")[(0, 4)] == pytest.approx(0.8) and column("rank_knn")[(0, 4)] == 1
    # the most recent 10% (ts at or after the 90th percentile) is item 2's alone
    assert set(column("item_recent_share").values()) == {0}


def test_output_is_sorted_one_float32_row_per_candidate(data, tmp_path):
    report, table = compute(data, tmp_path / "out" / "features.parquet")
    names = resolve_features(None, capabilities([data["history"]], data["items"], data["users"], 2))
    columns = feature_columns(names, SOURCES)
    assert table.column_names == ["user_idx", "item_idx", *columns]
    assert table.schema.field("user_idx").type == pa.int32() and table.schema.field("item_idx").type == pa.int32()
    assert all(table.schema.field(c).type == pa.float32() for c in columns)
    keys = list(zip(table["user_idx"].to_pylist(), table["item_idx"].to_pylist()))
    assert keys == sorted((u, i) for u, i, *_ in CANDIDATES)
    assert (report.rows, report.users, list(report.columns)) == (len(CANDIDATES), 4, columns)
    assert report.seconds >= 0
    assert table["item_mean_rating"].null_count == 2  # item 4, twice
    assert not list((tmp_path / "out").glob(".*tmp"))  # the staged file was renamed into place


def test_cooc_uses_only_the_bounded_recent_lists(tmp_path):
    # user 0: items 0..24, item k at time k: its 20 most recent are 5..24
    # user 1: item 5 long ago, then 20..24: its 5 most recent are 20..24
    rows = [(0, k, 1.0, T - 100 + k) for k in range(25)]
    rows += [(1, 5, 1.0, T - 1000)] + [(1, k, 1.0, T - 50 + k) for k in range(20, 25)]
    candidates = [(1, 6, 0.5, 1, 0.5, 1), (1, 0, 0.5, 2, 0.5, 2)]
    data = {
        "candidates": write_candidates(tmp_path / "c.parquet", candidates),
        "history": write_history(tmp_path / "h.parquet", rows),
        "items": write_items(tmp_path / "i.parquet", {k: [] for k in range(25)}),
        "users": None,
    }
    _, table = compute(data, tmp_path / "f.parquet", names=["cooc_recent"])
    # (1, 6): each of 20..24 sits with 6 in user 0's recent list (5; item 5 is not among
    # user 1's 5 most recent); (1, 0): item 0 is outside user 0's 20 most recent
    assert by_pair(table)[(1, 6)]["cooc_recent"] == 5
    assert by_pair(table)[(1, 0)]["cooc_recent"] == 0


def test_item_recent_share(data, tmp_path):
    data["candidates"] = write_candidates(tmp_path / "c.parquet", [(0, 2, 0.5, 1, 0.5, 1), (0, 1, 0.5, 2, 0.5, 2)])
    rows = by_pair(compute(data, tmp_path / "f.parquet", names=["item_recent_share"])[1])
    assert (rows[(0, 2)]["item_recent_share"], rows[(0, 1)]["item_recent_share"]) == (1, 0)


def test_reads_only_the_files_given(data, tmp_path):
    out = tmp_path / "a.parquet"
    compute(data, out)
    before = out.read_bytes()
    # "future" interactions, after as_of, in another file of the same folder: not passed, not read
    future = [(1, 1, 5.0, T + DAY), (3, 0, 1.0, T + 2 * DAY), (0, 3, 5.0, T + 3 * DAY)]
    write_history(data["history"].parent / "future.parquet", future)
    shutil.copy(data["history"], data["history"].parent / "history-copy.parquet")
    compute(data, out)
    assert out.read_bytes() == before
    # a column no feature reads (items' title, users' zip code) changes nothing either
    write_items(data["items"], titles={0: "Another title"})
    write_users(data["users"], gender=GENDERS, zip_code={u: "99999" for u in GENDERS})
    compute(data, out)
    assert out.read_bytes() == before
    # ... while the same rows passed as history do change it (the check above is not vacuous)
    compute_features(
        data["candidates"],
        [data["history"], data["history"].parent / "future.parquet"],
        data["items"],
        data["users"],
        out,
        names=["item_count"],
        sources=SOURCES,
        as_of=T,
    )
    assert by_pair(pq.read_table(out))[(1, 1)]["item_count"] == 3


def test_capabilities_follow_the_data(data, tmp_path):
    caps = capabilities(data["history"], data["items"], data["users"], 2)
    assert caps == Capabilities(ratings=True, time=True, genres=True, demographics=("gender",), extra_sources=1)
    implicit = write_history(tmp_path / "implicit.parquet", [(u, i, 1.0, 7) for u, i, _, _ in HISTORY])
    no_genres = write_items(tmp_path / "plain.parquet", {i: [] for i in GENRES})
    caps = capabilities([implicit], no_genres, None, 1)
    assert caps == Capabilities(ratings=False, time=False, genres=False, demographics=(), extra_sources=0)
    assert resolve_features(None, caps) == [
        "candidate_score",
        "candidate_rank",
        "source_count",
        "item_count",
        "user_count",
        "cooc_recent",
    ]


def test_demographics_from_numeric_age_or_an_age_group(data, tmp_path):
    ml = write_users(
        tmp_path / "ml.parquet",
        gender=GENDERS,
        age={0: 24, 1: 53, 2: 29, 3: 20},
        occupation={0: "writer", 1: "other", 2: "writer", 3: "artist"},
    )
    caps = capabilities(data["history"], data["items"], ml, 2)
    assert caps.demographics == ("gender", "age", "occupation")
    rows = by_pair(compute({**data, "users": ml}, tmp_path / "ml-out.parquet")[1])
    assert rows[(0, 3)]["user_age"] == 24
    assert rows[(3, 0)]["item_same_age_share"] == 0.5  # item 0: users 0 (24) and 1 (53); user 3 is 20
    assert rows[(0, 3)]["item_same_age_share"] == 1  # item 3: user 2 (29); user 0 is 24
    assert rows[(2, 0)]["item_same_occupation_share"] == 0.5
    demo = write_users(tmp_path / "demo.parquet", age_group={0: "25-34", 1: "Under 18", 2: "56+", 3: "25-34"})
    caps = capabilities(data["history"], data["items"], demo, 2)
    assert caps.demographics == ("age",)
    assert "item_same_gender_share" not in resolve_features(None, caps)
    rows = by_pair(
        compute({**data, "users": demo}, tmp_path / "demo-out.parquet", names=["user_age", "item_same_age_share"])[1]
    )
    assert {u: rows[(u, i)]["user_age"] for u, i in rows} == {0: 25, 1: 0, 2: 56, 3: 25}
    assert rows[(3, 0)]["item_same_age_share"] == 0.5  # item 0: users 0 (25-34) and 1 (Under 18)


def test_resolve_features(data):
    caps = Capabilities(ratings=True, time=False, genres=False, demographics=("gender",), extra_sources=0)
    with pytest.raises(UnknownNameError) as error:
        resolve_features(["item_count", "item_cuont"], caps)
    assert "item_cuont" in error.value.message
    assert "item_count" in error.value.hint and "genre_affinity" in error.value.hint
    with pytest.raises(InvalidParameterError, match="genre_affinity.*needs genres"):
        resolve_features(["genre_affinity"], caps)
    with pytest.raises(InvalidParameterError, match="needs timestamps"):
        resolve_features(["item_count_7d"], caps)
    with pytest.raises(InvalidParameterError, match="occupation column"):
        resolve_features(["item_same_occupation_share"], caps)
    with pytest.raises(InvalidParameterError, match="beyond the primary"):
        resolve_features(["source_scores"], caps)
    assert resolve_features(["user_count", "item_count", "user_count"], caps) == ["user_count", "item_count"]
    everything = resolve_features(None, caps)
    assert everything == [n for n in FEATURES if n in everything]  # registry order
    assert "item_mean_rating" in everything and "item_same_gender_share" in everything
    assert not {"item_count_7d", "genre_affinity", "source_scores", "user_age"} & set(everything)
    assert resolve_features([], caps) == []


def test_feature_columns_expand_the_source_family():
    assert feature_columns(["candidate_score", "source_scores", "item_count"], ["als", "Item-KNN", "pop@2"]) == [
        "candidate_score",
        "score_item_knn",
        "rank_item_knn",
        "score_pop_2",
        "rank_pop_2",
        "item_count",
    ]
    assert feature_columns(["source_scores"], ["als", "knn", "knn"]) == [
        "score_knn",
        "rank_knn",
        "score_knn_2",
        "rank_knn_2",
    ]


def test_registry_is_well_formed():
    allowed = {"ratings", "time", "genres", "sources"}
    for name, feature in FEATURES.items():
        assert feature.name == name and feature.level in ("pair", "item", "user")
        assert all(r in allowed or r.startswith("demographics:") for r in feature.requires)
        assert feature.sql.lstrip().upper().startswith(("SELECT", "WITH")) and "\n" not in feature.description


def test_bad_inputs_are_clear_errors(data, tmp_path):
    out = tmp_path / "x.parquet"
    with pytest.raises(InputFileError):
        compute_features(
            tmp_path / "missing.parquet",
            [data["history"]],
            data["items"],
            None,
            out,
            names=["item_count"],
            sources=SOURCES,
            as_of=T,
        )
    with pytest.raises(FormatError, match="score_2"):
        compute_features(
            data["candidates"],
            [data["history"]],
            data["items"],
            None,
            out,
            names=["item_count"],
            sources=["a", "b", "c"],
            as_of=T,
        )
    with pytest.raises(UnknownNameError):
        compute_features(
            data["candidates"], [data["history"]], data["items"], None, out, names=["nope"], sources=SOURCES, as_of=T
        )
    broken = tmp_path / "broken.parquet"
    pq.write_table(pa.table({"user_idx": pa.array([0], pa.int32()), "item_idx": pa.array([0], pa.int32())}), broken)
    with pytest.raises(SqlError):
        compute_features(
            data["candidates"], [broken], data["items"], None, out, names=["item_count"], sources=SOURCES, as_of=T
        )
    assert not out.exists()


def test_cli_features_list(cli):
    doc = run_json(cli, "features", "list")
    assert [entry["name"] for entry in doc] == list(FEATURES)
    assert set(doc[0]) == {"name", "level", "requires", "description", "sql"}
    gender = next(e for e in doc if e["name"] == "item_same_gender_share")
    assert gender["requires"] == ["demographics:gender"] and gender["level"] == "pair"
    result = cli("features", "list", "--format", "table")
    assert result.exit_code == 0
    assert "cooc_recent" in result.stdout and "demographics:occupation" in result.stdout


def test_an_out_of_memory_error_says_how_to_give_duckdb_more(monkeypatch):
    import duckdb

    from recsys_cli.ranking.features import _sql_error

    monkeypatch.setenv("RECSYS_FEATURE_MEMORY", "6GB")
    error = _sql_error(duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block"))
    assert "ran out of memory" in error.message
    assert "RECSYS_FEATURE_MEMORY" in error.hint and "now 6GB" in error.hint
    monkeypatch.delenv("RECSYS_FEATURE_MEMORY")
    assert "now 4GB" in _sql_error(duckdb.OutOfMemoryException("Out of Memory Error")).hint
    assert "documented columns" in _sql_error(duckdb.BinderException("no column x")).hint


@pytest.mark.parametrize("value", ["lots", "8G", "0GB"])
def test_a_feature_memory_that_is_not_a_size_is_refused(monkeypatch, value):
    from recsys_cli.errors import InvalidParameterError
    from recsys_cli.settings import feature_memory_limit

    monkeypatch.setenv("RECSYS_FEATURE_MEMORY", value)
    with pytest.raises(InvalidParameterError, match="is not a memory size"):
        feature_memory_limit()
