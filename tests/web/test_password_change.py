"""Changing one's own password on /account/password: each refusal names its field, changes nothing.

The rules are in alliance.web.services.users.change_password: the current password must be right;
the new one has at least 12 characters, differs from the current one and is typed twice alike.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from alliance.store import tables as t
from tests.web.clinic import PASSWORD, Clinic
from tests.web.conftest import sign_in

NEW = "a calm new password 42"
FIELDS = ("current", "new", "repeat")


def errors_on(html: str) -> dict[str, str]:
    """The error shown under each field of the password form, by field name."""
    return dict(
        re.findall(
            r'<input id="pw-(\w+)"[^>]*>\s*<p class="field-error" role="alert">([^<]*)</p>', html
        )
    )


def password_hash(engine: Engine, user_id: int) -> str:
    with engine.connect() as conn:
        return str(
            conn.execute(
                select(t.users.c.password_hash).where(t.users.c.id == user_id)
            ).scalar_one()
        )


def signs_in(client: TestClient, password: str) -> bool:
    response = client.post(
        "/login", data={"username": "tess", "password": password}, follow_redirects=False
    )
    return response.status_code == 303


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        pytest.param(
            {"current": "not my password", "new": NEW, "repeat": NEW},
            {"current": "the current password is not right"},
            id="wrong-current",
        ),
        pytest.param(
            {"current": PASSWORD, "new": "eleven char", "repeat": "eleven char"},
            {"new": "the new password has 11 characters; at least 12"},
            id="too-short",
        ),
        pytest.param(
            {"current": PASSWORD, "new": PASSWORD, "repeat": PASSWORD},
            {"new": "the new password must differ from the current one"},
            id="same-as-current",
        ),
        pytest.param(
            {"current": PASSWORD, "new": NEW, "repeat": NEW + "!"},
            {"repeat": "the two new passwords differ"},
            id="repeat-differs",
        ),
        pytest.param(
            {"current": "not my password", "new": "too short", "repeat": "too short"},
            {
                "current": "the current password is not right",
                "new": "the new password has 9 characters; at least 12",
            },
            id="two-at-once",
        ),
    ],
)
def test_it_refuses_a_password_change_and_keeps_the_old_password(
    app_client: TestClient,
    clinic: Clinic,
    engine: Engine,
    form: dict[str, str],
    expected: dict[str, str],
) -> None:
    sign_in(app_client, "tess")
    before = password_hash(engine, clinic.therapist_id)
    response = app_client.post("/account/password", data=form)
    assert response.status_code == 400
    assert errors_on(response.text) == expected  # each error under its field, no other field
    for typed in set(form.values()):
        assert typed not in response.text  # no password is sent back in the page
    assert password_hash(engine, clinic.therapist_id) == before
    app_client.post("/logout")
    if form["new"] != PASSWORD:
        assert not signs_in(app_client, form["new"])
    assert signs_in(app_client, PASSWORD)


def test_it_takes_a_new_password_of_exactly_twelve_characters(
    app_client: TestClient, clinic: Clinic
) -> None:
    sign_in(app_client, "tess")
    twelve = "twelve chars"
    assert len(twelve) == 12
    changed = app_client.post(
        "/account/password",
        data={"current": PASSWORD, "new": twelve, "repeat": twelve},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    app_client.post("/logout")
    assert not signs_in(app_client, PASSWORD)
    assert signs_in(app_client, twelve)
