"""Subcommands registered on `alliance` (see alliance.cli): `alliance transcript ...`."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cache, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

# TIERS names the choices of --tier, so it is needed to declare the options; every command here
# codes or trains, so the transcripts package loads anyway.
from alliance.files import csv_writer
from alliance.transcripts import (
    TIERS,
    code_file,
    latest_by_line,
    make_correction,
    read_corrections,
    session_profile,
)
from alliance.transcripts.corrections import append_corrections
from alliance.transcripts.model import CodedUtterance, Role

if TYPE_CHECKING:
    from rich.console import Console

CORRECTIONS_DEFAULT = "transcript-corrections.jsonl"


@cache
def _err() -> Console:
    """One console on stderr, shared by progress bars and warnings so they do not overwrite."""
    from rich.console import Console

    return Console(stderr=True)


def _speakers(values: tuple[str, ...]) -> dict[str, Role]:
    out: dict[str, Role] = {}
    for v in values:
        name, sep, role = v.rpartition("=")
        if not sep or not name.strip() or role not in ("therapist", "client"):
            raise click.BadParameter(
                "expected NAME=therapist or NAME=client", param_hint="--speaker"
            )
        out[name.strip()] = "therapist" if role == "therapist" else "client"
    return out


def _path_option(*decls: str, help: str) -> Callable[[click.decorators.FC], click.decorators.FC]:
    """An optional path option: None when not given."""
    return click.option(*decls, type=click.Path(path_type=Path), default=None, help=help)


@dataclass(frozen=True)
class _Coding:
    """How a command codes a file: the options `_common` declares, as one argument."""

    tier: str
    speaker: tuple[str, ...]
    topic: str = ""
    corrections_path: Path | None = None
    max_mb: float = 20.0

    def code(self, path: str) -> list[CodedUtterance]:
        fixes = None
        if self.corrections_path is not None and self.corrections_path.is_file():
            fixes = latest_by_line(read_corrections(self.corrections_path), Path(path).name)
        transcript, coded = code_file(
            path,
            tier=self.tier,
            speakers=_speakers(self.speaker),
            topic=self.topic,
            corrections=fixes,
            max_bytes=int(self.max_mb * 1048576),
        )
        for w in transcript.warnings:
            _err().print(f"[yellow]warning[/yellow] {w}", highlight=False)
        return coded


_CODING_FIELDS = tuple(f.name for f in fields(_Coding))


def _common(command: Callable[..., None]) -> Callable[..., None]:
    """Declare the coding options; the command receives them as `coding`."""

    @wraps(command)
    def f(**options: Any) -> None:
        coding = _Coding(**{name: options.pop(name) for name in _CODING_FIELDS})
        command(coding=coding, **options)

    f = click.option(
        "--tier",
        type=click.Choice(TIERS),
        default="default",
        show_default=True,
        help="default: fast, no torch; embeddings: needs the embeddings extra",
    )(f)
    f = click.option(
        "--speaker",
        "speaker",
        multiple=True,
        metavar="NAME=ROLE",
        help="map a name used in the file to therapist or client (repeatable)",
    )(f)
    f = click.option("--topic", default="", help="the target behaviour, e.g. 'reducing drinking'")(
        f
    )
    f = _path_option(
        "--corrections", "corrections_path", help="apply corrections from this JSONL file"
    )(f)
    f = click.option(
        "--max-mb",
        type=float,
        default=20.0,
        show_default=True,
        help="refuse files larger than this",
    )(f)
    return f


@click.group("transcript", epilog="Example: alliance transcript code session.txt --json")
def transcript() -> None:
    """Code session transcripts (MITI-style) and profile them. Feedback, never a verdict."""


@transcript.command("code", epilog="Example: alliance transcript code s1.txt s2.vtt --csv")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="print a JSON list of coded utterances")
@click.option("--csv", "as_csv", is_flag=True, help="print CSV rows")
@_common
def code_cmd(files: tuple[str, ...], as_json: bool, as_csv: bool, coding: _Coding) -> None:
    """Code each utterance of one or more transcripts (text, .vtt, .srt, .jsonl)."""
    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    from rich.progress import Progress

    results: list[tuple[str, list[CodedUtterance]]] = []
    with Progress(console=_err(), transient=True) as progress:
        task = progress.add_task("coding", total=len(files))
        for f in files:
            results.append((f, coding.code(f)))
            progress.advance(task)
    if as_json:
        out = []
        for f, coded in results:
            for c in coded:
                out.append({"file": f, **c.as_dict()})
        click.echo(json.dumps(out, ensure_ascii=False, indent=1))
        return
    if as_csv:
        buf = io.StringIO()
        w = csv_writer(buf)
        w.writerow(["file", "line", "speaker", "code", "confidence", "markers", "text"])
        for f, coded in results:
            for c in coded:
                w.writerow(
                    [
                        f,
                        c.line,
                        c.speaker,
                        c.code,
                        f"{c.confidence:.3f}",
                        ";".join(m.name for m in c.markers),
                        c.text,
                    ]
                )
        click.echo(buf.getvalue(), nl=False)
        return
    for f, coded in results:
        click.echo(f"# {f}")
        for c in coded:
            marks = f"  [{', '.join(m.name for m in c.markers)}]" if c.markers else ""
            click.echo(
                f"{c.line:>5} {c.speaker:<9} {c.code:<19} {c.confidence:.2f}{marks}  {c.text}"
            )


@transcript.command("profile", epilog="Example: alliance transcript profile session.vtt --json")
@click.argument("file", type=click.Path())
@click.option("--json", "as_json", is_flag=True)
@_common
def profile_cmd(file: str, as_json: bool, coding: _Coding) -> None:
    """Session profile: talk share, R:Q, complex reflections, open questions, change talk."""
    prof = session_profile(coding.code(file))
    if as_json:
        click.echo(json.dumps(prof.as_dict(), ensure_ascii=False, indent=1))
        return
    for name, value in prof.metrics().items():
        shown = "n/a" if value is None else f"{value:.2f}"
        band = prof.bands().get(name)
        click.echo(f"{name:<30} {shown:>6}" + (f"  ({band})" if band else ""))
    for m in prof.markers:
        click.echo(f"line {m.line:>4}  {m.name:<26} {m.confidence:.2f}  {m.text}")
    click.echo("")
    click.echo(str(prof.as_dict()["summary"]))


@transcript.command(
    "correct",
    epilog="Example: alliance transcript correct s1.txt --line 12 --code reflection_complex",
)
@click.argument("file", type=click.Path())
@click.option("--line", "line", type=int, required=True, help="line where the utterance starts")
@click.option("--code", "code", required=True, help="the right code")
@click.option(
    "--corrections",
    "corrections_path",
    type=click.Path(path_type=Path),
    default=Path(CORRECTIONS_DEFAULT),
    show_default=True,
)
@click.option("--tier", type=click.Choice(TIERS), default="default")
@click.option("--speaker", "speaker", multiple=True, metavar="NAME=ROLE")
def correct_cmd(
    file: str, line: int, code: str, corrections_path: Path, tier: str, speaker: tuple[str, ...]
) -> None:
    """Record a human correction of one code; `train --corrections` learns from the file."""
    coded = _Coding(tier, speaker).code(file)
    corr = make_correction(coded, Path(file).name, line, code)
    append_corrections(corrections_path, [corr])
    click.echo(f"line {line}: {corr.was} -> {code} (saved to {corrections_path})")


@transcript.command("train", epilog="Example: alliance transcript train --tier default")
@click.option(
    "--tier",
    type=click.Choice((*TIERS, "static")),
    default="default",
    show_default=True,
    help="static: distil the default tier's token vectors from the packaged MiniLM "
    "(needs the embeddings extra; then retrain the default tier)",
)
@_path_option(
    "--data",
    help="folder with annomi/ (default: shared/data near the repo or ALLIANCE_TRANSCRIPT_DATA)",
)
@_path_option(
    "--corrections", "corrections_path", help="add these human corrections to the training data"
)
@_path_option("--out", help="weights file (default: the package's models folder)")
@click.option("--device", default=None, help="embeddings tier: cpu or cuda (default: auto)")
def train_cmd(
    tier: str,
    data: Path | None,
    corrections_path: Path | None,
    out: Path | None,
    device: str | None,
) -> None:
    """Retrain a tier from the labelled data (fixed seed; writes weights and attribution)."""
    from rich.progress import Progress

    from alliance.transcripts import train as tr
    from alliance.transcripts.linear import MODELS_DIR

    corrections = read_corrections(corrections_path) if corrections_path else []
    with Progress(console=_err()) as progress:
        if tier == "static":
            from alliance.transcripts.static import STATIC_WEIGHTS, distil

            progress.add_task("encoding the vocabulary", total=None)
            target = out or STATIC_WEIGHTS
            distil(target)
        elif tier == "default":
            task = progress.add_task("training heads", total=5)
            target = out or MODELS_DIR / "default.npz"
            tr.train_default(data, target, corrections, step=lambda _h: progress.advance(task))
        else:
            task = progress.add_task("fine-tuning", total=None)
            target = out or MODELS_DIR / "embeddings.npz"
            tr.train_embeddings_tier(
                data,
                target,
                device,
                corrections,
                progress=lambda s, n: progress.update(task, completed=s, total=n),
            )
    click.echo(tr.describe(target))


@transcript.command("attach", epilog="Example: alliance transcript attach s1.txt --session 3")
@click.argument("file", type=click.Path())
@click.option("--session", "session_id", type=int, required=True, help="session id in the store")
@click.option(
    "--db",
    "database_url",
    metavar="URL",
    default=None,
    help="database URL (default: ALLIANCE_DATABASE_URL or the data folder)",
)
@_common
def attach_cmd(file: str, session_id: int, database_url: str | None, coding: _Coding) -> None:
    """Code a transcript and attach its profile (and corrections) to a session in the store."""
    from alliance.cli.core_cmds import engine_from
    from alliance.store.transcripts import attach_profile

    prof = session_profile(coding.code(file))
    corrections = []
    path = coding.corrections_path
    if path is not None and path.is_file():
        corrections = [c for c in read_corrections(path) if c.source == Path(file).name]
    # The stored profile keeps counts, bands and marker line numbers, not the utterance text.
    stored = prof.as_dict()
    stored["markers"] = [
        {"name": m.name, "line": m.line, "speaker": m.speaker, "confidence": m.confidence}
        for m in prof.markers
    ]
    pid = attach_profile(
        engine_from(database_url),
        session_id,
        stored,
        model_version=f"transcripts-{coding.tier}",
        corrections=corrections,
    )
    click.echo(f"profile {pid} attached to session {session_id}")


@transcript.command(
    "export-corrections",
    epilog="Example: alliance transcript export-corrections --user tess --out fixes.jsonl",
)
@click.option("--user", "username", required=True, help="the therapist whose corrections to export")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="JSON lines file")
@click.option("--db", "database_url", metavar="URL", default=None, help="database URL")
def export_corrections_cmd(username: str, out: Path, database_url: str | None) -> None:
    """Write the codes corrected in the app as training rows for `train --corrections`."""
    from alliance.cli.core_cmds import opened
    from alliance.services.transcript_practice import training_corrections

    with opened(database_url) as engine, engine.begin() as conn:
        rows, left_out = training_corrections(conn, username)
    append_corrections(out, rows)
    click.echo(f"{len(rows)} corrections written to {out}")
    if left_out:
        click.echo(f"{left_out} left out: their transcript's text was not kept or was deleted")
