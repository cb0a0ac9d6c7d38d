"""The client chart as a Vega-Lite spec, drawn in the browser or converted on the server.

One row per instrument on one shared session axis: the episode's stages as pale bands, the
clinical cutoff as a dashed rule, the expected-response band, ruptures and repairs as marks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

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


# The spec is written as plain dictionaries: building it with altair's classes (layer, vconcat,
# resolve_scale deep-copy every sub-chart) took most of the chart page's time.
Spec = dict[str, Any]
_VIEW = {"continuousHeight": 300, "continuousWidth": 300}


def _field(name: str, kind: Literal["quantitative", "nominal"], **extra: Any) -> Spec:
    return {"field": name, "type": kind, **extra}


def _layer(values: list[Spec], mark: Spec, **encoding: Any) -> Spec:
    return {"data": {"values": values}, "mark": mark, "encoding": encoding}


def _stage_layer(data: ChartData, x_scale: Spec, axis: Spec, first: bool) -> Spec:
    legend = {"orient": "top", "title": "Stage"} if first else None
    colour_scale = {"domain": list(STAGE_FILLS), "range": list(STAGE_FILLS.values())}
    return _layer(
        [{"stage": s.stage, "x": s.first_session, "x2": s.last_session} for s in data.stages],
        {"type": "rect", "opacity": 1},
        x=_field("x", "quantitative", axis=axis, scale=x_scale, title="Session"),
        x2={"field": "x2"},
        color=_field("stage", "nominal", legend=legend, scale=colour_scale),
        tooltip=[_field("stage", "nominal", title="Stage")],
    )


def _band_layers(band: list[ExpectedPoint], x: Spec, y_scale: Spec) -> list[Spec]:
    values = [{"session": e.session, "low": e.low, "high": e.high, "mean": e.mean} for e in band]
    area = _layer(
        values,
        {"type": "area", "opacity": 0.12, "color": PALETTE["expected"]},
        x=x,
        y=_field("low", "quantitative", scale=y_scale),
        y2={"field": "high"},
    )
    edge_mark = {
        "type": "line",
        "color": PALETTE["expected"],
        "strokeDash": [2, 3],
        "strokeWidth": 1.5,
    }
    edges = [
        _layer(values, dict(edge_mark), x=x, y=_field(edge, "quantitative", scale=y_scale))
        for edge in ("low", "high")
    ]
    return [area, *edges]


def _cutoff_layer(cut: CutoffLine, y_scale: Spec) -> Spec:
    rule = {"type": "rule", "color": PALETTE["cutoff"], "strokeDash": [6, 4], "strokeWidth": 1.5}
    return _layer(
        [{"cutoff": cut.value, "label": cut.label}],
        rule,
        y=_field("cutoff", "quantitative", scale=y_scale),
        tooltip=[_field("label", "nominal"), _field("cutoff", "quantitative")],
    )


def _line_layer(points: list[ChartPoint], colour: str, x: Spec, y_scale: Spec) -> Spec:
    label = points[0].label
    line = {
        "type": "line",
        "color": colour,
        "strokeWidth": 2.5,
        "point": {"size": 60, "filled": True, "color": colour},
    }
    return _layer(
        [{"session": p.session, "total": p.total} for p in points],
        line,
        x=x,
        y=_field("total", "quantitative", title=label, scale=y_scale),
        tooltip=[
            _field("session", "quantitative", title="Session"),
            _field("total", "quantitative", title=label),
        ],
    )


def _marker_layer(marks: list[ChartMarker], kind: str, shape: str, x: Spec, y_scale: Spec) -> Spec:
    point = {
        "type": "point",
        "size": 260,
        "filled": True,
        "shape": shape,
        "color": PALETTE[kind],
        "opacity": 1,
    }
    return _layer(
        [{"session": m.session, "total": m.total, "mark": kind} for m in marks],
        point,
        x=x,
        y=_field("total", "quantitative", scale=y_scale),
        tooltip=[_field("mark", "nominal", title="Mark"), _field("session", "quantitative")],
    )


MAX_TICKS = 12


def session_ticks(x_domain: tuple[float, float]) -> list[int]:
    """Whole session numbers for the axis, at most MAX_TICKS of them (every 2nd, 3rd … when
    there are more): left to itself, Vega-Lite puts ticks at half sessions on a short axis and
    the integer format shows them as 1, 1, 2, 2, 3."""
    last = int(x_domain[1] - 0.5)
    step = -(-last // MAX_TICKS)
    return list(range(1, last + 1, step))


def _row(data: ChartData, instrument: str, x_domain: tuple[float, float], first: bool) -> Spec:
    """One instrument's row: stages, expected band, cutoff, the score line, ruptures and repairs."""
    points = [p for p in data.points if p.instrument == instrument]
    label = points[0].label
    colour = PALETTE["alliance"] if points[0].kind == "alliance" else PALETTE["outcome"]
    low, high = data.y_domains[instrument]
    axis = {"format": "d", "values": session_ticks(x_domain)}
    x_scale = {"domain": list(x_domain), "nice": False}
    x = _field("session", "quantitative", axis=axis, scale=x_scale, title="Session")
    y_scale = {"domain": [low, high]}
    layers: list[Spec] = []
    if data.stages:
        layers.append(_stage_layer(data, x_scale, axis, first))
    band = [e for e in data.expected if e.instrument == instrument]
    if band:
        layers.extend(_band_layers(band, x, y_scale))
    layers.extend(_cutoff_layer(c, y_scale) for c in data.cutoffs if c.instrument == instrument)
    layers.append(_line_layer(points, colour, x, y_scale))
    for kind, shape in (("rupture", "triangle-down"), ("repair", "triangle-up")):
        marks = [m for m in data.markers if m.instrument == instrument and m.kind == kind]
        if marks:
            layers.append(_marker_layer(marks, kind, shape, x, y_scale))
    return {"layer": layers, "width": WIDTH, "height": ROW_HEIGHT, "title": label}


def client_chart_spec(data: ChartData) -> Spec:
    """A Vega-Lite 5 spec with one row per instrument on a shared session axis."""
    instruments: list[str] = []
    for kind in ("alliance", "outcome", "goals"):
        for point in data.points:
            if point.kind == kind and point.instrument not in instruments:
                instruments.append(point.instrument)
    sessions = [p.session for p in data.points] + [e.session for e in data.expected]
    last = max([*sessions, 2])
    x_domain = (0.5, float(last) + 0.5)
    spec: Spec
    if not instruments:
        spec = _layer(
            [{"text": "No measures yet"}],
            {"type": "text", "size": 16},
            text=_field("text", "nominal"),
        ) | {"width": WIDTH, "height": 60}
    else:
        rows = [_row(data, name, x_domain, i == 0) for i, name in enumerate(instruments)]
        spec = {"vconcat": rows, "resolve": {"scale": {"x": "shared", "color": "independent"}}}
    spec["$schema"] = VEGA_LITE_SCHEMA
    spec["background"] = "#ffffff"
    spec["config"] = {"view": dict(_VIEW), "font": "system-ui, sans-serif"}
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
        elif (instrument, rupture.get("repair_noted_session")) in totals:
            noted = int(rupture["repair_noted_session"])
            markers.append(_marker(totals, instrument, noted, "repair"))
    return ChartData(points, _stage_spans(detail), markers, expected, cutoffs, domains)
