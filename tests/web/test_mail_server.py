"""The mail server an admin types on /admin/mail, against a real SMTP server on loopback.

It is checked field by field, then by connecting and logging in, before anything is kept; the
password is kept sealed; the environment's ALLIANCE_SMTP_URL wins over it; every sender (the
background outbox, the page's test, `alliance mail test`) reads it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from alliance.cli import main
from alliance.services.sender import run_once
from alliance.store import tables as t
from alliance.web import create_app
from tests.conftest import UtcClock
from tests.web.clinic import Clinic
from tests.web.conftest import send_csrf_token, sign_in
from tests.web.gateways import Mailbox, smtp_server
from tests.web.server import free_port
from tests.web.test_messages import (
    CLIENT_EMAIL,
    KEY,
    after_queueing,
    app_for,
    outbox,
    send_new_link,
    settings_for,
    text_of,
    with_contact,
)

PASSWORD = "Corr3ct horse: battery@staple"
SENDER = "appointments@riverside.example.org"


def admin_client(engine: Engine, clinic: Clinic, database_url: str, **extra: Any) -> TestClient:
    extra.setdefault("mail_from", None)
    client = TestClient(create_app(settings_for(database_url, **extra), engine=engine))
    client.__enter__()
    send_csrf_token(client)
    sign_in(client, clinic.usernames["admin"])
    return client


@contextmanager
def saved_server(
    engine: Engine, clinic: Clinic, database_url: str
) -> Iterator[tuple[Mailbox, TestClient]]:
    """An SMTP server with a login, saved on the admin's page; the mailbox and the admin."""
    with smtp_server(login=("clinic", PASSWORD)) as box:
        admin = admin_client(engine, clinic, database_url)
        assert admin.post("/admin/mail/server", data=server_form(box.port)).status_code == 200
        yield box, admin


def server_form(port: int, **changes: str) -> dict[str, str]:
    form = {
        "host": "127.0.0.1",
        "security": "starttls",
        "port": str(port),
        "username": "clinic",
        "password": PASSWORD,
        "mail_from": SENDER,
    }
    return form | changes


def stored_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(t.mail_server)))


def mail_server_events(engine: Engine) -> list[str]:
    a = t.audit_events
    with engine.connect() as conn:
        return list(
            conn.execute(select(a.c.action).where(a.c.object_type == "mail_server")).scalars()
        )


def test_an_admin_saves_the_mail_server_and_invitations_go_through_it(
    engine: Engine, clinic: Clinic, database_url: str, utc_clock: UtcClock
) -> None:
    with smtp_server(login=("clinic", PASSWORD)) as box:
        admin = admin_client(engine, clinic, database_url)
        empty = admin.get("/admin/mail").text
        assert "No mail server yet: no email is sent." in empty
        saved = admin.post("/admin/mail/server", data=server_form(box.port))
        assert saved.status_code == 200, saved.text
        assert "Mail server saved: connected and logged in" in saved.text
        assert f"127.0.0.1:{box.port}</strong>, STARTTLS, user clinic" in saved.text
        assert PASSWORD not in saved.text
        assert box.received == []  # checking the server sends nothing
        [row] = stored_rows(engine)
        assert (row.host, row.port, row.security, row.username, row.mail_from) == (
            "127.0.0.1",
            box.port,
            "starttls",
            "clinic",
            SENDER,
        )
        assert row.sealed_password
        assert PASSWORD not in row.sealed_password
        assert mail_server_events(engine) == ["update"]

        # A therapist's invitation now goes out through it, from the sender typed.
        therapist = app_for(settings_for(database_url, mail_from=None), engine, clinic)
        with_contact(engine, therapist, clinic, consent=True)
        answer, _ = send_new_link(therapist, clinic, "email")
        assert answer.status_code == 200, answer.text
        summary = run_once(engine, settings_for(database_url), KEY, now=after_queueing(utc_clock))
        assert summary.sent == 1
        [mail] = box.to(CLIENT_EMAIL)
        assert mail["From"] == SENDER
        assert "/f/" in text_of(mail)


def test_a_refused_login_is_named_beside_the_password_and_nothing_is_stored(
    engine: Engine, clinic: Clinic, database_url: str
) -> None:
    with smtp_server(login=("clinic", PASSWORD)) as box:
        admin = admin_client(engine, clinic, database_url)
        refused = admin.post(
            "/admin/mail/server", data=server_form(box.port, password="wrong-password-typed")
        )
    assert refused.status_code == 400
    assert "Error: the mail server was not saved." in refused.text
    assert 'id="server-password-error"' in refused.text
    assert "refused the login of user &#39;clinic&#39;: 535" in refused.text
    assert "nothing was saved" in refused.text
    assert "wrong-password-typed" not in refused.text
    assert 'value="127.0.0.1"' in refused.text  # what was typed stays, the password does not
    assert stored_rows(engine) == []
    assert mail_server_events(engine) == []
    assert box.received == []


def test_an_unreachable_host_is_named_beside_the_host_and_nothing_is_stored(
    engine: Engine, clinic: Clinic, database_url: str
) -> None:
    admin = admin_client(engine, clinic, database_url)
    port = free_port()
    refused = admin.post("/admin/mail/server", data=server_form(port))
    assert refused.status_code == 400
    assert 'id="server-host-error"' in refused.text
    assert f"Cannot reach the mail server 127.0.0.1:{port}: connection refused" in refused.text
    assert stored_rows(engine) == []


def test_each_bad_field_is_named_and_nothing_is_tried_or_stored(
    engine: Engine, clinic: Clinic, database_url: str
) -> None:
    admin = admin_client(engine, clinic, database_url)
    refused = admin.post(
        "/admin/mail/server",
        data={
            "host": "smtp://mail.example.org",
            "security": "ssl3",
            "port": "99999",
            "username": "",
            "password": "a password",
            "mail_from": "not-an-address",
        },
    )
    assert refused.status_code == 400
    text = refused.text
    for name in ("host", "security", "port", "username", "mail_from"):
        assert f'id="server-{name}-error"' in text, name
    assert "is not a host name or IP address" in text
    assert "(no smtp://, no port)" in text
    assert "&#39;99999&#39; is not a port number from 1 to 65535" in text
    assert "&#39;ssl3&#39; is not one of: STARTTLS (usually port 587)" in text
    assert "A password needs a user" in text
    assert "&#39;not-an-address&#39; is not an email address" in text
    # The error summary links to each field.
    assert '<a href="#server-host">' in text
    assert stored_rows(engine) == []

    missing = admin.post("/admin/mail/server", data={"security": "starttls"})
    assert "The mail server&#39;s host name is required" in missing.text
    assert "The sender&#39;s address is required" in missing.text


def test_saving_again_without_a_password_keeps_it_and_a_new_user_needs_one(
    engine: Engine, clinic: Clinic, database_url: str
) -> None:
    with saved_server(engine, clinic, database_url) as (box, admin):
        sealed = stored_rows(engine)[0].sealed_password
        again = admin.post(
            "/admin/mail/server",
            data=server_form(box.port, password="", mail_from="front.desk@riverside.example.org"),
        )
        assert again.status_code == 200, again.text  # the kept password logged in again
        [row] = stored_rows(engine)
        assert row.mail_from == "front.desk@riverside.example.org"
        assert row.sealed_password != sealed  # sealed afresh, the same password inside
        other_user = admin.post(
            "/admin/mail/server", data=server_form(box.port, username="someone", password="")
        )
        assert other_user.status_code == 400
        assert "The password for user &#39;someone&#39; is required" in other_user.text
        assert stored_rows(engine)[0].username == "clinic"
        assert mail_server_events(engine) == ["update", "update"]


def test_the_environment_wins_and_the_page_says_so(
    engine: Engine, clinic: Clinic, database_url: str, utc_clock: UtcClock
) -> None:
    with smtp_server(login=("clinic", PASSWORD)) as typed, smtp_server() as environment:
        admin = admin_client(engine, clinic, database_url)
        assert admin.post("/admin/mail/server", data=server_form(typed.port)).status_code == 200
        env = {"smtp_url": environment.url(), "mail_from": "env@riverside.example.org"}
        admin = admin_client(engine, clinic, database_url, **env)
        page = admin.get("/admin/mail").text
        assert f"Set by ALLIANCE_SMTP_URL: 127.0.0.1:{environment.port}, STARTTLS" in page
        assert "the server below is kept but not used" in page
        sent = admin.post("/admin/mail/test", data={"address": "admin@example.org"})
        assert "Sent. The gateway answered: 250" in sent.text
        assert len(environment.to("admin@example.org")) == 1
        assert typed.received == []


def test_removing_the_server_stops_email_and_a_changed_key_fails_with_the_reason(
    engine: Engine, clinic: Clinic, database_url: str, utc_clock: UtcClock
) -> None:
    with saved_server(engine, clinic, database_url) as (box, admin):
        therapist = app_for(settings_for(database_url, mail_from=None), engine, clinic)
        with_contact(engine, therapist, clinic, consent=True)
        answer, _ = send_new_link(therapist, clinic, "email")
        assert answer.status_code == 200
        other_key = settings_for(database_url, secret_key="z" * 32)
        summary = run_once(engine, other_key, "z" * 32, now=after_queueing(utc_clock))
        assert summary.failed == 1
        [message] = outbox(engine)
        assert message.state == "failed"
        assert "stored under another secret key" in message.last_answer
        assert box.received == []

        removed = admin.post("/admin/mail/server/remove")
        assert "Mail server removed: no email is sent." in removed.text
        assert stored_rows(engine) == []
        assert mail_server_events(engine) == ["update", "delete"]
        refused, _ = send_new_link(therapist, clinic, "email")
        assert refused.status_code == 400
        assert "email is not set up: an admin sets the mail server on /admin/mail" in refused.text


def test_alliance_mail_test_uses_the_server_saved_on_the_page(
    engine: Engine, clinic: Clinic, database_url: str
) -> None:
    with saved_server(engine, clinic, database_url) as (box, _admin):
        result = CliRunner().invoke(
            main,
            ["mail", "test", "you@example.org", "--db", database_url],
            env={"ALLIANCE_SECRET_KEY": KEY, "ALLIANCE_SMTP_URL": "", "ALLIANCE_MAIL_FROM": ""},
        )
        assert result.exit_code == 0, result.output
        assert f"Connected to 127.0.0.1:{box.port}" in result.output
        assert "set on the admin page" in result.output
        [mail] = box.to("you@example.org")
        assert mail["From"] == SENDER
    wrong_key = CliRunner().invoke(
        main,
        ["mail", "test", "you@example.org", "--db", database_url],
        env={"ALLIANCE_SECRET_KEY": "y" * 32},
    )
    assert wrong_key.exit_code == 2
    assert "stored under another secret key" in wrong_key.output


def test_the_users_page_says_which_therapist_gets_no_risk_email(
    engine: Engine, clinic: Clinic, database_url: str
) -> None:
    admin = admin_client(engine, clinic, database_url)

    def tess_row() -> str:
        rows = re.findall(r"<tr>.*?</tr>", admin.get("/admin/users").text, re.S)
        [row] = [r for r in rows if '<td data-label="Username">tess</td>' in r]
        return str(row)

    assert "No email: gets no risk notification" in tess_row()
    saved = admin.post(
        f"/admin/users/{clinic.therapist_id}",
        data={"display_name": "Tess", "role": "therapist", "email": "tess@example.org"},
    )
    assert saved.status_code in (200, 303)
    assert "No email" not in tess_row()
