"""Tags (issue 13): a release's tags file is gathered per item into items.parquet's `tags` list and
reaches the content model as `tag:` terms (the real ml-latest-small: tests/realdata/test_content_realdata.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from recsys_cli.data.workspace import Workspace
from recsys_cli.models import ItemMetadata, TrainingData, create_model, model_class
from recsys_cli.reporting import RecordingReporter
from recsys_cli.runs.store import open_run
from tests.support import ingest_partial, query_table, run_json


def write_tiny_latest_small(folder: Path, tags: str | None) -> Path:
    """A release in ml-latest-small's format: 4 movies, 3 users, CRLF line ends and quoted fields."""
    folder.mkdir(parents=True)
    ratings = ["userId,movieId,rating,timestamp", "1,1,4.0,964982703", "1,2,3.5,964981247", "2,2,5.0,964982224"]
    ratings += ["2,3,2.0,964983815", "3,1,4.5,964982931", "3,4,1.0,964982400"]
    (folder / "ratings.csv").write_bytes(("\r\n".join(ratings) + "\r\n").encode())
    movies = [
        "movieId,title,genres",
        "1,Toy Story (1995),Adventure|Animation",
        '2,"American President, The (1995)",Comedy|Drama|Romance',
        "3,Heat (1995),Action|Crime",
        "4,Sabrina (1995),(no genres listed)",
    ]
    (folder / "movies.csv").write_bytes(("\r\n".join(movies) + "\r\n").encode())
    if tags is not None:
        (folder / "tags.csv").write_bytes(tags.replace("\n", "\r\n").encode())
    return folder


TAGS = """userId,movieId,tag,timestamp
2,1,pixar,1445714994
3,1, Pixar ,1445714995
2,1,"funny, clever",1445714996
1,3,Dark   Comedy,1445714997
1,3,dark comedy,1445714998
3,3,heist,1445714999
3,99,nobody rated this,1445715000
2,2,   ,1445715001
"""


def items_tags(workspace_dir: Path, cli) -> list[tuple]:
    doc = run_json(cli, "datasets", "show", "ml-latest-small")["dataset"]
    return query_table(workspace_dir, doc, "items", "SELECT item_id, tags FROM {t} ORDER BY item_id::INTEGER")


def test_tags_are_gathered_per_item_trimmed_lower_cased_and_distinct(cli, workspace_dir, tmp_path):
    release = write_tiny_latest_small(tmp_path / "ml-latest-small", TAGS)
    ingest_partial(workspace_dir, "ml-latest-small", release)
    assert items_tags(workspace_dir, cli) == [
        ("1", ["funny, clever", "pixar"]),  # "pixar" and " Pixar " are one tag
        ("2", []),  # a blank tag is no tag
        ("3", ["dark comedy", "heist"]),  # inner whitespace collapsed
        ("4", []),
    ]


def test_a_release_without_its_tags_file_still_ingests_and_says_so(cli, workspace_dir, tmp_path):
    release = write_tiny_latest_small(tmp_path / "ml-latest-small", None)
    reporter = RecordingReporter()
    ingest_partial(workspace_dir, "ml-latest-small", release, reporter=reporter)
    assert ("warn", f"{release} has no tags.csv: the dataset gets no tags table") in reporter.messages
    doc = run_json(cli, "datasets", "show", "ml-latest-small")["dataset"]
    columns = pq.read_schema(workspace_dir / doc["path"] / "items.parquet").names
    assert "genres" in columns and "tags" not in columns


def test_the_content_model_reads_tags_as_terms_and_tag_weight_zero_drops_them(cli, workspace_dir, tmp_path):
    release = write_tiny_latest_small(tmp_path / "ml-latest-small", TAGS)
    ingest_partial(workspace_dir, "ml-latest-small", release)
    assert cli("split", "ml-latest-small", "--name", "s", "--strategy", "leave-last").exit_code == 0
    for run, weight in (("with-tags", "1"), ("without-tags", "0")):
        result = cli(
            "train", "candidates", "ml-latest-small", "--split", "s", "--model", "content", "--run", run,
            "-p", f"tag-weight={weight}",
        )  # fmt: skip
        assert result.exit_code == 0, result.stderr
    workspace = Workspace(workspace_dir)
    with workspace.reading():
        with_tags = open_run(workspace, "with-tags").model()
        without = open_run(workspace, "without-tags").model()
    assert {"tag:pixar", "tag:funny, clever", "tag:dark comedy", "tag:heist"} <= set(with_tags.vocabulary.tolist())
    used = without.vocabulary[np.unique(without.vectors.indices)]  # weight 0 keeps the term out of every vector
    assert used.size > 0 and not any(term.startswith("tag:") for term in used.tolist())


def test_tags_change_which_item_is_closest():
    """Two items alike in genres: the shared tag makes the difference (and only it)."""
    metadata = ItemMetadata(
        titles=("A", "B", "C"),
        years=(None, None, None),
        genres=(("Drama",), ("Drama",), ("Drama",)),
        tags=(("heist",), ("heist",), ("romance",)),
    )
    user_items = np.array([[1, 0, 0]], dtype=np.float32)
    import scipy.sparse as sp

    matrix = sp.csr_matrix(user_items)
    scores = {}
    for weight in (0.0, 1.0):
        model = create_model(model_class("content"), {"tag-weight": weight})
        model.fit(TrainingData(matrix, item_metadata=metadata))
        scores[weight] = model.score(np.array([0]), matrix)[0]
    assert scores[0.0][1] == pytest.approx(scores[0.0][2])  # genres alone cannot tell B from C
    assert scores[1.0][1] > scores[1.0][2]


def test_item_metadata_refuses_a_tag_list_per_item_of_the_wrong_length():
    from recsys_cli.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="2 tag lists"):
        ItemMetadata(titles=("A",), years=(None,), genres=((),), tags=((), ()))


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["-p", "tag-weight"], "--param 'tag-weight' is not NAME=VALUE"),
        (["-p", "=1"], "--param '=1' is not NAME=VALUE"),
        (["-p", "tag-weight=1", "-p", "tag_weight=2"], "parameter 'tag-weight' is given twice"),
        (["--tag-weight", "1", "-p", "tag-weight=2"], "parameter 'tag-weight' is given twice"),
        (["-p", "no-such=1"], "model 'content' has no parameter 'no-such'"),
        (["-p", "tag-weight=lots"], "parameter 'tag-weight' must be float"),
    ],
)
def test_bad_param_pairs_are_one_line_errors_and_train_nothing(cli, workspace_dir, tmp_path, pairs, message):
    release = write_tiny_latest_small(tmp_path / "ml-latest-small", TAGS)
    ingest_partial(workspace_dir, "ml-latest-small", release)
    assert cli("split", "ml-latest-small", "--name", "s", "--strategy", "leave-last").exit_code == 0
    command = ["train", "candidates", "ml-latest-small", "--split", "s", "--model", "content", "--run", "c"]
    result = cli(*command, *pairs)
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert "c" not in [run["run"] for run in run_json(cli, "runs", "list")]


def test_tags_on_a_cold_items_split_warn_of_the_leak_and_on_a_dataset_without_tags_of_nothing(
    cli, workspace_dir, tmp_path
):
    release = write_tiny_latest_small(tmp_path / "ml-latest-small", TAGS)
    ingest_partial(workspace_dir, "ml-latest-small", release)
    cold = ["split", "ml-latest-small", "--name", "cold", "--strategy", "cold-items", "--test-fraction", "0.25"]
    assert cli(*cold).exit_code == 0
    train = ["train", "candidates", "ml-latest-small", "--split", "cold", "--model", "content"]
    result = cli(*train, "--run", "leaky", "-p", "tag-weight=1")
    assert result.exit_code == 0, result.stderr
    assert "tag-weight 1 on cold-items split 'cold': the held-out items' tags were written" in " ".join(
        result.stderr.split()
    )
    quiet = cli(*train, "--run", "clean")  # tags off (the default): nothing to say
    assert quiet.exit_code == 0 and "tag-weight" not in quiet.stderr
    plain = write_tiny_latest_small(tmp_path / "untagged" / "ml-latest-small", None)
    ingest_partial(workspace_dir, "ml-latest-small", plain, dataset_name="untagged")
    assert cli("split", "untagged", "--name", "s", "--strategy", "leave-last").exit_code == 0
    result = cli(
        "train", "candidates", "untagged", "--split", "s", "--model", "content", "--run", "u", "-p", "tag-weight=2"
    )
    assert result.exit_code == 0 and "tag-weight 2 does nothing: no item of this dataset has tags" in result.stderr
