"""Fixtures for transcript tests: small transcripts and the labelled data, when present."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def annomi_dir() -> Path:
    """The shared labelled data next to the repository; skipped where it is absent."""
    candidate = REPO.parent / "shared" / "data"
    if not (candidate / "annomi" / "AnnoMI-simple.csv").is_file():
        pytest.skip("AnnoMI not found at ../shared/data relative to the repository")
    return candidate
