"""The session rule, by worked examples: which of sessions 1..12 each rule makes due."""

from __future__ import annotations

import pytest

from alliance.domain import DomainError
from alliance.instruments.schedule import parse_rule

# rule            | normal text       | due among sessions 1..12
EXAMPLES = [
    ("every", "every", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    ("every:4", "every:4", [4, 8, 12]),  # "every 4th": the 4th session is the first due
    ("every 4th", "every:4", [4, 8, 12]),
    ("Every:3 after", "every:3 after", [3, 6, 9, 12]),
    ("every:1", "every", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
    ("first before", "first before", [1]),
    ("1, 4, 8, 12", "1,4,8,12", [1, 4, 8, 12]),
    ("1,5,9", "1,5,9", [1, 5, 9]),
    ("12,4,1 before", "1,4,12 before", [1, 4, 12]),
    ("last", "last", []),  # the closing session is not known when a session is recorded
    ("never", "never", []),
]


@pytest.mark.parametrize(("raw", "text", "due"), EXAMPLES)
def test_it_makes_the_worked_sessions_due(raw: str, text: str, due: list[int]) -> None:
    rule = parse_rule(raw)
    assert rule.text == text
    assert [n for n in range(1, 13) if rule.due(n)] == due
    assert parse_rule(rule.text) == rule


@pytest.mark.parametrize(
    ("raw", "kind", "timing"),
    [
        ("every", "alliance", "after"),  # SRS at the end of the session (Duncan et al. 2003)
        ("every", "outcome", "before"),  # ORS, PHQ-9 at its start (Miller et al. 2003)
        ("every", "goals", "before"),
        ("every before", "alliance", "before"),
        ("every:4 after", "outcome", "after"),
    ],
)
def test_it_times_a_measure_by_its_rule_or_its_kind(raw: str, kind: str, timing: str) -> None:
    assert parse_rule(raw).timing_for(kind) == timing


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("", "is empty"),
        ("sometimes", "is not a rule"),
        ("every:0", "every 0th"),
        ("0,4", "session 0"),
        ("before", "no sessions"),
        ("every:4 during", "is not a rule"),
        ("1;4", "is not a rule"),
        ("every:1000", "is not a rule"),
    ],
)
def test_it_refuses_a_bad_rule_naming_the_field(raw: str, says: str) -> None:
    with pytest.raises(DomainError) as refused:
        parse_rule(raw)
    assert refused.value.field == "session_rule"
    assert says in refused.value.detail
    assert "every:N" in str(refused.value)
