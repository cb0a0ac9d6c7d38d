"""Jinja2 set-up shared by every page: one Templates object, a few filters."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates

from alliance.domain import ClosingReason
from alliance.instruments import load_instrument
from alliance.web.csrf import install_template_globals
from alliance.web.palette import PALETTE

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")


def _when(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return value.strftime("%d %b %Y %H:%M")
    return value.strftime("%d %b %Y")


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "—"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.{digits}f}"


# Stored values shown to people: never `no_show` or `self_disclosure` on a page.
WORDS = {
    "attended": "Attended",
    "cancelled": "Cancelled",
    "no_show": "Did not attend",
    "rule": "Rule",
    "ritual": "Ritual",
    "self_disclosure": "Self-disclosure",
    "crossing": "Boundary crossing",
    "miracle_question": "Miracle Question",
    "relapse_prevention": "Relapse-prevention plan",
    "warning_signs": "Warning signs",
    "triggers": "Triggers",
    "coping_steps": "Coping steps",
    "who_to_call": "Who to call",
    "answers": "Answers",
    "technique": "Technique",
    "homework": "Homework",
    "other": "Other",
    "open": "Open",
    "done": "Done",
    "dropped": "Dropped",
    "proposed": "Proposed",
    "agreed": "Agreed",
    "achieved": "Achieved",
    "reflection_simple": "Simple reflection",
    "reflection_complex": "Complex reflection",
    "question_open": "Open question",
    "question_closed": "Closed question",
    "information": "Giving information",
    "change": "Change talk",
    "sustain": "Sustain talk",
    "advice_without_permission": "Advice without permission",
    "vtt": "WebVTT",
    "srt": "SRT",
    "jsonl": "JSON lines",
    "text": "Plain text",
}


def _words(value: object) -> str:
    text = str(value)
    return WORDS.get(text, text.replace("_", " ").capitalize())


templates.env.filters["when"] = _when
templates.env.filters["words"] = _words
templates.env.filters["measure"] = lambda instrument_id: load_instrument(instrument_id).short_name
templates.env.filters["num"] = _num
templates.env.filters["zip"] = lambda a, b: list(zip(a, b, strict=False))
templates.env.globals["palette"] = PALETTE
# In the enum's order, for the closing form's select and the closed episode's summary.
templates.env.globals["closing_reasons"] = {reason.value: reason.label for reason in ClosingReason}
install_template_globals(templates.env)
