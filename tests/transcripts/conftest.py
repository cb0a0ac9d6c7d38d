"""Fixtures for transcript tests: small transcripts and the labelled data, when present.

The labelled data (AnnoMI, MIBot) is found as the app finds it: $ALLIANCE_TRANSCRIPT_DATA, else
shared/data beside the repository. Where it is absent its tests are skipped; with
ALLIANCE_REQUIRE_ANNOMI=1 (CI) absence fails the run instead, since these are the only tests on
the real corpus, and the only check that cross-validation folds keep each conversation whole.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]
DATA_ENV = "ALLIANCE_TRANSCRIPT_DATA"  # the variable alliance.transcripts.corpus reads
REQUIRE_ENV = "ALLIANCE_REQUIRE_ANNOMI"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def annomi_dir() -> Path:
    """The folder holding annomi/ and mibot/; skipped (or failed, in CI) where it is absent."""
    given = os.environ.get(DATA_ENV)
    candidate = Path(given) if given else REPO.parent / "shared" / "data"
    if not (candidate / "annomi" / "AnnoMI-simple.csv").is_file():
        missing = f"AnnoMI not found in {candidate} (set {DATA_ENV}, or put it in ../shared/data)"
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"{missing} but {REQUIRE_ENV}=1")
        pytest.skip(missing)
    return candidate
