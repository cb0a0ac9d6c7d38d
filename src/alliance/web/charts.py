"""The client chart as a Vega-Lite spec (altair), drawn in the browser or converted on the server.

One row per instrument on one shared session axis: the episode's stages as pale bands, the
clinical cutoff as a dashed rule, the expected-response band, ruptures and repairs as marks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import altair as alt

from alliance.domain import Stage
from alliance.instruments import load_instrument
from alliance.services.episodes import EpisodeDetail
from alliance.web.palette import PALETTE, STAGE_FILLS

# The browser bundle is Vega-Lite 5; vl-convert renders with its nearest 5.x for the same output.
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
SERVER_VL_VERSION = "5.21"
WIDTH = 640
ROW_HEIGHT = 170


@dataclass(frozen=True)
class ChartPoint:
    session: int
    instrument: str
    label: str
    kind: Literal["alliance", "outcome", "goals"]
    total: float


@dataclass(frozen=True)
class StageSpan:
    stage: str
    first_session: float
    last_session: float


@dataclass(frozen=True)
class ChartMarker:
    session: int
    instrument: str
    kind: Literal["rupture", "repair"]
    total: float


@dataclass(frozen=True)
class ExpectedPoint:
    session: int
    instrument: str
    low: float
    high: float
    mean: float


@dataclass(frozen=True)
class CutoffLine:
    instrument: str
    value: float
    label: str


@dataclass(frozen=True)
class ChartData:
    points: list[ChartPoint]
    stages: list[StageSpan]
    markers: list[ChartMarker]
    expected: list[ExpectedPoint]
    cutoffs: list[CutoffLine]
    y_domains: dict[str, tuple[float, float]]


def _data(values: list[dict[str, Any]]) -> Any:
    """Inline data for a layer (altair's Data is untyped)."""
    return alt.Data(values=values)  # type: ignore[no-untyped-call]


def _row(
    data: ChartData, instrument: str, x_domain: tuple[float, float], first: bool
) -> alt.LayerChart | alt.FacetChart:
    points = [p for p in data.points if p.instrument == instrument]
    label = points[0].label
    colour = PALETTE["alliance"] if points[0].kind == "alliance" else PALETTE["outcome"]
    low, high = data.y_domains[instrument]
    axis = alt.Axis(tickMinStep=1, format="d")
    x_scale = alt.Scale(domain=list(x_domain), nice=False)
    x = alt.X("session:Q", title="Session", scale=x_scale, axis=axis)
    y_scale = alt.Scale(domain=[low, high])
    layers: list[alt.Chart] = []
    if data.stages:
        stages = _data(
            values=[
                {"stage": s.stage, "x": s.first_session, "x2": s.last_session} for s in data.stages
            ]
        )
        layers.append(
            alt.Chart(stages)
            .mark_rect(opacity=1)
            .encode(
                x=alt.X("x:Q", scale=x_scale, axis=axis, title="Session"),
                x2="x2:Q",
                color=alt.Color(
                    "stage:N",
                    scale=alt.Scale(domain=list(STAGE_FILLS), range=list(STAGE_FILLS.values())),
                    legend=alt.Legend(title="Stage", orient="top") if first else None,
                ),
                tooltip=[alt.Tooltip("stage:N", title="Stage")],
            )
        )
    band = [e for e in data.expected if e.instrument == instrument]
    if band:
        band_data = _data(
            values=[
                {"session": e.session, "low": e.low, "high": e.high, "mean": e.mean} for e in band
            ]
        )
        base = alt.Chart(band_data)
        layers.append(
            base.mark_area(opacity=0.12, color=PALETTE["expected"]).encode(
                x=x, y=alt.Y("low:Q", scale=y_scale), y2="high:Q"
            )
        )
        for edge in ("low", "high"):
            layers.append(
                base.mark_line(
                    color=PALETTE["expected"], strokeDash=[2, 3], strokeWidth=1.5
                ).encode(x=x, y=alt.Y(f"{edge}:Q", scale=y_scale))
            )
    for cut in (c for c in data.cutoffs if c.instrument == instrument):
        layers.append(
            alt.Chart(_data([{"cutoff": cut.value, "label": cut.label}]))
            .mark_rule(color=PALETTE["cutoff"], strokeDash=[6, 4], strokeWidth=1.5)
            .encode(y=alt.Y("cutoff:Q", scale=y_scale), tooltip=["label:N", "cutoff:Q"])
        )
    line_data = _data([{"session": p.session, "total": p.total} for p in points])
    layers.append(
        alt.Chart(line_data)
        .mark_line(
            color=colour,
            strokeWidth=2.5,
            point=alt.OverlayMarkDef(size=60, filled=True, color=colour),
        )
        .encode(
            x=x,
            y=alt.Y("total:Q", title=label, scale=y_scale),
            tooltip=[
                alt.Tooltip("session:Q", title="Session"),
                alt.Tooltip("total:Q", title=label),
            ],
        )
    )
    for kind, shape in (("rupture", "triangle-down"), ("repair", "triangle-up")):
        marks = [m for m in data.markers if m.instrument == instrument and m.kind == kind]
        if not marks:
            continue
        layers.append(
            alt.Chart(
                _data(
                    values=[{"session": m.session, "total": m.total, "mark": kind} for m in marks]
                )
            )
            .mark_point(size=260, filled=True, shape=shape, color=PALETTE[kind], opacity=1)
            .encode(
                x=x,
                y=alt.Y("total:Q", scale=y_scale),
                tooltip=[alt.Tooltip("mark:N", title="Mark"), alt.Tooltip("session:Q")],
            )
        )
    return alt.layer(*layers).properties(width=WIDTH, height=ROW_HEIGHT, title=label)


def client_chart_spec(data: ChartData) -> dict[str, Any]:
    """A Vega-Lite 5 spec with one row per instrument on a shared session axis."""
    instruments: list[str] = []
    for kind in ("alliance", "outcome", "goals"):
        for point in data.points:
            if point.kind == kind and point.instrument not in instruments:
                instruments.append(point.instrument)
    sessions = [p.session for p in data.points] + [e.session for e in data.expected]
    last = max([*sessions, 2])
    x_domain = (0.5, float(last) + 0.5)
    if not instruments:
        chart: alt.TopLevelMixin = (
            alt.Chart(_data([{"text": "No measures yet"}]))
            .mark_text(size=16)
            .encode(text="text:N")
            .properties(width=WIDTH, height=60)
        )
    else:
        rows = [_row(data, name, x_domain, i == 0) for i, name in enumerate(instruments)]
        chart = alt.vconcat(*rows).resolve_scale(x="shared", color="independent")
    spec: dict[str, Any] = chart.to_dict(validate=False)
    spec["$schema"] = VEGA_LITE_SCHEMA
    spec["background"] = "#ffffff"
    spec.setdefault("config", {})["font"] = "system-ui, sans-serif"
    return spec


def render(spec: dict[str, Any], fmt: Literal["svg", "png", "pdf"]) -> bytes:
    """Draw a spec on the server with vl-convert (no browser, nothing fetched)."""
    import vl_convert

    if fmt == "svg":
        return str(vl_convert.vegalite_to_svg(spec, vl_version=SERVER_VL_VERSION)).encode()
    if fmt == "png":
        return bytes(vl_convert.vegalite_to_png(spec, vl_version=SERVER_VL_VERSION, scale=2))
    return bytes(vl_convert.vegalite_to_pdf(spec, vl_version=SERVER_VL_VERSION))


def _stage_spans(detail: EpisodeDetail) -> list[StageSpan]:
    """Each stage's stretch of sessions: a session belongs to the stage in force on its day."""
    attended = list(detail.sessions)
    if not attended:
        return []
    spans: list[StageSpan] = []
    for session in attended:
        current = Stage.COMMITMENT.value
        for tr in detail.transitions:
            at = tr["at"]
            if (at.date() if isinstance(at, datetime) else at) <= session.held_on:
                current = tr["to_stage"]
        if spans and spans[-1].stage == current:
            last = spans[-1]
            spans[-1] = StageSpan(current, last.first_session, session.number + 0.5)
        else:
            spans.append(StageSpan(current, session.number - 0.5, session.number + 0.5))
    return spans


def _marker(
    totals: dict[tuple[str, int], float],
    instrument: str,
    session: int,
    kind: Literal["rupture", "repair"],
) -> ChartMarker:
    """A rupture or repair marker, drawn on the score line at its session."""
    return ChartMarker(session, instrument, kind, totals.get((instrument, session), 0.0))


def chart_data(detail: EpisodeDetail, expected: list[ExpectedPoint]) -> ChartData:
    """The client chart's inputs from an episode's scores, stages, ruptures and expected band."""
    points: list[ChartPoint] = []
    cutoffs: list[CutoffLine] = []
    domains: dict[str, tuple[float, float]] = {}
    for row in detail.frame.iter_rows(named=True):
        instrument = load_instrument(row["instrument"])
        points.append(
            ChartPoint(
                row["session"], instrument.id, instrument.short_name, instrument.kind, row["total"]
            )
        )
        if instrument.id not in domains:
            domains[instrument.id] = (instrument.total_min, instrument.total_max)
            if instrument.cutoff is not None:
                cutoffs.append(
                    CutoffLine(
                        instrument.id,
                        instrument.cutoff.value,
                        f"{instrument.short_name} {instrument.cutoff.label}",
                    )
                )
    markers: list[ChartMarker] = []
    totals = {(p.instrument, p.session): p.total for p in points}
    for rupture in detail.ruptures:
        instrument = rupture["instrument"]
        markers.append(_marker(totals, instrument, int(rupture["start_session"]), "rupture"))
        if rupture.get("repaired") and rupture.get("repair_session") is not None:
            markers.append(_marker(totals, instrument, int(rupture["repair_session"]), "repair"))
    return ChartData(points, _stage_spans(detail), markers, expected, cutoffs, domains)
