"""Human corrections of codes: kept as JSON lines and read back as training rows."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from alliance.transcripts.corpus import LabelledUtterance
from alliance.transcripts.errors import CorrectionError
from alliance.transcripts.model import CLIENT_CODES, THERAPIST_CODES, CodedUtterance, Role


@dataclass(frozen=True)
class Correction:
    """A code a person set for one utterance, with the context the coder saw."""

    source: str
    line: int
    speaker: Role
    code: str
    text: str
    prev: str = ""
    next: str = ""
    was: str = ""


def validate_code(speaker: str, code: str) -> None:
    allowed = THERAPIST_CODES if speaker == "therapist" else CLIENT_CODES
    if code not in allowed:
        raise CorrectionError(
            f"code {code!r} is not a {speaker} code; allowed: {', '.join(allowed)}"
        )


def make_correction(
    coded: Sequence[CodedUtterance], source: str, line: int, code: str
) -> Correction:
    """Build a correction for the utterance starting at `line` of a coded transcript."""
    for i, c in enumerate(coded):
        if c.line == line:
            validate_code(c.speaker, code)
            return Correction(
                source=source,
                line=line,
                speaker=c.speaker,
                code=code,
                text=c.text,
                prev=coded[i - 1].text if i > 0 else "",
                next=coded[i + 1].text if i + 1 < len(coded) else "",
                was=c.code,
            )
    lines = ", ".join(str(c.line) for c in coded[:8])
    raise CorrectionError(
        f"line {line} does not start an utterance; utterances start at {lines}, …"
    )


def append_corrections(path: Path, corrections: Iterable[Correction]) -> int:
    """Append to a corrections JSONL file; returns how many were written."""
    items = list(corrections)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        for c in items:
            fh.write(json.dumps(asdict(c), ensure_ascii=False) + "\n")
    return len(items)


def read_corrections(path: Path) -> list[Correction]:
    """Read a corrections JSONL file; a bad line is an error naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CorrectionError(f"{path}: cannot be read ({exc.strerror})") from None
    out: list[Correction] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            corr = Correction(
                source=str(obj["source"]),
                line=int(obj["line"]),
                speaker=obj["speaker"],
                code=str(obj["code"]),
                text=str(obj["text"]),
                prev=str(obj.get("prev", "")),
                next=str(obj.get("next", "")),
                was=str(obj.get("was", "")),
            )
            if corr.speaker not in ("therapist", "client"):
                raise ValueError("speaker must be therapist or client")
            validate_code(corr.speaker, corr.code)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CorrectionError(f"{path}:{number}: not a valid correction ({exc})") from None
        out.append(corr)
    return out


def latest_by_line(corrections: Iterable[Correction], source: str) -> dict[int, str]:
    """The last code set for each line of one source (later corrections win)."""
    out: dict[int, str] = {}
    for c in corrections:
        if c.source == source:
            out[c.line] = c.code
    return out


def _row(c: Correction, k: int) -> list[LabelledUtterance]:
    """A correction as a three-turn conversation (prev, the turn, next) for training."""
    other: Role = "client" if c.speaker == "therapist" else "therapist"
    behaviour, talk, subtype = "", "", ""
    if c.speaker == "therapist":
        if c.code.startswith(("reflection", "question")):
            behaviour, subtype = c.code.split("_", 1)
        elif c.code in ("information", "advice"):
            behaviour, subtype = "therapist_input", c.code
        else:
            behaviour = "other"
    else:
        talk = c.code
    conv = f"correction-{k}"
    rows = []
    index = 0
    if c.prev:
        rows.append(LabelledUtterance(conv, index, other, c.prev, "", "", ""))
        index += 1
    rows.append(LabelledUtterance(conv, index, c.speaker, c.text, "", behaviour, talk, subtype))
    if c.next:
        rows.append(LabelledUtterance(conv, index + 1, other, c.next, "", "", ""))
    return rows


def apply_corrections(
    rows: Sequence[LabelledUtterance], corrections: Sequence[Correction]
) -> list[LabelledUtterance]:
    """Training rows plus one small unlabelled-context conversation per correction."""
    out = list(rows)
    for k, c in enumerate(corrections):
        out += _row(c, k)
    return out
