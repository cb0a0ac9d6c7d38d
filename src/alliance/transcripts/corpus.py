"""Labelled corpora for training and evaluation: AnnoMI and MIBot (see data notes in docs)."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alliance.transcripts.errors import TrainingDataError
from alliance.transcripts.model import Role


@dataclass(frozen=True)
class LabelledUtterance:
    """One utterance of a labelled conversation, with the labels the corpus gives it."""

    conversation: str
    index: int
    speaker: Role
    text: str
    topic: str
    behaviour: str  # AnnoMI main therapist behaviour, or "" for a client
    talk: str  # change / sustain / neutral, or "" for a therapist
    subtype: str = ""  # simple/complex, open/closed, information/advice/negotiation/options


def find_data_dir(explicit: str | Path | None = None) -> Path | None:
    """Where labelled data lives: `explicit`, else the transcript_data setting, else shared/data."""
    if explicit is not None:
        return Path(explicit)
    from alliance.config import load_settings  # at call time; pydantic is not needed to code

    configured = load_settings().transcript_data
    if configured is not None:
        return configured
    repo = Path(__file__).resolve().parents[3]
    for base in (Path.cwd(), Path.cwd().parent, repo, repo.parent):
        candidate = base / "shared" / "data"
        if (candidate / "annomi").is_dir():
            return candidate
    return None


def require_data_dir(explicit: str | Path | None = None) -> Path:
    """Like find_data_dir but raises a clear error when nothing is found."""
    found = find_data_dir(explicit)
    if found is None or not (found / "annomi").is_dir():
        where = "" if found is None else f" in {found}"
        raise TrainingDataError(
            f"transcript_data: labelled data not found{where}; pass --data DIR (a folder holding "
            "annomi/ and mibot/), set ALLIANCE_TRANSCRIPT_DATA, or place it in shared/data next "
            "to the repository"
        )
    return found


def _majority(values: list[str]) -> str:
    real = [v for v in values if v and v != "n/a"]
    if not real:
        return ""
    return Counter(real).most_common(1)[0][0]


def load_annomi(data_dir: Path) -> list[LabelledUtterance]:
    """AnnoMI-simple rows in conversation order, with subtypes joined from AnnoMI-full."""
    subtypes: dict[tuple[str, int], list[str]] = defaultdict(list)
    full = data_dir / "annomi" / "AnnoMI-full.csv"
    if full.is_file():
        with full.open(newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                key = (row["transcript_id"], int(row["utterance_id"]))
                behaviour = row["main_therapist_behaviour"]
                column = {
                    "reflection": "reflection_subtype",
                    "question": "question_subtype",
                    "therapist_input": "therapist_input_subtype",
                }.get(behaviour)
                if column:
                    subtypes[key].append(row[column])
    out: list[LabelledUtterance] = []
    with (data_dir / "annomi" / "AnnoMI-simple.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            speaker: Role = "therapist" if row["interlocutor"] == "therapist" else "client"
            key = (row["transcript_id"], int(row["utterance_id"]))
            behaviour = row["main_therapist_behaviour"] if speaker == "therapist" else ""
            out.append(
                LabelledUtterance(
                    conversation=row["transcript_id"],
                    index=int(row["utterance_id"]),
                    speaker=speaker,
                    text=row["utterance_text"],
                    topic=row["topic"].strip(),
                    behaviour=behaviour,
                    talk=row["client_talk_type"] if speaker == "client" else "",
                    subtype=_majority(subtypes.get(key, [])) if behaviour else "",
                )
            )
    out.sort(key=lambda u: (int(u.conversation), u.index))
    return out


MIBOT_BEHAVIOUR = {"R": "reflection", "Q": "question", "MICO": "other", "MIIN": "other"}
MIBOT_TALK = {"C": "change", "S": "sustain", "N": "neutral"}


def load_mibot(data_dir: Path) -> Iterator[tuple[str, list[LabelledUtterance], list[str]]]:
    """Each MIBot conversation: participant id, utterances, and the raw silver labels."""
    folder = data_dir / "mibot" / "transcripts"
    for path in sorted(folder.glob("*.json")):
        obj = json.loads(path.read_text(encoding="utf-8"))
        pid = str(obj["participant_id"])
        utts: list[LabelledUtterance] = []
        labels: list[str] = []
        for i, u in enumerate(obj["utterances"]):
            speaker: Role = "therapist" if u["speaker"] == "counsellor" else "client"
            label = str(u.get("auto_misc_label", ""))
            utts.append(
                LabelledUtterance(
                    conversation=pid,
                    index=i,
                    speaker=speaker,
                    text=str(u["text"]),
                    topic="smoking cessation",
                    behaviour=MIBOT_BEHAVIOUR.get(label, "") if speaker == "therapist" else "",
                    talk=MIBOT_TALK.get(label, "") if speaker == "client" else "",
                )
            )
            labels.append(label)
        yield pid, utts, labels


def load_care(data_dir: Path) -> dict[str, float]:
    """Mean CARE item score (CAREQ1-10, Mercer 2004; 1-5 each) per participant."""
    out: dict[str, float] = {}
    with (data_dir / "mibot" / "data.csv").open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            items = []
            for k in range(1, 11):
                v = row.get(f"CAREQ{k}", "")
                try:
                    items.append(float(v))
                except ValueError:
                    continue
            if len(items) == 10:
                out[row["ParticipantID"]] = sum(items) / 10
    return out
