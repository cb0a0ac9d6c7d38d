"""Reading score CSVs: each kind of bad input is reported by line, field and reason."""

from __future__ import annotations

from alliance.analytics import read_scores_csv

HEADER = "client,episode,session,date,measure,therapist,item_1,item_2,item_3,item_4,total\n"


def problems(text: str | bytes) -> list[tuple[int, str]]:
    data = text.encode() if isinstance(text, str) else text
    return [(p.line, p.field) for p in read_scores_csv(data).rejected]


def test_it_reads_a_clean_file_with_items_and_totals() -> None:
    result = read_scores_csv(
        (
            HEADER
            + "C1,1,1,2024-01-08,srs,ana,9,9,8.5,9,\n"
            + "C1,1,1,2024-01-08,PHQ-9,ana,,,,,14\n"
            + "C1,1,2,2024-01-15,srs,ana,,,,,36\n"
        ).encode()
    )
    assert result.ok
    assert [(r.instrument, r.total) for r in result.rows] == [
        ("srs", 35.5),
        ("phq9", 14.0),
        ("srs", 36.0),
    ]
    frame = result.frame()
    assert frame["episode_id"].unique().to_list() == ["C1/1"]


def test_it_reports_an_unknown_measure() -> None:
    text = HEADER + "C1,1,1,2024-01-08,phq10,ana,,,,,14\n"
    result = read_scores_csv(text.encode())
    assert [(p.line, p.field) for p in result.rejected] == [(2, "measure")]
    assert "allowed: phq9" in result.rejected[0].reason


def test_it_reports_a_score_out_of_range() -> None:
    text = (
        HEADER
        + "C1,1,1,2024-01-08,srs,ana,9,11,9,9,\n"  # item 2 over 10
        + "C1,1,2,2024-01-15,phq9,ana,,,,,28\n"  # PHQ-9 total over 27
    )
    assert problems(text) == [(2, "item_2"), (3, "total")]
    reasons = [p.reason for p in read_scores_csv(text.encode()).rejected]
    assert "from 0 to 10" in reasons[0]
    assert "0 to 27" in reasons[1]
    assert "11" not in reasons[0]  # the answer itself is not echoed


def test_it_reports_a_duplicated_session() -> None:
    text = HEADER + "C1,1,1,2024-01-08,srs,ana,,,,,36\n" + "C1,1,1,2024-01-08,srs,ana,,,,,37\n"
    result = read_scores_csv(text.encode())
    assert [(p.line, p.field) for p in result.rejected] == [(3, "session")]
    assert "line 2" in result.rejected[0].reason
    assert len(result.rows) == 1


def test_it_reports_a_missing_column() -> None:
    text = "client,episode,date,measure,total\nC1,1,2024-01-08,srs,36\n"
    assert problems(text) == [(1, "session")]


def test_it_reports_a_non_numeric_value() -> None:
    text = HEADER + "C1,1,two,2024-01-08,srs,ana,,,,,36\n" + "C1,1,3,2024-01-08,srs,ana,x,,,,\n"
    assert problems(text) == [(2, "session"), (3, "item_1")]


def test_it_reports_the_wrong_encoding_on_its_line() -> None:
    data = (HEADER + "C1,1,1,2024-01-08,srs,ana,,,,,36\n").encode() + (
        "C2,1,1,2024-01-08,srs,J\u00e9r\u00f4me,,,,,36\n".encode("latin-1")
    )
    result = read_scores_csv(data)
    assert [(p.line, p.field) for p in result.rejected] == [(3, "(line)")]
    assert "UTF-8" in result.rejected[0].reason
    assert len(result.rows) == 1


def test_it_reports_a_bad_date_and_a_short_line() -> None:
    text = HEADER + "C1,1,1,08/01/2024,srs,ana,,,,,36\n" + "C1,1,2,2024-01-15,srs\n"
    assert problems(text) == [(2, "date"), (3, "(line)")]
