"""Transcripts on the session page, through the real app: upload, who is who, background coding,
the profile, a correction, sharing with the supervisor, deleting the text, practice over time,
and bad files refused with nothing stored."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import Engine, Table, func, select

from alliance.cli import main
from alliance.config import load_settings
from alliance.services import transcripts
from alliance.store import tables as t
from alliance.store.access import Viewer
from alliance.transcripts import read_corrections
from alliance.web import create_app
from tests.web.clinic import Clinic
from tests.web.conftest import sign_in
from tests.web.test_accessibility import unlabelled

FILES = Path(__file__).resolve().parent / "transcript_files"


def session_url(clinic: Clinic, k: int = -1) -> str:
    return f"/episodes/{clinic.rupture_episode}/sessions/{clinic.rupture_sessions[k]}"


def upload(client: TestClient, url: str, name: str, data: bytes, *, keep: bool = True) -> Response:
    fields = {"keep_text": "yes"} if keep else {}
    return client.post(
        f"{url}/transcripts", data=fields, files={"file": (name, data)}, follow_redirects=False
    )


def newest(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(t.session_transcripts.c.id))).scalar_one())


def wait_done(engine: Engine, transcript_id: int) -> str:
    """Poll, as the page does, until the worker has finished."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            status = conn.execute(
                select(t.session_transcripts.c.status).where(
                    t.session_transcripts.c.id == transcript_id
                )
            ).scalar_one()
        if status in ("done", "failed"):
            return str(status)
        time.sleep(0.1)
    raise AssertionError("coding did not finish")


def code_vtt(client: TestClient, engine: Engine, clinic: Clinic, *, keep: bool = True) -> int:
    """Upload the VTT fixture, map Dr Reyes to therapist and Sam to client, wait for the codes."""
    answer = upload(
        client, session_url(clinic), "session.vtt", (FILES / "session.vtt").read_bytes(), keep=keep
    )
    assert answer.status_code == 303, answer.text
    tid = newest(engine)
    page = client.get(session_url(clinic)).text
    assert "Dr Reyes (first on line 5, 3 turns)" in page
    assert "Sam (first on line 9, 3 turns)" in page
    mapped = client.post(
        f"/transcripts/{tid}/speakers",
        data={"speaker_0": "therapist", "speaker_1": "client"},
        follow_redirects=False,
    )
    assert mapped.status_code == 303, mapped.text
    assert wait_done(engine, tid) == "done"
    return tid


def rows(engine: Engine, table: Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_it_codes_an_upload_and_shows_the_profile_and_lines(
    therapist: TestClient, engine: Engine, clinic: Clinic
) -> None:
    tid = code_vtt(therapist, engine, clinic)
    page = therapist.get(session_url(clinic)).text
    assert f'id="profile-{tid}"' in page
    assert "Reflection-to-question ratio" in page
    assert "fair 1:1, good 2:1" in page
    assert "Change-talk share" in page
    assert "Advice without permission" in page
    # The words are kept (ticked), each line beside its code and confidence.
    assert "You should just stop buying beer." in page
    assert f'id="line-{tid}-13"' in page
    markers = re.search(rf'<ul id="markers-{tid}">(.*?)</ul>', page, re.S)
    assert markers is not None
    assert "Line " in markers.group(1)
    with engine.connect() as conn:
        stored = conn.execute(
            select(t.session_transcripts.c.pending, t.transcript_profiles.c.profile).join(
                t.transcript_profiles,
                t.transcript_profiles.c.id == t.session_transcripts.c.profile_id,
            )
        ).one()
    assert stored.pending is None  # the upload itself is not held once coded
    assert stored.profile["utterances"] == 6
    assert "waste of time" not in str(stored.profile)  # the profile keeps no words


def test_a_correction_is_kept_for_retraining_and_recounts_the_profile(
    therapist: TestClient, engine: Engine, clinic: Clinic
) -> None:
    tid = code_vtt(therapist, engine, clinic)
    with engine.connect() as conn:
        codes = conn.execute(
            select(t.session_transcripts.c.codes).where(t.session_transcripts.c.id == tid)
        ).scalar_one()
    line5 = next(c for c in codes if c["line"] == 5)
    new_code = "question_closed" if line5["code"] != "question_closed" else "question_open"
    answer = therapist.post(f"/transcripts/{tid}/corrections", data={"line": "5", "code": new_code})
    assert answer.status_code == 200
    assert "kept for retraining" in answer.text
    with engine.connect() as conn:
        fix = conn.execute(select(t.code_corrections)).mappings().one()
        profile = conn.execute(select(t.transcript_profiles.c.profile)).scalar_one()
    assert (fix["utterance_index"], fix["original_code"], fix["corrected_code"]) == (
        5,
        line5["code"],
        new_code,
    )
    assert profile["counts"]["codes"].get(new_code, 0) >= 1
    # A client code on a therapist line is refused, naming the code and what is allowed.
    refused = therapist.post(
        f"/transcripts/{tid}/corrections", data={"line": "5", "code": "change"}
    )
    assert refused.status_code == 400
    assert "is not a therapist code; allowed: reflection_simple" in refused.text
    assert rows(engine, t.code_corrections) == 1


def test_the_supervisor_sees_it_only_once_shared_and_no_longer_when_revoked(
    app_client: TestClient, engine: Engine, clinic: Clinic
) -> None:
    sign_in(app_client, "tess")
    tid = code_vtt(app_client, engine, clinic)
    app_client.post("/logout")
    sign_in(app_client, "sam")
    assert f'id="profile-{tid}"' not in app_client.get(session_url(clinic)).text
    assert "RUPT-001" not in app_client.get("/practice/transcripts").text
    app_client.post("/logout")
    sign_in(app_client, "tess")
    shared = app_client.post(f"/transcripts/{tid}/share", data={"shared": "yes"})
    assert "Shared with your supervisor." in shared.text
    app_client.post("/logout")
    sign_in(app_client, "sam")
    page = app_client.get(session_url(clinic)).text
    assert f'id="profile-{tid}"' in page
    assert f'action="/transcripts/{tid}/corrections"' not in page  # read-only for the supervisor
    assert "RUPT-001" in app_client.get("/practice/transcripts").text
    assert app_client.post(f"/transcripts/{tid}/share", data={"shared": "no"}).status_code == 403
    app_client.post("/logout")
    sign_in(app_client, "tess")
    app_client.post(f"/transcripts/{tid}/share", data={"shared": "no"})
    app_client.post("/logout")
    sign_in(app_client, "sam")
    assert f'id="profile-{tid}"' not in app_client.get(session_url(clinic)).text
    with engine.connect() as conn:
        actions = set(conn.execute(select(t.audit_events.c.action)).scalars())
    assert {"transcript.view", "transcript.share", "transcript.unshare"} <= actions


def test_deleting_the_text_keeps_the_profile(
    therapist: TestClient, engine: Engine, clinic: Clinic
) -> None:
    tid = code_vtt(therapist, engine, clinic)
    refused = therapist.post(f"/transcripts/{tid}/delete-text", data={})
    assert refused.status_code == 400
    assert "Tick the box to confirm" in refused.text
    answer = therapist.post(f"/transcripts/{tid}/delete-text", data={"confirm": "delete"})
    assert "the codes and the profile remain" in answer.text
    assert "You should just stop buying beer." not in answer.text
    assert f'id="profile-{tid}"' in answer.text
    with engine.connect() as conn:
        row = conn.execute(select(t.session_transcripts)).mappings().one()
    assert row["coded"] is None
    assert row["codes"]
    assert row["text_deleted_at"] is not None
    assert "(5 words, text not kept)" in answer.text


def test_the_text_is_not_kept_unless_asked(
    therapist: TestClient, engine: Engine, clinic: Clinic
) -> None:
    tid = code_vtt(therapist, engine, clinic, keep=False)
    page = therapist.get(session_url(clinic)).text
    assert f'id="profile-{tid}"' in page
    assert "You should just stop buying beer." not in page
    with engine.connect() as conn:
        row = conn.execute(select(t.session_transcripts)).mappings().one()
    assert row["coded"] is None
    assert row["pending"] is None
    assert row["speakers"] is None


def test_plain_text_with_known_labels_is_mapped_for_the_therapist(
    therapist: TestClient, engine: Engine, clinic: Clinic
) -> None:
    upload(therapist, session_url(clinic), "session.txt", (FILES / "session.txt").read_bytes())
    tid = newest(engine)
    page = therapist.get(session_url(clinic)).text
    # Counsellor and Client are known labels: the form offers them already chosen.
    assert re.search(r'<option value="therapist" selected>Therapist</option>', page)
    therapist.post(
        f"/transcripts/{tid}/speakers", data={"speaker_0": "therapist", "speaker_1": "client"}
    )
    assert wait_done(engine, tid) == "done"
    assert "I walked every morning" in therapist.get(session_url(clinic)).text


def test_a_mapping_with_no_speakers_is_refused(
    therapist: TestClient, engine: Engine, clinic: Clinic
) -> None:
    upload(therapist, session_url(clinic), "session.vtt", (FILES / "session.vtt").read_bytes())
    tid = newest(engine)
    answer = therapist.post(
        f"/transcripts/{tid}/speakers", data={"speaker_0": "none", "speaker_1": "none"}
    )
    assert answer.status_code == 400
    assert "No speakers: map at least one name to therapist or client" in answer.text
    with engine.connect() as conn:
        status = conn.execute(select(t.session_transcripts.c.status)).scalar_one()
    assert status == "mapping"
    assert rows(engine, t.transcript_profiles) == 0


BAD_FILES = [
    ("empty.txt", b"  \n\n", "File is empty"),
    (
        "notes.txt",
        b"We talked about the week.\nShe seemed tired.\n",
        "Line 1: no speaker names found",
    ),
    (
        "broken.vtt",
        b"\n\n00:00:01.000 --> 00:00:02.000\n<v A>Hello\n",
        "Line 3: a WebVTT file must start with",
    ),
    ("audio.txt", b"ID3\x00\x00\x01\x02\xff" * 50, "File looks binary"),
    ("lines.jsonl", b'{"speaker": "T", "text": "Hi"}\n{"speaker": \n', "Line 2: not valid JSON"),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_a_bad_file_is_refused_on_the_page_and_nothing_is_stored(
    therapist: TestClient, engine: Engine, clinic: Clinic, name: str, data: bytes, message: str
) -> None:
    answer = upload(therapist, session_url(clinic), name, data)
    assert answer.status_code == 400
    assert "Nothing was stored." in answer.text
    assert message in answer.text
    assert rows(engine, t.session_transcripts) == 0


def test_a_50_mb_file_is_refused_with_the_limit_and_nothing_is_stored(
    therapist: TestClient, engine: Engine, clinic: Clinic
) -> None:
    answer = upload(
        therapist, session_url(clinic), "huge.txt", b"T: hello\n" * (50 * 1024 * 1024 // 9)
    )
    assert answer.status_code == 413
    assert "over the 2 MB limit" in answer.text
    assert "Nothing was stored." in answer.text
    assert rows(engine, t.session_transcripts) == 0
    # Just over the limit but within the body cap: refused by the form, with its size.
    over = upload(
        therapist, session_url(clinic), "big.txt", b"T: hello\n" * (2 * 1024 * 1024 // 9 + 10)
    )
    assert over.status_code == 400
    assert "the limit is 2 MB per transcript" in over.text
    assert rows(engine, t.session_transcripts) == 0
    assert "up to 2 MB" in therapist.get(session_url(clinic)).text


def test_another_therapist_reaches_nothing(
    app_client: TestClient, engine: Engine, clinic: Clinic
) -> None:
    sign_in(app_client, "tess")
    tid = code_vtt(app_client, engine, clinic)
    app_client.post(f"/transcripts/{tid}/share", data={"shared": "yes"})
    app_client.post("/logout")
    sign_in(app_client, "otto")
    for path, data in (
        (f"/transcripts/{tid}/share", {"shared": "no"}),
        (f"/transcripts/{tid}/corrections", {"line": "5", "code": "advice"}),
        (f"/transcripts/{tid}/delete-text", {"confirm": "delete"}),
    ):
        assert app_client.post(path, data=data).status_code == 404, path
    assert "RUPT-001" not in app_client.get("/practice/transcripts").text


def test_practice_over_time_sits_beside_the_clients_ratings(
    therapist: TestClient, engine: Engine, clinic: Clinic
) -> None:
    code_vtt(therapist, engine, clinic)
    page = therapist.get("/practice/transcripts").text
    assert 'href="/practice/transcripts"' in page  # in the navigation
    row = re.search(r'<table class="stack" id="practice">.*?<tbody><tr>(.*?)</tr>', page, re.S)
    assert row is not None
    cells = row.group(1)
    assert "RUPT-001" in cells
    assert ">38<" in cells  # the last session's Session Rating Scale total (tests/web/clinic.py)
    assert "PHQ-9 12" in cells


def test_corrections_are_exported_as_training_rows(
    therapist: TestClient, engine: Engine, clinic: Clinic, database_url: str, tmp_path: Path
) -> None:
    tid = code_vtt(therapist, engine, clinic)
    therapist.post(
        f"/transcripts/{tid}/corrections", data={"line": "13", "code": "reflection_simple"}
    )
    out = tmp_path / "fixes.jsonl"
    args = ["transcript", "export-corrections", "--user", "tess", "--out", str(out)]
    result = CliRunner().invoke(main, [*args, "--db", database_url])
    assert result.exit_code == 0, result.output
    assert "1 corrections written" in result.output
    (fix,) = read_corrections(out)
    assert (fix.line, fix.speaker, fix.code) == (13, "therapist", "reflection_simple")
    assert fix.text == "You're ready to make a change and you believe you can."
    assert fix.prev.startswith("I want to cut down")
    assert fix.next.startswith("This is a waste")
    # Once the words are deleted, the correction no longer carries them and is left out.
    therapist.post(f"/transcripts/{tid}/delete-text", data={"confirm": "delete"})
    again = CliRunner().invoke(
        main, [*args[:-1], str(tmp_path / "after.jsonl"), "--db", database_url]
    )
    assert "0 corrections written" in again.output
    assert "1 left out" in again.output


def test_every_transcript_control_has_a_label(
    therapist: TestClient, engine: Engine, clinic: Clinic
) -> None:
    code_vtt(therapist, engine, clinic)
    upload(therapist, session_url(clinic), "session.txt", (FILES / "session.txt").read_bytes())
    html = therapist.get(session_url(clinic)).text
    assert 'id="speakers-form-' in html  # the who-is-who form
    assert 'action="/transcripts/1/corrections"' in html  # the coded lines' forms
    assert unlabelled(html) == []


OTHER_FORMATS = [
    (
        "session.srt",
        b"1\n00:00:01,000 --> 00:00:03,000\nAlex: How was the week?\n\n"
        b"2\n00:00:03,500 --> 00:00:06,000\nJo: Better than the last.\n",
        ["Alex (first on line 3, 1 turn)", "Jo (first on line 7, 1 turn)"],
    ),
    (
        "session.jsonl",
        b'{"speaker": "Therapist", "text": "How was the week?"}\n\n'
        b'{"speaker": "Jo", "text": "Better."}\n',
        ["Therapist (first on line 1, 1 turn)", "Jo (first on line 3, 1 turn)"],
    ),
]


@pytest.mark.parametrize(("name", "data", "names"), OTHER_FORMATS, ids=["srt", "jsonl"])
def test_srt_and_json_lines_name_their_speakers(
    therapist: TestClient, clinic: Clinic, name: str, data: bytes, names: list[str]
) -> None:
    assert upload(therapist, session_url(clinic), name, data).status_code == 303
    page = therapist.get(session_url(clinic)).text
    for shown in names:
        assert shown in page


def test_a_transcript_left_queued_is_coded_when_the_app_starts_again(
    engine: Engine, clinic: Clinic, database_url: str
) -> None:
    tess = Viewer(clinic.therapist_id, "tess", "Tess", "therapist", clinic.organisation_id, None)
    with engine.begin() as conn:
        tid = transcripts.upload(
            conn,
            tess,
            clinic.rupture_episode,
            clinic.rupture_sessions[-1],
            filename="session.txt",
            raw=(FILES / "session.txt").read_bytes(),
            keep_text=False,
        )
        transcripts.map_speakers(conn, tess, tid, {"speaker_0": "therapist", "speaker_1": "client"})
    settings = load_settings(database_url=database_url, secret_key="k" * 32)
    with TestClient(create_app(settings, engine=engine)):
        assert wait_done(engine, tid) == "done"
