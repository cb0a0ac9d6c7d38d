"""`alliance transcript ...` end to end on real files, a real model and a real database."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from alliance.cli import main
from alliance.store.base import Actor
from alliance.store.engine import make_engine
from alliance.store.episodes import open_episode
from alliance.store.migrate import upgrade
from alliance.store.people import create_client, create_organisation, create_user
from alliance.store.sessions import record_session
from alliance.store.tables import code_corrections, transcript_profiles


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, ["transcript", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_it_codes_files_as_json_with_the_required_fields(fixtures: Path) -> None:
    out = json.loads(
        _run("code", str(fixtures / "session.txt"), str(fixtures / "session.srt"), "--json")
    )
    assert len(out) == 14 + 3
    first = out[0]
    assert {"line", "speaker", "text", "code", "confidence", "markers"} <= set(first)
    assert first["speaker"] == "therapist"
    assert first["line"] == 1
    assert {o["file"] for o in out} == {
        str(fixtures / "session.txt"),
        str(fixtures / "session.srt"),
    }


def test_it_codes_as_csv(fixtures: Path) -> None:
    rows = list(csv.reader(io.StringIO(_run("code", str(fixtures / "session.jsonl"), "--csv"))))
    assert rows[0] == ["file", "line", "speaker", "code", "confidence", "markers", "text"]
    assert len(rows) == 4


def test_it_prints_a_profile_as_json(fixtures: Path) -> None:
    prof = json.loads(_run("profile", str(fixtures / "session.txt"), "--json"))
    assert set(prof["metrics"]) >= {
        "reflection_to_question",
        "percent_complex_reflections",
        "percent_open_questions",
        "change_talk_share",
        "therapist_talk_share",
    }
    assert prof["thresholds"]["reflection_to_question"] == {
        "fair": 1.0,
        "good": 2.0,
        "source": "MITI 4.2.1",
    }
    assert [(m["name"], m["line"]) for m in prof["markers"]] == [
        ("advice_without_permission", 10),
        ("transference", 11),
        ("withdrawal", 15),
    ]
    assert prof["summary"]


def test_it_fails_clearly_on_bad_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    result = CliRunner().invoke(main, ["transcript", "code", str(empty)])
    assert result.exit_code == 2
    assert "empty" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["transcript", "code", str(empty), "--speaker", "Bob"])
    assert result.exit_code == 2
    assert "NAME=therapist" in result.output


def test_it_records_a_correction_and_applies_it(fixtures: Path, tmp_path: Path) -> None:
    corrections = tmp_path / "fixes.jsonl"
    _run(
        "correct",
        str(fixtures / "session.txt"),
        "--line",
        "8",
        "--code",
        "question_open",
        "--corrections",
        str(corrections),
    )
    saved = [json.loads(x) for x in corrections.read_text().splitlines()]
    assert saved[0]["line"] == 8
    assert saved[0]["code"] == "question_open"
    assert saved[0]["was"] == "question_closed"
    out = json.loads(
        _run("code", str(fixtures / "session.txt"), "--json", "--corrections", str(corrections))
    )
    row = next(o for o in out if o["line"] == 8)
    assert row["code"] == "question_open"
    assert row["corrected"] is True
    bad = CliRunner().invoke(
        main,
        [
            "transcript",
            "correct",
            str(fixtures / "session.txt"),
            "--line",
            "5",
            "--code",
            "advice",
            "--corrections",
            str(corrections),
        ],
    )
    assert bad.exit_code == 2
    assert "does not start an utterance" in bad.output


def _tiny_annomi(folder: Path) -> Path:
    """Six small labelled conversations in AnnoMI's column layout."""
    (folder / "annomi").mkdir(parents=True)
    t_lines = [
        ("What brings you here today?", "question"),
        ("You're worried about your health.", "reflection"),
        ("Smoking raises blood pressure.", "therapist_input"),
        ("Thanks for coming.", "other"),
    ]
    c_lines = [
        ("I want to quit.", "change"),
        ("I like smoking.", "sustain"),
        ("It's Tuesday.", "neutral"),
        ("I need to stop for my kids.", "change"),
    ]
    with (folder / "annomi" / "AnnoMI-simple.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "transcript_id",
                "mi_quality",
                "video_title",
                "video_url",
                "topic",
                "utterance_id",
                "interlocutor",
                "timestamp",
                "utterance_text",
                "main_therapist_behaviour",
                "client_talk_type",
            ]
        )
        for conv in range(6):
            for k in range(4):
                t_text, t_lab = t_lines[(k + conv) % 4]
                c_text, c_lab = c_lines[(k + conv) % 4]
                w.writerow(
                    [
                        conv,
                        "high",
                        "",
                        "",
                        "smoking cessation",
                        2 * k,
                        "therapist",
                        "",
                        t_text,
                        t_lab,
                        "n/a",
                    ]
                )
                w.writerow(
                    [
                        conv,
                        "high",
                        "",
                        "",
                        "smoking cessation",
                        2 * k + 1,
                        "client",
                        "",
                        c_text,
                        "n/a",
                        c_lab,
                    ]
                )
    with (folder / "annomi" / "AnnoMI-full.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "transcript_id",
                "utterance_id",
                "main_therapist_behaviour",
                "reflection_subtype",
                "question_subtype",
                "therapist_input_subtype",
            ]
        )
        for conv in range(6):
            for k in range(4):
                lab = t_lines[(k + conv) % 4][1]
                sub = ["simple", "complex"][conv % 2]
                w.writerow(
                    [
                        conv,
                        2 * k,
                        lab,
                        sub if lab == "reflection" else "n/a",
                        ["open", "closed"][conv % 2] if lab == "question" else "n/a",
                        ["information", "advice"][conv % 2] if lab == "therapist_input" else "n/a",
                    ]
                )
    return folder


def test_it_trains_reproducibly_from_data_and_corrections(tmp_path: Path, fixtures: Path) -> None:
    data = _tiny_annomi(tmp_path / "data")
    corrections = tmp_path / "fixes.jsonl"
    corrections.write_text(
        json.dumps(
            {
                "source": "s.txt",
                "line": 3,
                "speaker": "therapist",
                "code": "advice",
                "text": "You should quit tonight.",
                "prev": "I smoke.",
                "next": "",
            }
        )
        + "\n"
    )
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    for out in (a, b):
        _run("train", "--data", str(data), "--out", str(out), "--corrections", str(corrections))
    with np.load(a) as za, np.load(b) as zb:
        assert za.files == zb.files
        for k in za.files:
            if k != "meta_values":
                assert np.array_equal(za[k], zb[k]), k
        assert "advice" in list(za["input_classes"])
    assert (tmp_path / "ATTRIBUTION.txt").read_text().count("CC BY-SA 4.0") >= 1


def test_it_refuses_training_without_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(
        main,
        ["transcript", "train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "x.npz")],
    )
    assert result.exit_code == 2
    assert "labelled data not found" in result.output


def test_it_attaches_a_profile_and_corrections_to_a_session(fixtures: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    engine = make_engine(url)
    upgrade(engine)
    system = Actor.system()
    with engine.begin() as conn:
        org = create_organisation(conn, system, "Practice")
        alice = create_user(
            conn,
            system,
            organisation_id=org,
            username="alice",
            role="therapist",
            display_name="Alice",
        )
        client = create_client(conn, system, organisation_id=org, code="C-T1")
        episode = open_episode(
            conn, Actor(alice), client_id=client, therapist_id=alice, opened_on=date(2026, 1, 5)
        )
        session = record_session(conn, Actor(alice), episode, date(2026, 1, 12))
    corrections = tmp_path / "fixes.jsonl"
    _run(
        "correct",
        str(fixtures / "session.txt"),
        "--line",
        "8",
        "--code",
        "question_open",
        "--corrections",
        str(corrections),
    )
    out = _run(
        "attach",
        str(fixtures / "session.txt"),
        "--session",
        str(session),
        "--db",
        url,
        "--corrections",
        str(corrections),
    )
    assert f"attached to session {session}" in out
    with engine.connect() as conn:
        stored = conn.execute(select(transcript_profiles.c.profile)).scalar_one()
        assert stored["counts"]["open_questions"] == 3
        assert "text" not in stored["markers"][0]
        fix = conn.execute(select(code_corrections)).mappings().one()
        assert (fix["utterance_index"], fix["corrected_code"]) == (8, "question_open")
    missing = CliRunner().invoke(
        main,
        ["transcript", "attach", str(fixtures / "session.txt"), "--session", "999", "--db", url],
    )
    assert missing.exit_code == 2
    assert "session: 999 does not exist" in missing.output
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(transcript_profiles)).scalar() == 1
    engine.dispose()
