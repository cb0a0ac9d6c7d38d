"""Worksheets: the Miracle Question (its answers seed proposed goals) and relapse prevention."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from alliance.domain import GoalStatus, MiracleQuestion, WorksheetKind
from alliance.domain.worksheets import check_worksheet
from alliance.store.base import Actor, atomic, utc_now
from alliance.store.entries import add_entry
from alliance.store.goals import add_goal
from alliance.store.tables import worksheets


def add_worksheet(
    conn: Connection,
    actor: Actor,
    episode_id: int,
    kind: WorksheetKind | str,
    content: Mapping[str, Any],
    *,
    session_id: int | None = None,
    seed_goals: bool = True,
    now: datetime | None = None,
) -> int:
    """Store a worksheet; Miracle Question answers become proposed goals unless seed_goals=False."""
    now = now or utc_now()
    sheet_kind = WorksheetKind.parse(kind)
    clean = check_worksheet(sheet_kind, content)
    with atomic(conn):
        sheet_id = add_entry(
            conn,
            actor,
            worksheets,
            episode_id,
            "worksheet",
            "worksheet",
            session_id=session_id,
            now=now,
            kind=sheet_kind.value,
            content=clean,
        )
        if sheet_kind == WorksheetKind.MIRACLE_QUESTION and seed_goals:
            for seed in MiracleQuestion.from_content(clean).goal_seeds():
                add_goal(
                    conn,
                    actor,
                    episode_id,
                    seed,
                    status=GoalStatus.PROPOSED,
                    worksheet_id=sheet_id,
                    now=now,
                )
    return sheet_id
