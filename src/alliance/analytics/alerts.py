"""Alerts as a clinician reads them: one card per client and problem, from the signals.

Signals are findings (a rupture, the drop that shows it, the low rating it reaches); an alert
card gathers the open, unacknowledged ones of one problem of one episode, so a rupture and the
drop that caused it are one card, and their next steps are listed once. Problems:

* **risk** — a risk item endorsed (each form is its own signal, open until acknowledged);
* **outcome** — reliable deterioration, not on track, no change;
* **alliance** — rupture, alliance low, drop, slow decline.

A card clears itself when none of its signals is still open (the client repaired the rupture,
improved reliably, came back above the cutoff) and, with the episode, when it closes.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from alliance.analytics.signals import NEXT_STEPS, SEVERITY_ORDER

PROBLEM_OF: dict[str, str] = {
    "risk_item": "risk",
    "reliable_deterioration": "outcome",
    "not_on_track": "outcome",
    "no_change": "outcome",
    "rupture": "alliance",
    "alliance_low": "alliance",
    "alliance_drop": "alliance",
    "alliance_decline": "alliance",
}
PROBLEMS = ("risk", "outcome", "alliance")
_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}


def with_problem(signals: pl.DataFrame) -> pl.DataFrame:
    """The alerting signals (not repairs) with their problem, in the signals' order."""
    kinds = signals["kind"].cast(pl.String)
    return signals.filter(kinds.is_in(list(PROBLEM_OF))).with_columns(
        pl.col("kind").cast(pl.String).replace_strict(PROBLEM_OF).alias("problem")
    )


def open_cards(signals: pl.DataFrame) -> pl.DataFrame:
    """One row per episode and problem with an open, unacknowledged signal, most urgent first.

    `key`, `kind`, `severity`, `instrument`, `detail` are the headline signal's (the most
    severe, then the most recent); `keys`, `kinds`, `instruments`, `sessions`, `last_sessions`,
    `details`, `sources` list every member, headline first.
    """
    table = with_problem(signals)
    if "acknowledged" in table.columns:
        table = table.filter(~pl.col("acknowledged"))
    table = table.filter(pl.col("open"))
    rank = pl.col("severity").cast(pl.String).replace_strict(_RANK, return_dtype=pl.Int64)
    ordered = table.with_columns(rank.alias("_rank")).sort(
        ["episode_id", "problem", "_rank", "last_session"],
        descending=[False, False, False, True],
        maintain_order=True,
    )
    cards = ordered.group_by(["episode_id", "problem"], maintain_order=True).agg(
        pl.col("key").first(),
        pl.col("kind").cast(pl.String).first(),
        pl.col("severity").cast(pl.String).first(),
        pl.col("instrument").cast(pl.String).first(),
        pl.col("detail").cast(pl.String).first(),
        pl.col("_rank").min().alias("rank"),
        pl.col("key").alias("keys"),
        pl.col("kind").cast(pl.String).alias("kinds"),
        pl.col("instrument").cast(pl.String).alias("instruments"),
        pl.col("session").alias("sessions"),
        pl.col("last_session").alias("last_sessions"),
        pl.col("detail").cast(pl.String).alias("details"),
        pl.col("source").cast(pl.String).alias("sources"),
    )
    # Within an episode: most severe first, then risk, outcome, alliance.
    order = pl.col("problem").replace_strict(
        {p: i for i, p in enumerate(PROBLEMS)}, return_dtype=pl.Int64
    )
    return cards.sort([pl.col("episode_id"), pl.col("rank"), order], maintain_order=True)


def merged_next_steps(kinds: Iterable[str]) -> list[str]:
    """The next steps of every signal in a card, each listed once, in the order first met."""
    steps: dict[str, None] = {}
    for kind in kinds:
        steps.update(dict.fromkeys(NEXT_STEPS[kind]))
    return list(steps)


def alerts_to_read(signals: pl.DataFrame) -> int:
    """How many cards appear over the whole history: one per episode, problem and session at
    which one of the problem's signals begins (a new signal needs reading; a continuing one
    does not)."""
    table = with_problem(signals)
    return table.select("episode_id", "problem", "session").unique().height
