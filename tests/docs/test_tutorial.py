"""The transcripts in docs/tutorial.md and README.md are real: docs/make_tutorial.py reruns every command
they show and compares what it prints with what they show (numbers within 0.001; timings, memory,
stage keys, generation folders and temporary paths masked). README.md stays a five-minute read.

The synthetic sessions (the demo) always run; the MovieLens ones need ../shared/datasets (the
shared_datasets fixture: skipped when absent, required under CI=true).
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README_LIMIT = 12 * 1024  # bytes


def _load_make_tutorial():
    if "make_tutorial" in sys.modules:
        return sys.modules["make_tutorial"]
    spec = importlib.util.spec_from_file_location("make_tutorial", ROOT / "docs" / "make_tutorial.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


make_tutorial = _load_make_tutorial()


def _tutorial() -> str:
    return (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def synthetic_results():
    """The synthetic sessions' real output, run once for the tests of this module."""
    return make_tutorial.run_sessions(make_tutorial.select(real_data=False))


def test_readme_is_a_five_minute_read_with_the_generated_walkthrough():
    readme = _readme()
    size = len(readme.encode("utf-8"))
    assert size <= README_LIMIT, f"README.md is {size:,} bytes; keep it under {README_LIMIT:,} (move detail to docs/)"
    for _session, step in make_tutorial.readme_steps():
        assert f"<!-- tutorial:begin {step.readme} -->" in readme and f"<!-- tutorial:end {step.readme} -->" in readme
    assert "docs/tutorial.md" in readme


def test_the_files_show_the_commands_the_script_runs():
    problems = make_tutorial.compare_commands(_tutorial(), _readme())
    assert not problems, "\n".join(problems)
    assert make_tutorial.compare_commands(
        _tutorial().replace("$ recsys evaluate als --k 10", "$ recsys evaluate als"), _readme()
    )


def test_the_synthetic_transcripts_still_hold(synthetic_results):
    problems = make_tutorial.failures(synthetic_results)
    problems += make_tutorial.compare_tutorial(_tutorial(), synthetic_results)
    problems += make_tutorial.compare_readme(_readme(), synthetic_results)
    assert not problems, "\n".join(problems)


def _nudge_first_metric(text: str, after: str) -> str:
    """``text`` with the first 4-decimal table cell after ``after`` raised by 0.01."""
    start = text.index(after)
    found = re.compile(r"│( +)(\d\.\d{4}) │").search(text, start)
    assert found, "no metric cell to doctor"
    doctored = f"{float(found.group(2)) + 0.01:.4f}"
    return text[: found.start(2)] + doctored + text[found.end(2) :]


def test_a_doctored_transcript_is_caught(synthetic_results):
    tutorial, readme = _tutorial(), _readme()
    problems = make_tutorial.compare_tutorial(_nudge_first_metric(tutorial, "$ recsys demo"), synthetic_results)
    assert len(problems) == 1 and "recsys demo" in problems[0], problems
    problems = make_tutorial.compare_readme(_nudge_first_metric(readme, "tutorial:begin demo"), synthetic_results)
    assert len(problems) == 1 and "README.md (demo)" in problems[0], problems
    dropped_row = re.sub(r"\n│ knn │ item-knn │[^\n]*", "", tutorial, count=1)
    assert make_tutorial.compare_tutorial(dropped_row, synthetic_results)
    renamed = tutorial.replace("$ recsys demo\n", "$ recsys demo --seed 7\n", 1)
    assert "regenerate" in "\n".join(make_tutorial.compare_tutorial(renamed, synthetic_results))
    # what varies from run to run does not count: timings, memory, stage keys
    volatile = re.sub(r"done in [\d.]+s, peak RSS \d+ MB", "done in 99.9s, peak RSS 999 MB", tutorial)
    volatile = re.sub(r"│ ingest +│ ran +│[^\n]*", "│ ingest │ ran │ 123.456 │ 7,777 │ 0123456789ab │", volatile)
    assert volatile != tutorial
    assert not make_tutorial.compare_tutorial(volatile, synthetic_results)


def test_comparison_masks_volatile_fields_and_rounds_to_3_decimals():
    compare = make_tutorial.compare_output
    shown = [
        "[1/3] ingest: done in 0.5s, peak RSS 182 MB",
        "recipe run 'x' (recipes/x.toml): 0 of 3",
        "stages cached, 9.9s",
        "┏━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━┓",
        "┃ stage  ┃ seconds ┃  ndcg@10 ┃",
        "┡━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━┩",
        "│ ranker │   2.916 │   0.5051 │",
        "└────────┴─────────┴─────────┘",
    ]
    rerun = [
        "[1/3] ingest: done in 12.5s, peak RSS 1024 MB",
        "recipe run 'x' (recipes/x.toml): 0 of",
        "3 stages cached, 10.2s",
        "┏━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━┓",
        "┃ stage  ┃ seconds ┃  ndcg@10 ┃",
        "┡━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━┩",
        "│ ranker │  31.016 │   0.5053 │",
        "└────────┴─────────┴──────────┘",
    ]
    assert compare(shown, rerun) is None  # timings masked, title rewrapped, 4th decimal
    assert compare(shown, [*rerun[:6], "│ ranker │  31.016 │   0.5071 │", rerun[7]]) is not None
    assert compare(shown, rerun[:-2]) is not None
    assert compare(["188,600 rows"], ["188,601 rows"]) is not None
    assert compare(["+6.1%"], ["-6.1%"]) is not None
    assert (
        compare(
            ["runs/als/index/20261203T131100-0728da/index.ann"], ["runs/als/index/20270101T000000-ffffff/index.ann"]
        )
        is None
    )
    assert compare(["warning: slow", "ok"], ["ok"], volatile=r"^warning") is None


def test_numbers_are_compared_only_under_the_recorded_library_versions(synthetic_results):
    tutorial = _tutorial()
    assert make_tutorial.VERSIONS_LINE.search(tutorial), "docs/tutorial.md records no library versions"
    other = make_tutorial.VERSIONS_LINE.sub("<!-- library versions: implicit 0.0.1 -->", tutorial)
    assert not make_tutorial.numbers_comparable(other)
    nudged = _nudge_first_metric(tutorial, "$ recsys demo")
    assert make_tutorial.compare_tutorial(nudged, synthetic_results, numbers=True)
    assert not make_tutorial.compare_tutorial(nudged, synthetic_results, numbers=False)
    # words and table shapes still count when numbers do not
    dropped_row = re.sub(r"\n│ knn │ item-knn │[^\n]*", "", tutorial, count=1)
    assert make_tutorial.compare_tutorial(dropped_row, synthetic_results, numbers=False)


@pytest.mark.realdata
def test_the_movielens_transcripts_still_hold(shared_datasets):
    jobs = max(1, min(4, os.cpu_count() or 1))  # the sessions are independent: run them side by side
    problems = make_tutorial.check(make_tutorial.select(real_data=True), datasets=shared_datasets, jobs=jobs)
    assert not problems, "\n".join(problems)
