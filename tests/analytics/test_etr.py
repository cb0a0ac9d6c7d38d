"""Expected treatment response: parameter recovery, flags on held-out non-responders, fallback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from alliance.analytics import (
    EtrError,
    EtrModel,
    default_models,
    evaluate_etr,
    fit_etr,
    read_models,
    save_models,
    signals,
    synthetic_caseload,
)
from alliance.analytics.synthetic import TRUE_COEFFICIENTS, TRUE_VARIANCE


def test_it_recovers_known_parameters_from_synthetic_data() -> None:
    caseload = synthetic_caseload(
        4000, seed=11, exact=True, alliance=None, non_responder_share=0.0, closed_share=1.0
    )
    model = fit_etr(caseload.frame, "phq9")
    assert model.n_episodes == 4000
    # PHQ-9 is higher-is-worse, so the generator's coefficients apply to raw totals. The slopes
    # are estimated tightly; the intercept sits far from the intakes (around 16) so it is looser.
    b0, b1, b2, b3 = model.coefficients
    assert b0 == pytest.approx(TRUE_COEFFICIENTS[0], abs=0.6)
    assert b1 == pytest.approx(TRUE_COEFFICIENTS[1], abs=0.04)
    assert b2 == pytest.approx(TRUE_COEFFICIENTS[2], abs=0.3)
    assert b3 == pytest.approx(TRUE_COEFFICIENTS[3], abs=0.02)
    assert model.variance == pytest.approx(TRUE_VARIANCE, rel=0.15)
    # The expected path over the usual range matches the true one within a tenth of a point.
    sessions = np.arange(2, 13, dtype=np.float64)
    for intake in (10.0, 16.0, 22.0):
        mean, _, _ = model.expected(np.full(sessions.size, intake), sessions)
        t0, t1, t2, t3 = TRUE_COEFFICIENTS
        truth = t0 + t1 * intake + t2 * np.log(sessions) + t3 * intake * np.log(sessions)
        assert np.abs(mean - truth).max() < 0.15


def test_it_learns_only_from_closed_episodes() -> None:
    caseload = synthetic_caseload(400, seed=2, alliance=None, closed_share=0.5)
    closed = caseload.frame.filter(pl.col("closed"))["episode_id"].n_unique()
    assert fit_etr(caseload.frame, "phq9").n_episodes == closed


def test_it_flags_held_out_non_responders_with_useful_accuracy() -> None:
    evaluation = evaluate_etr(n_train=1500, n_test=1500, horizon=8, seed=5)
    assert evaluation.n_non_responders > 200
    assert evaluation.sensitivity >= 0.80
    assert evaluation.specificity >= 0.90


def test_it_widens_the_band_with_session() -> None:
    model = EtrModel("phq9", (0.5, 0.95, -1.0, -0.15), (3.0, 2.0), 0.9, 100, 900, "t", "test")
    mean, low, high = model.expected(np.array([18.0, 18.0]), np.array([2.0, 12.0]))
    assert (high - low)[1] > (high - low)[0]
    # Worked example: 0.5 + 0.95·18 − 1.0·ln 2 − 0.15·18·ln 2 = 17.6 − 3.7·0.6931 = 15.0354
    assert mean[0] == pytest.approx(15.0354, abs=1e-3)


def test_it_round_trips_models_through_json(tmp_path: Path) -> None:
    caseload = synthetic_caseload(200, seed=3, alliance=None)
    model = fit_etr(caseload.frame, "phq9")
    path = tmp_path / "models.json"
    save_models({"phq9": model}, path)
    assert read_models(path.read_text()) == {"phq9": model}
    with pytest.raises(EtrError, match="format must be 1"):
        read_models('{"format": 9, "models": []}')


def test_it_refuses_to_model_an_alliance_measure() -> None:
    caseload = synthetic_caseload(50, seed=3)
    with pytest.raises(EtrError, match="srs is a alliance measure"):
        fit_etr(caseload.frame, "srs")


def test_it_ships_a_default_model_for_the_demo_data() -> None:
    models = default_models()
    assert "phq9" in models
    assert models["phq9"].n_episodes >= 30


def _stuck_client() -> pl.DataFrame:
    # PHQ-9 16 at intake and 16 or 17 for seven more sessions: no reliable improvement (needs 6).
    totals = [16, 17, 16, 17, 16, 17, 16]
    return pl.DataFrame(
        {
            "episode_id": ["e1"] * 7,
            "client_id": ["c1"] * 7,
            "therapist_id": ["t1"] * 7,
            "session": list(range(1, 8)),
            "instrument": ["phq9"] * 7,
            "total": [float(t) for t in totals],
        }
    )


def test_it_falls_back_to_the_rule_and_says_so() -> None:
    small = EtrModel("phq9", (0.5, 0.95, -1.0, -0.15), (3.0, 2.0), 0.9, 12, 100, "t", "test")
    found = signals(_stuck_client(), models={"phq9": small})
    # A model from 12 episodes does not decide: no "not on track", the rule-based "no change"
    # from the 7th rating (6 after intake) with no reliable improvement, saying why.
    assert [s.kind for s in found] == ["no_change"]
    assert found[0].session == 7
    assert "rule-based" in found[0].evidence["detail"]
    assert found[0].evidence["rule"] == "no_reliable_improvement"


def test_it_never_lets_a_synthetic_model_decide() -> None:
    synthetic = EtrModel(
        "phq9", (0.5, 0.95, -1.0, -0.15), (3.0, 2.0), 0.9, 2000, 20000, "t", "synthetic: 2000"
    )
    assert not synthetic.usable
    assert "synthetic" in synthetic.description
    found = signals(_stuck_client(), models={"phq9": synthetic})
    assert [s.kind for s in found] == ["no_change"]
    assert all(not m.usable for m in default_models().values())


def test_it_keeps_the_band_inside_the_measures_range() -> None:
    # Intake 2 on the PHQ-9: the band's lower edge would fall below 0 without the floor.
    model = EtrModel("phq9", (0.5, 0.95, -1.0, -0.15), (3.0, 2.0), 0.9, 100, 900, "t", "test")
    mean, low, high = model.expected(np.full(3, 2.0), np.array([2.0, 6.0, 12.0]))
    assert low.min() == 0.0
    assert (mean >= 0).all()
    assert (high <= 27).all()


def test_it_flags_a_stuck_client_with_a_usable_model() -> None:
    usable = EtrModel("phq9", (0.5, 0.95, -1.0, -0.15), (3.0, 2.0), 0.9, 500, 5000, "t", "test")
    found = [
        s for s in signals(_stuck_client(), models={"phq9": usable}) if s.kind == "not_on_track"
    ]
    # Whatever the model, the rule-based "no change" is raised as well (one card with it).
    assert any(s.kind == "no_change" for s in signals(_stuck_client(), models={"phq9": usable}))
    assert found, "a client stuck at intake should leave the expected band"
    assert all(s.evidence["rule"] == "etr" for s in found)
    assert "fitted on 500 closed episodes" in found[0].evidence["detail"]
