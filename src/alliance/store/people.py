"""Organisations, user accounts and clients (a pseudonymous code; identity kept apart)."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection, RowMapping, func, insert, select

from alliance.domain import DomainError, Role
from alliance.domain.errors import check_text
from alliance.domain.people import (
    CODE_ALPHABET,
    check_client_code,
    check_display_name,
    check_email,
    check_organisation_name,
    check_phone,
    check_supervisor_role,
    check_username,
)
from alliance.store import audit
from alliance.store.base import (
    Actor,
    NotFoundError,
    atomic,
    check_member,
    insert_id,
    row_by_id,
    update_by_id,
    utc_now,
)
from alliance.store.tables import client_identities, clients, organisations, users


def create_organisation(
    conn: Connection, actor: Actor, name: str, *, now: datetime | None = None
) -> int:
    now = now or utc_now()
    clean = check_organisation_name(name)
    with atomic(conn):
        org_id = insert_id(conn, organisations, name=clean, created_at=now)
        audit.record(conn, actor, "create", "organisation", org_id, now=now)
    return org_id


def create_user(
    conn: Connection,
    actor: Actor,
    *,
    organisation_id: int,
    username: str,
    role: Role | str,
    display_name: str,
    password_hash: str | None = None,
    supervisor_id: int | None = None,
    must_change_password: bool = True,
    now: datetime | None = None,
) -> int:
    """Create an account; the password arrives already hashed (argon2id) or not at all."""
    now = now or utc_now()
    clean_name = check_username(username)
    clean_role = Role.parse(role)
    clean_display = check_display_name(display_name)
    with atomic(conn):
        _check_organisation(conn, organisation_id)
        check_member(conn, actor, organisation_id, frozenset({Role.ADMIN}))
        if conn.execute(select(users.c.id).where(users.c.username == clean_name)).first():
            raise DomainError("user.username", clean_name, "already taken; choose another")
        if supervisor_id is not None:
            supervisor = user_by_id(conn, supervisor_id)
            check_supervisor_role(Role(supervisor["role"]))
        user_id = insert_id(
            conn,
            users,
            organisation_id=organisation_id,
            username=clean_name,
            display_name=clean_display,
            role=clean_role.value,
            password_hash=password_hash,
            must_change_password=must_change_password,
            supervisor_id=supervisor_id,
            failed_logins=0,
            active=True,
            created_at=now,
        )
        audit.record(conn, actor, "create", "user", user_id, now=now)
    return user_id


def _check_organisation(conn: Connection, organisation_id: int) -> None:
    found = conn.execute(select(organisations.c.id).where(organisations.c.id == organisation_id))
    if found.first() is None:
        raise NotFoundError("organisation", organisation_id)


def user_by_id(conn: Connection, user_id: int) -> RowMapping:
    return row_by_id(conn, users, "user", user_id)


def user_by_username(conn: Connection, username: str) -> RowMapping | None:
    name = str(username).strip().lower()
    return conn.execute(select(users).where(users.c.username == name)).mappings().first()


def set_supervisor(
    conn: Connection,
    actor: Actor,
    user_id: int,
    supervisor_id: int | None,
    *,
    now: datetime | None = None,
) -> None:
    now = now or utc_now()
    with atomic(conn):
        check_member(
            conn, actor, user_by_id(conn, user_id)["organisation_id"], frozenset({Role.ADMIN})
        )
        if supervisor_id is not None:
            check_supervisor_role(Role(user_by_id(conn, supervisor_id)["role"]))
        update_by_id(conn, users, user_id, supervisor_id=supervisor_id)
        audit.record(conn, actor, "update", "user", user_id, now=now)


def new_client_code(length: int = 8) -> str:
    """A random pseudonymous code such as C-7K3P9QXA; it carries nothing about the person."""
    return "C-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(length))


def create_client(
    conn: Connection,
    actor: Actor,
    *,
    organisation_id: int,
    code: str | None = None,
    name: str | None = None,
    contact: str | None = None,
    email: str | None = None,
    phone: str | None = None,
    now: datetime | None = None,
) -> int:
    """A client known by a code; a name or contact, if given, goes to the identity table."""
    now = now or utc_now()
    clean_code = check_client_code(code) if code is not None else new_client_code()
    with atomic(conn):
        _check_organisation(conn, organisation_id)
        check_member(conn, actor, organisation_id, frozenset({Role.THERAPIST, Role.SUPERVISOR}))
        if conn.execute(select(clients.c.id).where(clients.c.code == clean_code)).first():
            raise DomainError("client.code", clean_code, "already in use; codes are unique")
        client_id = insert_id(
            conn,
            clients,
            organisation_id=organisation_id,
            code=clean_code,
            created_at=now,
            created_by=actor.user_id,
        )
        audit.record(conn, actor, "create", "client", client_id, now=now)
        if name or contact or email or phone:
            set_client_identity(
                conn,
                actor,
                client_id,
                name=name,
                contact=contact,
                email=email,
                phone=phone,
                now=now,
            )
    return client_id


def set_client_identity(
    conn: Connection,
    actor: Actor,
    client_id: int,
    *,
    name: str | None,
    contact: str | None,
    email: str | None = None,
    phone: str | None = None,
    now: datetime | None = None,
) -> None:
    """Keep (or clear, with all None) a client's name and contact, apart from clinical data."""
    now = now or utc_now()
    identity = {
        "name": _optional_text("client.name", name, 200),
        "contact": _optional_text("client.contact", contact, 500),
        "email": check_email(email) if email and email.strip() else None,
        "phone": check_phone(phone) if phone and phone.strip() else None,
    }
    with atomic(conn):
        org = conn.execute(
            select(clients.c.organisation_id).where(clients.c.id == client_id)
        ).scalar_one_or_none()
        if org is None:
            raise NotFoundError("client", client_id)
        check_member(conn, actor, org, frozenset({Role.THERAPIST, Role.SUPERVISOR}))
        if identity["email"] is not None:
            _check_email_free(conn, org, client_id, identity["email"])
        conn.execute(client_identities.delete().where(client_identities.c.client_id == client_id))
        if any(identity.values()):
            conn.execute(
                insert(client_identities).values(client_id=client_id, updated_at=now, **identity)
            )
        audit.record(conn, actor, "update", "client_identity", client_id, now=now)


def _check_email_free(conn: Connection, organisation_id: int, client_id: int, email: str) -> None:
    """Two clients of one clinic never share an address: a message must reach one person."""
    taken = conn.execute(
        select(client_identities.c.client_id)
        .join(clients, clients.c.id == client_identities.c.client_id)
        .where(
            clients.c.organisation_id == organisation_id,
            func.lower(client_identities.c.email) == email.lower(),
            client_identities.c.client_id != client_id,
        )
    ).first()
    if taken is not None:
        raise DomainError(
            "client.email",
            "the address",
            "another client of this clinic has it; each address reaches one person",
            detail="already in use",
        )


def _optional_text(field: str, value: str | None, max_length: int) -> str | None:
    if value is None:
        return None
    return check_text(field, value, max_length=max_length, required=False) or None
