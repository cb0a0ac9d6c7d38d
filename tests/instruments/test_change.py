"""Change statistics worked examples: Jacobson & Truax, NHS Talking Therapies rates."""

from __future__ import annotations

import math

import pytest

from alliance.instruments import (
    GroupCounts,
    InstrumentError,
    Referral,
    classify,
    classify_change,
    count_referrals,
    cutoffs,
    group_rates,
    instrument_cutoffs,
    minimum_reliable_difference,
    nhs_outcome,
    reliable_change_index,
)
from tests.instruments.helpers import table

# PHQ-9: reliable change 6, caseness 10 (higher is worse). ORS: reliable change 5, clinical
# below 25 (higher is better). GAD-7: 4 and 8. Each row: pre, post → classification.
CHANGES = table(
    """
instrument pre  post classification reliable
phq9       16   8    recovered      yes
phq9       16   10   improved       yes
phq9       16   11   unchanged      no
phq9       20   12   improved       yes
phq9       9    3    improved       yes
phq9       8    14   deteriorated   yes
phq9       8    13   unchanged      no
gad7       12   7    recovered      yes
gad7       12   8    improved       yes
gad7       3    7    deteriorated   yes
ors        18   26   recovered      yes
ors        18   24   improved       yes
ors        18   22.9 unchanged      no
ors        30   25   deteriorated   yes
ors        30   25.1 unchanged      no
core10     20   10   recovered      yes
core10     20   15   unchanged      no
gbo        3    6    improved       yes
gbo        6    3    deteriorated   yes
gbo        3    5    unchanged      no
"""
)


@pytest.mark.parametrize(("instrument", "pre", "post", "classification", "reliable"), CHANGES)
def test_it_classifies_change_in_either_direction(
    instrument: str, pre: str, post: str, classification: str, reliable: str
) -> None:
    result = classify_change(instrument, float(pre), float(post))
    assert result.classification == classification
    assert result.reliable is (reliable == "yes")


def test_it_reports_the_rc_index_implied_by_the_published_difference() -> None:
    # PHQ-9 reliable difference 6 = 1.96·S_diff → S_diff = 3.0612; 16 → 8: RC = −8 / 3.0612.
    result = classify_change("phq9", 16, 8)
    assert result.rc == pytest.approx(-8 / (6 / 1.96))
    assert result.improvement == 8.0
    assert result.pre_clinical is True
    assert result.post_clinical is False


def test_it_computes_jacobson_truax_rc_from_sd_and_reliability() -> None:
    # SD 7.5, r .84: S_E = 7.5·√.16 = 3.0; S_diff = √(2·9) = 4.2426; 1.96·S_diff = 8.3156.
    assert reliable_change_index(20, 11, 7.5, 0.84) == pytest.approx(-9 / math.sqrt(18))
    assert minimum_reliable_difference(7.5, 0.84) == pytest.approx(1.96 * math.sqrt(18))
    result = classify(
        20, 11, threshold=1.96 * math.sqrt(18), direction="higher_is_worse", cutoff=12
    )
    assert result.classification == "recovered"
    assert abs(result.rc or 0) > 1.96


CUTOFFS = table(
    """
m0   sd0 m1   sd1 direction        a    b    c
4.7  4.8 19.7 7.7 higher_is_worse  4.3  14.3 10.46
30   5   18   6   higher_is_better 30   20   24.545454
10   2   20   8   higher_is_worse  4    14   12
"""
)


@pytest.mark.parametrize(("m0", "sd0", "m1", "sd1", "direction", "a", "b", "c"), CUTOFFS)
def test_it_computes_cutoffs_a_b_c(
    m0: str, sd0: str, m1: str, sd1: str, direction: str, a: str, b: str, c: str
) -> None:
    # Row 3 catches both known bugs: c weighted by each mean's own SD would give 18.0,
    # and a from the functional SD would give 16.
    result = cutoffs(float(m0), float(sd0), float(m1), float(sd1), direction)  # type: ignore[arg-type]
    assert result.a == pytest.approx(float(a))
    assert result.b == pytest.approx(float(b))
    assert result.c == pytest.approx(float(c))


def test_it_derives_core10_cutoffs_from_its_norms() -> None:
    # (4.8·19.7 + 7.7·4.7) / 12.5 = 130.75 / 12.5 = 10.46, close to the published cut-off 11.
    assert instrument_cutoffs("core10").c == pytest.approx(10.46)


def test_it_refuses_change_without_a_reliable_change_value() -> None:
    with pytest.raises(InstrumentError, match="wai_sr: no reliable-change value"):
        classify_change("wai_sr", 40, 50)


def test_it_refuses_a_total_out_of_range() -> None:
    with pytest.raises(
        InstrumentError, match=r"phq9 post: value 30 is out of range; allowed: 0 to 27"
    ):
        classify_change("phq9", 10, 30)


NHS = table(
    """
phq_first gad_first phq_last gad_last recovered rel_improved rel_deteriorated rel_recovered
15        12        6        5        yes       yes          no               yes
15        12        9        9        no        yes          no               no
12        6         9        7        yes       no           no               no
8         6         4        3        no        no           no               no
15        5         9        10       no        no           yes              no
10        8         16       8        no        no           yes              no
15        12        15       8        no        yes          no               no
"""
)


@pytest.mark.parametrize(
    ("pf", "gf", "pl", "gl", "recovered", "improved", "deteriorated", "rel_recovered"), NHS
)
def test_it_applies_nhs_talking_therapies_definitions(
    pf: str,
    gf: str,
    pl: str,
    gl: str,
    recovered: str,
    improved: str,
    deteriorated: str,
    rel_recovered: str,
) -> None:
    outcome = nhs_outcome(int(pf), int(gf), int(pl), int(gl))
    assert outcome.recovered is (recovered == "yes")
    assert outcome.reliable_improvement is (improved == "yes")
    assert outcome.reliable_deterioration is (deteriorated == "yes")
    assert outcome.reliable_recovery is (rel_recovered == "yes")


def test_it_reproduces_the_published_nhs_rates_from_their_counts() -> None:
    # NHS Digital, June 2020: 27,884 / (57,060 − 3,200) = 51.8%; 39,417 / 57,060 = 69.1%.
    rates = group_rates(
        GroupCounts(
            finished=57_060, not_at_caseness_first=3_200, recovered=27_884, reliably_improved=39_417
        )
    )
    assert round(100 * (rates.recovery or 0), 1) == 51.8
    assert round(100 * (rates.reliable_improvement or 0), 1) == 69.1


def test_it_counts_only_referrals_with_two_or_more_sessions() -> None:
    referrals = [
        Referral(15, 12, 6, 5, treatment_sessions=6),  # recovered, reliably improved
        Referral(15, 12, 14, 11, treatment_sessions=3),  # at caseness, no change
        Referral(8, 6, 4, 3, treatment_sessions=2),  # not at caseness first
        Referral(20, 15, 3, 2, treatment_sessions=1),  # one session: not finished
    ]
    counts = count_referrals(referrals)
    assert counts == GroupCounts(
        finished=3,
        not_at_caseness_first=1,
        recovered=1,
        reliably_improved=1,
        reliably_deteriorated=0,
        reliably_recovered=1,
    )
    rates = group_rates(counts)
    assert rates.recovery == pytest.approx(1 / 2)
    assert rates.reliable_improvement == pytest.approx(1 / 3)


def test_it_refuses_impossible_counts() -> None:
    with pytest.raises(InstrumentError, match="recovered: value 60 is not allowed"):
        group_rates(
            GroupCounts(finished=60, not_at_caseness_first=10, recovered=60, reliably_improved=1)
        )
