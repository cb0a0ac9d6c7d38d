"""Security headers, request ids, Secure cookies over TLS, sign-in throttling, bare 500s."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from alliance.web.throttle import THROTTLE_ATTEMPTS, Throttle
from tests.web.conftest import send_csrf_token


def test_it_sets_security_headers_and_a_request_id(app: FastAPI) -> None:
    with TestClient(app) as client:
        response = client.get("/login")
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        assert (
            "'unsafe-inline'"
            not in response.headers["content-security-policy"]
            .split("script-src", 1)[1]
            .split(";", 1)[0]
        )
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert len(response.headers["x-request-id"]) == 32
        echoed = client.get("/healthz", headers={"X-Request-ID": "trace-1234abcd"})
        assert echoed.headers["x-request-id"] == "trace-1234abcd"
        refused = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
        assert refused.headers["x-request-id"] != "bad id\nwith newline"


def test_it_marks_cookies_secure_over_tls(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        response = client.get("/login")
        cookies = response.headers.get_list("set-cookie")
        assert cookies
        assert all("secure" in c.lower() for c in cookies)
        assert any(c.startswith("alliance_session=") and "httponly" in c.lower() for c in cookies)
        assert "max-age" in response.headers["strict-transport-security"]
    with TestClient(app) as plain:
        assert "strict-transport-security" not in plain.get("/login").headers


def test_it_throttles_sign_in_attempts_per_address(
    persona_client: Callable[[str], TestClient],
) -> None:
    client = persona_client("anonymous")
    statuses = [
        client.post("/login", data={"username": "tess", "password": "wrong"}).status_code
        for _ in range(THROTTLE_ATTEMPTS + 1)
    ]
    assert statuses[:THROTTLE_ATTEMPTS] == [400] * THROTTLE_ATTEMPTS
    assert statuses[-1] == 429
    blocked = client.post("/login", data={"username": "tess", "password": "correct horse battery"})
    assert blocked.status_code == 429
    assert int(blocked.headers["retry-after"]) >= 1
    # Another address is not held up by this one.
    other = persona_client("therapist_b")
    assert other.get("/caseload").status_code == 200


def test_it_lets_the_window_slide() -> None:
    now = [0.0]
    throttle = Throttle(attempts=2, window_s=10, clock=lambda: now[0])
    assert throttle.hit("a") is None
    assert throttle.hit("a") is None
    assert throttle.hit("a") == 10
    now[0] = 10.5
    assert throttle.hit("a") is None


def test_it_locks_an_account_after_repeated_failures(
    persona_client: Callable[[str], TestClient],
) -> None:
    # Five wrong passwords lock the account (the database counter), whatever the address.
    for n in range(5):
        client = persona_client("anonymous" if n % 2 else "client_link")
        client.post("/login", data={"username": "otto", "password": "wrong"})
    fresh = persona_client("admin")  # signs in as admin; now try otto with the right password
    response = fresh.post("/login", data={"username": "otto", "password": "correct horse battery"})
    assert response.status_code == 400
    assert "locked" in response.text


def test_it_answers_an_unhandled_error_with_a_bare_500(app: FastAPI) -> None:
    @app.get("/boom-for-test")
    def boom() -> None:
        raise RuntimeError("client says: my secret words")

    with TestClient(app, raise_server_exceptions=False) as client:
        send_csrf_token(client)
        response = client.get("/boom-for-test")
    assert response.status_code == 500
    assert "secret words" not in response.text
    assert response.json()["request_id"] == response.headers["x-request-id"]
