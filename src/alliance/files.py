"""Files the program writes: readable by their owner only, and CSV a spreadsheet will not run.

The database, backups and exports hold contact details, notes, second-factor secrets and
password hashes, so each file is created 0600 and each folder the program creates 0700, under a
0077 umask and then chmod-ed (the umask alone does not narrow a file that already existed).

Every CSV the program writes goes through `csv_writer`: a text cell that starts with `=`, `+`,
`-`, `@`, a tab or a carriage return is prefixed with `'`, so a spreadsheet shows it as text
instead of running it as a formula (OWASP, "CSV Injection"). Numbers are written as numbers:
`-3` in a numeric column is data, and only `str` cells are ever neutralised.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@contextmanager
def owner_only() -> Iterator[None]:
    """Create files and folders inside the block as if umask were 0077."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)


def private_folder(path: Path) -> Path:
    """Make `path` and any missing parents; each folder created here is 0700."""
    missing: list[Path] = []
    folder = path
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    with owner_only():
        path.mkdir(parents=True, exist_ok=True)
    for created in missing:
        created.chmod(PRIVATE_FOLDER)
    return path


def private_file(path: Path) -> Path:
    """Create `path` empty if it is missing (and its folders); the file is 0600 either way."""
    private_folder(path.parent)
    with owner_only():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE)
    os.close(fd)
    path.chmod(PRIVATE_FILE)
    return path


def safe_cell(value: object) -> object:
    """The value as a spreadsheet should show it: text that would run as a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class SafeCsvWriter:
    """csv.writer whose text cells are passed through `safe_cell`."""

    def __init__(self, handle: TextIO) -> None:
        self._writer = csv.writer(handle)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([safe_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(handle: TextIO) -> SafeCsvWriter:
    """The one CSV writer: every CSV file or CSV text the program produces comes from here."""
    return SafeCsvWriter(handle)


def write_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[Any]]) -> None:
    """Write a private (0600) CSV file through the one writer."""
    private_file(path)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv_writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
