"""The compliance report's counts on the hand-built scenario, and its Markdown artifact."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from models.db import session_scope
from models.tables import Staff
from services.report import compliance_report, report_markdown
from tests.services.report.conftest import EXPECTED, NOW, Built, counts


def test_exact_counts(built: Built) -> None:
    with session_scope(built.url) as s:
        report = compliance_report(s, NOW)
    assert counts(report.total) == EXPECTED["total"]
    assert report.total.total == 11  # 13 steps - 1 cancelled - 1 optional
    assert {r.key: counts(r.counts) for r in report.by_school} == {
        "sch-a": EXPECTED["sch-a"],
        "sch-b": EXPECTED["sch-b"],
    }
    staff = {str(v): k for k, v in built.staff.items()} | {"none": "none"}
    assert {staff[r.key]: counts(r.counts) for r in report.by_teacher} == {
        k: EXPECTED[k] for k in ("t1", "t2", "t3", "none")
    }
    assert {r.key: counts(r.counts) for r in report.by_step} == {
        k: EXPECTED[k]
        for k in (
            "welcome_call",
            "welcome_note",
            "q1_note",
            "graduation_plan",
            "el_ilp",
            "parent_copy",
        )
    }
    assert counts(report.optional) == EXPECTED["optional"]
    assert [r.key for r in report.optional_by_step] == ["q1_note"]
    # every breakdown adds up to the total
    for by in ("school", "teacher", "step"):
        assert sum(r.counts.total for r in report.rows(by)) == report.total.total
    labels = {r.label for r in report.by_teacher}
    assert "Tess One (t1)" in labels and "(no owner)" in labels
    assert report.total.on_time_rate == pytest.approx(2 / 8)


def test_one_school_and_unknown_school(built: Built) -> None:
    with session_scope(built.url) as s:
        report = compliance_report(s, NOW, school="sch-b")
        assert counts(report.total) == EXPECTED["sch-b"]
        assert report.school == "sch-b" and [r.key for r in report.by_school] == ["sch-b"]
        by_id = compliance_report(s, NOW, school=built.schools["sch-b"])
        assert counts(by_id.total) == EXPECTED["sch-b"]
        with pytest.raises(LookupError):
            compliance_report(s, NOW, school="sch-zzz")


def test_today_is_the_schools_local_date(built: Built) -> None:
    """03:00 UTC on 1 Oct is still 30 Sep in Chicago: step 5 (due 30 Sep) is open, not overdue,
    and step 6 (due 1 Oct) is open either way."""
    late_evening = datetime(2026, 10, 1, 3, 0, tzinfo=UTC)
    with session_scope(built.url) as s:
        report = compliance_report(s, late_evening)
    assert report.today == {
        "sch-a": datetime(2026, 9, 30).date(),
        "sch-b": datetime(2026, 9, 30).date(),
    }
    assert report.total.overdue == EXPECTED["total"]["overdue"] - 1
    assert report.total.open == EXPECTED["total"]["open"] + 1


def test_completion_after_now_counts_as_not_done(built: Built) -> None:
    """As of 6 Oct, step 10 (due 15 Sep, completed 5 Oct) is late, no longer overdue."""
    with session_scope(built.url) as s:
        report = compliance_report(s, datetime(2026, 10, 6, 15, 0, tzinfo=UTC))
    assert report.total.late == EXPECTED["total"]["late"] + 1


def test_naive_now_is_refused(built: Built) -> None:
    with session_scope(built.url) as s, pytest.raises(ValueError):
        compliance_report(s, datetime(2026, 10, 1, 12, 0))


def test_markdown_artifact_text(built: Built) -> None:
    with session_scope(built.url) as s:
        text = report_markdown(compliance_report(s, NOW))
    assert "### ILP compliance as of 2026-10-01" in text
    assert "| **all** | 2 | 2 | 3 | 1 | 3 | 11 | 25% |" in text
    assert "| School A (sch-a) | 2 | 1 | 2 | 1 | 2 | 8 | 33% |" in text
    assert "Theo Two (t2)" in text  # owners with overdue/missed steps
    assert "Sam" not in text  # no student names


def test_how_long_overdue_steps_have_been_escalated_and_owner_flags(built: Built) -> None:
    """Step 12 (EL ILP, due Thu 10 Sep, no owner) is 15 school days overdue on Thu 1 Oct; its
    first overdue rung (2 school days after due) was 13 school days ago. Step 5 (due Wed 30 Sep)
    is overdue but not escalated yet. Tess (t1) has left: her open steps are flagged."""
    with session_scope(built.url) as s:
        s.execute(sa.update(Staff).where(Staff.id == built.staff["t1"]).values(active=False))
    with session_scope(built.url) as s:
        report = compliance_report(s, NOW)
    listed = {x.step_id: x for x in report.escalated}
    assert set(listed) == {built.steps[12], built.steps[5]}  # open, required, past due
    el = listed[built.steps[12]]
    assert (el.overdue_school_days, el.escalated_school_days, el.owner_flag) == (15, 13, "no owner")
    assert el.student_ref.startswith("S.S. #") and el.owner == "(no owner)"
    note = listed[built.steps[5]]
    assert (note.overdue_school_days, note.escalated_school_days) == (1, None)
    assert note.owner_flag == "owner inactive" and note.owner == "Tess One (t1)"
    assert report.escalated[0].step_id == built.steps[12]  # longest first
    assert {r.key: r.longest_escalated for r in report.by_school} == {"sch-a": None, "sch-b": 13}
    assert {r.key: r.longest_escalated for r in report.by_teacher}["none"] == 13
    assert report.longest_escalated == 13
    assert report.owner_flags == {"sch-a": {"owner inactive": 3}, "sch-b": {"no owner": 1}}
    assert report.as_dict()["escalated"][0]["escalated_school_days"] == 13

    text = report_markdown(report)
    assert "longest: escalated for 13 school days" in text
    assert "| (no owner) |" in text and "Tess One (t1) (owner inactive)" in text
    assert "- sch-a: 3 owner inactive" in text and "- sch-b: 1 no owner" in text
    assert "Sam" not in text


def test_notices_and_input_requests_are_not_compliance_items(built: Built) -> None:
    """el_ilp_notice and teacher_input steps, open, overdue, unowned or completed late, and
    even when flagged required, change no figure of the report."""
    from datetime import date

    from lifecycle.types import Role, StepKind, StepStatus
    from models.tables import Enrollment, Step

    with session_scope(built.url) as s:
        before = compliance_report(s, NOW)
        enrollment = s.execute(sa.select(Enrollment.id).order_by(Enrollment.id)).scalars().first()
        extra = [
            (StepKind.TEACHER_INPUT, None, StepStatus.OPEN, None, True),  # overdue, no owner
            (StepKind.TEACHER_INPUT, "t1", StepStatus.OPEN, None, False),
            (StepKind.EL_ILP_NOTICE, "t2", StepStatus.OPEN, None, True),
            (StepKind.EL_ILP_NOTICE, "t3", StepStatus.COMPLETED, date(2026, 9, 30), False),
        ]
        for seq, (kind, owner, status, done, required) in enumerate(extra):
            s.add(
                Step(
                    enrollment_id=enrollment,
                    kind=kind,
                    seq=seq,
                    due=date(2026, 9, 1),
                    opens=date(2026, 8, 20),
                    required=required,
                    owner_role=Role.TEACHER,
                    owner_staff_id=built.staff[owner] if owner else None,
                    status=status,
                    completed_on=done,
                )
            )
    with session_scope(built.url) as s:
        after = compliance_report(s, NOW)
    assert counts(after.total) == counts(before.total) == EXPECTED["total"]
    assert counts(after.optional) == EXPECTED["optional"]
    assert [r.key for r in after.by_step] == [r.key for r in before.by_step]
    assert [(r.key, counts(r.counts)) for r in after.by_teacher] == [
        (r.key, counts(r.counts)) for r in before.by_teacher
    ]
    assert [r.key for r in after.optional_by_step] == ["q1_note"]
    assert after.unowned == before.unowned
    assert [e.step_id for e in after.escalated] == [e.step_id for e in before.escalated]
    assert after.owner_flags == before.owner_flags
