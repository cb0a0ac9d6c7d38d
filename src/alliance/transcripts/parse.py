"""Read transcripts in the forms clinicians have: plain text, WebVTT, SRT and JSON lines.

Errors and warnings name the file and line but never quote what was said (DOMAIN.md section 7).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alliance.transcripts.errors import TranscriptError
from alliance.transcripts.model import Role, Utterance

MAX_BYTES_DEFAULT = 20 * 1024 * 1024

# Labels a transcript commonly uses for each role; names are mapped with `speakers=`.
ROLE_ALIASES: dict[str, Role] = {
    "t": "therapist",
    "th": "therapist",
    "therapist": "therapist",
    "counsellor": "therapist",
    "counselor": "therapist",
    "clinician": "therapist",
    "interviewer": "therapist",
    "practitioner": "therapist",
    "coach": "therapist",
    "c": "client",
    "cl": "client",
    "client": "client",
    "patient": "client",
    "pt": "client",
}

_PREFIX = re.compile(r"^\s*([A-Za-z][\w .'\-]{0,39}?)\s*:\s?(.*)$")
_VOICE = re.compile(r"^<v(?:\.[\w.]+)?\s+([^>]+)>(.*?)(?:</v>)?$")
_TIMING = re.compile(
    r"^\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})(?:\s.*)?$"
)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class ParseWarning:
    """Something odd in a transcript that was worked around; names the line."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class Transcript:
    """A parsed transcript: its utterances in order and any warnings met on the way."""

    path: str
    utterances: list[Utterance]
    warnings: list[ParseWarning] = field(default_factory=list)


def _role(label: str, speakers: Mapping[str, Role]) -> Role | None:
    key = label.strip()
    for name, role in speakers.items():
        if name.strip().lower() == key.lower():
            return role
    return ROLE_ALIASES.get(key.lower())


def _decode(raw: bytes, path: str, warnings: list[ParseWarning]) -> list[str]:
    """Decode UTF-8 per line; a line that is not UTF-8 is read as Windows-1252, with a warning."""
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    elif raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16").splitlines()
        except UnicodeDecodeError as exc:
            raise TranscriptError(path, None, "starts like UTF-16 but does not decode") from exc
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        pass
    lines: list[str] = []
    for number, chunk in enumerate(raw.splitlines(), start=1):
        try:
            lines.append(chunk.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(chunk.decode("cp1252", errors="replace"))
            warnings.append(
                ParseWarning(path, number, "not UTF-8; read as Windows-1252 (mixed encodings)")
            )
    return lines


def detect_format(path: Path, first_lines: list[str]) -> str:
    """Guess the format from the extension, then from the content."""
    suffix = path.suffix.lower()
    if suffix in (".vtt", ".srt", ".jsonl"):
        return suffix[1:]
    if suffix == ".ndjson":
        return "jsonl"
    head = [ln.strip() for ln in first_lines if ln.strip()][:3]
    if head and head[0].startswith("WEBVTT"):
        return "vtt"
    if head and head[0].startswith("{"):
        return "jsonl"
    if len(head) >= 2 and head[0].isdigit() and _TIMING.match(head[1]):
        return "srt"
    return "text"


def read_transcript(
    path: str | Path,
    *,
    speakers: Mapping[str, Role] | None = None,
    fmt: str | None = None,
    max_bytes: int = MAX_BYTES_DEFAULT,
) -> Transcript:
    """Read one transcript file; `speakers` maps names used in the file to roles."""
    p = Path(path)
    name = str(p)
    if not p.is_file():
        raise TranscriptError(name, None, "no such file")
    size = p.stat().st_size
    if size > max_bytes:
        raise TranscriptError(
            name,
            None,
            f"file is {size / 1048576:.1f} MiB; the limit is {max_bytes / 1048576:.1f} MiB "
            "(split the file, or raise the limit with --max-mb)",
        )
    return read_bytes(p.read_bytes(), name, speakers=speakers, fmt=fmt)


def decode_upload(raw: bytes, name: str) -> tuple[list[str], list[ParseWarning]]:
    """The lines of a transcript's bytes; refuses an empty or binary file."""
    if not raw.strip():
        raise TranscriptError(name, None, "file is empty; expected utterances with speakers")
    if b"\x00" in raw[:4096] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise TranscriptError(name, None, "file looks binary; expected a text transcript")
    warnings: list[ParseWarning] = []
    return _decode(raw, name, warnings), warnings


def read_bytes(
    raw: bytes,
    name: str,
    *,
    speakers: Mapping[str, Role] | None = None,
    fmt: str | None = None,
) -> Transcript:
    """Parse a transcript held in memory (an upload); `name` gives the format by its extension."""
    lines, warnings = decode_upload(raw, name)
    return parse_lines(
        lines,
        name,
        speakers=speakers,
        fmt=fmt or detect_format(Path(name), lines[:20]),
        warnings=warnings,
    )


@dataclass(frozen=True)
class SpeakerLabel:
    """A name a transcript uses for a speaker: where it first appears, how often, its role."""

    label: str
    first_line: int
    turns: int
    role: Role | None


def speaker_labels(lines: list[str], name: str, fmt: str) -> list[SpeakerLabel]:
    """The speaker names a transcript uses, in order of first appearance, with known roles.

    An upload form asks the person to map each to therapist or client; a file with none
    is refused, naming the line to look at.
    """
    found: dict[str, list[int]] = {}
    if fmt == "jsonl":
        _parse_jsonl_labels(lines, name, found)
    else:
        start = _after_vtt_header(lines, name) if fmt == "vtt" else 0
        for number, line in enumerate(lines[start:], start=start + 1):
            text = line.strip()
            vm = _VOICE.match(text)
            label = vm.group(1) if vm else (m.group(1) if (m := _PREFIX.match(text)) else None)
            if label is not None and "-->" not in text:
                found.setdefault(label.strip(), []).append(number)
    if not found:
        first = next((i for i, ln in enumerate(lines, start=1) if ln.strip()), 1)
        raise TranscriptError(
            name,
            first,
            "no speaker names found; expected lines like 'Therapist: …' and 'Client: …' "
            "(or WebVTT voices, <v Name>)",
        )
    return [
        SpeakerLabel(label, where[0], len(where), ROLE_ALIASES.get(label.lower()))
        for label, where in found.items()
    ]


def _json_lines(lines: list[str], name: str) -> Iterator[tuple[int, object]]:
    """Each non-blank line's number and its JSON value; a line that is not JSON is an error."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TranscriptError(name, number, f"not valid JSON ({exc.msg})") from None
        yield number, value


def _parse_jsonl_labels(lines: list[str], name: str, found: dict[str, list[int]]) -> None:
    for number, obj in _json_lines(lines, name):
        speaker = obj.get("speaker") if isinstance(obj, dict) else None
        if not isinstance(speaker, str) or not speaker.strip():
            raise TranscriptError(name, number, "field 'speaker' missing; expected a string")
        found.setdefault(speaker.strip(), []).append(number)


def parse_text(
    text: str,
    *,
    name: str = "<text>",
    speakers: Mapping[str, Role] | None = None,
    fmt: str = "text",
) -> Transcript:
    """Parse a transcript already in memory."""
    if not text.strip():
        raise TranscriptError(name, None, "transcript is empty; expected utterances with speakers")
    return parse_lines(text.splitlines(), name, speakers=speakers, fmt=fmt, warnings=[])


def parse_lines(
    lines: list[str],
    name: str,
    *,
    speakers: Mapping[str, Role] | None,
    fmt: str,
    warnings: list[ParseWarning],
) -> Transcript:
    """Dispatch on format; every format ends with at least one utterance or an error."""
    sp: Mapping[str, Role] = speakers or {}
    if fmt == "text":
        utterances = _parse_plain(lines, name, sp, warnings)
    elif fmt in ("vtt", "srt"):
        utterances = _parse_cues(lines, name, sp, warnings, vtt=fmt == "vtt")
    elif fmt == "jsonl":
        utterances = _parse_jsonl(lines, name, sp, warnings)
    else:
        raise TranscriptError(name, None, f"unknown format {fmt!r}; allowed: text, vtt, srt, jsonl")
    if not utterances:
        raise TranscriptError(
            name,
            None,
            "no utterances with a speaker found; prefix lines with T:/C:, Therapist:/Client: "
            "or map names to roles (--speaker NAME=therapist)",
        )
    roles = {u.speaker for u in utterances}
    if len(roles) == 1:
        warnings.append(
            ParseWarning(name, utterances[0].line, f"only {next(iter(roles))} utterances found")
        )
    return Transcript(name, utterances, warnings)


def _parse_plain(
    lines: list[str], name: str, speakers: Mapping[str, Role], warnings: list[ParseWarning]
) -> list[Utterance]:
    out: list[Utterance] = []
    current: tuple[int, Role, str, list[str]] | None = None
    unknown = 0
    orphan = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        m = _PREFIX.match(line)
        role = _role(m.group(1), speakers) if m else None
        if m and role is not None:
            if current is not None:
                out.append(_utt(current))
            current = (number, role, m.group(1).strip(), [m.group(2).strip()])
        elif m and current is None and unknown < 1:
            unknown += 1
            warnings.append(
                ParseWarning(
                    name,
                    number,
                    "speaker label not mapped to a role "
                    "(use --speaker NAME=therapist or NAME=client); line skipped",
                )
            )
        elif current is not None:
            current[3].append(line.strip())
        else:
            orphan += 1
            if orphan == 1:
                warnings.append(
                    ParseWarning(name, number, "text before the first speaker label; skipped")
                )
    if current is not None:
        out.append(_utt(current))
    return out


def _utt(current: tuple[int, Role, str, list[str]]) -> Utterance:
    line, role, label, parts = current
    return Utterance(line=line, speaker=role, text=" ".join(p for p in parts if p), name=label)


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    total = 0.0
    for part in parts:
        total = total * 60 + float(part)
    return total


def _parse_cues(
    lines: list[str],
    name: str,
    speakers: Mapping[str, Role],
    warnings: list[ParseWarning],
    *,
    vtt: bool,
) -> list[Utterance]:
    out: list[Utterance] = []
    last_role: Role | None = None
    last_label = ""
    for block_start, block in _blocks(lines, _after_vtt_header(lines, name) if vtt else 0):
        if vtt and block[0][1].strip().startswith(("NOTE", "STYLE", "REGION")):
            continue
        t_index = next((k for k, (_, ln) in enumerate(block) if "-->" in ln), None)
        if t_index is None:
            warnings.append(
                ParseWarning(name, block_start + 1, "cue without a timing line ('-->'); skipped")
            )
            continue
        start, end = _cue_timing(name, *block[t_index], warnings)
        text_lines = block[t_index + 1 :]
        if not text_lines:
            continue
        text_line_no = text_lines[0][0]
        role, label, raw_text = _cue_voice(" ".join(ln.strip() for _, ln in text_lines), speakers)
        text = _TAG.sub("", raw_text).strip()
        if role is None:
            if label:
                warnings.append(
                    ParseWarning(
                        name,
                        text_line_no,
                        "speaker not mapped to a role (use --speaker NAME=therapist); cue skipped",
                    )
                )
                continue
            if last_role is None:
                warnings.append(ParseWarning(name, text_line_no, "cue without a speaker; skipped"))
                continue
            # A cue with no voice continues the last speaker, as captioners split long turns.
            role, label = last_role, last_label
        last_role, last_label = role, label
        if text:
            out.append(Utterance(text_line_no, role, text, label, start, end))
    return out


def _after_vtt_header(lines: list[str], name: str) -> int:
    """The index of the line after 'WEBVTT' (blank lines may come before it)."""
    i = 0
    n = len(lines)
    while i < n and not lines[i].strip():
        i += 1
    if i >= n or not lines[i].strip().startswith("WEBVTT"):
        raise TranscriptError(name, i + 1, "a WebVTT file must start with 'WEBVTT'")
    return i + 1


def _blocks(lines: list[str], i: int) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """From index `i`, each cue: the blank-line separated block's index and its numbered lines."""
    n = len(lines)
    while i < n:
        while i < n and not lines[i].strip():
            i += 1
        block_start = i
        block: list[tuple[int, str]] = []
        while i < n and lines[i].strip():
            block.append((i + 1, lines[i]))
            i += 1
        if not block:
            return
        yield block_start, block


def _cue_timing(
    name: str, t_line: int, timing: str, warnings: list[ParseWarning]
) -> tuple[float | None, float | None]:
    """A cue's start and end in seconds; both None when its timing line cannot be read."""
    m = _TIMING.match(timing)
    if m is None:
        warnings.append(
            ParseWarning(name, t_line, "broken cue timing; text kept without timestamps")
        )
        return None, None
    start, end = _seconds(m.group(1)), _seconds(m.group(2))
    if end < start:
        warnings.append(
            ParseWarning(name, t_line, "cue ends before it starts; timestamps kept as read")
        )
    return start, end


def _cue_voice(raw_text: str, speakers: Mapping[str, Role]) -> tuple[Role | None, str, str]:
    """The role and label from a `<v Name>` tag or a mapped `Name:` prefix, and the rest."""
    vm = _VOICE.match(raw_text)
    if vm:
        label = vm.group(1).strip()
        return _role(label, speakers), label, vm.group(2)
    pm = _PREFIX.match(raw_text)
    if pm and _role(pm.group(1), speakers) is not None:
        label = pm.group(1).strip()
        return _role(label, speakers), label, pm.group(2)
    return None, "", raw_text


def _parse_jsonl(
    lines: list[str], name: str, speakers: Mapping[str, Role], warnings: list[ParseWarning]
) -> list[Utterance]:
    out: list[Utterance] = []
    for number, obj in _json_lines(lines, name):
        if not isinstance(obj, dict):
            raise TranscriptError(name, number, "each line must be a JSON object")
        speaker = obj.get("speaker")
        text = obj.get("text")
        if not isinstance(speaker, str) or not speaker.strip():
            raise TranscriptError(name, number, "field 'speaker' missing; expected a string")
        if not isinstance(text, str):
            raise TranscriptError(name, number, "field 'text' missing; expected a string")
        role = _role(speaker, speakers)
        if role is None:
            raise TranscriptError(
                name,
                number,
                "field 'speaker' is not a known role; allowed: therapist, client (or their "
                "aliases), or map names with --speaker NAME=therapist",
            )
        start_raw = obj.get("start")
        start: float | None = None
        if start_raw is not None:
            if isinstance(start_raw, bool) or not isinstance(start_raw, (int, float, str)):
                raise TranscriptError(name, number, "field 'start' must be seconds or hh:mm:ss")
            try:
                start = float(start_raw) if not isinstance(start_raw, str) else _seconds(start_raw)
            except ValueError:
                raise TranscriptError(
                    name, number, "field 'start' must be seconds or hh:mm:ss"
                ) from None
        if text.strip():
            out.append(Utterance(number, role, text.strip(), speaker.strip(), start))
        else:
            warnings.append(ParseWarning(name, number, "empty 'text'; skipped"))
    return out
