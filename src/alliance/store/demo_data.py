"""Synthetic material for the demo caseload: words, archetypes and score trajectories.

Pure and seeded: every function takes a random.Random, so a seed gives the same clinic twice.
Trajectory shapes follow DOMAIN sections 3-4 (ORS intake typically 16-19, clinical cutoff 25;
SRS below 36 signals dissatisfaction; a rupture is a dip with or without a V-shaped return).
"""

from __future__ import annotations

import math
import random

ARCHETYPES = (
    "improver",
    "non_responder",
    "deteriorator",
    "rupture_repaired",
    "rupture_unrepaired",
)
# Shares of the caseload; the single PHQ-9 item-9 risk case is added on top.
ARCHETYPE_WEIGHTS = (0.42, 0.2, 0.14, 0.13, 0.11)

THERAPISTS = (
    ("noor", "Noor Haddad"),
    ("tomas", "Tomas Lindqvist"),
    ("lena", "Lena Okafor"),
    ("kofi", "Kofi Mensah"),
)
SUPERVISOR = ("ava", "Ava Morales")
ADMIN = ("admin", "Clinic administrator")

MIRACLE_ANSWERS = (
    "I would wake up and want to get out of bed",
    "I would answer my phone when my sister calls",
    "I would go back to the choir on Thursdays",
    "I would sleep through the night without checking the door",
    "I would take the bus to work without panicking",
    "I would eat breakfast with my kids instead of hiding in my room",
    "I would say no to extra shifts without feeling guilty",
    "I would walk the dog in the park again",
    "I would stop rehearsing arguments in my head",
    "I would finish the course I dropped last spring",
    "I would feel calm enough to go to the supermarket at busy times",
    "I would laugh with my partner like we used to",
)
TASKS = (
    ("Keep a short mood diary each evening", "homework"),
    ("Graded exposure: one step up the ladder each week", "technique"),
    ("Behavioural activation: plan two pleasant activities", "homework"),
    ("Thought record when the worry spiral starts", "technique"),
    ("Practise the 4-7-8 breathing exercise twice a day", "homework"),
    ("Role-play saying no to a request", "technique"),
    ("Schedule a fixed wake-up time", "homework"),
)
RULES = (
    "Phones on silent during sessions",
    "We speak to each other without put-downs",
    "Sessions start and end on time",
)
RITUALS = (
    "Open with two minutes of mindful breathing",
    "Close by naming one thing that helped today",
)
DISCLOSURES = ("Said I have also found exam periods stressful",)
NOTES = {
    "transference": "Client expected me to be disappointed, as with their father",
    "countertransference": "Noticed an urge to give advice rather than listen",
    "rupture": "Client went quiet and said the homework was pointless",
    "repair": "Talked about last week openly; agreed to change the homework together",
}
PLAN = {
    "warning_signs": ["Staying in bed past ten", "Not answering messages"],
    "triggers": ["Anniversary in March", "Conflict at work"],
    "coping_steps": ["Use the morning routine", "Walk before deciding anything"],
    "who_to_call": ["Sister", "GP practice"],
}


def choose_archetypes(rng: random.Random, n: int) -> list[str]:
    """n archetypes in the configured shares (rounded), shuffled, plus exactly one risk case."""
    counts = [max(1, round(w * (n - 1))) for w in ARCHETYPE_WEIGHTS]
    counts[0] += (n - 1) - sum(counts)
    kinds = [k for k, c in zip(ARCHETYPES, counts, strict=True) for _ in range(c)]
    kinds.append("risk")
    rng.shuffle(kinds)
    return kinds


def _progress(session: int, sessions: int) -> float:
    # Change is fastest early in therapy (dose-response; Finch, Lambert & Schaalje 2001 fit log).
    return math.log(session) / math.log(max(sessions, 2)) if session > 1 else 0.0


def targets(kind: str, session: int, sessions: int, rupture_at: int) -> dict[str, float]:
    """Expected totals (before noise) for ORS, SRS, PHQ-9 and GAD-7 at this session."""
    p = _progress(session, sessions)
    if kind in ("improver", "rupture_repaired"):
        out = {"ors": 17 + 15 * p, "srs": 36.5 + 2 * p, "phq9": 17 - 11 * p, "gad7": 14 - 9 * p}
    elif kind == "non_responder":
        out = {"ors": 19.0, "srs": 35.5 + p, "phq9": 15.0, "gad7": 12.0}
    elif kind == "deteriorator" or kind == "risk":
        out = {"ors": 21 - 8 * p, "srs": 35.5 - 4 * p, "phq9": 12 + 8 * p, "gad7": 10 + 6 * p}
    else:  # rupture_unrepaired: improves until the rupture, then stalls
        q = _progress(min(session, rupture_at), sessions)
        out = {"ors": 18 + 10 * q, "srs": 36.5, "phq9": 16 - 6 * q, "gad7": 13 - 4 * q}
    if kind == "rupture_repaired":
        dip = {0: 26.0, 1: 31.5, 2: 36.5}.get(session - rupture_at)
        if dip is not None:
            out["srs"] = dip
    if kind == "rupture_unrepaired" and session >= rupture_at:
        out["srs"] = 27.0 if session == rupture_at else 30.0
    return out


def vas_answers(rng: random.Random, total: float) -> dict[str, float]:
    """Four 0-10 lines (one decimal) that add up to about `total`."""
    total = min(max(total, 0.0), 40.0)
    return {
        str(i): min(10.0, max(0.0, round(total / 4 + rng.uniform(-0.9, 0.9), 1)))
        for i in range(1, 5)
    }


def ordinal_answers(
    rng: random.Random, total: float, items: int, *, risk_item: str | None = None, risk: int = 0
) -> dict[str, int]:
    """`items` answers 0-3 summing to round(total); the risk item is held at `risk`."""
    answers = {str(i): 0 for i in range(1, items + 1)}
    if risk_item is not None:
        answers[risk_item] = risk
    free = [k for k in answers if k != risk_item]
    wanted = min(max(round(total) - risk, 0), 3 * len(free))
    for _ in range(wanted):
        open_items = [k for k in free if answers[k] < 3]
        answers[rng.choice(open_items)] += 1
    return answers
