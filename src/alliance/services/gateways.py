"""The clinic's own gateways: email by SMTP, text messages by an HTTP gateway.

Each send returns the gateway's answer as one short line, or raises GatewayError with a reason
a person can act on (unreachable host, refused login, TLS failure, the gateway's status). The
reason names the host, never a password or the message.
"""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage

from alliance.config import Settings, SmtpTarget
from alliance.errors import AllianceError

TIMEOUT_S = 20.0
ANSWER_CHARS = 300


NOT_SET_UP = (
    "email is not set up: the admin sets the mail server on the Email and text messages page "
    "(/admin/mail), or ALLIANCE_SMTP_URL and ALLIANCE_MAIL_FROM"
)


@dataclass(frozen=True)
class MailServer:
    """Where email goes and who sends it; `source` says where it was set, for the pages."""

    target: SmtpTarget
    mail_from: str
    source: str  # "environment" (ALLIANCE_SMTP_URL) or "admin page" (/admin/mail)


def environment_mail(settings: Settings) -> MailServer | None:
    """The mail server ALLIANCE_SMTP_URL and ALLIANCE_MAIL_FROM give, if both are set."""
    target = settings.smtp
    if target is None or settings.mail_from is None:
        return None
    return MailServer(target, settings.mail_from, "environment")


class GatewayError(AllianceError):
    """A gateway refused or could not be reached; `retry` says whether trying later may help.

    `stage` says what failed: "connect" (host or port), "tls", "login" (user or password) or
    "send", so a form can put the reason beside the field to mend.
    """

    def __init__(self, reason: str, *, retry: bool, stage: str = "send") -> None:
        super().__init__(reason[:ANSWER_CHARS])
        self.reason = reason[:ANSWER_CHARS]
        self.retry = retry
        self.stage = stage


def _reply(code: int, text: bytes | str) -> str:
    line = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {' '.join(line.split())}"[:ANSWER_CHARS]


def _connect(target: SmtpTarget) -> smtplib.SMTP:
    where = f"{target.host}:{target.port}"
    context = ssl.create_default_context()
    try:
        if target.tls == "implicit":
            return smtplib.SMTP_SSL(target.host, target.port, timeout=TIMEOUT_S, context=context)
        client = smtplib.SMTP(target.host, target.port, timeout=TIMEOUT_S)
    except ssl.SSLError as exc:
        raise GatewayError(
            f"TLS with {where} failed: {exc.reason or exc}", retry=False, stage="tls"
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise GatewayError(
            f"cannot reach the mail server {where}: {_why(exc)}", retry=True, stage="connect"
        ) from None
    try:
        client.ehlo()
        if client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        elif not target.loopback:
            raise GatewayError(
                f"{where} does not offer STARTTLS; mail is sent in the clear only to a server "
                "on this machine (use TLS from the start, smtps://, or a server with STARTTLS)",
                retry=False,
                stage="tls",
            )
    except ssl.SSLError as exc:
        client.close()
        raise GatewayError(
            f"TLS with {where} failed: {exc.reason or exc}", retry=False, stage="tls"
        ) from None
    except (OSError, smtplib.SMTPException) as exc:
        client.close()
        raise GatewayError(
            f"the mail server {where} failed: {_why(exc)}", retry=True, stage="connect"
        ) from None
    return client


def _why(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "the host name is not known"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer within {TIMEOUT_S:.0f} s"
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply(exc.smtp_code, exc.smtp_error)
    return exc.__class__.__name__ + (f": {exc}" if str(exc) else "")


def _login(client: smtplib.SMTP, target: SmtpTarget) -> None:
    if target.username is None or target.password is None:
        return
    try:
        client.login(target.username, target.password)
    except smtplib.SMTPAuthenticationError as exc:
        raise GatewayError(
            f"the mail server refused the login of user {target.username!r}: "
            f"{_reply(exc.smtp_code, exc.smtp_error)}; check the user and password",
            retry=False,
            stage="login",
        ) from None
    except smtplib.SMTPNotSupportedError:
        raise GatewayError(
            "the mail server offers no login; leave the user and password out",
            retry=False,
            stage="login",
        ) from None


def send_email(server: MailServer | None, to: str, subject: str, body: str) -> str:
    """Send one plain-text email; the server's answer to the message, e.g. '250 OK'."""
    if server is None:
        raise GatewayError(NOT_SET_UP, retry=False)
    target = server.target
    message = EmailMessage()
    message["From"] = server.mail_from
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    client = _connect(target)
    try:
        _login(client, target)
        code, text = client.mail(server.mail_from)
        if code != 250:
            raise GatewayError(
                f"the sender was refused: {_reply(code, text)}", retry=code >= 400 and code < 500
            )
        code, text = client.rcpt(to)
        if code not in (250, 251):
            raise GatewayError(
                f"the recipient was refused: {_reply(code, text)}", retry=400 <= code < 500
            )
        code, text = client.data(message.as_bytes())
        if code != 250:
            raise GatewayError(
                f"the message was refused: {_reply(code, text)}", retry=400 <= code < 500
            )
        return _reply(code, text)
    except (OSError, smtplib.SMTPException) as exc:
        raise GatewayError(f"the mail server failed: {_why(exc)}", retry=True) from None
    finally:
        try:
            client.quit()
        except (OSError, smtplib.SMTPException):
            client.close()


def check_email_setup(target: SmtpTarget | None) -> tuple[str, str]:
    """Connect and log in without sending: the server's answer and how the line is secured."""
    if target is None:
        raise GatewayError(NOT_SET_UP, retry=False)
    client = _connect(target)
    try:
        _login(client, target)
        how = "TLS" if target.tls == "implicit" else "STARTTLS"
        if not isinstance(client.sock, ssl.SSLSocket):
            how = "in the clear: this machine only"
        return _reply(*client.noop()), how
    finally:
        client.close()


def sms_payload(template: str, to: str, body: str) -> bytes:
    """The gateway's JSON body: each placeholder replaced by its JSON-escaped value."""
    filled = template.replace("{to}", json.dumps(to)[1:-1]).replace(
        "{body}", json.dumps(body)[1:-1]
    )
    return filled.encode("utf-8")


def send_sms(settings: Settings, to: str, body: str) -> str:
    """POST one text message to the gateway; its answer, e.g. 'HTTP 200 {"id": "m1"}'."""
    if settings.sms_url is None:
        raise GatewayError("text messages are not set up: set ALLIANCE_SMS_URL", retry=False)
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked as a setting
        settings.sms_url,
        data=sms_payload(settings.sms_body, to, body),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "Alliance"},
    )
    if settings.sms_auth_header:
        name, _, value = settings.sms_auth_header.partition(":")
        request.add_header(name.strip(), value.strip())
    host = request.host
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:  # noqa: S310
            text = answer.read(ANSWER_CHARS).decode("utf-8", "replace")
            return f"HTTP {_reply(answer.status, text)}"
    except urllib.error.HTTPError as exc:
        text = exc.read(ANSWER_CHARS).decode("utf-8", "replace")
        retry = exc.code >= 500 or exc.code == 429
        raise GatewayError(
            f"the SMS gateway answered HTTP {_reply(exc.code, text)}", retry=retry
        ) from None
    except urllib.error.URLError as exc:
        reason = exc.reason if isinstance(exc.reason, BaseException) else OSError(str(exc.reason))
        raise GatewayError(
            f"cannot reach the SMS gateway {host}: {_why(reason)}", retry=True
        ) from None
    except OSError as exc:
        raise GatewayError(f"the SMS gateway {host} failed: {_why(exc)}", retry=True) from None
