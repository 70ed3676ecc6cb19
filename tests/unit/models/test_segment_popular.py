"""segment-popular with hand-checked answers: each segment's users get their segment's favourites, a segment
with too few train users and a user without the attributes get global popularity, ties go to the global
count then the lower index; ages fall into ML-1M's bands whether they are years or ML-1M's codes; the users
file is read into UserMetadata (ML-100K's, ML-1M's and the synthetic generator's columns)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from recsys_cli.data.metadata import read_user_metadata
from recsys_cli.errors import InvalidParameterError
from recsys_cli.models import TrainingData, UserMetadata, create_model, load_model, model_class, save_model
from recsys_cli.models.persistence import MODEL_FILE
from recsys_cli.models.segment import age_band, user_labels

# 7 users x 5 items. Women (users 0-2) love item 0, men (3-5) item 1; item 2 is liked by everyone a little
# (most popular overall); user 6 has no gender. Item 4 nobody saw.
ROWS = {
    0: [0, 2], 1: [0, 2], 2: [0, 3],
    3: [1, 2], 4: [1, 2], 5: [1, 3],
    6: [2],
}  # fmt: skip
GENDERS = ("F", "F", "F", "M", "M", "M", None)


def matrix(rows=ROWS, n_users: int = 7, n_items: int = 5) -> sp.csr_matrix:
    dense = np.zeros((n_users, n_items), dtype=np.float32)
    for user, items in rows.items():
        dense[user, items] = 1
    return sp.csr_matrix(dense)


def metadata(genders=GENDERS, ages=None, occupations=None) -> UserMetadata:
    n = len(genders)
    return UserMetadata(tuple(genders), tuple(ages or (None,) * n), tuple(occupations or (None,) * n))


def fit(x, users, **params):
    model = create_model(model_class("segment-popular"), {"segment": "gender", "min_users": 1, **params})
    model.fit(TrainingData(x, user_metadata=users))
    return model


def ranking(model, user: int, x) -> list[int]:
    return np.argsort(-model.score(np.array([user]), x)[0], kind="stable").tolist()


def test_each_segment_gets_its_own_favourites():
    x = matrix()
    model = fit(x, metadata())
    # women: item 0 (3 women), then 2 and 3 (tied at 2 and 1 women? no: 2 has 2 women, 3 has 1), then 1, 4
    # by the global count (1: 3 users, 4: 0)
    assert ranking(model, 0, x) == [0, 2, 3, 1, 4]
    assert ranking(model, 4, x) == [1, 2, 3, 0, 4]  # men: item 1, item 2, then 3 (1 man), then 0 (3 users), 4
    # user 6 has no gender: global popularity, counts 2:5, 0:3, 1:3, 3:2, 4:0 (ties to the lower index)
    assert ranking(model, 6, x) == [2, 0, 1, 3, 4]
    assert model.segment_labels.tolist() == ["gender=F", "gender=M"]
    assert model.user_segment.tolist() == [0, 0, 0, 1, 1, 1, -1]
    assert model.segment_users.tolist() == [3, 3]
    assert model.segment_counts.tolist() == [[3, 0, 2, 1, 0], [0, 3, 2, 1, 0]]
    assert model.known_users(x).all()


def test_a_segment_below_min_users_backs_off_to_global_popularity():
    x = matrix()
    genders = ("F", "F", "F", "M", "M", "X", None)  # one 'X' user: a segment of 1
    model = fit(x, metadata(genders), min_users=2)
    assert model.segment_labels.tolist() == ["gender=F", "gender=M"] and model.user_segment[5] == -1
    assert ranking(model, 5, x) == ranking(model, 6, x) == [2, 0, 1, 3, 4]
    # men are now users 3 and 4 only: item 1 and item 2 tie at 2 men, and item 2 wins on the global count
    assert ranking(model, 3, x) == [2, 1, 0, 3, 4]


def test_users_without_train_rows_get_their_segment_but_do_not_count_in_it():
    x = matrix({**ROWS, 2: []})  # user 2, a woman, has no train history (a new user given 0)
    model = fit(x, metadata(), min_users=3)
    assert model.segment_users.tolist() == [3] and model.segment_labels.tolist() == ["gender=M"]
    assert model.user_segment[2] == -1  # women: 2 train users, below 3
    model = fit(x, metadata(), min_users=2)
    # her segment's list (item 0 up from third place), without a single interaction of her own
    assert model.user_segment[2] == 0 and ranking(model, 2, x) == ranking(model, 0, x) == [2, 0, 1, 3, 4]
    assert ranking(model, 6, x) == [2, 1, 0, 3, 4]


def test_segments_combine_attributes_and_ages_fall_into_ml1m_bands():
    assert [age_band(a) for a in (None, 1, 17, 18, 24, 25, 34, 35, 44, 45, 49, 50, 55, 56, 73)] == [
        None, "under 18", "under 18", "18-24", "18-24", "25-34", "25-34", "35-44", "35-44", "45-49", "45-49",
        "50-55", "50-55", "56+", "56+",
    ]  # fmt: skip
    # ML-1M's codes are the lowest age of their band, so they land in the band they name
    codes = {1: "under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55", 56: "56+"}
    assert {code: age_band(code) for code in codes} == codes
    users = metadata(("F", "M", "F", None), (23, 23, 50, 30), ("writer", "writer", None, "artist"))
    labels = ["gender=F,age=18-24", "gender=M,age=18-24", "gender=F,age=50-55", None]
    assert user_labels(users, ("gender", "age")) == labels
    assert user_labels(users, ("occupation",)) == ["occupation=writer", "occupation=writer", None, "occupation=artist"]


def test_parameters_and_inputs_are_checked():
    make = model_class("segment-popular")
    assert create_model(make).user_attributes() == ("gender", "age")
    # one spelling per segmentation, in USER_ATTRIBUTES order: recorded params and labels agree
    spelt = create_model(make, {"segment": " occupation , age"})
    assert spelt.params.segment == "age,occupation" and spelt.user_attributes() == ("age", "occupation")
    assert age_band(-1) is None  # a users file's "unknown"
    for bad in ("zip", "gender,gender", "", "gender,"):
        with pytest.raises(InvalidParameterError, match="parameter 'segment' must be a comma list"):
            create_model(make, {"segment": bad})
    with pytest.raises(InvalidParameterError, match="'min-users' must be at least 1"):
        create_model(make, {"min-users": 0})
    with pytest.raises(InvalidParameterError, match="needs the users' demographics"):
        create_model(make).fit(TrainingData(matrix()))
    with pytest.raises(InvalidParameterError, match="describes 6 users, the train matrix has 7"):
        create_model(make).fit(TrainingData(matrix(), user_metadata=metadata(GENDERS[:6])))
    with pytest.raises(InvalidParameterError, match="2 genders, 1 ages and 2 occupations"):
        UserMetadata(("F", "M"), (1,), (None, None))


def test_round_trip_and_a_damaged_segment_index_is_refused(tmp_path):
    x = matrix()
    model = fit(x, metadata())
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert np.array_equal(loaded.score(np.arange(7), x), model.score(np.arange(7), x))
    assert loaded.segment_labels.tolist() == ["gender=F", "gender=M"]
    # a user pointing past the saved segments is a damaged file, not an IndexError at scoring time
    state = model.state()
    state["user_segment"] = np.array([0, 0, 0, 1, 1, 2, -1], dtype=np.int32)
    with pytest.raises(ValueError, match="beyond the segments saved"):
        create_model(model_class("segment-popular"))._restore(state)
    with np.load(tmp_path / "m" / MODEL_FILE, allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(model.state())


def test_users_files_are_read_into_user_metadata(tmp_path):
    ml100k = pa.table({
        "user_idx": pa.array([0, 1, 2, None], pa.int32()), "user_id": ["1", "2", "3", "x"],
        "gender": ["M", " F ", "", "M"], "age": pa.array([24, 53, None, 30], pa.int32()),
        "occupation": ["technician", "other", None, "writer"], "zip_code": ["85711", "94043", "1", "2"],
    })  # fmt: skip
    ml1m = pa.table(
        {"user_idx": pa.array([1, 0], pa.int32()), "gender": ["F", "M"], "age": [1, 56], "occupation": [10, 16]}
    )
    synthetic = pa.table({"user_idx": pa.array([0, 1, 2], pa.int32()), "age_group": ["Under 18", "25-34", "56+"]})
    for name, table in (("ml100k", ml100k), ("ml1m", ml1m), ("synthetic", synthetic)):
        (tmp_path / name).mkdir()
        pq.write_table(table, tmp_path / name / "users.parquet")
    users = read_user_metadata(tmp_path / "ml100k", 4)
    # blanks and missing rows are None; a row without user_idx is ignored
    assert users == UserMetadata(("M", "F", None, None), (24, 53, None, None), ("technician", "other", None, None))
    assert read_user_metadata(tmp_path / "ml1m", 2) == UserMetadata(("M", "F"), (56, 1), ("16", "10"))
    assert read_user_metadata(tmp_path / "synthetic", 3).ages == (1, 25, 56)
    assert read_user_metadata(tmp_path / "nothing", 2).present() == {"gender": 0, "age": 0, "occupation": 0}
