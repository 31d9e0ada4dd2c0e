"""Quarters from academic sessions of every shape schools use (intake/calendars.py)."""

from __future__ import annotations

from datetime import date

import pytest

from intake.calendars import SessionCalendarError, calendar_from_feed_sessions
from intake.records import GradingPeriod

D = date.fromisoformat


def session(
    sid: str, kind: str, start: str, end: str, line: int, year: int = 2027
) -> GradingPeriod:
    return GradingPeriod(sid, None, sid, kind, D(start), D(end), year, source_line=line)


def quarters(cal: dict) -> list[tuple[str, str]]:
    return [tuple(q) for q in cal["quarters"]]


def build(*sessions: GradingPeriod, **kw) -> dict:
    cal = calendar_from_feed_sessions(list(sessions), "sch-A", timezone="America/Chicago", **kw)
    assert cal is not None
    return cal


YEAR_2027 = session("ay", "schoolYear", "2026-08-17", "2027-05-28", 2)


def test_four_grading_periods_are_the_quarters() -> None:
    cal = build(
        YEAR_2027,
        session(
            "q3", "gradingPeriod", "2027-01-05", "2027-03-12", 5
        ),  # file order is not date order
        session("q1", "gradingPeriod", "2026-08-17", "2026-10-16", 3),
        session("q2", "gradingPeriod", "2026-10-19", "2026-12-18", 4),
        session("q4", "gradingPeriod", "2027-03-15", "2027-05-28", 6),
    )
    assert quarters(cal) == [
        ("2026-08-17", "2026-10-16"),
        ("2026-10-19", "2026-12-18"),
        ("2027-01-05", "2027-03-12"),
        ("2027-03-15", "2027-05-28"),
    ]
    assert (cal["year_start"], cal["year_end"]) == ("2026-08-17", "2027-05-28")


def test_six_week_periods_pair_into_quarters_at_real_period_ends() -> None:
    six = [
        ("2025-08-13", "2025-09-19"),
        ("2025-09-22", "2025-10-31"),
        ("2025-11-03", "2025-12-19"),
        ("2026-01-06", "2026-02-13"),
        ("2026-02-17", "2026-04-02"),  # Monday 2026-02-16 is a break inside Q3
        ("2026-04-06", "2026-05-22"),
    ]
    cal = build(
        session("ay", "schoolYear", "2025-08-13", "2026-05-22", 2, 2026),
        *(session(f"p{n}", "gradingPeriod", s, e, n + 2, 2026) for n, (s, e) in enumerate(six, 1)),
    )
    assert quarters(cal) == [
        ("2025-08-13", "2025-10-31"),
        ("2025-11-03", "2025-12-19"),
        ("2026-01-06", "2026-04-02"),
        ("2026-04-06", "2026-05-22"),
    ]
    assert "2026-02-16" in cal["holidays"]


def test_trimesters_split_the_third_at_its_middle_week() -> None:
    cal = build(
        YEAR_2027,
        session("t1", "term", "2026-08-17", "2026-11-13", 3),
        session("t2", "term", "2026-11-16", "2027-02-26", 4),
        session("t3", "term", "2027-03-01", "2027-05-28", 5),  # 13 weeks: 7 + 6
    )
    assert quarters(cal) == [
        ("2026-08-17", "2026-11-13"),
        ("2026-11-16", "2027-02-26"),
        ("2027-03-01", "2027-04-16"),
        ("2027-04-19", "2027-05-28"),
    ]
    assert cal["semesters"] is None


def test_semesters_only_split_at_their_middle_weeks() -> None:
    cal = build(
        YEAR_2027,
        session("s1", "semester", "2026-08-17", "2026-12-18", 3),  # 18 weeks: 9 + 9
        session("s2", "semester", "2027-01-05", "2027-05-28", 4),  # 21 weeks: 11 + 10
    )
    assert quarters(cal) == [
        ("2026-08-17", "2026-10-16"),
        ("2026-10-19", "2026-12-18"),
        ("2027-01-05", "2027-03-19"),
        ("2027-03-22", "2027-05-28"),
    ]
    assert cal["semesters"] == [["2026-08-17", "2026-12-18"], ["2027-01-05", "2027-05-28"]]


def test_school_year_only_is_four_runs_of_weeks() -> None:
    cal = build(YEAR_2027)
    assert len(cal["quarters"]) == 4 and cal["quarters"][0][0] == "2026-08-17"
    assert cal["quarters"][3][1] == "2027-05-28"


def test_the_year_named_by_school_year_and_the_latest_of_several() -> None:
    old = [
        session("ay25", "schoolYear", "2025-08-18", "2026-05-29", 2, 2026),
        session("s1-25", "semester", "2025-08-18", "2025-12-19", 3, 2026),
        session("s2-25", "semester", "2026-01-06", "2026-05-29", 4, 2026),
    ]
    cal = build(*old)
    assert (cal["year_start"], cal["year_end"]) == ("2025-08-18", "2026-05-29")
    new = build(
        *old,
        YEAR_2027,
        session("s1", "semester", "2026-08-17", "2026-12-18", 6),
        session("s2", "semester", "2027-01-05", "2027-05-28", 7),
    )
    assert new["year_start"] == "2026-08-17"


def test_holidays_outside_the_year_are_dropped() -> None:
    cal = build(YEAR_2027, holidays=["2026-09-07", "2025-09-01", ["2027-03-22", "2027-03-26"]])
    assert "2026-09-07" in cal["holidays"] and "2025-09-01" not in cal["holidays"]
    assert "2027-03-24" in cal["holidays"]


def test_no_sessions_for_the_school_is_none() -> None:
    assert calendar_from_feed_sessions([], "sch-A", timezone="UTC") is None


def test_overlapping_periods_are_rejected_with_their_lines() -> None:
    with pytest.raises(SessionCalendarError) as exc:
        build(
            session("q1", "gradingPeriod", "2026-08-17", "2026-10-23", 3),
            session("q2", "gradingPeriod", "2026-10-19", "2026-12-18", 4),
            session("q3", "gradingPeriod", "2027-01-05", "2027-03-12", 5),
            session("q4", "gradingPeriod", "2027-03-15", "2027-05-28", 6),
        )
    assert str(exc.value) == (
        "academicSessions.csv lines 3, 4: grading periods overlap: 'q2' (2026-10-19 to "
        "2026-12-18) starts before 'q1' (2026-08-17 to 2026-10-23) ends"
    )
    assert exc.value.lines == [3, 4]


def test_five_periods_are_not_a_shape() -> None:
    with pytest.raises(SessionCalendarError, match="cannot make four quarters from 5 grading"):
        build(
            *(
                session(f"p{n}", "gradingPeriod", f"2026-{m:02d}-01", f"2026-{m:02d}-20", n)
                for n, m in enumerate((1, 2, 3, 4, 5), 2)
            )
        )


def test_rejected_session_rows_give_no_calendar() -> None:
    with pytest.raises(SessionCalendarError, match="lines 4, 7: rejected session rows"):
        build(YEAR_2027, rejected_lines=[4, 7])
