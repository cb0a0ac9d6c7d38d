"""Change statistics: Jacobson & Truax reliable change and cutoffs; NHS Talking Therapies."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from alliance.instruments.model import Instrument, InstrumentError
from alliance.instruments.registry import load_instrument

Direction = Literal["higher_is_worse", "higher_is_better"]
Classification = Literal["recovered", "improved", "unchanged", "deteriorated"]

# Jacobson & Truax 1991: |RC| > 1.96 is unlikely (p < .05) to be measurement error alone.
RC_CRITICAL = 1.96


def standard_error(sd_pre: float, reliability: float) -> float:
    """S_E = s1·√(1 − r_xx) (Jacobson & Truax 1991), s1 the pre-treatment (or norm) SD."""
    if sd_pre <= 0 or not 0 <= reliability < 1:
        raise InstrumentError(
            f"sd {sd_pre!r} and reliability {reliability!r}: allowed sd > 0 and 0 <= r < 1"
        )
    return sd_pre * math.sqrt(1.0 - reliability)


def s_diff(sd_pre: float, reliability: float) -> float:
    """S_diff = √(2·S_E²) (Jacobson & Truax 1991)."""
    s_e = standard_error(sd_pre, reliability)
    return math.sqrt(2.0 * s_e * s_e)


def reliable_change_index(pre: float, post: float, sd_pre: float, reliability: float) -> float:
    """RC = (post − pre) / S_diff (Jacobson & Truax 1991)."""
    return (post - pre) / s_diff(sd_pre, reliability)


def minimum_reliable_difference(sd_pre: float, reliability: float) -> float:
    """The smallest change that is reliable: 1.96·S_diff."""
    return RC_CRITICAL * s_diff(sd_pre, reliability)


@dataclass(frozen=True)
class Cutoffs:
    """Jacobson & Truax 1991 cutoffs a, b and c on the instrument's own scale."""

    a: float
    b: float
    c: float


def cutoffs(
    functional_mean: float,
    functional_sd: float,
    clinical_mean: float,
    clinical_sd: float,
    direction: Direction,
) -> Cutoffs:
    """Cutoffs for either direction (0 = functional, 1 = clinical population).

    a = M1 ± 2·SD1 (two clinical SDs out of the clinical range: uses the *clinical* SD),
    b = M0 ∓ 2·SD0 (two functional SDs into the functional range),
    c = (SD0·M1 + SD1·M0)/(SD0 + SD1): each mean is weighted by the *other* group's SD.
    """
    if functional_sd <= 0 or clinical_sd <= 0:
        raise InstrumentError(
            f"sd {functional_sd!r}/{clinical_sd!r}: allowed positive standard deviations"
        )
    sign = -1.0 if direction == "higher_is_worse" else 1.0
    a = clinical_mean + sign * 2.0 * clinical_sd
    b = functional_mean - sign * 2.0 * functional_sd
    c = (functional_sd * clinical_mean + clinical_sd * functional_mean) / (
        functional_sd + clinical_sd
    )
    return Cutoffs(a=a, b=b, c=c)


@dataclass(frozen=True)
class ChangeResult:
    """Reliable change between two totals and its Jacobson & Truax classification."""

    instrument: str
    pre: float
    post: float
    change: float  # post − pre, on the instrument's scale
    improvement: float  # change in the better direction (positive = better)
    rc: float | None  # Jacobson & Truax index; |rc| > 1.96 is reliable
    threshold: float  # minimum reliable difference used
    reliable: bool
    cutoff: float | None
    pre_clinical: bool | None
    post_clinical: bool | None
    classification: Classification

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_clinical(value: float, cutoff: float, direction: Direction) -> bool:
    # On a higher-is-worse scale the clinical range is at or above the cutoff (PHQ-9 >= 10);
    # on a higher-is-better scale it is below it (ORS < 25).
    return value >= cutoff if direction == "higher_is_worse" else value < cutoff


def classify(
    pre: float,
    post: float,
    *,
    threshold: float,
    direction: Direction,
    cutoff: float | None,
    instrument: str = "",
) -> ChangeResult:
    """Classify change given a minimum reliable difference and an optional cutoff.

    recovered: reliable improvement and moved from the clinical to the non-clinical range;
    improved: reliable improvement otherwise; deteriorated: reliable worsening; else unchanged.
    A change exactly equal to the threshold counts as reliable (NHS: "6 or more" on the PHQ-9).
    """
    for name, value in (("pre", pre), ("post", post), ("threshold", threshold)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InstrumentError(f"{name}: value {value!r} is not allowed; allowed: a number")
    if threshold <= 0:
        raise InstrumentError(f"threshold: value {threshold!r} is not allowed; allowed: > 0")
    change = post - pre
    improvement = -change if direction == "higher_is_worse" else change
    reliable = abs(change) >= threshold - 1e-9
    pre_clinical = _is_clinical(pre, cutoff, direction) if cutoff is not None else None
    post_clinical = _is_clinical(post, cutoff, direction) if cutoff is not None else None
    return ChangeResult(
        instrument=instrument,
        pre=float(pre),
        post=float(post),
        change=float(change),
        improvement=float(improvement),
        # A published minimum difference d is 1.96·S_diff, so RC = change ÷ (d / 1.96).
        rc=change / (threshold / RC_CRITICAL),
        threshold=threshold,
        reliable=reliable,
        cutoff=cutoff,
        pre_clinical=pre_clinical,
        post_clinical=post_clinical,
        classification=_classification(reliable, improvement, pre_clinical, post_clinical),
    )


def _classification(
    reliable: bool, improvement: float, pre_clinical: bool | None, post_clinical: bool | None
) -> Classification:
    """Jacobson & Truax 1991: a reliable improvement that left the clinical range is recovery."""
    if reliable and improvement > 0:
        crossed = bool(pre_clinical) and post_clinical is False
        return "recovered" if crossed else "improved"
    if reliable and improvement < 0:
        return "deteriorated"
    return "unchanged"


def classify_change(instrument_id: str | Instrument, pre: float, post: float) -> ChangeResult:
    """Reliable change and classification between two totals of one instrument."""
    instrument = (
        instrument_id if isinstance(instrument_id, Instrument) else load_instrument(instrument_id)
    )
    threshold = instrument.reliable_change
    if threshold is None:
        raise InstrumentError(
            f"{instrument.id}: no reliable-change value is published for this instrument; "
            "allowed instruments: those with one (see `alliance instruments`)"
        )
    for name, value in (("pre", pre), ("post", post)):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InstrumentError(
                f"{instrument.id} {name}: value {value!r} is not allowed; allowed: a number "
                f"from {instrument.total_min:g} to {instrument.total_max:g}"
            )
        if not instrument.total_min <= value <= instrument.total_max:
            raise InstrumentError(
                f"{instrument.id} {name}: value {value!r} is out of range; allowed: "
                f"{instrument.total_min:g} to {instrument.total_max:g}"
            )
    return classify(
        pre,
        post,
        threshold=threshold,
        direction=instrument.direction,
        cutoff=instrument.cutoff_value,
        instrument=instrument.id,
    )


def instrument_cutoffs(instrument_id: str | Instrument) -> Cutoffs:
    """Jacobson & Truax a, b, c from an instrument's published norms."""
    instrument = (
        instrument_id if isinstance(instrument_id, Instrument) else load_instrument(instrument_id)
    )
    if instrument.norms is None:
        raise InstrumentError(f"{instrument.id}: no functional and clinical norms are published")
    norms = instrument.norms
    return cutoffs(
        norms.functional.mean,
        norms.functional.sd,
        norms.clinical.mean,
        norms.clinical.sd,
        instrument.direction,
    )


# --- NHS Talking Therapies (formerly IAPT) paired PHQ-9 + GAD-7 outcomes -------------------------
# NHS Talking Therapies manual and NHS Digital annual report definitions: caseness PHQ-9 >= 10
# and/or GAD-7 >= 8; reliable change PHQ-9 6, GAD-7 4.
PHQ9_CASENESS = 10
GAD7_CASENESS = 8
PHQ9_RELIABLE = 6
GAD7_RELIABLE = 4


@dataclass(frozen=True)
class NhsOutcome:
    """One finished referral's NHS Talking Therapies outcome from first and last PHQ-9/GAD-7."""

    caseness_first: bool
    caseness_last: bool
    recovered: bool
    reliable_improvement: bool
    reliable_deterioration: bool
    reliable_recovery: bool


def nhs_caseness(phq9: float, gad7: float) -> bool:
    """At caseness: PHQ-9 >= 10 and/or GAD-7 >= 8."""
    return phq9 >= PHQ9_CASENESS or gad7 >= GAD7_CASENESS


def nhs_outcome(
    phq9_first: float, gad7_first: float, phq9_last: float, gad7_last: float
) -> NhsOutcome:
    """Recovery, reliable improvement, deterioration and reliable recovery for one referral."""
    for name, value, top in (
        ("phq9_first", phq9_first, 27),
        ("gad7_first", gad7_first, 21),
        ("phq9_last", phq9_last, 27),
        ("gad7_last", gad7_last, 21),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= top:
            raise InstrumentError(f"{name}: value {value!r} is not allowed; allowed: 0 to {top}")
    first = nhs_caseness(phq9_first, gad7_first)
    last = nhs_caseness(phq9_last, gad7_last)
    phq_drop = phq9_first - phq9_last
    gad_drop = gad7_first - gad7_last
    improved_any = phq_drop >= PHQ9_RELIABLE or gad_drop >= GAD7_RELIABLE
    worse_any = -phq_drop >= PHQ9_RELIABLE or -gad_drop >= GAD7_RELIABLE
    # Reliable improvement: a reliable drop on either measure and a reliable rise on neither.
    reliable_improvement = improved_any and not worse_any
    # Reliable deterioration: a reliable rise on either measure (DOMAIN §3; the manual's wording
    # about the other measure was not verified here).
    reliable_deterioration = worse_any
    recovered = first and not last
    return NhsOutcome(
        caseness_first=first,
        caseness_last=last,
        recovered=recovered,
        reliable_improvement=reliable_improvement,
        reliable_deterioration=reliable_deterioration,
        reliable_recovery=recovered and reliable_improvement,
    )


@dataclass(frozen=True)
class GroupCounts:
    """Counts behind NHS Talking Therapies rates, for finished referrals only."""

    finished: int
    not_at_caseness_first: int
    recovered: int
    reliably_improved: int
    reliably_deteriorated: int = 0
    reliably_recovered: int = 0


@dataclass(frozen=True)
class GroupRates:
    """NHS rates as fractions (0..1); None when the denominator is zero."""

    counts: GroupCounts
    recovery: float | None
    reliable_improvement: float | None
    reliable_deterioration: float | None
    reliable_recovery: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator > 0 else None


def group_rates(counts: GroupCounts) -> GroupRates:
    """Rates with the NHS denominators.

    Recovery and reliable recovery exclude referrals not at caseness at first
    (e.g. 27,884 / (57,060 − 3,200) = 51.8%); reliable improvement and deterioration use all
    finished referrals (39,417 / 57,060 = 69.1%) — NHS Digital, June 2020.
    """
    values = asdict(counts)
    for name, value in values.items():
        if not isinstance(value, int) or value < 0:
            raise InstrumentError(f"{name}: value {value!r} is not allowed; allowed: a count >= 0")
    for name in ("not_at_caseness_first", "reliably_improved", "reliably_deteriorated"):
        if values[name] > counts.finished:
            raise InstrumentError(
                f"{name}: value {values[name]} is not allowed; allowed: at most finished "
                f"({counts.finished})"
            )
    at_caseness = counts.finished - counts.not_at_caseness_first
    for name in ("recovered", "reliably_recovered"):
        if values[name] > at_caseness:
            raise InstrumentError(
                f"{name}: value {values[name]} is not allowed; allowed: at most the referrals "
                f"at caseness at first ({at_caseness})"
            )
    return GroupRates(
        counts=counts,
        recovery=_rate(counts.recovered, at_caseness),
        reliable_improvement=_rate(counts.reliably_improved, counts.finished),
        reliable_deterioration=_rate(counts.reliably_deteriorated, counts.finished),
        reliable_recovery=_rate(counts.reliably_recovered, at_caseness),
    )


@dataclass(frozen=True)
class Referral:
    """First and last PHQ-9/GAD-7 of one referral and how many treatment sessions it had."""

    phq9_first: float
    gad7_first: float
    phq9_last: float
    gad7_last: float
    treatment_sessions: int


# NHS Talking Therapies: a referral "finishes a course of treatment" with two or more sessions.
MIN_TREATMENT_SESSIONS = 2


def count_referrals(referrals: Iterable[Referral]) -> GroupCounts:
    """Count outcomes over finished referrals (>= 2 treatment sessions); others are left out."""
    outcomes = [
        nhs_outcome(r.phq9_first, r.gad7_first, r.phq9_last, r.gad7_last)
        for r in referrals
        if r.treatment_sessions >= MIN_TREATMENT_SESSIONS
    ]
    return GroupCounts(
        finished=len(outcomes),
        not_at_caseness_first=sum(not o.caseness_first for o in outcomes),
        recovered=sum(o.recovered for o in outcomes),
        reliably_improved=sum(o.reliable_improvement for o in outcomes),
        reliably_deteriorated=sum(o.reliable_deterioration for o in outcomes),
        reliably_recovered=sum(o.reliable_recovery for o in outcomes),
    )
