"""Load instrument definitions from their YAML files and apply a clinic's licensed overlay."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from alliance.instruments.model import Instrument, InstrumentError

INSTRUMENT_IDS: tuple[str, ...] = ("phq9", "gad7", "core10", "ors", "srs", "wai_sr", "gbo")


def _definition_text(instrument_id: str) -> str:
    folder = resources.files("alliance.instruments") / "definitions"
    return (folder / f"{instrument_id}.yaml").read_text(encoding="utf-8")


def parse_definition(text: str, *, origin: str = "definition") -> Instrument:
    """Validate one definition's YAML against the schema; errors name the field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InstrumentError(f"{origin}: not valid YAML ({exc.__class__.__name__})") from exc
    if not isinstance(raw, dict):
        raise InstrumentError(f"{origin}: expected a mapping at the top level")
    try:
        return Instrument.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise InstrumentError(f"{origin}: {where}: {first['msg']}") from exc


@cache
def _shipped(instrument_id: str) -> Instrument:
    instrument = parse_definition(_definition_text(instrument_id), origin=f"{instrument_id}.yaml")
    if instrument.id != instrument_id:
        raise InstrumentError(f"{instrument_id}.yaml declares id {instrument.id!r}")
    return instrument


def load_instrument(instrument_id: str, overlay: Path | None = None) -> Instrument:
    """The shipped definition of one instrument, with a clinic's licensed wording if given."""
    if instrument_id not in INSTRUMENT_IDS:
        raise InstrumentError(
            f"instrument {instrument_id!r} is unknown; allowed: {', '.join(INSTRUMENT_IDS)}"
        )
    instrument = _shipped(instrument_id)
    if overlay is None:
        return instrument
    entries = _read_overlay(overlay)
    entry = entries.get(instrument_id)
    if entry is None:
        return instrument
    return apply_overlay(instrument, entry, origin=str(overlay.name))


def list_instruments(overlay: Path | None = None) -> list[Instrument]:
    """Every shipped instrument, in a stable order."""
    return [load_instrument(i, overlay) for i in INSTRUMENT_IDS]


def _read_overlay(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InstrumentError(f"overlay {path.name}: cannot be read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise InstrumentError(f"overlay {path.name}: not valid YAML") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("instruments", {}), dict):
        raise InstrumentError(
            f"overlay {path.name}: expected a mapping 'instruments: {{<id>: {{items: ...}}}}'"
        )
    instruments: dict[str, Any] = raw.get("instruments", {})
    unknown = sorted(set(instruments) - set(INSTRUMENT_IDS))
    if unknown:
        raise InstrumentError(
            f"overlay {path.name}: instrument {unknown[0]!r} is unknown; "
            f"allowed: {', '.join(INSTRUMENT_IDS)}"
        )
    return instruments


_SCALE_KEYS = ("type", "min", "max", "step", "options")


def apply_overlay(instrument: Instrument, entry: Any, *, origin: str = "overlay") -> Instrument:
    """Overlay licensed wording; refuse anything that changes the items or the scale.

    The overlay may only add wording: an item's text (and, optionally, instructions). Scores,
    keys and cutoffs are facts from the definition, so an overlay that restates a scale must
    restate it exactly.
    """
    where = f"overlay {origin}, {instrument.id}"
    if not isinstance(entry, dict):
        raise InstrumentError(f"{where}: expected a mapping with 'items'")
    allowed_top = {"items", "instructions", "scales"}
    extra = sorted(set(entry) - allowed_top)
    if extra:
        raise InstrumentError(
            f"{where}: key {extra[0]!r} is not allowed; allowed: {', '.join(sorted(allowed_top))}"
        )
    for name, scale in (entry.get("scales") or {}).items():
        if name not in instrument.scales:
            raise InstrumentError(f"{where}: scale {name!r} does not exist in the definition")
        _same_scale(instrument, name, scale, where)
    items = entry.get("items")
    if not isinstance(items, dict):
        raise InstrumentError(f"{where}: 'items' must map item numbers '1'..'n' to wording")
    expected = [i.id for i in instrument.items]
    given = [str(k) for k in items]
    if sorted(given) != sorted(expected):
        missing = [i for i in expected if i not in given]
        unknown = [i for i in given if i not in expected]
        detail = f"unknown item {unknown[0]!r}" if unknown else f"item {missing[0]!r} is missing"
        raise InstrumentError(
            f"{where}: {detail}; an overlay must give wording for items 1 to {len(expected)}"
        )
    new_items = []
    for item in instrument.items:
        value = items.get(item.id, items.get(int(item.id)))
        if isinstance(value, dict):
            bad = sorted(set(value) - {"text", "scale", *_SCALE_KEYS})
            if bad:
                raise InstrumentError(f"{where}: item {item.id}: key {bad[0]!r} is not allowed")
            if "scale" in value and value["scale"] != item.scale:
                raise InstrumentError(
                    f"{where}: item {item.id}: scale {value['scale']!r} changes the scale; "
                    f"allowed: {item.scale!r} as defined"
                )
            if any(k in value for k in _SCALE_KEYS):
                _same_scale(instrument, item.scale, value, f"{where}: item {item.id}")
            value = value.get("text")
        if not isinstance(value, str) or not value.strip():
            raise InstrumentError(f"{where}: item {item.id}: wording must be non-empty text")
        new_items.append(item.model_copy(update={"local_text": value.strip()}))
    update: dict[str, Any] = {"items": tuple(new_items), "overlay_applied": True}
    if isinstance(entry.get("instructions"), str):
        update["instructions"] = entry["instructions"]
    return instrument.model_copy(update=update)


def _same_scale(instrument: Instrument, name: str, given: Any, where: str) -> None:
    """Refuse an overlay whose restated scale differs in any key the scoring depends on."""
    scale = instrument.scales[name]
    if not isinstance(given, dict):
        raise InstrumentError(f"{where}: scale {name!r} must be a mapping")
    defined: dict[str, Any] = {
        "type": scale.type,
        "min": scale.low,
        "max": scale.high,
        "step": scale.step,
        "options": [o.code for o in scale.options] if scale.type == "ordinal" else None,
    }
    for key in _SCALE_KEYS:
        if key not in given:
            continue
        value = given[key]
        if key == "options" and isinstance(value, list):
            value = [o.get("code") if isinstance(o, dict) else o for o in value]
        expected = defined[key]
        same = value == expected
        if key in ("min", "max", "step") and isinstance(value, int | float):
            same = expected is not None and float(value) == float(expected)
        if not same:
            raise InstrumentError(
                f"{where}: {key} {value!r} changes the scale of {instrument.id}; "
                f"allowed: {expected!r} as defined (an overlay adds wording only)"
            )
