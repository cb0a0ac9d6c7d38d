"""The supervisor page: figures name their measure, small numbers read "too few", accuracy."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from tests.web.clinic import Clinic
from tests.web.conftest import sign_in


def test_it_names_the_measure_and_shows_too_few_instead_of_a_number(
    app_client: TestClient, clinic: Clinic
) -> None:
    sign_in(app_client, "sam")
    page = app_client.get("/supervision").text
    # Two episodes with PHQ-9 (one with SRS): every figure is from fewer than its minimum.
    assert "Effect size: PHQ-9." in page
    assert "Alliance: SRS." in page
    assert "too few (n = " in page
    # No effect size or percentage is printed from so few episodes.
    figures = page[page.index('id="figures"') : page.index('id="accuracy-h"')]
    assert not re.search(r"\d+\.\d\d \(", figures)
    assert not re.search(r"\d+% \(", figures)
    # The alerts' own accuracy, with its published anchor.
    assert 'id="alert-accuracy"' in page
    assert "Hannan et al. 2005" in page
