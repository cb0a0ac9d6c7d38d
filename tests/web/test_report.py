"""The progress report a therapist would send: A4 or Letter, readable names, the change in words.

The PDF's text is extracted (pypdf), so the test reads what a referrer would read.
"""

from __future__ import annotations

from io import BytesIO

from fastapi.testclient import TestClient
from pypdf import PdfReader

from tests.conftest import read_utc_clock
from tests.web.clinic import Clinic


def pdf(therapist: TestClient, url: str) -> PdfReader:
    response = therapist.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    return PdfReader(BytesIO(response.content))


def text_of(reader: PdfReader) -> str:
    return " ".join(" ".join((page.extract_text() or "").split()) for page in reader.pages)


def test_it_lays_the_report_out_on_a4_with_readable_names(
    therapist: TestClient, clinic: Clinic
) -> None:
    reader = pdf(therapist, f"/episodes/{clinic.rupture_episode}/report.pdf")
    box = reader.pages[0].mediabox
    assert (round(float(box.width), 1), round(float(box.height), 1)) == (595.3, 841.9)  # A4
    text = text_of(reader)
    for expected in (
        "Progress report",
        "Client RUPT-001",
        "Therapist Tess",
        "PHQ-9",
        "Patient Health Questionnaire",
        "SRS",
        "Session Rating Scale",
        # PHQ-9 18 -> 12: 6 points is the reliable-change value; 12 is still above the cutoff 10.
        "Reliable improvement (at least 6 points), still in the clinical range.",
        "No reliable-change value is published for the Session Rating Scale: shown, not judged.",
        "Sleep through most nights",
    ):
        assert expected in text, expected
    for identifier in ("phq9", "PHQ9", "srs"):
        assert identifier not in text


def test_it_offers_us_letter(therapist: TestClient, clinic: Clinic) -> None:
    reader = pdf(therapist, f"/episodes/{clinic.rupture_episode}/report.pdf?paper=letter")
    box = reader.pages[0].mediabox
    assert (float(box.width), float(box.height)) == (612.0, 792.0)
    assert (
        therapist.get(f"/episodes/{clinic.rupture_episode}/report.pdf?paper=a5").status_code == 422
    )


def test_it_carries_the_closing_summary_once_closed(therapist: TestClient, clinic: Clinic) -> None:
    closed = therapist.post(
        f"/episodes/{clinic.risk_episode}/close",
        data={
            # The server refuses a closing after today in UTC; today in UTC is always allowed.
            "closed_on": read_utc_clock().today.isoformat(),
            "closing_reason": "referred",
            "summary": "Referred to the eating-disorder service",
            "confirm": "yes",
        },
    )
    assert closed.status_code == 200
    text = text_of(pdf(therapist, f"/episodes/{clinic.risk_episode}/report.pdf"))
    assert "Closing" in text
    assert "Reason: Referred on." in text
    assert "Referred to the eating-disorder service" in text
    # One PHQ-9 only: nothing to compare yet, and the report says so rather than inventing it.
    assert "One score so far: no change to judge yet." in text
    page = therapist.get(f"/episodes/{clinic.risk_episode}/report").text
    assert "Referred to the eating-disorder service" in page
