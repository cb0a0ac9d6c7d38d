"""The client chart's session axis: whole sessions only, each labelled once, drawn by
vl-convert on the server as the PDF report draws it."""

from __future__ import annotations

import re

import pytest

from alliance.web.charts import ChartData, ChartPoint, client_chart_spec, render, session_ticks


def axis_labels(sessions: int) -> list[str]:
    points = [ChartPoint(s, "phq9", "PHQ-9", "outcome", 10.0) for s in range(1, sessions + 1)]
    svg = render(client_chart_spec(ChartData(points, [], [], [], [], {"phq9": (0, 27)})), "svg")
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", svg.decode())
    return labels[: labels.index("Session")]


@pytest.mark.parametrize(
    ("sessions", "shown"),
    [
        (1, ["1", "2"]),  # the axis always runs to session 2 at least
        (2, ["1", "2"]),
        (3, ["1", "2", "3"]),
        (12, [str(n) for n in range(1, 13)]),
        (13, ["1", "3", "5", "7", "9", "11", "13"]),
    ],
)
def test_each_session_is_labelled_once(sessions: int, shown: list[str]) -> None:
    assert axis_labels(sessions) == shown


def test_a_long_episode_gets_at_most_twelve_ticks() -> None:
    # 40 sessions: every 4th (ceil(40 / 12) = 4), from session 1.
    assert session_ticks((0.5, 40.5)) == [1, 5, 9, 13, 17, 21, 25, 29, 33, 37]
