"""Issue 17: a mid-year move to another school of the district keeps the history; the old
school's open steps close as transferred and do not count against it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from lifecycle.types import StepStatus
from models.db import session_scope
from models.tables import EnrollmentStatus
from services.report import compliance_report

from .helpers import add_schools, enrollments, feed, roll, steps

T1 = "t1,t1@school.example.org"
T2 = "t2,t2@school.example.org"


def _school_report(school: str) -> dict[str, int]:
    with session_scope() as session:
        report = compliance_report(
            session, datetime(2027, 2, 1, 15, tzinfo=UTC), school=school, year="2026-2027"
        )
    return report.total.as_dict()


def test_a_transfer_keeps_history_and_closes_the_old_schools_steps_as_transferred(
    school_files: Path, ilp_env: Path
) -> None:
    add_schools(school_files, "sch-a", "sch-b")
    feed(ilp_env, "start", [f"s-1,sch-a,Gus,Ito,7,2026-08-17,false,,{T1},"])
    before_a = _school_report("sch-a")
    assert before_a["overdue"] > 0  # the welcome call and note were never done
    # The student moves to sch-b on Mon 2027-01-25; the feed says so on the Friday before.
    moved = feed(
        ilp_env, "move", [f"s-1,sch-b,Gus,Ito,7,2027-01-25,,,{T2},"], today=date(2027, 1, 22)
    )
    assert moved.new == 1 and len(moved.transferred_ids) == 1
    old, new = enrollments("s-1")
    assert (old.status, old.withdrawn_on) == (EnrollmentStatus.TRANSFERRED, date(2027, 1, 25))
    assert (new.status, new.start_date) == (EnrollmentStatus.ACTIVE, date(2027, 1, 25))
    # Both schools' records are kept, in the same school year.
    history = steps("s-1", "2026-2027")  # the later enrollment's steps win the dict's keys
    assert history["welcome_call"].due == date(2027, 2, 7)  # planned from the transfer date
    assert history["q3_note"].required is False  # enrolled in Q3: optional
    from sqlalchemy import select

    from models.tables import Step

    with session_scope() as session:
        old_steps = session.execute(
            select(Step.kind, Step.status).where(Step.enrollment_id == old.id)
        ).all()
    assert old_steps and all(s.status is StepStatus.TRANSFERRED for s in old_steps)
    # Transferred steps do not count against the old school; the new school counts its own.
    after_a = _school_report("sch-a")
    assert after_a["overdue"] == 0 and after_a["missed"] == 0 and after_a["total"] == 0
    assert _school_report("sch-b")["total"] > 0
    # The same feed again changes nothing; a late row for the old school cannot reopen it.
    again = feed(
        ilp_env,
        "again",
        [f"s-1,sch-b,Gus,Ito,7,2027-01-25,,,{T2},", f"s-1,sch-a,Gus,Ito,7,2026-08-17,,,{T1},"],
        today=date(2027, 1, 26),
    )
    assert (again.new, again.changed, again.transferred_ids) == (0, 0, [])
    assert enrollments("s-1")[0].status == EnrollmentStatus.TRANSFERRED
    # At the year's end only the new school carries the student over.
    roll()
    last = enrollments("s-1")[-1]
    assert (last.school_year, last.school_id, last.grade) == ("2027-2028", new.school_id, 8)


def test_a_move_the_feed_states_as_a_withdrawal_plus_a_new_school_is_a_transfer(
    school_files: Path, ilp_env: Path
) -> None:
    add_schools(school_files, "sch-a", "sch-b")
    feed(ilp_env, "start", [f"s-2,sch-a,Hal,Jo,4,2026-08-17,false,,{T1},"])
    # One feed ends the old school's enrollment on Friday and starts the new one on Monday.
    moved = feed(
        ilp_env,
        "move",
        [
            f"s-2,sch-a,Hal,Jo,4,2026-08-17,,,{T1},2027-01-22",
            f"s-2,sch-b,Hal,Jo,4,2027-01-25,,,{T2},",
        ],
        today=date(2027, 1, 22),
    )
    assert len(moved.transferred_ids) == 1
    old = enrollments("s-2")[0]
    assert old.status == EnrollmentStatus.TRANSFERRED
    assert _school_report("sch-a")["missed"] == 0  # not counted against the old school


def test_a_student_who_left_months_before_enrolling_elsewhere_did_not_transfer(
    school_files: Path, ilp_env: Path
) -> None:
    add_schools(school_files, "sch-a", "sch-b")
    feed(
        ilp_env,
        "start",
        [f"s-3,sch-a,Ivy,Ko,4,2026-08-17,false,,{T1},2026-10-01"],
        today=date(2026, 10, 2),
    )
    later = feed(
        ilp_env, "later", [f"s-3,sch-b,Ivy,Ko,4,2027-01-25,,,{T2},"], today=date(2027, 1, 22)
    )
    assert later.transferred_ids == []
    assert enrollments("s-3")[0].status == EnrollmentStatus.WITHDRAWN
    assert _school_report("sch-a")["missed"] > 0  # overdue at withdrawal: missed, as before
