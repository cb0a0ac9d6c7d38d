"""Parsers: plain text, WebVTT, SRT, JSON lines, and every kind of bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from alliance.transcripts import TranscriptError, parse_text, read_transcript


def test_it_reads_plain_text_prefixes_and_continuation_lines(fixtures: Path) -> None:
    t = read_transcript(fixtures / "session.txt")
    assert [u.speaker for u in t.utterances[:4]] == ["therapist", "client", "therapist", "client"]
    assert t.utterances[3].line == 4
    assert t.utterances[3].text.endswith("my wife worries about it.")
    assert len(t.utterances) == 14
    assert t.warnings == []


def test_it_maps_names_to_roles_with_an_option() -> None:
    text = "Anna: How are you?\nBen: Tired.\nAnna: Tired, and still here."
    t = parse_text(text, speakers={"Anna": "therapist", "ben": "client"})
    assert [(u.line, u.speaker, u.name) for u in t.utterances] == [
        (1, "therapist", "Anna"),
        (2, "client", "Ben"),
        (3, "therapist", "Anna"),
    ]


def test_it_reads_webvtt_voices_and_keeps_timestamps(fixtures: Path) -> None:
    t = read_transcript(fixtures / "session.vtt", speakers={"Dr Lee": "therapist", "Sam": "client"})
    assert [u.speaker for u in t.utterances] == ["therapist", "client", "therapist"]
    assert t.utterances[1].start == 4.5
    assert t.utterances[1].end == 9.0
    assert t.utterances[1].line == 9
    # The fourth cue's timing line has '->' instead of '-->': skipped, with its line.
    assert [(w.line, "timing" in w.message) for w in t.warnings] == [(15, True)]


def test_it_warns_with_the_line_on_a_broken_cue_timing(tmp_path: Path) -> None:
    f = tmp_path / "broken.vtt"
    f.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v T>Hello there?\n\n"
        "00:00:03 --> 00:00:x\n<v C>Hi.\n",
        encoding="utf-8",
    )
    t = read_transcript(f)
    assert [u.text for u in t.utterances] == ["Hello there?", "Hi."]
    assert t.utterances[1].start is None
    assert [w.line for w in t.warnings] == [6]
    assert "broken cue timing" in t.warnings[0].message


def test_it_reads_srt_with_name_prefixes(fixtures: Path) -> None:
    t = read_transcript(fixtures / "session.srt")
    assert [u.speaker for u in t.utterances] == ["therapist", "client", "therapist"]
    assert t.utterances[2].start == 9.5
    assert t.utterances[0].text == "What would you like to talk about today?"


def test_it_reads_json_lines_with_optional_start(fixtures: Path) -> None:
    t = read_transcript(fixtures / "session.jsonl")
    assert [(u.speaker, u.start) for u in t.utterances] == [
        ("therapist", 0.0),
        ("client", 5.0),
        ("therapist", None),
    ]


def test_it_names_file_and_line_for_a_bad_json_line(tmp_path: Path) -> None:
    f = tmp_path / "bad.jsonl"
    f.write_text('{"speaker": "T", "text": "Hi"}\n{"speaker": "C", "text": 3}\n')
    with pytest.raises(TranscriptError) as info:
        read_transcript(f)
    assert info.value.line == 2
    assert str(info.value).startswith(f"{f}:2: field 'text'")


def test_it_refuses_an_empty_file(tmp_path: Path) -> None:
    f = tmp_path / "empty.txt"
    f.write_text("\n  \n")
    with pytest.raises(TranscriptError, match="empty"):
        read_transcript(f)


def test_it_refuses_a_file_with_no_speakers(tmp_path: Path) -> None:
    f = tmp_path / "prose.txt"
    f.write_text("We talked about the week.\nIt went well overall.\n")
    with pytest.raises(TranscriptError, match="no utterances with a speaker") as info:
        read_transcript(f)
    assert "We talked" not in str(info.value)


def test_it_reads_mixed_encodings_with_a_warning_per_line(tmp_path: Path) -> None:
    f = tmp_path / "mixed.txt"
    f.write_bytes("T: Caf\u00e9 first?\n".encode() + "C: Na\u00efve answer.\n".encode("cp1252"))
    t = read_transcript(f)
    assert t.utterances[1].text == "Na\u00efve answer."
    assert [(w.line, "Windows-1252" in w.message) for w in t.warnings] == [(2, True)]


def test_it_refuses_a_50_mb_file_with_its_size(tmp_path: Path) -> None:
    f = tmp_path / "huge.txt"
    line = b"T: What would you like to talk about today?\nC: My drinking, I suppose.\n"
    with f.open("wb") as fh:
        for _ in range((50 * 1024 * 1024) // (len(line) * 1000) + 1):
            fh.write(line * 1000)
    assert f.stat().st_size >= 50 * 1024 * 1024
    with pytest.raises(TranscriptError, match=r"file is 50\.\d MiB; the limit is 20\.0 MiB"):
        read_transcript(f)


def test_it_warns_when_a_label_is_not_a_known_role() -> None:
    t = parse_text("T: Hello?\nDr X: Something.\nC: Hi.")
    assert [u.line for u in t.utterances] == [1, 3]
    # Unknown label inside a turn is treated as continuation text of the open turn.
    assert t.utterances[0].text == "Hello? Dr X: Something."


def test_it_warns_when_only_one_role_speaks() -> None:
    t = parse_text("T: Hello?\nT: Anyone?")
    assert any("only therapist" in w.message for w in t.warnings)


def test_it_rejects_a_vtt_without_header(tmp_path: Path) -> None:
    f = tmp_path / "x.vtt"
    f.write_text("00:00:01.000 --> 00:00:02.000\n<v T>Hi\n")
    with pytest.raises(TranscriptError, match="WEBVTT") as info:
        read_transcript(f)
    assert info.value.line == 1
