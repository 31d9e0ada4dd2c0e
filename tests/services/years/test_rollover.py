"""Issue 17: school years as data and the rollover between them (real SQLite, real feeds)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from lifecycle.types import StepStatus
from models.db import session_scope
from models.tables import EnrollmentStatus
from services.report import compliance_report
from services.school_years import SchoolYearError
from tests.services.feeds.helpers import dump

from .helpers import (
    ROLLOVER_NOW,
    add_schools,
    enrollments,
    feed,
    roll,
    school_calendar_label,
    steps,
)

T1 = "t1,t1@school.example.org"
YEAR_ONE = [
    f"s-9el,sch-a,Ana,Lopez,9,2026-08-17,false,esl,{T1},",
    f"s-12,sch-a,Ben,Ng,12,2026-08-17,true,,{T1},",
    f"s-5w,sch-a,Cy,Ode,5,2026-08-17,false,,{T1},2027-01-15",
    f"s-3,sch-a,Di,Park,3,2026-10-05,false,,{T1},",
]
TABLES = ("school", "school_year", "enrollment", "step", "audit_event", "student")


@pytest.fixture
def year_one(school_files: Path, ilp_env: Path) -> Path:
    add_schools(school_files, "sch-a", "sch-b")
    result = feed(ilp_env, "year1", YEAR_ONE)
    assert result.new == 4 and not result.rejections
    return ilp_env


def test_a_school_has_several_years_each_with_its_calendar(year_one: Path) -> None:
    from services.school_years import school_years

    with session_scope() as session:
        years = school_years(session, [1])[1]
    assert [(y.label, y.first_day, y.last_day) for y in years] == [
        ("2026-2027", date(2026, 8, 17), date(2027, 5, 28)),
        ("2027-2028", date(2027, 8, 16), date(2028, 5, 26)),
    ]
    assert {r.school_year for r in enrollments("s-3")} == {"2026-2027"}
    assert school_calendar_label("sch-a") == "2026-2027"


def test_rollover_closes_the_old_year_and_plans_returning_students(year_one: Path) -> None:
    result = roll()
    [school] = result.schools
    assert (school.from_year, school.to_year) == ("2026-2027", "2027-2028")
    assert (school.returning, school.graduated, school.left) == (2, 1, 1)
    assert school.closed_missed > 0
    # Nothing of the old year is left open; required steps count as missed.
    for student in ("s-9el", "s-12", "s-5w", "s-3"):
        old = steps(student, "2026-2027")
        assert old and all(s.status is not StepStatus.OPEN for s in old.values()), student
    assert steps("s-3", "2026-2027")["synopsis"].status is StepStatus.MISSED
    # A returning student one grade up, EL status kept, graduation plan within 9 weeks.
    old, new = enrollments("s-9el")
    assert old.status == EnrollmentStatus.ENDED
    assert (new.school_year, new.grade, new.returning, new.english_learner) == (
        "2027-2028",
        10,
        True,
        "esl",
    )
    assert new.start_date == date(2027, 8, 16)
    planned = steps("s-9el", "2027-2028")
    assert planned["graduation_plan"].due == date(2027, 10, 17)  # 2027-08-16 + 9 weeks - 1
    assert planned["welcome_call"].status is StepStatus.OPEN
    assert planned["el_ilp"].due == date(2027, 8, 29)
    assert planned["synopsis"].due == date(2028, 5, 26)
    # Graduated and withdrawn students are not re-planned.
    assert [e.school_year for e in enrollments("s-12")] == ["2026-2027"]
    assert [e.school_year for e in enrollments("s-5w")] == ["2026-2027"]
    # The school now runs on the new year's calendar.
    assert school_calendar_label("sch-a") == "2027-2028"


def test_rollover_twice_changes_nothing(year_one: Path) -> None:
    assert roll().changed
    before = dump(*TABLES)
    again = roll()
    assert not again.changed
    assert [s.already_enrolled for s in again.schools] == [0]
    assert dump(*TABLES) == before
    # The scheduled form (no --to) after the rollover changes nothing either.
    assert not roll(None).changed
    assert dump(*TABLES) == before


def test_rollover_waits_for_the_last_instructional_day(year_one: Path) -> None:
    with pytest.raises(SchoolYearError, match="ends 2027-05-28"):
        roll(now=datetime(2027, 5, 28, 20, 0, tzinfo=UTC))
    # The scheduled run (no year named) on a day before the end does nothing.
    early = roll(None, now=datetime(2027, 3, 1, 12, 0, tzinfo=UTC))
    assert not early.changed and not early.schools


def _projection(student: str) -> tuple[object, ...]:
    new = enrollments(student)[-1]
    plan = steps(student, "2027-2028")
    return (
        new.school_year,
        new.start_date,
        new.grade,
        new.returning,
        new.english_learner,
        new.status,
        sorted((k, s.due, s.status, s.required) for k, s in plan.items()),
        sorted((k, s.status) for k, s in steps(student, "2026-2027").items()),
    )


def test_the_new_years_first_feed_before_or_after_the_rollover_gives_the_same_result(
    school_files: Path, ilp_env: Path
) -> None:
    add_schools(school_files, "sch-a", "sch-b")
    first = [
        f"a-1,sch-a,Eve,Ray,9,2026-08-17,false,monitored,{T1},",
        f"b-1,sch-b,Eve,Ray,9,2026-08-17,false,monitored,{T1},",
    ]
    assert feed(ilp_env, "y1", first).new == 2
    # The new year's first feed: grade + 1, returning and EL left blank (unknown).
    second = ["a-1,sch-a,Eve,Ray,10,2027-08-16,,,{T1},", "b-1,sch-b,Eve,Ray,10,2027-08-16,,,{T1},"]
    second = [r.format(T1=T1) for r in second]
    # sch-a: the feed first (in the summer), then the rollover.
    early = feed(ilp_env, "y2a", second[:1], today=date(2027, 5, 30))
    assert early.new == 1 and not early.rejections
    assert roll(school="sch-a").schools[0].already_enrolled == 1
    # sch-b: the rollover first, then the feed.
    assert roll(school="sch-b").schools[0].returning == 1
    late = feed(ilp_env, "y2b", second[1:], today=date(2027, 8, 2))
    assert (late.new, late.changed, late.unchanged) == (0, 0, 1)
    assert _projection("a-1") == _projection("b-1")
    assert _projection("a-1")[3:5] == (True, "monitored")


def test_a_feed_for_a_closed_year_changes_nothing(year_one: Path, ilp_env: Path) -> None:
    roll()
    before = dump(*TABLES)
    late = feed(ilp_env, "late", YEAR_ONE[3:], today=date(2027, 6, 2))
    assert late.new == 0 and "is closed" in late.rejections[0].reason
    assert dump(*TABLES) == before


def test_a_past_years_report_is_identical_before_and_after_the_next_years_work(
    year_one: Path, ilp_env: Path
) -> None:
    roll()
    later = datetime(2027, 10, 1, 15, 0, tzinfo=UTC)
    with session_scope() as session:
        before = compliance_report(session, ROLLOVER_NOW, year="2026-2027").as_dict()
    # The next year's work: a feed with a new student, a withdrawal, and completed steps.
    feed(
        ilp_env,
        "y2",
        [
            f"s-new,sch-a,Fay,Um,4,2027-09-01,false,,{T1},",
            f"s-3,sch-a,Di,Park,4,,,,{T1},2027-09-20",
        ],
        today=date(2027, 9, 1),
    )
    _complete_welcome_note("s-9el", later)
    with session_scope() as session:
        after = compliance_report(session, later, year="2026-2027").as_dict()
        next_year = compliance_report(session, later, year="2027-2028").as_dict()
    for key in ("now", "today"):
        before.pop(key)
        after.pop(key)
    assert after == before
    assert before["total"]["missed"] > 0  # the old year's open steps count there as missed
    assert next_year["total"]["total"] > 0 and next_year["total"] != before["total"]


def _complete_welcome_note(student: str, now: datetime) -> None:
    import sqlalchemy as sa

    from models.tables import Enrollment, Step, Student

    s, e, st = Step.__table__, Enrollment.__table__, Student.__table__  # type: ignore[attr-defined]
    with session_scope() as session:
        session.execute(
            sa.update(s)
            .where(
                s.c.kind == "welcome_note",
                s.c.enrollment_id.in_(
                    sa.select(e.c.id)
                    .join(st, st.c.id == e.c.student_id)
                    .where(st.c.source_id == student, e.c.school_year == "2027-2028")
                ),
            )
            .values(status="completed", completed_on=now.date(), next_action_at=None)
        )


def test_ilp_rollover_command(year_one: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ilp.cli import main

    argv = ["rollover", "--to", "2027", "--now", "2027-05-29T11:00:00Z"]
    with pytest.raises(SystemExit) as exit_code:
        main(argv)
    assert exit_code.value.code == 0
    out = capsys.readouterr().out
    assert "sch-a: 2026-2027 -> 2027-2028:" in out and "2 returning students planned" in out
    with pytest.raises(SystemExit):
        main(argv)
    assert "nothing to do: already rolled over" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_code:
        main(["rollover", "--to", "2031-2032", "--now", "2027-05-29T11:00:00Z"])
    assert "skipped: no calendar for school year 2031-2032" in capsys.readouterr().out
