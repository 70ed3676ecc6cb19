"""Requirements (quality gates) read and checked without a workspace."""

from __future__ import annotations

import math

import pytest

from recsys_cli.errors import InvalidParameterError, UnknownNameError
from recsys_cli.evaluation.requirements import (
    CheckResult,
    Requirement,
    check_requirements,
    failure_message,
    parse_requirement,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ranker.ndcg@10>=0.23", Requirement("ranker.ndcg@10", ">=", 0.23)),
        ("  ranker.ndcg@10 >= 0.23 ", Requirement("ranker.ndcg@10", ">=", 0.23)),
        ("lift.ranker_vs_candidates.ndcg@10.low>0", Requirement("lift.ranker_vs_candidates.ndcg@10.low", ">", 0.0)),
        ("test.recall@20<=1e-1", Requirement("test.recall@20", "<=", 0.1)),
        ("pool_recall<0.9", Requirement("pool_recall", "<", 0.9)),
        ("x==-2", Requirement("x", "==", -2.0)),
        ("x != 3", Requirement("x", "!=", 3.0)),
    ],
)
def test_requirements_parse(text, expected):
    assert parse_requirement(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ranker.ndcg@10",
        ">= 0.2",
        "ranker.ndcg@10 => 0.2",
        "a b >= 1",
        "x >= 0.2 extra",
        "x >= abc",
        "x>=inf",
        "x>=1_0",
        "x>=0x10",
        "x>=1e999",
    ],
)
def test_malformed_requirements_are_refused_with_an_example(text):
    with pytest.raises(InvalidParameterError) as caught:
        parse_requirement(text)
    assert "requirement" in caught.value.message and caught.value.hint


@pytest.mark.parametrize(
    ("operator", "value", "passed"),
    [
        (">=", 0.5, True),
        (">=", 0.4999, False),
        (">", 0.5, False),
        ("<", 0.4, True),
        ("==", 0.5, True),
        ("!=", 0.5, False),
    ],
)
def test_each_operator_compares_the_value_with_the_threshold(operator, value, passed):
    [result] = check_requirements([Requirement("m", operator, 0.5)], {"m": value})
    assert result.passed is passed and result.value == value


def test_a_measure_without_a_value_fails_instead_of_passing():
    results = check_requirements([Requirement("m", "!=", 0.0), Requirement("n", "<", 1.0)], {"m": None, "n": math.nan})
    assert [r.passed for r in results] == [False, False]
    assert "m = not measured (required != 0)" in failure_message(results)


def test_an_unknown_measure_names_the_closest_one():
    with pytest.raises(UnknownNameError) as caught:
        check_requirements([Requirement("ranker.ndcg@1O", ">", 0)], {"ranker.ndcg@10": 0.3, "ranker.recall@10": 0.1})
    assert "did you mean 'ranker.ndcg@10'?" in caught.value.hint


def test_the_failure_message_counts_and_lists_only_the_failed_ones():
    results = [
        CheckResult(Requirement("a", ">=", 0.3), 0.25),
        CheckResult(Requirement("b", ">", 0.0), 0.01),
    ]
    assert failure_message(results) == "1 of 2 requirements failed: a = 0.25 (required >= 0.3)"
    assert results[0].to_json() == {
        "requirement": "a >= 0.3",
        "name": "a",
        "operator": ">=",
        "threshold": 0.3,
        "value": 0.25,
        "passed": False,
    }
