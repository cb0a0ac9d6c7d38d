"""A clinic's licensed wording file: read (JSON or CSV), checked against the measure, applied.

The file adds words only: the instruction, each item's text and, for a line (slider), the words
at both ends. The items, scales and scoring stay those of the definition. Every error names the
field, the value and what is allowed; a file with any error is refused whole.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from alliance.instruments.model import Instrument, InstrumentError, Item

MAX_TEXT = 500
MAX_ANCHOR = 200
MAX_INSTRUCTIONS = 1000
CSV_COLUMNS = ("item", "text", "low_anchor", "high_anchor")
ITEM_KEYS = frozenset({"item", "text", "low_anchor", "high_anchor"})
TOP_KEYS = frozenset({"instrument", "instructions", "items"})


def read_wording(instrument: Instrument, filename: str, content: bytes) -> dict[str, Any]:
    """The checked wording of one measure from an uploaded file, as it is stored."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InstrumentError("wording file: not UTF-8 text; save it as UTF-8") from None
    name = filename.lower()
    if name.endswith(".json"):
        raw = _from_json(text)
    elif name.endswith(".csv"):
        raw = _from_csv(text)
    else:
        raise InstrumentError(
            f"wording file: {filename[:60]!r} is neither .json nor .csv; allowed: a .json or "
            ".csv file in the format of docs/instruments.md"
        )
    return check_wording(instrument, raw)


def _from_json(text: str) -> dict[str, Any]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InstrumentError(f"wording file: not valid JSON (line {exc.lineno})") from None
    if not isinstance(raw, dict):
        raise InstrumentError(
            "wording file: expected an object with instrument, instructions, items"
        )
    return raw


def _from_csv(text: str) -> dict[str, Any]:
    reader = csv.DictReader(io.StringIO(text))
    columns = tuple(c.strip() for c in reader.fieldnames or ())
    if columns[: len(CSV_COLUMNS)] != CSV_COLUMNS or len(columns) != len(CSV_COLUMNS):
        raise InstrumentError(
            f"wording file: the CSV header is {','.join(columns) or '(empty)'}; "
            f"allowed: {','.join(CSV_COLUMNS)}"
        )
    instructions: str | None = None
    items: list[dict[str, str]] = []
    for row in reader:
        cells = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        if cells.get("item", "").lower() == "instructions":
            instructions = cells.get("text", "")
            continue
        items.append({k: v for k, v in cells.items() if v != "" or k in ("item", "text")})
    return {"instructions": instructions, "items": items}


def check_wording(instrument: Instrument, raw: dict[str, Any]) -> dict[str, Any]:
    """Refuse wording that does not fit the measure: every item once, anchors where a line is."""
    extra = sorted(set(raw) - TOP_KEYS)
    if extra:
        raise InstrumentError(
            f"wording file: key {extra[0]!r} is not allowed; allowed: {', '.join(sorted(TOP_KEYS))}"
        )
    given_id = raw.get("instrument")
    if given_id is not None and given_id != instrument.id:
        raise InstrumentError(
            f"wording file: instrument {str(given_id)[:40]!r} does not match; this upload is for "
            f"{instrument.id!r} ({instrument.short_name})"
        )
    instructions = _words(raw.get("instructions"), "instructions", MAX_INSTRUCTIONS)
    items = raw.get("items")
    if not isinstance(items, list) or not items:
        raise InstrumentError(
            f"wording file: items must be a list with one entry per item, 1 to {instrument.n_items}"
        )
    by_id = _by_item(instrument, items)
    return {
        "instructions": instructions,
        "items": {
            item.id: _item_wording(instrument, item, by_id[item.id]) for item in instrument.items
        },
    }


def _by_item(instrument: Instrument, items: list[Any]) -> dict[str, dict[str, Any]]:
    expected = [i.id for i in instrument.items]
    span = f"the {instrument.short_name} has items 1 to {len(expected)}"
    by_id: dict[str, dict[str, Any]] = {}
    for entry in items:
        if not isinstance(entry, dict):
            raise InstrumentError("wording file: each item must be an object with item and text")
        key = str(entry.get("item", "")).strip()
        if key not in expected:
            raise InstrumentError(f"wording file: item {key[:12]!r} is one too many: {span}")
        if key in by_id:
            raise InstrumentError(f"wording file: item {key} is given twice: {span}, once each")
        bad = sorted(set(entry) - ITEM_KEYS)
        if bad:
            raise InstrumentError(
                f"wording file: item {key}: key {bad[0]!r} is not allowed; "
                f"allowed: {', '.join(sorted(ITEM_KEYS))}"
            )
        by_id[key] = entry
    missing = [i for i in expected if i not in by_id]
    if missing:
        raise InstrumentError(f"wording file: item {missing[0]} is missing: {span}")
    return by_id


def _item_wording(instrument: Instrument, item: Item, entry: dict[str, Any]) -> dict[str, str]:
    where = f"item {item.id}"
    out = {"text": _words(entry.get("text"), f"{where}: text", MAX_TEXT)}
    scale = instrument.scale_of(item)
    low, high = entry.get("low_anchor"), entry.get("high_anchor")
    if scale.type == "ordinal":
        if low is not None or high is not None:
            options = " / ".join(o.label for o in scale.options)
            raise InstrumentError(
                f"wording file: {where}: anchors are not used, its answers are the options "
                f"({options}); leave low_anchor and high_anchor empty"
            )
        return out
    if scale.low_anchor and scale.high_anchor and low is None and high is None:
        return out
    out["low_anchor"] = _words(low, f"{where}: low_anchor", MAX_ANCHOR, "a line shows both ends")
    out["high_anchor"] = _words(high, f"{where}: high_anchor", MAX_ANCHOR, "a line shows both ends")
    return out


def _words(value: Any, field: str, limit: int, why: str = "") -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        because = f" ({why})" if why else ""
        raise InstrumentError(f"wording file: {field} is missing{because}; allowed: non-empty text")
    if not isinstance(value, str):
        raise InstrumentError(f"wording file: {field} must be text, got {type(value).__name__}")
    clean = " ".join(value.split())
    if len(clean) > limit:
        raise InstrumentError(f"wording file: {field} has {len(clean)} characters; at most {limit}")
    return clean


def apply_wording(instrument: Instrument, wording: dict[str, Any]) -> Instrument:
    """The measure with a clinic's checked wording: shown on its forms, never exported."""
    items = wording.get("items", {})
    new_items = tuple(
        item.model_copy(
            update={
                "local_text": items[item.id]["text"],
                "local_low_anchor": items[item.id].get("low_anchor"),
                "local_high_anchor": items[item.id].get("high_anchor"),
            }
        )
        for item in instrument.items
    )
    return instrument.model_copy(
        update={
            "items": new_items,
            "instructions": wording.get("instructions") or instrument.instructions,
            "overlay_applied": True,
        }
    )
