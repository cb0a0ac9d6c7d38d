"""Risk items first: which were endorsed on a form, in words, whatever else is wrong with it.

DOMAIN §3: a risk item endorsed (PHQ-9 item 9 at 1 or more; CORE-10 item 6 above "Not at all")
raises the risk signal even when the form is incomplete or otherwise invalid, in every path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from alliance.instruments.model import Instrument
from alliance.instruments.registry import load_instrument

RISK_ENDORSED = "A risk item was endorsed"


def risk_note(instrument_id: str, items: Sequence[str]) -> str:
    """Words for a risk item endorsed: which item, and what to do."""
    instrument = load_instrument(instrument_id)
    named = "; ".join(f"item {i}, {instrument.item(i).label}" for i in items)
    return (
        f"{RISK_ENDORSED} on this {instrument.short_name} ({named}): review risk with the "
        "client now, whatever else is missing"
    )


def endorsed_in_cells(instrument: Instrument, cells: Mapping[int, str]) -> list[str]:
    """Risk items endorsed among raw answers keyed by item number, each read on its own.

    A form refused for another answer (out of range, not a number, too many blank) still has
    its risk item read: an answer that is itself valid and at or above the threshold counts.
    """
    endorsed = []
    for risk in instrument.risk_items:
        text = (cells.get(int(risk.item)) or "").strip()
        try:
            value = float(text.replace(",", ".")) if text else math.nan
        except ValueError:
            continue
        scale = instrument.scale_of(instrument.item(risk.item))
        if scale.low <= value <= scale.high and value >= risk.at_least:
            endorsed.append(risk.item)
    return endorsed
