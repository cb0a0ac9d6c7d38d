"""The transcript API with a personal token: upload, poll, correct, share, delete the text."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from alliance.services import tokens
from alliance.store import tables as t
from tests.web.clinic import Clinic

FILES = Path(__file__).resolve().parent / "transcript_files"


def bearer(client: TestClient, engine: Engine, username: str) -> dict[str, str]:
    with engine.begin() as conn:
        token = tokens.create_token(conn, username, label="transcripts")
    return {"Authorization": f"Bearer {token.token}"}


def poll(client: TestClient, tid: int, headers: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        body: dict[str, object] = client.get(f"/api/transcripts/{tid}", headers=headers).json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.1)
    raise AssertionError("coding did not finish")


def test_it_codes_corrects_shares_and_deletes_through_the_api(
    app_client: TestClient, engine: Engine, clinic: Clinic
) -> None:
    tess = bearer(app_client, engine, "tess")
    sam = bearer(app_client, engine, "sam")
    url = (
        f"/api/episodes/{clinic.rupture_episode}/sessions/{clinic.rupture_sessions[-1]}/transcripts"
    )
    text = (FILES / "session.vtt").read_text()
    unmapped = app_client.post(url, json={"text": text}, headers=tess)
    assert unmapped.status_code == 422
    assert unmapped.json()["detail"][0]["field"] == "speakers"
    assert "line 5 is not mapped" in unmapped.json()["detail"][0]["message"]
    sent = app_client.post(
        url,
        json={
            "text": text,
            "speakers": {"Dr Reyes": "therapist", "Sam": "client"},
            "keep_text": True,
        },
        headers=tess,
    )
    assert sent.status_code == 202, sent.text
    tid = sent.json()["id"]
    done = poll(app_client, tid, tess)
    assert done["status"] == "done"
    profile = done["profile"]
    assert isinstance(profile, dict)
    assert profile["bands"]["reflection_to_question"] in ("good", "fair", "below fair", "n/a")
    lines = done["lines"]
    assert isinstance(lines, list)
    assert [ln["line"] for ln in lines] == [5, 9, 13, 17, 21, 25]
    assert lines[4]["text"] == "You should just stop buying beer."
    # Private until shared: the supervisor's list is empty and the transcript is not found.
    assert app_client.get(url, headers=sam).json() == []
    assert app_client.get(f"/api/transcripts/{tid}", headers=sam).status_code == 404
    fixed = app_client.post(
        f"/api/transcripts/{tid}/corrections",
        json={"line": 13, "code": "reflection_complex"},
        headers=tess,
    )
    assert fixed.status_code == 200
    assert fixed.json()["lines"][2]["code"] == "reflection_complex"
    assert fixed.json()["lines"][2]["corrected"] is True
    bad = app_client.post(
        f"/api/transcripts/{tid}/corrections", json={"line": 14, "code": "advice"}, headers=tess
    )
    assert bad.status_code == 422
    assert bad.json()["detail"] == [
        {"field": "line", "message": "line '14' does not start a coded utterance"}
    ]
    assert app_client.post(
        f"/api/transcripts/{tid}/share", json={"shared": True}, headers=tess
    ).json()["shared"]
    assert [v["id"] for v in app_client.get(url, headers=sam).json()] == [tid]
    trends = app_client.get("/api/practice/transcripts", headers=sam).json()
    assert [r["transcript_id"] for r in trends] == [tid]
    assert trends[0]["srs"] == 38.0
    kept = app_client.post(
        f"/api/transcripts/{tid}/delete-text", json={"confirm": True}, headers=tess
    )
    assert kept.json()["text_kept"] is False
    assert all(ln["text"] is None for ln in kept.json()["lines"])
    assert kept.json()["profile"]["counts"]["codes"]["reflection_complex"] >= 1
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(t.code_corrections)).scalar_one() == 1


def test_an_empty_text_is_refused_and_nothing_is_stored(
    app_client: TestClient, engine: Engine, clinic: Clinic
) -> None:
    tess = bearer(app_client, engine, "tess")
    url = (
        f"/api/episodes/{clinic.rupture_episode}/sessions/{clinic.rupture_sessions[-1]}/transcripts"
    )
    answer = app_client.post(url, json={"text": "  "}, headers=tess)
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {"field": "text", "message": "file is empty; expected utterances with speakers"}
    ]
    with engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).select_from(t.session_transcripts)).scalar_one() == 0
        )
