"""The progress report as a PDF a therapist would send: A4 (or Letter), laid out by ReportLab.

The facts come from alliance.services.reports (the HTML report shows the same); the chart is
the client chart drawn by vl-convert as a PNG. Fonts are the PDF base-14 Helvetica, so nothing
is embedded or fetched.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any, Literal
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import (
    Image,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from alliance.domain import ClosingReason
from alliance.services.reports import ProgressReport
from alliance.web import charts

Paper = Literal["a4", "letter"]
PAGES = {"a4": A4, "letter": LETTER}
MARGIN = 18 * mm


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "title": ParagraphStyle("title", parent=base["Title"], alignment=0, spaceAfter=4 * mm),
        "h2": ParagraphStyle("h2", parent=base["Heading2"], spaceBefore=5 * mm),
        "body": ParagraphStyle("body", parent=base["BodyText"], leading=14),
        "small": ParagraphStyle("small", parent=base["BodyText"], fontSize=8, leading=10),
        "cell": ParagraphStyle("cell", parent=base["BodyText"], fontSize=9, leading=11),
    }


def _text(value: object) -> str:
    return escape(str(value))


def _number(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _measure_table(
    report: ProgressReport, styles: dict[str, ParagraphStyle], width: float
) -> Table:
    cell = styles["cell"]
    rows: list[list[Any]] = [
        [
            Paragraph(f"<b>{h}</b>", cell)
            for h in ("Measure", "First", "Last", "Change", "What it means")
        ]
    ]
    for m in report.measures:
        change = "+" + _number(m.change) if m.change > 0 else _number(m.change)
        rows.append(
            [
                Paragraph(f"<b>{_text(m.short_name)}</b><br/>{_text(m.name)}", cell),
                Paragraph(f"{_number(m.first)}<br/>session {m.first_session}", cell),
                Paragraph(f"{_number(m.last)}<br/>session {m.last_session}", cell),
                Paragraph(change, cell),
                Paragraph(_text(m.statement), cell),
            ]
        )
    table = Table(rows, colWidths=[w * width for w in (0.26, 0.12, 0.12, 0.1, 0.4)], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, colors.black),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.grey),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        )
    )
    return table


def _chart(chart_spec: dict[str, Any], width: float) -> Image:
    png = charts.render(chart_spec, "png")
    image = Image(BytesIO(png))
    scale = min(1.0, width / image.imageWidth)
    image.drawWidth = image.imageWidth * scale
    image.drawHeight = image.imageHeight * scale
    return image


Styles = dict[str, ParagraphStyle]


def _heading(report: ProgressReport, s: Styles) -> list[Any]:
    """Title, client code and therapist, period, stage and attendance."""
    return [
        Paragraph("Progress report", s["title"]),
        Paragraph(
            f"<b>Client</b> {_text(report.client_code)} &nbsp; · &nbsp; "
            f"<b>Therapist</b> {_text(report.therapist)}",
            s["body"],
        ),
        Paragraph(
            f"<b>Period</b> {_text(report.period)} &nbsp; · &nbsp; <b>Stage</b> "
            f"{_text(report.stage)} &nbsp; · &nbsp; <b>Sessions attended</b> "
            f"{report.sessions_attended} of {report.sessions_recorded}",
            s["body"],
        ),
    ]


def _measures(report: ProgressReport, s: Styles, width: float) -> list[Any]:
    """First, last and change per measure, with what the change means."""
    story: list[Any] = [Paragraph("Measures: first, last and change", s["h2"])]
    if not report.measures:
        return [*story, Paragraph("No scores recorded yet.", s["body"])]
    return [
        *story,
        _measure_table(report, s, width),
        Spacer(1, 2 * mm),
        Paragraph(
            "Reliable change: the change is larger than the measure's error allows by chance "
            "(Jacobson &amp; Truax 1991); clinically significant: it also crosses the "
            "measure's clinical cutoff.",
            s["small"],
        ),
    ]


def _goals(report: ProgressReport, s: Styles) -> list[Any]:
    story: list[Any] = [Paragraph("Goals", s["h2"])]
    for text, status in report.goals or [("None recorded.", "")]:
        suffix = f" ({_text(status)})" if status else ""
        story.append(Paragraph(f"• {_text(text)}{suffix}", s["body"]))
    return story


def _closing(report: ProgressReport, s: Styles) -> list[Any]:
    if report.closed_on is None:
        return []
    reason = ClosingReason(report.closing_reason).label if report.closing_reason else "not recorded"
    closed = f"Closed on {report.closed_on.isoformat()}. Reason: {_text(reason)}."
    story: list[Any] = [Paragraph("Closing", s["h2"]), Paragraph(closed, s["body"])]
    if report.closing_summary:
        story.append(Paragraph(_text(report.closing_summary), s["body"]))
    return story


def progress_report_pdf(
    report: ProgressReport, chart_spec: dict[str, Any], paper: Paper = "a4"
) -> bytes:
    """The report as PDF bytes on A4 (default) or US Letter, with 18 mm margins."""
    out = BytesIO()
    page = PAGES[paper]
    doc = SimpleDocTemplate(
        out,
        pagesize=page,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=f"Progress report {report.client_code}",
        author="Alliance",
    )
    width = page[0] - 2 * MARGIN
    s = _styles()
    chart: list[Any] = []
    if report.measures:
        chart = [Paragraph("Scores over time", s["h2"]), _chart(chart_spec, width)]
    story = [
        *_heading(report, s),
        *_measures(report, s, width),
        *_goals(report, s),
        *chart,
        *_closing(report, s),
    ]
    doc.build(story)
    return out.getvalue()
