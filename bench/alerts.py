"""Benchmark: how many alerts a clinician is asked to read, on the demo and a synthetic clinic.

Two inputs, each analysed the way the product analyses it (the shipped default models, the
default rupture rule):

* the demo clinic (`alliance demo`, seed 0), through the same service call the caseload and the
  chart use (`alliance.services.alerts.alerts_for`), open episodes only;
* a synthetic clinic of N episodes (default 100,000; PHQ-9 and SRS each session), through
  `alliance.analytics.analyze`.

Figures, per client-session (one session of one episode):

* signals: every row the analysis raises;
* alerts to read: the cards that appear at a session and need reading. Before cards existed
  every signal of a kind and measure at a session was one (the caseload showed the latest per
  kind and measure, and a new session's signal had a new key, so it came back after an
  acknowledgement); with cards it is one per client, problem (risk, outcome, alliance) and
  session at which some problem's signal begins;
* open now: alerts open on an episode at its latest session, nothing acknowledged (mean, max).

Run: python bench/alerts.py [--episodes N] [--skip-demo]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl
from rich.console import Console

from alliance.analytics import analyze, synthetic_caseload


def _sessions(frame: pl.DataFrame) -> int:
    return frame.select("episode_id", "session").unique().height


def _cards() -> Any:
    try:
        from alliance.analytics import alerts as cards
    except ImportError:
        return None
    return cards


def burden(frame: pl.DataFrame) -> dict[str, Any]:
    """Signals, alerts to read and alerts open now, from one analysis of `frame`."""
    start = time.perf_counter()
    result = analyze(frame)
    seconds = time.perf_counter() - start
    table = result.signals.filter(pl.col("kind") != "repair")
    sessions = _sessions(frame)
    episodes = frame["episode_id"].n_unique()
    out: dict[str, Any] = {
        "episodes": episodes,
        "sessions": sessions,
        "seconds": seconds,
        "signals": result.signals.height,
    }
    cards = _cards()
    if cards is None:
        to_read = table.select("episode_id", "session", "kind", "instrument").unique().height
        open_now = table.group_by("episode_id").agg(
            pl.struct("kind", "instrument").n_unique().alias("n")
        )
    else:
        to_read = cards.alerts_to_read(table)
        open_now = cards.open_cards(table).group_by("episode_id").agg(pl.len().alias("n"))
    counts = open_now["n"].to_list() + [0] * (episodes - open_now.height)
    out.update(
        to_read=to_read,
        open_mean=sum(counts) / max(episodes, 1),
        open_max=max(counts, default=0),
    )
    return out


def demo_burden() -> dict[str, Any]:
    """Alerts on the demo's open episodes, as the caseload shows them."""
    from sqlalchemy import select

    from alliance.services.alerts import alerts_for
    from alliance.services.scores import score_frame
    from alliance.store.demo import populate
    from alliance.store.engine import make_engine
    from alliance.store.tables import episodes

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'demo.db'}")
        populate(engine, seed=0)
        with engine.connect() as conn:
            ids = list(
                conn.execute(select(episodes.c.id).where(episodes.c.closed_on.is_(None))).scalars()
            )
            frame = score_frame(conn, ids)
            shown = alerts_for(conn, frame)
        engine.dispose()
    per_episode = [len(shown.get(i, [])) for i in ids]
    same_steps = [
        len(views) - len({tuple(v.next_steps) for v in views}) for views in shown.values()
    ]
    figures = burden(frame.drop("flags", "administration_id"))
    figures.update(
        shown_mean=sum(per_episode) / max(len(ids), 1),
        shown_max=max(per_episode, default=0),
        repeated_steps_max=max(same_steps, default=0),
    )
    return figures


def _print(console: Console, name: str, f: dict[str, Any]) -> None:
    sessions = f["sessions"]
    console.print(
        f"{name}: {f['episodes']:,} episodes, {sessions:,} client-sessions "
        f"(analysis {f['seconds']:.2f} s)"
    )
    console.print(
        f"  signals {f['signals']:,} ({f['signals'] / sessions:.3f} per client-session); "
        f"alerts to read {f['to_read']:,} ({f['to_read'] / sessions:.3f} per client-session); "
        f"open now per episode mean {f['open_mean']:.2f}, max {f['open_max']}"
    )
    if "shown_mean" in f:
        console.print(
            f"  shown by the service on open episodes: mean {f['shown_mean']:.2f}, "
            f"max {f['shown_max']}; most cards with repeated next steps on one client "
            f"{f['repeated_steps_max']}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=100_000)
    parser.add_argument("--skip-demo", action="store_true")
    args = parser.parse_args()
    console = Console()
    one, five, fifteen = os.getloadavg()
    console.print(f"load average (1, 5, 15 min): {one:.2f}, {five:.2f}, {fifteen:.2f}")
    if not args.skip_demo:
        _print(console, "demo (seed 0)", demo_burden())
    caseload = synthetic_caseload(args.episodes, seed=2024)
    _print(console, "synthetic (seed 2024)", burden(caseload.frame))


if __name__ == "__main__":
    main()
