"""Ownership follows the school: a feed that changes a student's teacher, or disables a staff
member, moves the open steps; completed steps keep their author. Real SQLite, real feed path."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from models.db import session_scope
from models.tables import Staff, Step
from services.report import compliance_report
from tests.services.feeds.helpers import import_path, steps_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oneroster"
TEACHER_KINDS = ("welcome_call", "welcome_note", "q1_note", "q2_note", "q3_note", "synopsis")


def staff_id(source_id: str) -> int:
    with session_scope() as s:
        return int(s.execute(sa.select(Staff.id).where(Staff.source_id == source_id)).scalar_one())


def owners(student: str) -> dict[str, tuple[str, int | None]]:
    return {
        kind: (str(row.status.value), row.owner_staff_id)
        for kind, row in steps_of(student).items()
        if kind in TEACHER_KINDS
    }


def complete_welcome_call(student: str) -> None:
    step_ids = [
        row.id
        for row in _step_rows(student)
        if row.kind.value == "welcome_call"  # the teacher made the call
    ]
    with session_scope() as s:
        s.execute(
            sa.update(Step)
            .where(Step.id.in_(step_ids))
            .values(status="completed", completed_on=date(2026, 8, 20), next_action_at=None)
        )


def _step_rows(student: str) -> list[sa.Row]:
    from models.tables import Enrollment, Student

    with session_scope() as s:
        return list(
            s.execute(
                sa.select(Step.id, Step.kind)
                .join(Enrollment, Enrollment.id == Step.enrollment_id)
                .join(Student, Student.id == Enrollment.student_id)
                .where(Student.source_id == student)
            )
        )


def edited(tmp_path: Path, name: str, **replacements: tuple[str, str]) -> Path:
    """A copy of the clean feed with `file=(old, new)` text replacements."""
    folder = tmp_path / name
    shutil.copytree(FIXTURES / "clean-1.1", folder)
    for file, (old, new) in replacements.items():
        path = folder / f"{file}.csv"
        text = path.read_text()
        assert old in text, (file, old)
        path.write_text(text.replace(old, new, 1))
    return folder


def test_a_teacher_change_moves_the_open_steps(ilp_env, tmp_path) -> None:
    import_path(FIXTURES / "clean-1.1")
    ana, ben = staff_id("t-A1"), staff_id("t-A2")
    assert {owner for _, owner in owners("s-1").values()} == {ana}
    complete_welcome_call("s-1")

    # s-1 moves from Room 1 (Ana) to Room 2 (Ben); nothing the planner sees changed.
    moved = edited(
        tmp_path,
        "moved",
        enrollments=(
            "e-s1,active,2026-08-01,cls-A1,sch-A,s-1,",
            "e-s1,active,2026-08-01,cls-A2,sch-A,s-1,",
        ),
    )
    result = import_path(moved)
    assert (result.new, result.changed) == (0, 0)
    assert len(result.to_plan) == 1  # only s-1 is re-planned, for its owners
    after = owners("s-1")
    assert after.pop("welcome_call") == ("completed", ana)  # keeps its author
    assert set(after.values()) == {("open", ben)}

    # the same feed again changes nothing and re-plans nothing
    again = import_path(moved)
    assert again.to_plan == [] and owners("s-1") == {**after, "welcome_call": ("completed", ana)}


def test_a_disabled_teacher_hands_over_their_open_steps(ilp_env, tmp_path) -> None:
    import_path(FIXTURES / "clean-1.1")
    cai, dee = staff_id("t-B1"), staff_id("t-B2")
    assert {owner for _, owner in owners("s-4").values()} == {cai}  # first of Cai and Dee
    assert {owner for _, owner in owners("s-3").values()} == {cai}  # Cai only

    # Cai leaves: disabled in the feed, class enrollments unchanged.
    gone = edited(
        tmp_path,
        "gone",
        users=("t-B1,active,2026-08-01,true,", "t-B1,active,2026-08-01,false,"),
    )
    result = import_path(gone)
    assert (result.new, result.changed) == (0, 0) and len(result.to_plan) == 2
    assert {owner for _, owner in owners("s-4").values()} == {dee}  # the other teacher
    # s-3 has no other teacher: the steps stay Cai's on record, flagged, for the coordinator
    assert {owner for _, owner in owners("s-3").values()} == {cai}
    with session_scope() as s:
        report = compliance_report(s, datetime(2026, 9, 1, 15, tzinfo=UTC), school="sch-B")
    required = [k for k, r in steps_of("s-3").items() if k in TEACHER_KINDS and r.required]
    assert report.owner_flags["sch-B"] == {"owner inactive": len(required)}

    # Cai comes back: s-4 does not flip back (Dee is active and assigned), s-3 is Cai's again
    back = import_path(FIXTURES / "clean-1.1")
    assert len(back.to_plan) == 2
    assert {owner for _, owner in owners("s-4").values()} == {dee}
    assert {owner for _, owner in owners("s-3").values()} == {cai}
