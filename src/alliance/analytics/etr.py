"""Expected treatment response (ETR) and not-on-track flags for outcome measures.

Finch, Lambert & Schaalje (2001) modelled each session's score from intake severity and
log(session) in 11,492 patients and flagged scores outside tolerance intervals. This model is the
fixed-effects core of that idea, fitted on a clinic's own closed episodes per instrument:

    score = b0 + b1·intake + b2·ln(session) + b3·intake·ln(session) + e

with a tolerance band whose width grows with ln(session): the residual variance is modelled as
v0 + v1·ln(session) from the squared residuals. A score on the worse side of the band is not on
track.

No model fitted on synthetic data decides a real client's alert (DOMAIN §4): the shipped
models (fitted on synthetic episodes, for benchmarks and checks) are never `usable`. A model is
used only when it was fitted on at least `MIN_EPISODES` of the clinic's own closed episodes;
until then the alerts rest on the rule-based "no change" signal (no reliable improvement after a
set number of ratings), and every alert says which it used. No published expected-change
parameters are given in DOMAIN.md (Finch, Lambert & Schaalje 2001 publish the method, and PCOMS
keeps its equations unpublished), so none ship here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from statistics import NormalDist
from typing import Any

import numpy as np
import polars as pl

from alliance.analytics.frame import FloatArray, Series, cut_series, measure_facts
from alliance.errors import AllianceError

MIN_EPISODES = 30
DEFAULT_COVERAGE = 0.90
DEFAULT_MODEL_FILE = "etr_default.json"
MODEL_FORMAT = 1
# `source` of a model fitted on synthetic data starts so; of one fitted on the clinic's database
# is exactly CLINIC_SOURCE.
SYNTHETIC_PREFIX = "synthetic"
CLINIC_SOURCE = "database"


class EtrError(AllianceError, ValueError):
    """A model that cannot be fitted or read; the message says why."""


@dataclass(frozen=True)
class EtrModel:
    """A fitted expected-response model for one outcome instrument."""

    instrument: str
    coefficients: tuple[float, float, float, float]  # b0, intake, ln(session), intake·ln(session)
    variance: tuple[float, float]  # residual variance v0 + v1·ln(session)
    coverage: float
    n_episodes: int
    n_observations: int
    fitted_at: str
    source: str

    @property
    def synthetic(self) -> bool:
        """Fitted on synthetic episodes (the shipped models): never decides a client's alert."""
        return self.source.strip().lower().startswith(SYNTHETIC_PREFIX)

    @property
    def usable(self) -> bool:
        """Whether it may decide alerts: fitted on enough of a clinic's own closed episodes."""
        return self.n_episodes >= MIN_EPISODES and not self.synthetic

    @property
    def description(self) -> str:
        """Where the model came from, in words for the alert."""
        day = self.fitted_at[:10]
        if self.synthetic:
            return f"fitted on {self.n_episodes} synthetic episodes on {day}; not used for alerts"
        where = (
            "of your clinic's closed episodes"
            if self.source == CLINIC_SOURCE
            else (f"closed episodes ({self.source})")
        )
        return f"fitted on {self.n_episodes} {where} on {day}"

    def expected(
        self, intake: float | FloatArray, session: float | FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Expected score and the (low, high) tolerance band at `session` for an `intake` score."""
        x0 = np.asarray(intake, dtype=np.float64)
        log_s = np.log(np.maximum(np.asarray(session, dtype=np.float64), 1.0))
        b0, b1, b2, b3 = self.coefficients
        mean = b0 + b1 * x0 + b2 * log_s + b3 * x0 * log_s
        v0, v1 = self.variance
        sd = np.sqrt(np.maximum(v0 + v1 * log_s, 1e-12))
        z = NormalDist().inv_cdf(0.5 + self.coverage / 2.0)
        # The band never leaves the measure's range (a PHQ-9 band below 0 means nothing).
        facts = measure_facts(self.instrument)
        low, high = facts.total_min, facts.total_max
        return (
            np.clip(mean, low, high),
            np.clip(mean - z * sd, low, high),
            np.clip(mean + z * sd, low, high),
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = MODEL_FORMAT
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EtrModel:
        try:
            b = tuple(float(v) for v in data["coefficients"])
            v = tuple(float(x) for x in data["variance"])
            if len(b) != 4 or len(v) != 2:
                raise EtrError("coefficients need 4 numbers and variance 2")
            return cls(
                instrument=str(data["instrument"]),
                coefficients=(b[0], b[1], b[2], b[3]),
                variance=(v[0], v[1]),
                coverage=float(data["coverage"]),
                n_episodes=int(data["n_episodes"]),
                n_observations=int(data["n_observations"]),
                fitted_at=str(data["fitted_at"]),
                source=str(data["source"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EtrError(f"ETR model: {exc}") from None


def usable_models(models: Mapping[str, EtrModel]) -> dict[str, EtrModel]:
    """Only the models that may decide a client's alert (see `EtrModel.usable`)."""
    return {name: model for name, model in models.items() if model.usable}


def fit_etr(
    frame: pl.DataFrame | Series,
    instrument: str,
    *,
    coverage: float = DEFAULT_COVERAGE,
    closed_only: bool = True,
    source: str = "score frame",
) -> EtrModel:
    """Fit the model for `instrument` on closed episodes (`closed_only=False`: on every one)."""
    if not 0.5 <= coverage < 1.0:
        raise EtrError(f"coverage: {coverage} must be from 0.5 to below 1")
    facts = measure_facts(instrument)
    if facts.kind != "outcome":
        raise EtrError(f"{instrument} is a {facts.kind} measure; ETR models outcome measures")
    series = frame if isinstance(frame, Series) else cut_series(frame)
    rows = series.rows_of({instrument})
    if closed_only:
        # Only finished episodes say how treatment went; an open one's course is not known yet.
        rows = rows & series.frame["closed"].to_numpy().astype(np.bool_)
    intake = series.per_row(series.total[series.starts])
    use = rows & (series.position > 0)
    y = series.total[use]
    x0 = intake[use]
    log_s = np.log(np.maximum(series.session[use].astype(np.float64), 1.0))
    n_episodes = int(np.unique(series.series[use]).size)
    if y.size < 8 or n_episodes < 3:
        raise EtrError(
            f"{instrument}: {n_episodes} {'closed ' if closed_only else ''}episode(s) with a "
            "score after intake; at least 3 are needed"
        )
    design = np.column_stack([np.ones_like(y), x0, log_s, x0 * log_s])
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ beta
    spread = np.column_stack([np.ones_like(y), log_s])
    var_coef, *_ = np.linalg.lstsq(spread, residual * residual, rcond=None)
    return EtrModel(
        instrument=instrument,
        coefficients=(float(beta[0]), float(beta[1]), float(beta[2]), float(beta[3])),
        variance=(float(var_coef[0]), float(var_coef[1])),
        coverage=coverage,
        n_episodes=n_episodes,
        n_observations=int(y.size),
        fitted_at=datetime.now(UTC).isoformat(timespec="seconds"),
        source=source,
    )


def fit_all(
    frame: pl.DataFrame | Series, *, coverage: float = DEFAULT_COVERAGE, source: str = "score frame"
) -> dict[str, EtrModel]:
    """One model per outcome measure in the frame that has enough data to fit."""
    series = frame if isinstance(frame, Series) else cut_series(frame)
    models: dict[str, EtrModel] = {}
    for instrument in series.instruments:
        if measure_facts(instrument).kind != "outcome":
            continue
        try:
            models[instrument] = fit_etr(series, instrument, coverage=coverage, source=source)
        except EtrError:
            continue
    return models


def save_models(models: dict[str, EtrModel], path: Path) -> None:
    """Write models as JSON, one entry per instrument, in a stable order."""
    payload = {"format": MODEL_FORMAT, "models": [models[k].to_dict() for k in sorted(models)]}
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def read_models(text: str) -> dict[str, EtrModel]:
    """Parse models written by `save_models`."""
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EtrError(f"ETR model file is not JSON: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise EtrError(f"ETR model file: format must be {MODEL_FORMAT}")
    return {m["instrument"]: EtrModel.from_dict(m) for m in payload.get("models", [])}


def default_models() -> dict[str, EtrModel]:
    """The models shipped in the package (fitted on the demo data); empty when none ship."""
    resource = resources.files("alliance.analytics").joinpath("models", DEFAULT_MODEL_FILE)
    if not resource.is_file():
        return {}
    return read_models(resource.read_text(encoding="utf-8"))
