"""Small helpers for instrument tests: parse text tables and build answers for a total."""

from __future__ import annotations

from alliance.instruments import Instrument, load_instrument


def table(text: str) -> list[tuple[str, ...]]:
    """Rows of a whitespace-separated text table, header dropped, '~' read as a space."""
    lines = [line.split() for line in text.strip().splitlines() if line.strip()]
    return [tuple(cell.replace("~", " ") for cell in row) for row in lines[1:]]


def answers_for_total(instrument_id: str, total: int) -> dict[str, float | int | None]:
    """A complete administration whose scored total is `total` (fills items in order)."""
    instrument: Instrument = load_instrument(instrument_id)
    answers: dict[str, float | int | None] = {}
    remaining = total - int(instrument.total_min)
    for item in instrument.items:
        scale = instrument.scale_of(item)
        low, high = int(scale.low), int(scale.high)
        scored = low + min(remaining, high - low)
        remaining -= scored - low
        answers[item.id] = (low + high - scored) if item.reversed else scored
    assert remaining == 0, f"{instrument_id}: total {total} is out of range"
    return answers
