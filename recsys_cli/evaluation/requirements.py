"""Quality gates: requirements such as ``ranker.ndcg@10>=0.23`` checked against a run's measures.

A requirement is ``NAME OPERATOR NUMBER``. NAME is a key of a run's flat measures (see
docs/ci.md: ``ranker.ndcg@10``, ``generators.als.recall@20``,
``lift.ranker_vs_candidates.ndcg@10.low``, ...), so a CI script states what it needs in the
words the tables print instead of a jq path into the JSON tree. Knows no workspace: strings and a
``{name: number}`` mapping in, results out.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from recsys_cli.errors import InvalidParameterError, UnknownNameError

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}
# the two-character operators first, so ">=" is not read as ">" followed by "=0.2"
_REQUIREMENT = re.compile(r"^\s*(?P<name>[^\s<>=!]+)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<threshold>\S+)\s*$")
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")  # what a person writes: no 1_0, no inf
_EXAMPLE = 'e.g. --require "ranker.ndcg@10>=0.23"'


class RequirementError(InvalidParameterError):
    """A requirement that cannot be read: not NAME OPERATOR NUMBER."""

    default_hint = _EXAMPLE


@dataclass(frozen=True)
class Requirement:
    name: str
    operator: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.name} {self.operator} {_written(self.threshold)}"


@dataclass(frozen=True)
class CheckResult:
    requirement: Requirement
    value: float | None  # None: the run did not measure it (e.g. a relative lift over a zero baseline)

    @property
    def passed(self) -> bool:
        if self.value is None or math.isnan(self.value):
            return False
        return OPERATORS[self.requirement.operator](self.value, self.requirement.threshold)

    def to_json(self) -> dict[str, Any]:
        r = self.requirement
        return {
            "requirement": str(r),
            "name": r.name,
            "operator": r.operator,
            "threshold": r.threshold,
            "value": self.value,
            "passed": self.passed,
        }


def parse_requirement(text: str) -> Requirement:
    match = _REQUIREMENT.match(text)
    if match is None:
        raise RequirementError(f"requirement '{text}' is not NAME OPERATOR NUMBER (operators: {' '.join(OPERATORS)})")
    if not _NUMBER.match(match["threshold"]):
        raise RequirementError(f"requirement '{text}': '{match['threshold']}' is not a number")
    threshold = float(match["threshold"])
    if not math.isfinite(threshold):
        raise RequirementError(f"requirement '{text}': the threshold must be a finite number")
    return Requirement(match["name"], match["op"], threshold)


def parse_requirements(texts: Iterable[str]) -> list[Requirement]:
    return [parse_requirement(text) for text in texts]


def check_names(requirements: Iterable[Requirement], known: Iterable[str]) -> None:
    """Refuse a requirement on a measure that does not exist (a typo), naming the closest one."""
    known = list(known)
    for requirement in requirements:
        if requirement.name not in known:
            raise UnknownNameError(
                "measure",
                requirement.name,
                known,
                hint=_closest_hint(requirement.name, known),
            )


def check_requirements(requirements: Iterable[Requirement], measures: Mapping[str, float | None]) -> list[CheckResult]:
    """Each requirement with the measured value; a name not in ``measures`` is an UnknownNameError."""
    requirements = list(requirements)
    check_names(requirements, measures)
    return [CheckResult(r, _number(measures[r.name])) for r in requirements]


def failure_message(results: list[CheckResult]) -> str:
    failed = [r for r in results if not r.passed]
    shown = "; ".join(
        f"{r.requirement.name} = {'not measured' if r.value is None else _shown(r.value)} "
        f"(required {r.requirement.operator} {_written(r.requirement.threshold)})"
        for r in failed
    )
    return f"{len(failed)} of {len(results)} requirement{'s' if len(results) != 1 else ''} failed: {shown}"


def _shown(number: float) -> str:
    """A measured value to six significant digits: enough to see why 0.505099 fails ``>= 0.5051``."""
    return f"{number:.6g}"


def _written(threshold: float) -> str:
    """A threshold as the user wrote it: the shortest text that reads back as the same float."""
    text = repr(threshold)
    return text.removesuffix(".0")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _closest_hint(name: str, known: list[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    lead = f"did you mean '{close[0]}'? " if close else ""
    return f"{lead}`recsys runs check RUN` lists a run's measures; docs/ci.md explains their names"
