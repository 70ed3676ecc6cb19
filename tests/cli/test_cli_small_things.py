"""Small things users hit (issue 16, item 7): shell completion, global options after the command,
-k and --k alike, recommend on a small catalogue, split of a card not ingested, a CSV in another
encoding, -q keeping warnings, short candidate lists from exact retrieval, reruns that replace an
evaluation or candidates, and EASE's warning before a large model.

One tiny workspace (8 items, 6 users, a leave-last split, a popularity run) is built per module and
copied for every test that needs it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recsys_cli.cli import app
from tests.support import all_commands, assert_refused, build_template, copy_workspace, invoke_json, run_json

ITEMS = [f"i{n}" for n in range(1, 9)]
# two heavy users saw 7 of the 8 items (6 in train once the last goes to test), four light ones 3
HISTORIES = {"u1": ITEMS[:7], "u2": ITEMS[1:8], **{f"u{n}": ITEMS[n - 3 : n] for n in range(3, 7)}}


def write_interactions(path: Path) -> Path:
    rows = [f"{user},{item},4,{t}" for user, items in HISTORIES.items() for t, item in enumerate(items)]
    path.write_text("user,item,rating,ts\n" + "\n".join(rows) + "\n")
    return path


def build_tiny_workspace(root: Path) -> None:
    csv = write_interactions(root.parent / "r.csv")
    invoke_json(
        root,
        "ingest",
        "csv",
        csv,
        "--name",
        "d",
        "--user-col",
        "user",
        "--item-col",
        "item",
        "--timestamp-col",
        "ts",
    )
    invoke_json(root, "split", "d", "--name", "last", "--strategy", "leave-last", "--n", "1")
    invoke_json(root, "train", "candidates", "d", "--split", "last", "--model", "popular", "--run", "pop")
    invoke_json(root, "train", "candidates", "d", "--split", "last", "--model", "item-knn", "--run", "knn")


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The tiny workspace: dataset 'd', split 'last', runs 'pop' and 'knn' (read-only: tests copy it)."""
    return build_template(tmp_path_factory, "small-things", build_tiny_workspace)[0]


@pytest.fixture
def ws(template, workspace_dir) -> Path:
    return copy_workspace(template, workspace_dir)


def invoke(*args, env: dict | None = None):
    """``recsys ARGS...`` with no option put before the command."""
    result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def stderr_lines(result) -> list[str]:
    return result.stderr.strip().splitlines()


# -- 1. shell completion ---------------------------------------------------------------------------
@pytest.fixture
def shell_named(monkeypatch):
    """Typer detects the parent shell (dash, zsh ...) and ignores the name given: test with the name."""
    monkeypatch.setenv("_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION", "1")


def test_show_completion_prints_a_script_for_the_shell(shell_named):
    result = invoke("--show-completion", "bash")
    assert result.exit_code == 0, result.stderr
    assert "_RECSYS_COMPLETE=complete_bash" in result.stdout and "complete -o default -F" in result.stdout


def test_install_completion_writes_into_home(tmp_path, monkeypatch, shell_named):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # never the user's own shell files
    result = invoke("--install-completion", "bash")
    assert result.exit_code == 0, result.stderr
    script = home / ".bash_completions" / "recsys.sh"
    assert script.is_file() and str(script) in (home / ".bashrc").read_text()


# -- 2. global options after the command ----------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ("runs", "list"),
        ("datasets", "list"),
        ("datasets", "show", "d"),
        ("runs", "show", "pop"),
        ("sql", "SELECT count(*) AS n FROM interactions"),
    ],
)
def test_workspace_after_the_command_works_like_before_it(ws, args):
    before = invoke("-w", ws, *args, "-f", "json")
    after = invoke(*args, "-w", ws, "-f", "json")
    long_after = invoke(*args, "--workspace", ws, "-f", "json")
    assert before.exit_code == after.exit_code == long_after.exit_code == 0, after.stderr
    assert json.loads(after.stdout) == json.loads(before.stdout) == json.loads(long_after.stdout)


def test_workspace_after_the_command_overrides_the_environment_and_the_one_before(ws, tmp_path):
    env = {"RECSYS_WORKSPACE": str(tmp_path / "elsewhere")}
    result = invoke("-w", tmp_path / "nowhere", "runs", "list", "-w", ws, "-f", "json", env=env)
    assert result.exit_code == 0, result.stderr
    assert {row["run"] for row in json.loads(result.stdout)} == {"pop", "knn"}


def test_a_workspace_named_after_the_command_counts_as_named(cli_default_workspace, tmp_path):
    cli = cli_default_workspace  # no ./recsys-workspace: only an unnamed one shows the cards alone
    assert cli("datasets", "list", "-f", "json").exit_code == 0
    result = cli("datasets", "list", "-w", tmp_path / "missing", "-f", "json")
    assert result.exit_code == 1 and "no recsys workspace at" in result.stderr


def test_quiet_and_verbose_after_the_command(tmp_path):
    csv = write_interactions(tmp_path / "r.csv")
    args = ("ingest", "csv", csv, "--name", "d", "--user-col", "user", "--item-col", "item", "-f", "json")
    loud = invoke(*args, "-w", tmp_path / "a", "-v")
    assert loud.exit_code == 0 and "reading r.csv" in loud.stderr
    quiet = invoke("-v", *args, "-w", tmp_path / "b", "-q")  # -q wins over -v, wherever each is
    assert quiet.exit_code == 0 and quiet.stderr == "" and json.loads(quiet.stdout)["interactions"] == 26


# -- 3. -k and --k ---------------------------------------------------------------------------------
def test_every_command_with_a_k_takes_both_spellings():
    with_k = {" ".join(path): command for path, command in all_commands() if "k" in {p.name for p in command.params}}
    assert {"recommend", "candidates", "evaluate", "index bench", "runs compare"} <= set(with_k)
    for path, command in with_k.items():
        option = next(p for p in command.params if p.name == "k")
        assert set(option.opts) == {"-k", "--k"}, path


@pytest.mark.parametrize("spelling", ["-k", "--k"])
def test_both_spellings_work(ws, cli, spelling):
    assert run_json(cli, "evaluate", "pop", spelling, "3")["protocol"]["ks"] == [3]
    assert len(run_json(cli, "recommend", "pop", "--user", "u3", spelling, "2")["items"]) == 2
    assert run_json(cli, "candidates", "pop", spelling, "2")["k"] == 2
    run_json(cli, "evaluate", "knn", spelling, "3")
    compared = cli("runs", "compare", "pop", "knn", spelling, "3", "-f", "csv", "--table", "runs")
    assert compared.exit_code == 0 and "ndcg@3" in compared.stdout.splitlines()[0]


# -- 4. recommend on a catalogue smaller than K ----------------------------------------------------
def test_recommend_beyond_the_catalogue_gives_what_there_is_with_a_warning(ws, cli):
    result = cli("recommend", "pop", "--user", "u3", "-k", "50", "-f", "json")
    assert result.exit_code == 0, result.stderr
    items = json.loads(result.stdout)["items"]
    seen_in_train = len(HISTORIES["u3"]) - 1
    assert len(items) == len(ITEMS) - seen_in_train
    assert "warning: only 6 items to recommend for k=50: the catalogue has 8 items" in result.stderr


# -- 5. split of a card that is not ingested -------------------------------------------------------
def test_split_of_a_card_not_ingested_says_ingest_it_first(ws, cli):
    result = assert_refused(
        cli,
        ws,
        ["split", "ml-100k", "--name", "s", "--strategy", "random"],
        ["dataset 'ml-100k' is a dataset card that is not ingested", "ingest it first: recsys ingest ml-100k"],
    )
    assert "did you mean" not in result.stderr
    # a name that is no card still gets the closest dataset
    assert_refused(cli, ws, ["split", "dd", "--name", "s", "--strategy", "random"], ["did you mean 'd'?"])


# -- 6. a CSV in another encoding ------------------------------------------------------------------
def latin1_csv(path: Path, header: str = "user,item") -> Path:
    path.write_bytes(f"{header}\nJosé,café\nJosé,thé\nZoë,café\n".encode("latin-1"))
    return path


@pytest.mark.parametrize("header", ["user,item", "usér,item"])
def test_a_latin1_csv_is_refused_with_the_encoding_option_in_the_hint(cli, workspace_dir, tmp_path, header):
    csv = latin1_csv(tmp_path / "l.csv", header)
    args = ["ingest", "csv", csv, "--name", "l", "--user-col", "1", "--item-col", "2"]
    assert_refused(cli, workspace_dir, args, ["l.csv is not utf-8 text", "--encoding latin-1"])
    ingested = run_json(cli, *args, "--encoding", "latin-1")
    assert ingested["interactions"] == 3 and ingested["users"] == 2
    rows = run_json(cli, "sql", "SELECT user_id FROM user_vocab ORDER BY user_id")
    assert [row["user_id"] for row in rows] == ["José", "Zoë"]


def test_a_line_beyond_the_sampled_start_names_the_encoding_too(cli, workspace_dir, tmp_path, monkeypatch):
    import recsys_cli.datasets.interaction_file as interaction_file

    # as if the bad byte came after the first megabyte, which is all the encoding check reads
    monkeypatch.setattr(interaction_file, "_encoding_error", lambda path, dialect: None)
    csv = latin1_csv(tmp_path / "l.csv")
    args = ["ingest", "csv", csv, "--name", "l", "--user-col", "user", "--item-col", "item"]
    assert_refused(cli, workspace_dir, args, ["l.csv line 2", "--encoding latin-1"])
    mixed = tmp_path / "m.csv"
    mixed.write_bytes("user,item\nu1,i1\nJosé,café\n".encode("latin-1"))
    skipped = cli(
        "ingest", "csv", mixed, "--name", "m", "--user-col", "user", "--item-col", "item", "--on-bad-lines", "skip"
    )
    assert skipped.exit_code == 0, skipped.stderr
    assert "skipped 1 malformed line(s) of m.csv (first: line 3; 1 not utf-8 text" in skipped.stderr
    assert "--encoding latin-1" in skipped.stderr


# -- 7. -q keeps warnings --------------------------------------------------------------------------
def test_quiet_keeps_warnings_and_drops_the_rest(ws, cli):
    result = cli("-q", "recommend", "pop", "--user", "nobody", "-k", "3", "-f", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["personalised"] is False
    assert stderr_lines(result) == [
        "warning: user 'nobody' is not in dataset 'd': showing the most popular train items instead"
    ]
    noisy = cli("-q", "candidates", "pop", "-k", "3", "-f", "json")  # short lists: a warning, no progress
    assert noisy.exit_code == 0 and stderr_lines(noisy)
    assert all(line.startswith("warning: ") for line in stderr_lines(noisy)), noisy.stderr


# -- 8. short lists from exact retrieval -----------------------------------------------------------
def test_exact_candidates_count_users_given_fewer_than_k(ws, cli):
    result = cli("candidates", "pop", "-k", "4", "-f", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    # the heavy users saw 6 of the 8 items in train: 2 unseen left for k=4; the light ones have 6
    assert document["short_lists"] == 2 and document["rows"] == 2 * 2 + 4 * 4
    assert "2 users got fewer than 4 candidates (their train history leaves fewer unseen items" in result.stderr
    assert run_json(cli, "candidates", "pop", "-k", "2")["short_lists"] == 0


# -- 9. a rerun that replaces an evaluation or candidates ------------------------------------------
def test_a_rerun_of_evaluate_names_the_file_it_replaced(ws, cli):
    first = run_json(cli, "evaluate", "pop", "--k", "5")
    assert (ws / first["per_user"]).is_file()
    result = cli("evaluate", "pop", "--k", "3", "-f", "json")
    assert result.exit_code == 0, result.stderr
    warning = next(line for line in stderr_lines(result) if "replaced the previous evaluation" in line)
    assert "of pop on test (k 5;" in warning and first["per_user"] in warning
    assert not (ws / first["per_user"]).exists()
    assert (ws / json.loads(result.stdout)["per_user"]).is_file()


def test_a_rerun_of_candidates_names_the_file_it_replaced(ws, cli):
    first = cli("candidates", "pop", "-k", "2", "-f", "json")
    assert first.exit_code == 0 and "replaced" not in first.stderr
    old_path = json.loads(first.stdout)["path"]
    result = cli("candidates", "pop", "-k", "3", "-f", "json")
    assert result.exit_code == 0, result.stderr
    assert f"replaced the previous test candidates of pop (k 2, retrieval exact); its file {old_path}" in result.stderr
    assert not (ws / old_path).exists() and (ws / json.loads(result.stdout)["path"]).is_file()


# -- 10. EASE warns before a large model -----------------------------------------------------------
def test_ease_warns_before_training_a_large_model_and_max_items_keeps_it_small(ws, cli, monkeypatch):
    import recsys_cli.models.ease as ease

    monkeypatch.setattr(ease, "LARGE_MODEL_BYTES", 100)  # 8 items make 256 bytes; 5 make 100
    train = ["train", "candidates", "d", "--split", "last", "--model", "ease", "--regularization", "1"]
    result = cli(*train, "--run", "ease", "-f", "json")
    assert result.exit_code == 0, result.stderr
    lines = stderr_lines(result)
    warning = next(i for i, line in enumerate(lines) if line.startswith("warning: EASE on 8 items writes a"))
    assert "--max-items 5" in lines[warning] and "item-knn" in lines[warning]
    assert warning < next(i for i, line in enumerate(lines) if line.startswith("training ease"))

    small = cli(*train, "--run", "ease-5", "--max-items", "5", "-f", "json")
    assert small.exit_code == 0 and "warning" not in small.stderr
    assert json.loads(small.stdout)["params"]["max_items"] == 5
    items = run_json(cli, "recommend", "ease-5", "--user", "u3", "-k", "5")["items"]
    # the five most seen in train are i2, i3, i4 (4 users), i5 (3) and i1 (2, tied with i6: the lower
    # index); u3 saw i1 and i2, and the other items are never recommended
    assert sorted(item["item_id"] for item in items) == ["i3", "i4", "i5"]
