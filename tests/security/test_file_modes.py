"""L7: the database, its -wal and -shm, backups and exports are readable by their owner only.

Each is created under the usual 0022 umask, so a mode check fails if the program relies on the
umask it was started with. And every CSV the program writes neutralises formula-like text.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from alliance.cli import main
from alliance.files import csv_writer, safe_cell
from alliance.store.engine import make_engine
from tests.web.clinic import build_clinic

KEY = "research-test-key-0123456789"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.usefixtures("usual_umask")
def test_it_creates_every_file_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "data" / "clinic.db"
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    try:
        build_clinic(engine, date(2026, 6, 1))
        with engine.connect() as conn:  # holds the database open, so -wal and -shm exist
            wal, shm = db.with_name("clinic.db-wal"), db.with_name("clinic.db-shm")
            assert wal.exists()
            assert shm.exists()
            assert (mode(db), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
            conn.rollback()
    finally:
        engine.dispose()
    assert mode(db.parent) == 0o700
    runner = CliRunner(env={"ALLIANCE_RESEARCH_KEY": KEY})
    backup = tmp_path / "backups" / "monthly" / "clinic.db"
    scores = tmp_path / "exports" / "scores.csv"
    research = tmp_path / "research" / "2026"
    for command in (
        ["backup", str(backup), "--db", url],
        ["export", "--format", "csv", str(scores), "--db", url],
        ["export-research", str(research), "--db", url],
    ):
        done = runner.invoke(main, command)
        assert done.exit_code == 0, done.output
    assert mode(backup) == 0o600
    assert mode(backup.parent) == mode(backup.parent.parent) == 0o700
    assert mode(scores) == 0o600
    assert mode(scores.parent) == 0o700
    assert mode(research) == mode(research.parent) == 0o700
    files = sorted(research.iterdir())
    assert len(files) == 9
    assert {mode(f) for f in files} == {0o600}
    restored = tmp_path / "restored" / "clinic.db"
    done = runner.invoke(main, ["restore", str(backup), "--db", f"sqlite:///{restored}"])
    assert done.exit_code == 0, done.output
    assert mode(restored) == 0o600


def test_it_neutralises_text_cells_only() -> None:
    assert safe_cell('=HYPERLINK("http://x.test")') == '\'=HYPERLINK("http://x.test")'
    for start in ("+", "-", "@", "\t", "\r"):
        assert safe_cell(f"{start}1+1") == f"'{start}1+1"
    # A number is data, even a negative one: only text can be a formula to a spreadsheet.
    assert safe_cell(-3) == -3
    assert safe_cell(-2.5) == -2.5
    assert safe_cell("plain text") == "plain text"
    buffer = io.StringIO()
    csv_writer(buffer).writerow(["-3", -3, "@SUM(A1)", None])
    assert buffer.getvalue() == "'-3,-3,'@SUM(A1),\r\n"


def test_it_quotes_formulas_in_transcript_csv(tmp_path: Path) -> None:
    session = tmp_path / "session.txt"
    session.write_text(
        'Therapist: How was the week?\nClient: =HYPERLINK("http://x.test","click")\n',
        encoding="utf-8",
    )
    done = CliRunner().invoke(main, ["transcript", "code", str(session), "--csv"])
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert rows[1]["text"] == '\'=HYPERLINK("http://x.test","click")'
    assert rows[0]["text"] == "How was the week?"
