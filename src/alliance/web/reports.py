"""The client progress report: the same facts as the HTML report, as a PDF drawn by vl-convert."""

from __future__ import annotations

from typing import Any

from alliance.services.episodes import EpisodeDetail
from alliance.web import charts


def report_lines(detail: EpisodeDetail) -> list[str]:
    """Plain sentences a client or a referrer can read; codes only, no names."""
    lines = [
        f"Client {detail.client_code} · opened {detail.opened_on.isoformat()}",
        f"Stage now: {detail.stage} · sessions recorded: {len(detail.sessions)}",
    ]
    agreed = [g for g in detail.goals if g["status"] in ("agreed", "achieved")]
    lines.append(
        f"Goals agreed: {len(agreed)} (achieved: {sum(g['status'] == 'achieved' for g in agreed)})"
    )
    frame = detail.frame
    for instrument in sorted(set(frame["instrument"].to_list())) if frame.height else []:
        rows = frame.filter(frame["instrument"] == instrument).sort("session")
        first, last = rows["total"][0], rows["total"][-1]
        lines.append(
            f"{instrument.upper()}: first {first:g} (session {rows['session'][0]}), "
            f"latest {last:g} (session {rows['session'][-1]})"
        )
    return lines


def progress_report_pdf(detail: EpisodeDetail, chart_spec: dict[str, Any]) -> bytes:
    lines = report_lines(detail)
    text: dict[str, Any] = {
        "data": {"values": [{"i": i, "line": line} for i, line in enumerate(lines)]},
        "mark": {"type": "text", "align": "left", "baseline": "top", "fontSize": 13, "x": 0},
        "encoding": {
            "y": {"field": "i", "type": "ordinal", "axis": None},
            "text": {"field": "line", "type": "nominal"},
        },
        "width": charts.WIDTH,
        "height": 22 * len(lines),
        "view": {"stroke": None},
    }
    body = {k: v for k, v in chart_spec.items() if k not in ("$schema", "config", "background")}
    spec = {
        "$schema": charts.VEGA_LITE_SCHEMA,
        "title": {"text": "Progress report", "fontSize": 20, "anchor": "start"},
        "background": "#ffffff",
        "config": chart_spec.get("config", {}),
        "vconcat": [text, body],
    }
    return charts.render(spec, "pdf")
