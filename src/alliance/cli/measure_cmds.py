"""Measure commands: list instruments, score an administration, classify change, FHIR export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from alliance.cli.errors import BadInput

if TYPE_CHECKING:
    from alliance.instruments import Score


def _overlay() -> Path | None:
    from alliance.config import load_settings

    return load_settings().instrument_overlay


def _parse_answers(text: str) -> dict[str, Any]:
    try:
        answers = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(
            f'--answers: not valid JSON ({exc.msg}); allowed: an object such as {{"1": 2, "2": 0}}'
        ) from exc
    if not isinstance(answers, dict):
        raise BadInput(
            f"--answers: a JSON {type(answers).__name__} is not allowed; allowed: an object keyed "
            'by item number, e.g. {"1": 2, "2": 0}'
        )
    return answers


def _instrument_id(value: str) -> str:
    from alliance.instruments import INSTRUMENT_IDS

    if value not in INSTRUMENT_IDS:
        raise BadInput(f"instrument {value!r} is unknown; allowed: {', '.join(INSTRUMENT_IDS)}")
    return value


@click.command("instruments", epilog="Example: alliance instruments --json")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def instruments_cmd(as_json: bool) -> None:
    """List the measures: id, name, items, licence and whether the wording ships."""
    from rich.console import Console
    from rich.table import Table

    from alliance.instruments import list_instruments

    rows = list_instruments(_overlay())
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "id": i.id,
                        "name": i.name,
                        "items": i.n_items,
                        "licence": i.licence_name,
                        "wording_ships": i.wording_ships,
                        "overlay_applied": i.overlay_applied,
                        "time_frame": i.time_frame,
                    }
                    for i in rows
                ],
                indent=2,
            )
        )
        return
    table = Table(title="Instruments")
    for column in ("id", "name", "items", "licence", "wording"):
        table.add_column(column)
    for i in rows:
        wording = "shipped" if i.wording_ships else "not shipped"
        if i.overlay_applied:
            wording += " (local overlay)"
        table.add_row(i.id, i.name, str(i.n_items), i.licence_name, wording)
    Console().print(table)


@click.command(
    "score",
    epilog="Example: alliance score phq9 --json --answers "
    """'{"1":1,"2":2,"3":1,"4":0,"5":0,"6":1,"7":0,"8":0,"9":1}'""",
)
@click.argument("instrument")
@click.option("--answers", required=True, help='JSON object keyed by item number "1".."n".')
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def score_cmd(instrument: str, answers: str, as_json: bool) -> None:
    """Score one administration: total, subscales, band, caseness, flags and validity."""
    from alliance.instruments import score

    result = score(_instrument_id(instrument), _parse_answers(answers))
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        _print_score(result)
    if result.validity == "invalid":
        # Too many unanswered items: the result is shown, but the command fails.
        raise BadInput(f"{result.instrument}: {result.reason}")


def _print_score(result: Score) -> None:
    total = "—" if result.total is None else f"{result.total:g}"
    click.echo(f"{result.instrument}: total {total} ({result.validity})")
    if result.reason:
        click.echo(f"  {result.reason}")
    if result.band:
        click.echo(f"  band: {result.band}")
    if result.caseness is not None:
        click.echo(f"  clinical range: {'yes' if result.caseness else 'no'}")
    for name, value in result.subscales.items():
        click.echo(f"  {name}: {value:g}")
    for flag in result.flags:
        click.echo(f"  FLAG {flag}")


@click.command("change", epilog="Example: alliance change phq9 --pre 16 --post 8 --json")
@click.argument("instrument")
@click.option("--pre", required=True, type=float, help="Total at the first administration.")
@click.option("--post", required=True, type=float, help="Total at the later administration.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def change_cmd(instrument: str, pre: float, post: float, as_json: bool) -> None:
    """Reliable change (Jacobson & Truax) and its classification between two totals."""
    from alliance.instruments import classify_change

    result = classify_change(_instrument_id(instrument), pre, post)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    rc = "—" if result.rc is None else f"{result.rc:.2f}"
    click.echo(
        f"{result.instrument}: {result.pre:g} -> {result.post:g} (change {result.change:+g}, "
        f"RC {rc}, reliable at {result.threshold:g}): {result.classification}"
    )


@click.group("fhir", epilog="Example: alliance fhir questionnaire phq9")
def fhir_group() -> None:
    """FHIR R4 export and import of measures (shipped wording only)."""


@fhir_group.command("questionnaire", epilog="Example: alliance fhir questionnaire gad7")
@click.argument("instrument")
def fhir_questionnaire_cmd(instrument: str) -> None:
    """Print an instrument as a FHIR Questionnaire (JSON)."""
    from alliance.instruments import fhir as fhir_mapping

    resource = fhir_mapping.questionnaire(_instrument_id(instrument))
    click.echo(resource.model_dump_json(indent=2, exclude_none=True))


@fhir_group.command(
    "response",
    epilog="""Example: alliance fhir response ors --answers '{"1":4.5,"2":5,"3":6.1,"4":5}'""",
)
@click.argument("instrument")
@click.option("--answers", required=True, help='JSON object keyed by item number "1".."n".')
@click.option("--id", "response_id", default=None, help="Resource id of the response.")
def fhir_response_cmd(instrument: str, answers: str, response_id: str | None) -> None:
    """Print an administration as a Bundle-free pair: QuestionnaireResponse and Observation."""
    from alliance.instruments import fhir as fhir_mapping
    from alliance.instruments import score

    instrument_id = _instrument_id(instrument)
    parsed = _parse_answers(answers)
    response = fhir_mapping.questionnaire_response(instrument_id, parsed, response_id=response_id)
    result = score(instrument_id, parsed)
    observation = fhir_mapping.observation(result, response_id=response_id)
    click.echo(
        json.dumps(
            [
                json.loads(response.model_dump_json(exclude_none=True)),
                json.loads(observation.model_dump_json(exclude_none=True)),
            ],
            indent=2,
        )
    )


@fhir_group.command("import", epilog="Example: alliance fhir import response.json --json")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the score as JSON.")
def fhir_import_cmd(path: Path, as_json: bool) -> None:
    """Read a QuestionnaireResponse file back into answers and score it."""
    from alliance.instruments import fhir as fhir_mapping

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(f"{path.name}: cannot be read ({exc.strerror})") from exc
    instrument_id, answers, result = fhir_mapping.import_questionnaire_response(text)
    payload = {"instrument": instrument_id, "answers": answers, "score": result.to_dict()}
    if as_json:
        click.echo(json.dumps(payload, indent=2))
    else:
        total = "—" if result.total is None else f"{result.total:g}"
        click.echo(f"{instrument_id}: total {total} ({result.validity})")


@click.command("instrument", epilog="Example: alliance instrument core10")
@click.argument("instrument")
def instrument_cmd(instrument: str) -> None:
    """Show one instrument's items, scale, scoring key and licence."""
    from alliance.instruments import load_instrument

    definition = load_instrument(_instrument_id(instrument), _overlay())
    click.echo(f"{definition.name} ({definition.id}), {definition.version}")
    click.echo(f"Citation: {definition.citation}")
    click.echo(f"Licence: {definition.licence_name}")
    if definition.licence.notice:
        click.echo(f"  {definition.licence.notice}")
    if definition.time_frame:
        click.echo(f"Time frame: {definition.time_frame}")
    for item in definition.items:
        scale = definition.scale_of(item)
        mark = " (reversed)" if item.reversed else ""
        click.echo(f"  {item.id}. {item.display_text}{mark} — {scale.allowed()}")
