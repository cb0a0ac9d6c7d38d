"""`alliance etr evaluate` and `alliance analyze` on real files: accuracy, names, too few."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from click.testing import CliRunner

from alliance.cli import main

HEADER = "client,episode,session,date,measure,therapist,status,total\n"
# The accuracy example of tests/analytics/test_alert_accuracy.py, as a CSV: PHQ-9, closed.
# U1, U2 flat (alerted at rating 7, unimproved: true positives), U3 flat but ends at rating 5
# (false negative), I1 improves (true negative), I2 alerted at 7 then improves (false positive).
EPISODES = {
    "U1": [15] * 8,
    "U2": [20] * 8,
    "U3": [16] * 5,
    "I1": [18, 16, 14, 12, 10, 10, 10, 10],
    "I2": [16] * 7 + [9],
}


def write_csv(path: Path) -> Path:
    lines = [HEADER]
    start = date(2025, 1, 6)
    for client, totals in EPISODES.items():
        for n, total in enumerate(totals, start=1):
            day = (start + timedelta(weeks=n)).isoformat()
            lines.append(f"{client},1,{n},{day},phq9,alice,closed,{total}\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_it_reports_alert_accuracy_on_closed_episodes_of_a_csv(tmp_path: Path) -> None:
    source = str(write_csv(tmp_path / "s.csv"))
    result = CliRunner().invoke(main, ["etr", "evaluate", "--csv", source], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "5 closed episodes; ended without reliable improvement by PHQ-9" in out
    # Every denominator is under 10: too few, never a bare percentage.
    assert "too few (n = 3)" in out
    assert "too few (n = 2)" in out
    assert "Hannan et al. 2005" in out


def test_it_keeps_the_synthetic_check_apart(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["etr", "evaluate", "--synthetic", "--train", "300", "--test", "300"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Synthetic check, not clinical accuracy.")


def test_it_names_measures_and_models_in_the_analysis(tmp_path: Path) -> None:
    source = write_csv(tmp_path / "s.csv")
    text = CliRunner().invoke(main, ["analyze", str(source)], env={"COLUMNS": "300"})
    assert text.exit_code == 0, text.output
    out = " ".join(text.output.split())
    assert "not used: rule-based no-change alerts" in out
    assert "synthetic episodes" in out
    assert "PHQ-9" in out
    assert "too few (n = 5)" in out
    payload = json.loads(CliRunner().invoke(main, ["analyze", str(source), "--json"]).stdout)
    no_change = [s for s in payload["signals"] if s["kind"] == "no_change"]
    assert sorted((s["episode_id"], s["session"], s["last_session"]) for s in no_change) == [
        ("I2/1", 7, 7),
        ("U1/1", 7, 8),
        ("U2/1", 7, 8),
    ]
