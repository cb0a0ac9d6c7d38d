"""Score administrations: one at a time (plain Python) or many at once (numpy, columnar).

Both paths use the same arithmetic in the same order: answers are converted to whole steps
(tenths on a 0.1 visual-analogue line), summed exactly, then pro-rated or averaged, so the batch
path gives bit-identical totals to the one-at-a-time path.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from alliance.instruments.model import Instrument, InstrumentError
from alliance.instruments.registry import load_instrument
from alliance.instruments.risk import risk_note

Validity = Literal["complete", "prorated", "invalid"]
VALIDITY_LABELS: tuple[Validity, ...] = ("complete", "prorated", "invalid")
_STEP_TOLERANCE = 1e-6

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Score:
    """The result of scoring one administration."""

    instrument: str
    total: float | None
    subscales: dict[str, float]
    band: str | None
    caseness: bool | None
    flags: list[str]
    validity: Validity
    reason: str | None
    answered: int
    missing_items: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Risk first (DOMAIN §3): a form refused as incomplete or invalid still says, in its
        # reason, that a risk item was endorsed, so no path drops it silently.
        if self.validity == "invalid" and self.risk_endorsed:
            note = risk_note(self.instrument, self.risk_endorsed)
            object.__setattr__(self, "reason", f"{self.reason or 'not scored'}. {note}")

    @property
    def risk_endorsed(self) -> list[str]:
        """The risk items endorsed on this form (their numbers), whatever its validity."""
        return [f.rsplit(":", 1)[-1] for f in self.flags if f.startswith("risk:")]

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument,
            "total": self.total,
            "subscales": dict(self.subscales),
            "band": self.band,
            "caseness": self.caseness,
            "flags": list(self.flags),
            "validity": self.validity,
            "reason": self.reason,
            "answered": self.answered,
            "missing_items": list(self.missing_items),
        }


def _resolve(instrument: str | Instrument) -> Instrument:
    return instrument if isinstance(instrument, Instrument) else load_instrument(instrument)


def check_answer(instrument: Instrument, item_id: str, value: object) -> int | None:
    """Validate one answer and return it in whole steps (None when missing)."""
    item = instrument.item(item_id)
    scale = instrument.scale_of(item)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InstrumentError(
            f"{instrument.id} item {item_id}: value {value!r} has the wrong type "
            f"({type(value).__name__}); allowed: {scale.allowed()}, or null when unanswered"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InstrumentError(
            f"{instrument.id} item {item_id}: value {value!r} is not allowed; "
            f"allowed: {scale.allowed()}, or null when unanswered"
        )
    units = value * scale.units_per_point
    whole = round(units)
    if value < scale.low or value > scale.high or abs(units - whole) > _STEP_TOLERANCE:
        raise InstrumentError(
            f"{instrument.id} item {item_id}: value {value!r} is not allowed; "
            f"allowed: {scale.allowed()}"
        )
    return int(whole)


def _reason(instrument: Instrument, missing: Sequence[str], validity: Validity) -> str | None:
    n = instrument.n_items
    rule = instrument.scoring
    if validity == "complete":
        return None
    listed = ("item " if len(missing) == 1 else "items ") + ", ".join(missing)
    if validity == "prorated":
        return (
            f"{len(missing)} of {n} items unanswered ({listed}); total pro-rated from the "
            f"{n - len(missing)} answered (at most {rule.max_missing} may be missing)"
        )
    if len(missing) == n:
        return "no item answered"
    allowed = (
        "every item is required"
        if rule.max_missing == 0
        else f"at most {rule.max_missing} may be missing"
    )
    return f"{len(missing)} of {n} items unanswered ({listed}); {allowed}"


def _validity(instrument: Instrument, n_missing: int) -> Validity:
    n = instrument.n_items
    rule = instrument.scoring
    if n_missing == n:
        return "invalid"
    if rule.missing_means_unused or n_missing == 0:
        return "complete"
    return "prorated" if n_missing <= rule.max_missing else "invalid"


def band_for(instrument: Instrument, total: float) -> str | None:
    """The band whose lower edge is the highest at or below the total (pro-rated totals fit)."""
    label = None
    for band in instrument.bands:
        if band.low <= total:
            label = band.label
    return label


def caseness_for(instrument: Instrument, total: float) -> bool | None:
    cutoff = instrument.cutoff
    if cutoff is None:
        return None
    if cutoff.clinical_side == "at_or_above":
        return total >= cutoff.value
    return total < cutoff.value


def score(instrument_id: str | Instrument, answers: Mapping[str, float | int | None]) -> Score:
    """Score one administration; answers are keyed by item number '1'..'n'."""
    instrument = _resolve(instrument_id)
    _check_keys(instrument, answers)
    raw, steps, missing = _item_steps(instrument, answers)
    answered = instrument.n_items - len(missing)
    validity = _validity(instrument, len(missing))
    total = _total(instrument, sum(steps.values()), answered, validity)
    band = band_for(instrument, total) if total is not None else None
    caseness = caseness_for(instrument, total) if total is not None else None
    return Score(
        instrument=instrument.id,
        total=total,
        subscales=_subscales(instrument, steps),
        band=band,
        caseness=caseness,
        flags=_flags(instrument, raw, caseness),
        validity=validity,
        reason=_reason(instrument, missing, validity),
        answered=answered,
        missing_items=missing,
    )


def _check_keys(instrument: Instrument, answers: object) -> None:
    """Answers must be a mapping keyed by the instrument's item numbers as strings."""
    if not isinstance(answers, Mapping):
        raise InstrumentError(
            f"{instrument.id}: answers must be an object keyed by item number '1'..'"
            f"{instrument.n_items}', got {type(answers).__name__}"
        )
    for key in answers:
        if not isinstance(key, str):
            raise InstrumentError(
                f"{instrument.id}: item key {key!r} has the wrong type; "
                f"allowed: strings '1' to '{instrument.n_items}'"
            )
        instrument.item(key)


def _item_steps(
    instrument: Instrument, answers: Mapping[str, float | int | None]
) -> tuple[dict[str, float], dict[str, int], list[str]]:
    """The answers as given, the scored steps of each answered item, and the unanswered items."""
    div = instrument.units_per_point
    raw: dict[str, float] = {}
    steps: dict[str, int] = {}
    missing: list[str] = []
    for item in instrument.items:
        value = answers.get(item.id)
        units = check_answer(instrument, item.id, value)
        if units is None:
            missing.append(item.id)
            continue
        scale = instrument.scale_of(item)
        if item.reversed:
            # A reversed item scores the opposite end of its scale (e.g. CORE-10 items 2 and 3).
            units = round((scale.low + scale.high) * div) - units
        raw[item.id] = float(value)  # type: ignore[arg-type]
        steps[item.id] = units
    return raw, steps, missing


def _total(
    instrument: Instrument, steps_sum: int, answered: int, validity: Validity
) -> float | None:
    if validity == "invalid":
        return None
    div = instrument.units_per_point
    if instrument.scoring.method == "sum":
        # Pro-rating: total × n ÷ answered (CST CORE-10 rule); a no-op when complete.
        return float(steps_sum) * instrument.n_items / answered / div
    return float(steps_sum) / answered / div


def _subscales(instrument: Instrument, steps: Mapping[str, int]) -> dict[str, float]:
    """Each subscale whose every member item was answered."""
    div = instrument.units_per_point
    return {
        name: float(sum(steps[m] for m in members)) / div
        for name, members in instrument.subscales.items()
        if all(m in steps for m in members)
    }


def _flags(instrument: Instrument, raw: Mapping[str, float], caseness: bool | None) -> list[str]:
    flags: list[str] = []
    # A risk item fires on its own answer whatever the total or validity (PHQ-9 item 9 >= 1).
    for risk in instrument.risk_items:
        if risk.item in raw and raw[risk.item] >= risk.at_least:
            flags.append(risk.flag)
    for risk in instrument.risk_items:
        if risk.item not in raw:
            flags.append(risk.flag.replace("risk:", "risk_unanswered:", 1))
    if caseness and instrument.cutoff is not None and instrument.cutoff.flag:
        flags.append(instrument.cutoff.flag)
    return flags


@dataclass(frozen=True)
class BatchScore:
    """Scores of many administrations of one instrument, one numpy column per field."""

    instrument: Instrument
    total: FloatArray  # NaN where invalid
    answered: npt.NDArray[np.int64]
    validity_code: npt.NDArray[np.int8]  # index into VALIDITY_LABELS
    band_index: npt.NDArray[np.int16]  # index into instrument.bands, -1 for none
    caseness: BoolArray  # meaningful only where has_cutoff and total is not NaN
    subscales: dict[str, FloatArray]  # NaN where a member item is missing
    risk: dict[str, BoolArray]  # flag -> fired
    missing: BoolArray  # (n, n_items) True where unanswered

    def __len__(self) -> int:
        return int(self.total.shape[0])

    @property
    def validity(self) -> list[Validity]:
        return [VALIDITY_LABELS[c] for c in self.validity_code.tolist()]

    @property
    def bands(self) -> list[str | None]:
        labels = [b.label for b in self.instrument.bands]
        return [labels[i] if i >= 0 else None for i in self.band_index.tolist()]

    def row(self, index: int) -> Score:
        """One administration of the batch as a Score, equal to what `score` returns."""
        instrument = self.instrument
        validity = VALIDITY_LABELS[int(self.validity_code[index])]
        total_value = float(self.total[index])
        total = None if math.isnan(total_value) else total_value
        missing = [item.id for j, item in enumerate(instrument.items) if self.missing[index, j]]
        band_i = int(self.band_index[index])
        caseness = (
            bool(self.caseness[index])
            if instrument.cutoff is not None and total is not None
            else None
        )
        flags = [r.flag for r in instrument.risk_items if self.risk[r.flag][index]]
        flags += [
            r.flag.replace("risk:", "risk_unanswered:", 1)
            for r in instrument.risk_items
            if r.item in missing
        ]
        if caseness and instrument.cutoff is not None and instrument.cutoff.flag:
            flags.append(instrument.cutoff.flag)
        subscales = {
            name: float(values[index])
            for name, values in self.subscales.items()
            if not math.isnan(float(values[index]))
        }
        return Score(
            instrument=instrument.id,
            total=total,
            subscales=subscales,
            band=instrument.bands[band_i].label if band_i >= 0 else None,
            caseness=caseness,
            flags=flags,
            validity=validity,
            reason=_reason(instrument, missing, validity),
            answered=int(self.answered[index]),
            missing_items=missing,
        )

    def to_polars(self) -> Any:
        """A polars DataFrame: total, validity, band, caseness, answered, subscales, risk flags."""
        import polars as pl

        has_total = ~np.isnan(self.total)
        columns: dict[str, Any] = {
            "total": pl.Series("total", self.total).fill_nan(None),
            "validity": pl.Series("validity", self.validity, dtype=pl.Utf8),
            "band": pl.Series("band", self.bands, dtype=pl.Utf8),
            "answered": self.answered,
        }
        if self.instrument.cutoff is not None:
            caseness = pl.Series("caseness", self.caseness)
            columns["caseness"] = pl.select(
                pl.when(pl.Series(has_total)).then(caseness).otherwise(None)
            ).to_series()
        for name, values in self.subscales.items():
            columns[f"subscale:{name}"] = pl.Series(name, values).fill_nan(None)
        for flag, fired in self.risk.items():
            columns[flag] = fired
        return pl.DataFrame(columns)


def score_batch(instrument_id: str | Instrument, answers: npt.ArrayLike) -> BatchScore:
    """Score many administrations at once: answers is (n, n_items) float, NaN = unanswered."""
    instrument = _resolve(instrument_id)
    values = np.asarray(answers, dtype=np.float64)
    n_items = instrument.n_items
    if values.ndim != 2 or values.shape[1] != n_items:
        raise InstrumentError(
            f"{instrument.id}: answers have shape {values.shape}; allowed: (n, {n_items}), "
            f"one column per item 1 to {n_items}, NaN when unanswered"
        )
    whole, missing = _batch_steps(instrument, values)
    n_missing = missing.sum(axis=1)
    answered = (n_items - n_missing).astype(np.int64)
    validity_code = _batch_validity(instrument, n_missing)
    total = _batch_total(instrument, whole.sum(axis=1), answered, validity_code)
    return BatchScore(
        instrument=instrument,
        total=total,
        answered=answered,
        validity_code=validity_code,
        band_index=_batch_bands(instrument, total),
        caseness=_batch_caseness(instrument, total),
        subscales=_batch_subscales(instrument, whole, missing),
        risk={r.flag: values[:, int(r.item) - 1] >= r.at_least for r in instrument.risk_items},
        missing=missing,
    )


def _batch_steps(instrument: Instrument, values: FloatArray) -> tuple[FloatArray, BoolArray]:
    """Answers in whole steps (reversed items turned, unanswered as 0), and where unanswered."""
    scales = [instrument.scale_of(item) for item in instrument.items]
    lows = np.array([s.low for s in scales])
    highs = np.array([s.high for s in scales])
    div = instrument.units_per_point
    missing = np.isnan(values)
    units = values * div
    whole = np.rint(units)
    # NaN compares False, so unanswered cells pass these checks; ±inf fails the range check.
    bad = (values < lows) | (values > highs) | (np.abs(units - whole) > _STEP_TOLERANCE)
    if bad.any():
        row, col = (int(x) for x in np.argwhere(bad)[0])
        raise InstrumentError(
            f"{instrument.id} row {row} item {instrument.items[col].id}: value "
            f"{float(values[row, col])!r} is not allowed; allowed: {scales[col].allowed()}"
        )
    reversed_cols = [j for j, item in enumerate(instrument.items) if item.reversed]
    if reversed_cols:
        top = np.rint((lows[reversed_cols] + highs[reversed_cols]) * div)
        whole[:, reversed_cols] = top - whole[:, reversed_cols]
    whole[missing] = 0.0
    return whole, missing


def _batch_validity(
    instrument: Instrument, n_missing: npt.NDArray[np.int64]
) -> npt.NDArray[np.int8]:
    """Index into VALIDITY_LABELS per row, by the same rule as `_validity`."""
    rule = instrument.scoring
    none_answered = n_missing == instrument.n_items
    if rule.missing_means_unused:
        code = np.where(none_answered, 2, 0)
    else:
        code = np.where(n_missing == 0, 0, np.where(n_missing <= rule.max_missing, 1, 2))
        code = np.where(none_answered, 2, code)
    return code.astype(np.int8)


def _batch_total(
    instrument: Instrument,
    steps_sum: FloatArray,
    answered: npt.NDArray[np.int64],
    validity_code: npt.NDArray[np.int8],
) -> FloatArray:
    """Totals per row as `_total` computes them; NaN where invalid."""
    div = instrument.units_per_point
    with np.errstate(divide="ignore", invalid="ignore"):
        if instrument.scoring.method == "sum":
            total = steps_sum * instrument.n_items / answered / div
        else:
            total = steps_sum / answered / div
    total[validity_code == 2] = np.nan
    return total


def _batch_bands(instrument: Instrument, total: FloatArray) -> npt.NDArray[np.int16]:
    """Index into instrument.bands per row as `band_for` picks it; -1 for none."""
    if not instrument.bands:
        return np.full(total.shape[0], -1, dtype=np.int16)
    band_lows = np.array([b.low for b in instrument.bands])
    band_index = (np.searchsorted(band_lows, total, side="right") - 1).astype(np.int16)
    band_index[np.isnan(total)] = -1
    return band_index


def _batch_caseness(instrument: Instrument, total: FloatArray) -> BoolArray:
    cutoff = instrument.cutoff
    if cutoff is None:
        return np.zeros(total.shape[0], dtype=np.bool_)
    if cutoff.clinical_side == "at_or_above":
        return total >= cutoff.value
    return total < cutoff.value


def _batch_subscales(
    instrument: Instrument, whole: FloatArray, missing: BoolArray
) -> dict[str, FloatArray]:
    """Each subscale per row; NaN where a member item is unanswered."""
    div = instrument.units_per_point
    subscales: dict[str, FloatArray] = {}
    for name, members in instrument.subscales.items():
        cols = [int(m) - 1 for m in members]
        part = whole[:, cols].sum(axis=1) / div
        part[missing[:, cols].any(axis=1)] = np.nan
        subscales[name] = part
    return subscales
