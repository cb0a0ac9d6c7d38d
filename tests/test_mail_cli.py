"""`alliance mail test` against a real SMTP server and SMS gateway on loopback; bad set-ups."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from alliance.cli import main
from alliance.config import load_settings
from alliance.services.sender import backoff, morning_after
from tests.web.gateways import sms_gateway, smtp_server, throwaway_tls
from tests.web.server import free_port

FROM = "checkins@riverside.example.org"


def mail_test(address: str, **env: str) -> tuple[int, str]:
    variables = {"ALLIANCE_MAIL_FROM": FROM, **{f"ALLIANCE_{k.upper()}": v for k, v in env.items()}}
    result = CliRunner().invoke(main, ["mail", "test", address], env=variables)
    return result.exit_code, result.output


def test_it_sends_a_test_email_and_prints_the_servers_answer() -> None:
    with smtp_server(login=("clinic", "p@ss:word")) as box:
        code, output = mail_test("you@example.org", smtp_url=box.url("clinic", "p%40ss%3Aword"))
    assert code == 0, output
    assert f"Connected to 127.0.0.1:{box.port} (in the clear: this machine only)" in output
    assert "Sent. The gateway answered: 250 Message accepted for delivery" in output
    [mail] = box.to("you@example.org")
    assert mail["From"] == FROM


def test_it_names_a_refused_login_and_exits_2() -> None:
    with smtp_server(login=("clinic", "right")) as box:
        code, output = mail_test("you@example.org", smtp_url=box.url("clinic", "wrong"))
    assert code == 2
    assert "the mail server refused the login of user 'clinic': 535" in output
    assert "wrong" not in output
    assert box.received == []


def test_it_names_an_unreachable_host_and_exits_2() -> None:
    code, output = mail_test("you@example.org", smtp_url=f"smtp://127.0.0.1:{free_port()}")
    assert code == 2
    assert "cannot reach the mail server 127.0.0.1" in output
    assert "connection refused" in output


def test_it_names_a_tls_failure_and_sends_nothing(tmp_path: Path) -> None:
    """The server offers STARTTLS with a certificate nobody trusts: refused, never in the clear."""
    with smtp_server(tls=throwaway_tls(tmp_path)) as box:
        code, output = mail_test("you@example.org", smtp_url=box.url())
    assert code == 2
    assert f"TLS with 127.0.0.1:{box.port} failed: CERTIFICATE_VERIFY_FAILED" in output
    assert box.received == []


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://mail.example.org", "the scheme must be smtp or smtps"),
        ("smtp://user:secret@mail.example.org:99999", "the port is not a number"),
        ("smtp://user@mail.example.org", "a user needs a password"),
        ("smtp:///nohost", "a host is required"),
    ],
)
def test_it_refuses_a_malformed_smtp_url_naming_the_setting(url: str, says: str) -> None:
    code, output = mail_test("you@example.org", smtp_url=url)
    assert code == 2
    assert f"smtp_url: {says}" in output
    assert "secret" not in output


def test_it_sends_a_test_text_message_through_the_gateway() -> None:
    with sms_gateway() as gateway:
        code, output = mail_test("+4915112345678", sms_url=gateway.url)
    assert code == 0, output
    assert gateway.bodies == [
        {
            "to": "+4915112345678",
            "text": "A test message from Alliance for your clinic: the set-up works.",
        }
    ]


def test_it_defers_to_the_end_of_the_clinics_night_in_its_time_zone() -> None:
    settings = load_settings(clinic_timezone="Europe/Berlin", quiet_hours="21:00-08:00")
    # 22:30 in Berlin (UTC+1 in March) is night: the morning is 08:00 Berlin, 07:00 UTC.
    late = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)
    assert morning_after(late, settings) == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    # 06:00 Berlin is still night, the same morning; 10:00 Berlin is day.
    early = datetime(2026, 3, 3, 5, 0, tzinfo=UTC)
    assert morning_after(early, settings) == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    day = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    assert morning_after(day, settings) == day


def test_it_waits_1_2_4_minutes_up_to_an_hour_between_tries() -> None:
    assert [backoff(n).total_seconds() / 60 for n in (1, 2, 3, 4, 7, 8, 30)] == [
        1,
        2,
        4,
        8,
        60,
        60,
        60,
    ]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("clinic_timezone", "Mars/Olympus", "is not an IANA time zone"),
        ("quiet_hours", "9pm-8am", "is not HH:MM-HH:MM"),
        ("sms_body", '{"to": "{to}"}', "needs the placeholder {body}"),
        ("sms_body", '{"to": {to}, "text": "{body}"}', "not JSON once filled in"),
        ("sms_url", "ftp://gw.example.org", "not an http:// or https:// address"),
        ("mail_from", "not-an-address", "not an email address"),
    ],
)
def test_it_refuses_a_bad_messaging_setting_naming_it(name: str, value: str, says: str) -> None:
    result = CliRunner().invoke(
        main, ["mail", "test", "you@example.org"], env={f"ALLIANCE_{name.upper()}": value}
    )
    assert result.exit_code == 2
    assert f"{name}: " in result.output
    assert says in result.output
