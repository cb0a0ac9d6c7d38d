"""The measure commands: output, JSON shape, and exit status 2 with a useful message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from alliance.cli import main

PHQ9_ANSWERS = '{"1":0,"2":0,"3":0,"4":0,"5":0,"6":0,"7":0,"8":0,"9":1}'


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_it_lists_instruments_with_licence_and_wording() -> None:
    code, out, _ = run("instruments", "--json")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)}
    assert set(rows) == {"phq9", "gad7", "core10", "ors", "srs", "wai_sr", "gbo"}
    assert rows["ors"]["wording_ships"] is False
    assert rows["phq9"]["items"] == 9
    code, out, _ = run("instruments")
    assert code == 0
    assert "not shipped" in out


def test_it_scores_with_json_output_and_a_risk_flag() -> None:
    code, out, _ = run("score", "phq9", "--answers", PHQ9_ANSWERS, "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["instrument"] == "phq9"
    assert payload["total"] == 1.0
    assert payload["band"] == "minimal"
    assert payload["flags"] == ["risk:phq9:9"]
    assert payload["validity"] == "complete"
    assert payload["subscales"] == {}


def test_it_classifies_change() -> None:
    code, out, _ = run("change", "phq9", "--pre", "16", "--post", "8", "--json")
    assert code == 0
    assert json.loads(out)["classification"] == "recovered"
    code, out, _ = run("change", "ors", "--pre", "30", "--post", "24")
    assert code == 0
    assert out.strip().endswith("deteriorated")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("score", "phq9", "--answers", '{"1": 4}'),
            "phq9 item 1: value 4 is not allowed; allowed: one of 0, 1, 2, 3",
        ),
        (
            ("score", "phq9", "--answers", '{"12": 1}'),
            "phq9: item '12' does not exist; items are 1 to 9",
        ),
        (
            ("score", "phq9", "--answers", '{"1": "two"}'),
            "phq9 item 1: value 'two' has the wrong type (str)",
        ),
        (("score", "bdi", "--answers", "{}"), "instrument 'bdi' is unknown; allowed: phq9"),
        (
            ("score", "core10", "--answers", '{"1":1,"2":1,"3":1,"4":1,"5":1,"6":0,"7":1,"8":1}'),
            "core10: 2 of 10 items unanswered (items 9, 10); at most 1 may be missing",
        ),
        (("score", "phq9", "--answers", "[1, 2]"), "--answers: a JSON list is not allowed"),
        (
            ("change", "phq9", "--pre", "10", "--post", "40"),
            "phq9 post: value 40.0 is out of range; allowed: 0 to 27",
        ),
    ],
)
def test_it_exits_2_on_bad_input_naming_item_value_and_allowed(
    args: tuple[str, ...], message: str
) -> None:
    code, _, err = run(*args)
    assert code == 2
    assert message in err


def test_it_exits_2_when_the_overlay_changes_the_scale(tmp_path: Path) -> None:
    overlay = tmp_path / "licensed.yaml"
    overlay.write_text(
        "instruments:\n  ors:\n    items: {'1': a, '2': b, '3': c, '4': d}\n"
        "    scales:\n      line: {max: 100}\n",
        encoding="utf-8",
    )
    code, _, err = run("instruments", env={"ALLIANCE_INSTRUMENT_OVERLAY": str(overlay)})
    assert code == 2
    assert "max 100 changes the scale of ors; allowed: 10.0 as defined" in err


def test_it_exports_and_imports_fhir(tmp_path: Path) -> None:
    code, out, _ = run("fhir", "questionnaire", "gad7")
    assert code == 0
    assert json.loads(out)["code"][0]["code"] == "69737-5"
    code, out, _ = run("fhir", "response", "phq9", "--answers", PHQ9_ANSWERS, "--id", "r1")
    assert code == 0
    response, obs = json.loads(out)
    assert obs["code"]["coding"][0]["code"] == "44261-6"
    path = tmp_path / "response.json"
    path.write_text(json.dumps(response), encoding="utf-8")
    code, out, _ = run("fhir", "import", str(path), "--json")
    assert code == 0
    assert json.loads(out)["score"]["total"] == 1.0


@pytest.mark.parametrize("command", ["instruments", "instrument", "score", "change", "fhir"])
def test_it_gives_every_command_help_with_an_example(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0
    assert "Example: alliance" in out
