"""Scoring worked examples: every band edge, reversed items, pro-rating, risk items, validity."""

from __future__ import annotations

import pytest

from alliance.instruments import InstrumentError, load_instrument, score
from tests.instruments.helpers import answers_for_total, table

# Band edges (Kroenke 2001; Spitzer 2006; Barkham 2013) and caseness (PHQ-9 >= 10, GAD-7 >= 8,
# CORE-10 >= 11). Each row is checkable by hand against the definition files.
BAND_EDGES = table(
    """
instrument total band              caseness
phq9       0     minimal           no
phq9       4     minimal           no
phq9       5     mild              no
phq9       9     mild              no
phq9       10    moderate          yes
phq9       14    moderate          yes
phq9       15    moderately~severe yes
phq9       19    moderately~severe yes
phq9       20    severe            yes
phq9       27    severe            yes
gad7       0     minimal           no
gad7       4     minimal           no
gad7       5     mild              no
gad7       7     mild              no
gad7       8     mild              yes
gad7       9     mild              yes
gad7       10    moderate          yes
gad7       14    moderate          yes
gad7       15    severe            yes
gad7       21    severe            yes
core10     0     healthy           no
core10     5     healthy           no
core10     6     low               no
core10     10    low               no
core10     11    mild              yes
core10     14    mild              yes
core10     15    moderate          yes
core10     19    moderate          yes
core10     20    moderate-severe   yes
core10     24    moderate-severe   yes
core10     25    severe            yes
core10     40    severe            yes
"""
)


@pytest.mark.parametrize(("instrument", "total", "band", "caseness"), BAND_EDGES)
def test_it_puts_every_band_edge_in_its_band(
    instrument: str, total: str, band: str, caseness: str
) -> None:
    answers = answers_for_total(instrument, int(total))
    result = score(instrument, answers)
    assert result.total == float(total)
    assert result.band == band
    assert result.caseness is (caseness == "yes")
    assert result.validity == "complete"


# ORS clinical range is below 25 (higher is better); SRS below 36 raises the alliance flag.
VAS_EDGES = table(
    """
instrument a   b   c   d   total caseness flag
ors        6.2 6.2 6.2 6.2 24.8  yes      -
ors        6.2 6.2 6.2 6.3 24.9  yes      -
ors        6.2 6.2 6.3 6.3 25.0  no       -
srs        9.0 9.0 9.0 8.9 35.9  yes      alliance:srs:below_cutoff
srs        9.0 9.0 9.0 9.0 36.0  no       -
srs        10  10  10  10  40.0  no       -
ors        0   0   0   0   0.0   yes      -
"""
)


@pytest.mark.parametrize(("instrument", "a", "b", "c", "d", "total", "caseness", "flag"), VAS_EDGES)
def test_it_scores_visual_analogue_lines_to_one_decimal(
    instrument: str, a: str, b: str, c: str, d: str, total: str, caseness: str, flag: str
) -> None:
    answers = {"1": float(a), "2": float(b), "3": float(c), "4": float(d)}
    result = score(instrument, answers)
    assert result.total == float(total)
    assert result.caseness is (caseness == "yes")
    assert result.flags == ([] if flag == "-" else [flag])


# CORE-10 items 2 and 3 are reverse-scored: box 0 ("Not at all") scores 4.
CORE10_REVERSED = table(
    """
item2 item3 others total
0     0     0      8
4     4     0      0
2     2     0      4
0     4     1      12
"""
)


@pytest.mark.parametrize(("item2", "item3", "others", "total"), CORE10_REVERSED)
def test_it_reverses_core10_items_2_and_3(item2: str, item3: str, others: str, total: str) -> None:
    answers: dict[str, float | int | None] = {str(i): int(others) for i in range(1, 11)}
    answers["2"], answers["3"] = int(item2), int(item3)
    assert score("core10", answers).total == float(total)


# CST: CORE-10 may be pro-rated with one item missing: total = sum × 10 / 9.
PRORATING = table(
    """
answered_each missing     validity total
1             -           complete 10.0
1             4           prorated 10.0
2             1           prorated 20.0
3             10          prorated 30.0
1             4,7         invalid  -
"""
)


@pytest.mark.parametrize(("value", "missing", "validity", "total"), PRORATING)
def test_it_prorates_core10_with_one_missing_item_and_no_more(
    value: str, missing: str, validity: str, total: str
) -> None:
    # Reversed items answered so that they also score `value`: box 4 − value.
    answers: dict[str, float | int | None] = {str(i): int(value) for i in range(1, 11)}
    answers["2"] = answers["3"] = 4 - int(value)
    gone = [] if missing == "-" else missing.split(",")
    for item in gone:
        answers[item] = None
    result = score("core10", answers)
    assert result.validity == validity
    assert result.total == (None if total == "-" else pytest.approx(float(total)))
    assert result.missing_items == gone
    if validity == "invalid":
        # Every item at 1, so item 6 ("I made plans to end my life") is endorsed as well.
        assert result.reason == (
            "2 of 10 items unanswered (items 4, 7); at most 1 may be missing. A risk item was "
            "endorsed on this CORE-10 (item 6, Plans to end life): review risk with the client "
            "now, whatever else is missing"
        )
        assert result.band is None
        assert result.caseness is None


def test_it_prorates_a_fractional_total_and_bands_it_by_lower_edge() -> None:
    # Nine answered items scoring 1 except item 1 scoring 2: sum 10 → 10 × 10 / 9 = 11.11.
    answers: dict[str, float | int | None] = {str(i): 1 for i in range(1, 11)}
    answers["2"] = answers["3"] = 3
    answers["1"] = 2
    answers["10"] = None
    result = score("core10", answers)
    assert result.total == pytest.approx(100 / 9)
    assert result.band == "mild"
    assert result.caseness is True


# NHS Data Dictionary (PHQ-9): one or two missing items replaced by the mean of the answered
# ones, i.e. total = sum × 9 / answered; three or more missing: not scored.
# answers: items 1-9 in order, "." unanswered.
PHQ9_MISSING = table(
    """
answers            validity total
2,2,.,2,2,2,2,2,2  prorated 18.0
1,1,.,1,1,1,1,1,3  prorated 11.25
1,1,.,1,.,1,1,1,1  prorated 9.0
1,1,.,1,.,1,.,1,2  invalid  -
"""
)


@pytest.mark.parametrize(("answers", "validity", "total"), PHQ9_MISSING)
def test_it_prorates_phq9_with_up_to_two_missing_items(
    answers: str, validity: str, total: str
) -> None:
    # Row 1: 8 × 2 = 16 × 9 / 8 = 18. Row 2: 7 + 3 = 10 × 9 / 8 = 11.25 (item 9 at 3: risk).
    # Row 3: 7 × 9 / 7 = 9. Row 4: three missing, not scored.
    given: dict[str, float | int | None] = {
        str(i): None if v == "." else int(v) for i, v in enumerate(answers.split(","), start=1)
    }
    result = score("phq9", given)
    assert result.validity == validity
    assert result.total == (None if total == "-" else pytest.approx(float(total)))


def test_it_refuses_a_phq9_with_three_missing_items_and_says_a_risk_item_was_endorsed() -> None:
    answers: dict[str, float | int | None] = {str(i): 1 for i in range(1, 10)}
    answers["3"] = answers["5"] = answers["7"] = None
    answers["9"] = 2
    result = score("phq9", answers)
    assert (result.validity, result.total, result.flags) == ("invalid", None, ["risk:phq9:9"])
    assert result.reason == (
        "3 of 9 items unanswered (items 3, 5, 7); at most 2 may be missing. A risk item was "
        "endorsed on this PHQ-9 (item 9, Thoughts of self-harm): review risk with the client "
        "now, whatever else is missing"
    )


def test_it_refuses_an_incomplete_gad7_with_no_published_rule() -> None:
    answers = answers_for_total("gad7", 12)
    answers["3"] = None
    result = score("gad7", answers)
    assert result.validity == "invalid"
    assert result.reason == "1 of 7 items unanswered (item 3); every item is required"


def test_it_says_a_core10_risk_item_was_endorsed_on_a_form_it_cannot_score() -> None:
    # Item 6 ("I made plans to end my life") at 4, items 2 and 5 blank: one may be missing.
    answers: dict[str, float | int | None] = {str(i): 1 for i in range(1, 11)}
    answers["2"] = answers["5"] = None
    answers["6"] = 4
    result = score("core10", answers)
    assert (result.validity, result.flags) == ("invalid", ["risk:core10:6"])
    assert result.reason is not None
    assert result.reason.endswith(
        "A risk item was endorsed on this CORE-10 (item 6, Plans to end life): review risk "
        "with the client now, whatever else is missing"
    )


RISK = table(
    """
instrument item value total flags
phq9       9    1     1     risk:phq9:9
phq9       9    3     3     risk:phq9:9
phq9       9    0     0     -
core10     6    1     9     risk:core10:6
core10     6    0     8     -
"""
)


@pytest.mark.parametrize(("instrument", "item", "value", "total", "flags"), RISK)
def test_it_raises_a_risk_flag_whatever_the_total(
    instrument: str, item: str, value: str, total: str, flags: str
) -> None:
    answers = answers_for_total(instrument, 0 if instrument == "phq9" else 8)
    answers[item] = int(value)
    result = score(instrument, answers)
    assert result.total == float(total)
    assert result.flags == ([] if flags == "-" else [flags])


def test_it_flags_risk_even_when_the_administration_is_invalid() -> None:
    result = score("phq9", {"9": 2})
    assert result.validity == "invalid"
    assert result.flags == ["risk:phq9:9"]


def test_it_flags_an_unanswered_risk_item() -> None:
    answers = answers_for_total("core10", 8)
    answers["6"] = None
    result = score("core10", answers)
    assert result.validity == "prorated"
    assert "risk_unanswered:core10:6" in result.flags


def test_it_scores_wai_sr_subscales() -> None:
    # Task = 1, 2, 10, 12; Bond = 3, 5, 7, 9; Goal = 4, 6, 8, 11 (Hatcher & Gillaspy 2006).
    answers: dict[str, float | int | None] = {str(i): 1 for i in range(1, 13)}
    for item in ("1", "2", "10", "12"):
        answers[item] = 5
    for item in ("4", "6", "8", "11"):
        answers[item] = 3
    result = score("wai_sr", answers)
    assert result.subscales == {"task": 20.0, "bond": 4.0, "goal": 12.0}
    assert result.total == 36.0
    assert result.band is None
    assert result.caseness is None


GBO = table(
    """
g1 g2 g3 g4 g5 total validity
3  -  -  -  -  3.0   complete
3  6  -  -  -  4.5   complete
2  4  6  8  10 6.0   complete
-  7  -  -  -  7.0   complete
-  -  -  -  -  -     invalid
"""
)


@pytest.mark.parametrize(("g1", "g2", "g3", "g4", "g5", "total", "validity"), GBO)
def test_it_averages_the_goals_that_were_rated(
    g1: str, g2: str, g3: str, g4: str, g5: str, total: str, validity: str
) -> None:
    answers = {str(i + 1): None if v == "-" else int(v) for i, v in enumerate((g1, g2, g3, g4, g5))}
    result = score("gbo", answers)
    assert result.validity == validity
    assert result.total == (None if total == "-" else float(total))
    rated = {f"goal {k}": float(v) for k, v in answers.items() if v is not None}
    assert result.subscales == rated


BAD = table(
    """
instrument item value message
phq9       1    4     phq9~item~1:~value~4~is~not~allowed;~allowed:~one~of~0,~1,~2,~3
phq9       1    -1    phq9~item~1:~value~-1~is~not~allowed;~allowed:~one~of~0,~1,~2,~3
phq9       1    1.5   phq9~item~1:~value~1.5~is~not~allowed;~allowed:~one~of~0,~1,~2,~3
ors        2    10.5  ors~item~2:~value~10.5~is~not~allowed;~allowed:~ALLOWED_ORS
ors        2    3.25  ors~item~2:~value~3.25~is~not~allowed;~allowed:~ALLOWED_ORS
wai_sr     5    0     wai_sr~item~5:~value~0~is~not~allowed;~allowed:~one~of~1,~2,~3,~4,~5
"""
)


@pytest.mark.parametrize(("instrument", "item", "value", "message"), BAD)
def test_it_refuses_an_answer_out_of_range(
    instrument: str, item: str, value: str, message: str
) -> None:
    number = float(value) if "." in value else int(value)
    message = message.replace("ALLOWED_ORS", "a number from 0 to 10 in steps of 0.1")
    with pytest.raises(InstrumentError) as caught:
        score(instrument, {item: number})
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("answers", "fragment"),
    [
        ({"10": 1}, "item '10' does not exist; items are 1 to 9"),
        ({"1": "2"}, "value '2' has the wrong type (str)"),
        ({"1": True}, "value True has the wrong type (bool)"),
        ({"1": float("nan")}, "value nan is not allowed"),
        ({1: 2}, "item key 1 has the wrong type"),
    ],
)
def test_it_refuses_unknown_items_and_wrong_types(answers: dict, fragment: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InstrumentError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        score("phq9", answers)


def test_it_refuses_an_unknown_instrument() -> None:
    with pytest.raises(InstrumentError, match="instrument 'bdi' is unknown; allowed: phq9"):
        load_instrument("bdi")
