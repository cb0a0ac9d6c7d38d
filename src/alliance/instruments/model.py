"""The schema every instrument definition file must satisfy, checked when it is loaded."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alliance.errors import AllianceError


class InstrumentError(AllianceError, ValueError):
    """Bad instrument input; the message names the item, the value and what is allowed."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Option(_Frozen):
    """One box on an ordinal scale: the code stored and the label shown."""

    code: int
    label: str
    loinc: str | None = None


class Scale(_Frozen):
    """A response scale: ordinal options with codes, or a visual-analogue line with a step."""

    type: Literal["ordinal", "vas"]
    options: tuple[Option, ...] = ()
    min: float | None = None
    max: float | None = None
    step: float = 1.0
    low_anchor: str | None = None
    high_anchor: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Scale:
        if self.type == "ordinal":
            if len(self.options) < 2:
                raise ValueError("an ordinal scale needs at least two options")
            codes = [o.code for o in self.options]
            if codes != list(range(codes[0], codes[0] + len(codes))):
                raise ValueError(f"ordinal codes must be consecutive integers, got {codes}")
            if self.step != 1.0:
                raise ValueError("an ordinal scale has step 1")
        else:
            if self.min is None or self.max is None or self.options:
                raise ValueError("a vas scale has min and max and no options")
            if self.step <= 0:
                raise ValueError("step must be positive")
        return self

    @property
    def low(self) -> float:
        return float(self.options[0].code) if self.type == "ordinal" else float(self.min or 0.0)

    @property
    def high(self) -> float:
        return float(self.options[-1].code) if self.type == "ordinal" else float(self.max or 0.0)

    @property
    def units_per_point(self) -> int:
        """Steps per point (10 for a 0.1 step): totals are summed exactly in steps."""
        return round(1.0 / self.step)

    def allowed(self) -> str:
        """Plain words for the values this scale accepts, for error messages."""
        if self.type == "ordinal":
            return "one of " + ", ".join(str(o.code) for o in self.options)
        decimals = "" if self.step == 1 else f" in steps of {self.step:g}"
        return f"a number from {self.low:g} to {self.high:g}{decimals}"


class Item(_Frozen):
    """One question: its number, short dimension label, shipped wording (or none) and scale."""

    id: str
    label: str
    text: str | None = None
    scale: str
    reversed: bool = False
    loinc: str | None = None
    # Wording from a clinic's licensed overlay: shown on forms, never exported.
    local_text: str | None = None
    # The two ends of this item's line from the clinic's licensed wording (a slider's anchors).
    local_low_anchor: str | None = None
    local_high_anchor: str | None = None

    @property
    def display_text(self) -> str:
        return self.local_text or self.text or self.label


class Band(_Frozen):
    """A severity band: totals from low up to high (inclusive) carry this label."""

    low: float
    high: float
    label: str


class Cutoff(_Frozen):
    """The clinical cutoff and which side of it counts as the clinical (or concern) range."""

    value: float
    clinical_side: Literal["at_or_above", "below"]
    label: str = "clinical range"
    flag: str | None = None
    source: str


class ReliableChange(_Frozen):
    """Either the published minimum reliable difference, or the SD and reliability to compute it."""

    value: float | None = None
    sd: float | None = None
    reliability: float | None = None
    source: str

    @model_validator(mode="after")
    def _one_way(self) -> ReliableChange:
        if self.value is None and (self.sd is None or self.reliability is None):
            raise ValueError("reliable_change needs value, or both sd and reliability")
        return self


class Norm(_Frozen):
    mean: float
    sd: float


class Norms(_Frozen):
    """Functional (0) and clinical (1) population norms for Jacobson & Truax cutoffs."""

    functional: Norm
    clinical: Norm
    source: str


class RiskItem(_Frozen):
    """An item whose answer at or above a threshold is a risk flag whatever the total."""

    item: str
    at_least: float
    flag: str
    source: str


class Scoring(_Frozen):
    method: Literal["sum", "mean"]
    max_missing: int = Field(ge=0)
    # Missing items are unused slots (goal-based outcomes), not omissions.
    missing_means_unused: bool = False
    source: str


class Licence(_Frozen):
    name: str
    wording_ships: bool
    # Where a clinic gets the licence, said on the pages that cannot offer the measure yet.
    how_to_get: str | None = None
    notice: str | None = None
    notice_file: str | None = None
    source: str


class Loinc(_Frozen):
    panel: str | None = None
    total: str | None = None
    source: str | None = None


class Instrument(_Frozen):
    """A measure as data: items, scale, scoring key, interpretation and licence."""

    id: str
    name: str
    short_name: str
    version: str
    kind: Literal["outcome", "alliance", "goals"]
    citation: str
    licence: Licence
    time_frame: str | None = None
    instructions: str | None = None
    direction: Literal["higher_is_worse", "higher_is_better"]
    scales: dict[str, Scale]
    items: tuple[Item, ...]
    subscales: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    scoring: Scoring
    bands: tuple[Band, ...] = ()
    cutoff: Cutoff | None = None
    reliable_change_rule: ReliableChange | None = Field(default=None, alias="reliable_change")
    norms: Norms | None = None
    risk_items: tuple[RiskItem, ...] = ()
    loinc: Loinc = Loinc()
    notes: tuple[str, ...] = ()
    overlay_applied: bool = False
    # The items a client form asks, where fewer than all (GBO: one per agreed goal); None = all.
    asked: tuple[str, ...] | None = None

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        ids = [item.id for item in self.items]
        if ids != [str(n) for n in range(1, len(ids) + 1)]:
            raise ValueError(f"items must be numbered '1'..'n' in order, got {ids}")
        for item in self.items:
            if item.scale not in self.scales:
                raise ValueError(f"item {item.id}: unknown scale {item.scale!r}")
        for name, members in self.subscales.items():
            unknown = [m for m in members if m not in ids]
            if unknown:
                raise ValueError(f"subscale {name!r}: unknown items {unknown}")
        for risk in self.risk_items:
            if risk.item not in ids:
                raise ValueError(f"risk item {risk.item!r} is not an item")
        if len({scale.units_per_point for scale in self.scales.values()}) != 1:
            # Totals are summed exactly in steps, so every item of one instrument shares a step.
            raise ValueError("all scales of one instrument must share the same step")
        if self.scoring.max_missing >= len(ids):
            raise ValueError("max_missing must leave at least one item answered")
        if self.licence.wording_ships is False and any(i.text for i in self.items):
            raise ValueError("wording does not ship for this instrument: items must have no text")
        if self.licence.wording_ships and not all(i.text for i in self.items):
            raise ValueError("wording ships for this instrument: every item needs its text")
        for lower, upper in zip(self.bands, self.bands[1:], strict=False):
            if not lower.low <= lower.high < upper.low:
                raise ValueError(f"bands must ascend without overlap: {lower.label}, {upper.label}")
        return self

    def item(self, item_id: str) -> Item:
        for candidate in self.items:
            if candidate.id == item_id:
                return candidate
        raise InstrumentError(
            f"{self.id}: item {item_id!r} does not exist; items are 1 to {len(self.items)}"
        )

    @property
    def form_items(self) -> tuple[Item, ...]:
        """The items a form shows: all of them, or only those asked (one per agreed goal)."""
        if self.asked is None:
            return self.items
        return tuple(i for i in self.items if i.id in self.asked)

    def scale_of(self, item: Item) -> Scale:
        return self.scales[item.scale]

    @property
    def units_per_point(self) -> int:
        return next(iter(self.scales.values())).units_per_point

    @property
    def n_items(self) -> int:
        return len(self.items)

    @property
    def wording_ships(self) -> bool:
        return self.licence.wording_ships

    @property
    def licence_name(self) -> str:
        return self.licence.name

    @property
    def total_min(self) -> float:
        lows = [self.scale_of(i).low for i in self.items]
        return min(lows) if self.scoring.method == "mean" else sum(lows)

    @property
    def total_max(self) -> float:
        highs = [self.scale_of(i).high for i in self.items]
        return max(highs) if self.scoring.method == "mean" else sum(highs)

    @property
    def cutoff_value(self) -> float | None:
        return self.cutoff.value if self.cutoff else None

    @property
    def reliable_change(self) -> float | None:
        """Minimum reliable difference: published, or 1.96·S_diff from SD and reliability."""
        rule = self.reliable_change_rule
        if rule is None:
            return None
        if rule.value is not None:
            return rule.value
        if rule.sd is None or rule.reliability is None:  # excluded by the validator
            return None
        # Jacobson & Truax 1991: S_E = SD·√(1 − r), S_diff = √(2·S_E²), reliable at 1.96·S_diff.
        s_e = rule.sd * math.sqrt(1.0 - rule.reliability)
        return 1.96 * math.sqrt(2.0 * s_e * s_e)

    @property
    def loinc_total(self) -> str | None:
        return self.loinc.total

    @property
    def loinc_panel(self) -> str | None:
        return self.loinc.panel
