"""services/actions.py: the step actions as plain functions on a Session (no HTTP)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from config.schools import school_rules
from lifecycle.escalation import acknowledge_pause_until, snooze_until
from models.db import session_scope
from models.tables import (
    AuditEvent,
    ContactAttempt,
    Enrollment,
    EnrollmentStatus,
    Note,
    School,
    Staff,
    Step,
)
from services import actions
from services.actions import Actor, InvalidInput, NotPermitted
from tests.web.conftest import NOW, World, dump

ANSWERS = {
    "action": "Weekly check-in on fractions",
    "communicated": "Call with student and learning coach",
    "follow_up": "Math specialist to join next call",
    "resources": "Khan Academy unit 4, small group",
}


def actor(world: World, who: str, **kw: object) -> Actor:
    return Actor(staff_id=world.staff[who], now=NOW, ip="203.0.113.9", user_agent="pytest", **kw)  # type: ignore[arg-type]


def rules(world: World, step_id: int):  # noqa: ANN201
    with session_scope(world.url) as s:
        step = s.get(Step, step_id)
        enrollment = s.get(Enrollment, step.enrollment_id)  # type: ignore[union-attr]
        school = s.get(School, enrollment.school_id)  # type: ignore[union-attr]
        return school_rules(school.calendar, school.policy)  # type: ignore[union-attr]


def test_acknowledge_pauses_escalation_and_audits(world: World) -> None:
    sid = world.step("q2_note", "tch-0001-001")
    before = world.get(sid)
    assert before.next_action_at is not None
    with session_scope(world.url) as s:
        out = actions.acknowledge(s, sid, actor(world, "tch-0001-001"))
    calendar, policy = rules(world, sid)
    until = acknowledge_pause_until(NOW, calendar, policy)
    step = world.get(sid)
    assert out.changed and out.event == "acknowledged"
    assert step.acknowledged_until == until
    assert step.next_action_at == max(before.next_action_at, until)
    assert step.status == "open"
    with session_scope(world.url) as s:
        audit = s.exec(select(AuditEvent).where(AuditEvent.step_id == sid)).one()
    assert audit.action == "step.acknowledged"
    assert (audit.actor_staff_id, audit.ip, audit.user_agent) == (
        world.staff["tch-0001-001"],
        "203.0.113.9",
        "pytest",
    )
    assert audit.before["acknowledged_until"] is None
    assert audit.after["acknowledged_until"] == until.isoformat()
    # The same acknowledgment again is "already done" and changes nothing.
    snap = dump(world.url)
    with session_scope(world.url) as s:
        again = actions.acknowledge(s, sid, actor(world, "tch-0001-001"))
    assert again.already_done and not again.changed and again.event is None
    assert dump(world.url) == snap


def test_snooze_sets_date_and_holds_reminders(world: World) -> None:
    sid = world.step("q2_note", "tch-0001-001")
    before = world.get(sid)
    day = date(2026, 12, 17)
    with session_scope(world.url) as s:
        out = actions.snooze(s, sid, actor(world, "tch-0001-001"), day.isoformat())
    calendar, policy = rules(world, sid)
    step = world.get(sid)
    assert out.event == "snoozed"
    assert step.snoozed_until == day
    assert step.next_action_at == max(
        before.next_action_at, snooze_until(day, before.due, calendar, policy)
    )


@pytest.mark.parametrize("until", ["2026-12-19", "2027-01-04"])
def test_snooze_past_due_is_refused(world: World, until: str) -> None:
    sid = world.step("q2_note", "tch-0001-001")  # due 2026-12-18
    snap = dump(world.url)
    with pytest.raises(InvalidInput, match="at the latest") as err, session_scope(world.url) as s:
        actions.snooze(s, sid, actor(world, "tch-0001-001"), until)
    assert err.value.field == "until"
    assert dump(world.url) == snap


def test_quarter_note_needs_all_four_answers(world: World) -> None:
    sid = world.step("q2_note", "tch-0001-001")
    snap = dump(world.url)
    for key, label in [
        ("action", "The individualized action"),
        ("communicated", "How it was communicated to the student and learning coach"),
        ("follow_up", "Follow-up or staff needed"),
        ("resources", "Resources, interventions or instruction involved"),
    ]:
        form = ANSWERS | {key: "   "}
        with pytest.raises(InvalidInput) as err, session_scope(world.url) as s:
            actions.complete(s, sid, actor(world, "tch-0001-001"), form)
        assert str(err.value) == f"Missing answer: {label}"
        assert err.value.field == key
    assert dump(world.url) == snap


def test_complete_quarter_note_stops_escalation(world: World) -> None:
    sid = world.step("q2_note", "tch-0001-001")
    with session_scope(world.url) as s:
        out = actions.complete(s, sid, actor(world, "tch-0001-001"), ANSWERS)
    step = world.get(sid)
    assert out.event == "completed" and out.completed
    assert step.status == "completed"
    assert step.completed_on == date(2026, 12, 15)  # local (Chicago) date of NOW
    assert step.completed_by == world.staff["tch-0001-001"]
    assert step.next_action_at is None
    with session_scope(world.url) as s:
        note = s.exec(select(Note).where(Note.step_id == sid)).one()
    assert note.answers == ANSWERS and note.author_staff_id == world.staff["tch-0001-001"]


def test_synopsis_and_graduation_plan(world: World) -> None:
    syn = world.step("synopsis", "tch-0001-001")
    with (
        pytest.raises(InvalidInput, match="Missing answer: Successes"),
        session_scope(world.url) as s,
    ):
        actions.complete(s, syn, actor(world, "tch-0001-001"), {"support": "x"})
    with session_scope(world.url) as s:
        actions.complete(
            s,
            syn,
            actor(world, "tch-0001-001"),
            {"support": "tutoring", "successes": "reading", "continuing_goals": "math"},
        )
    assert world.get(syn).status == "completed"

    grad = world.step("graduation_plan")
    owner = world.get(grad).owner_staff_id
    who = next(k for k, v in world.staff.items() if v == owner)
    for bad in ["", "has spaces in it", "https://", "javascript:alert(1)"]:
        with pytest.raises(InvalidInput) as err, session_scope(world.url) as s:
            actions.complete(s, grad, actor(world, who), {"external_ref": bad})
        assert err.value.field == "external_ref"
    with session_scope(world.url) as s:
        actions.complete(
            s, grad, actor(world, who), {"external_ref": "https://state.example/gp/123"}
        )
    assert world.get(grad).external_ref == "https://state.example/gp/123"


MON = "2026-12-14T{:02d}:{:02d}"  # the day before NOW (Tue 15 Dec, 09:00 in Chicago)


def _attempt(
    world: World, sid: int, who: str, ok: bool, at: str | None = None, **kw: str
) -> actions.ActionOutcome:
    with session_scope(world.url) as s:
        return actions.log_contact_attempt(
            s, sid, actor(world, who), succeeded=ok, method="phone", notes="voicemail", at=at, **kw
        )


def test_welcome_call_completes_after_min_failed_attempts_on_two_days(world: World) -> None:
    call = world.step("welcome_call", "tch-0001-001")
    for n in range(1, 6):  # five tries on Monday morning, seconds apart
        out = _attempt(world, call, "tch-0001-001", False, MON.format(8, n))
        assert not out.completed and out.event is None
        assert f"{n} {'is' if n == 1 else 'are'} logged, on 1 day" in out.message
        assert "on at least 2 different days" in out.message
    assert world.get(call).status == "open"
    out = _attempt(world, call, "tch-0001-001", False, outcome="left_message")  # Tuesday, now
    assert out.completed and out.event == "completed"
    assert "With 6 failed attempts on 2 days the welcome call is complete" in out.message
    step = world.get(call)
    assert step.status == "completed" and step.next_action_at is None
    with session_scope(world.url) as s:
        rows = s.exec(
            select(ContactAttempt).where(ContactAttempt.step_id == call).order_by(ContactAttempt.id)
        ).all()
    assert len(rows) == 6
    assert rows[0].at == NOW - timedelta(hours=24, minutes=59)  # Mon 08:01 Chicago = 14:01 UTC
    assert rows[-1].at == NOW and rows[-1].outcome == "left_message"
    assert all(r.logged_at == NOW and not r.succeeded for r in rows)


def test_welcome_call_completes_on_success(world: World) -> None:
    call = world.step("welcome_call", "tch-0001-001")
    _attempt(world, call, "tch-0001-001", False)
    out = _attempt(world, call, "tch-0001-001", True)
    assert out.completed and world.get(call).status == "completed"
    with session_scope(world.url) as s:
        last = s.exec(select(ContactAttempt).order_by(ContactAttempt.id.desc())).first()  # type: ignore[union-attr]
    assert last is not None and (last.outcome, last.succeeded) == ("reached", True)
    # A further attempt on a completed call is "already done".
    assert _attempt(world, call, "tch-0001-001", False).already_done


def test_an_attempt_in_the_future_is_refused(world: World) -> None:
    call = world.step("welcome_call", "tch-0001-001")
    snap = dump(world.url)
    with pytest.raises(InvalidInput, match="is in the future") as err:
        _attempt(world, call, "tch-0001-001", False, "2026-12-15T09:01")
    assert err.value.field == "at" and dump(world.url) == snap


def test_welcome_note_unsuccessful_variant_needs_five_failed_attempts_on_two_days(
    world: World,
) -> None:
    call = world.step("welcome_call", "tch-0001-001")
    with session_scope(world.url) as s:
        enrollment_id = s.get(Step, call).enrollment_id  # type: ignore[union-attr]
    note = world.step("welcome_note", "tch-0001-001", enrollment_id=enrollment_id)
    form = {"variant": "contact_unsuccessful"}
    for n in range(5):
        _attempt(world, call, "tch-0001-001", False, MON.format(9, n))
    with (
        pytest.raises(InvalidInput, match="at least 5 failed") as err,
        session_scope(world.url) as s,
    ):
        actions.complete(s, note, actor(world, "tch-0001-001"), form)
    assert "on at least 2 different days; 5 are logged, on 1 day" in str(err.value)
    _attempt(world, call, "tch-0001-001", False)
    with session_scope(world.url) as s:
        out = actions.complete(s, note, actor(world, "tch-0001-001"), form)
    assert out.completed
    with session_scope(world.url) as s:
        row = s.exec(select(Note).where(Note.step_id == note)).one()
    assert row.variant == "contact_unsuccessful"
    assert (row.answers["failed_attempts"], row.answers["attempt_days"]) == ("6", "2")


def test_welcome_note_normal_needs_text(world: World) -> None:
    note = world.step("welcome_note", "tch-0001-001")
    with pytest.raises(InvalidInput, match="Missing answer"), session_scope(world.url) as s:
        actions.complete(s, note, actor(world, "tch-0001-001"), {"variant": "contact_made"})
    with session_scope(world.url) as s:
        actions.complete(s, note, actor(world, "tch-0001-001"), {"note": "Met family on Zoom"})
    assert world.get(note).status == "completed"


def test_el_ilp_completion_replans_review_and_parent_copy(world: World) -> None:
    el = world.step("el_ilp", "esl-0001")
    with session_scope(world.url) as s:
        enrollment_id = s.get(Step, el).enrollment_id  # type: ignore[union-attr]
        before = {
            (st.kind, st.seq): st.due
            for st in s.exec(select(Step).where(Step.enrollment_id == enrollment_id))
        }
    with pytest.raises(InvalidInput, match="confirm"), session_scope(world.url) as s:
        actions.complete(s, el, actor(world, "esl-0001"), {})
    with session_scope(world.url) as s:
        out = actions.complete(
            s, el, actor(world, "esl-0001"), {"confirm": "yes", "summary": "Goals agreed"}
        )
    assert out.replanned is not None
    with session_scope(world.url) as s:
        steps = s.exec(select(Step).where(Step.enrollment_id == enrollment_id)).all()
        after = {(st.kind, st.seq): st for st in steps}
    parent = after[("parent_copy", 0)]
    assert parent.status == "open" and parent.due == date(2026, 12, 22)
    assert parent.owner_staff_id == world.staff["ilc-0001"]
    review = after[("el_ilp_review", 1)]  # reviews count from 1
    assert review.status == "open"
    assert review.due == date(2026, 12, 15) + timedelta(days=63)
    assert review.due != before[("el_ilp_review", 1)]  # was 63 days after the initial due date


def test_permission_rule(world: World) -> None:
    q2 = world.step("q2_note", "tch-0001-001")  # school 1, ladder notifies coordinator..RVP
    owner = actor(world, "tch-0001-001")
    with session_scope(world.url) as s:
        step = s.get(Step, q2)
        enrollment = s.get(Enrollment, step.enrollment_id)  # type: ignore[union-attr]
        staff = {k: s.get(Staff, v) for k, v in world.staff.items()}
        assert actions.escalation_roles(step) == {"ilp_coordinator", "principal", "regional_vp"}  # type: ignore[arg-type]
        allowed = {k for k, st in staff.items() if actions.may_act(st, step, enrollment)}  # type: ignore[arg-type]
    assert allowed == {"tch-0001-001", "ilc-0001", "prn-0001", "rvp-0001"}
    for other in ("tch-0001-002", "ilc-0002", "prn-0002", "esl-0001"):
        snap = dump(world.url)
        with pytest.raises(NotPermitted), session_scope(world.url) as s:
            actions.acknowledge(s, q2, actor(world, other))
        assert dump(world.url) == snap
    # An optional step with no ladder: only its owner.
    q1 = world.step("q1_note", "tch-0001-001", required=False)
    with session_scope(world.url) as s:
        step = s.get(Step, q1)
        enrollment = s.get(Enrollment, step.enrollment_id)  # type: ignore[union-attr]
        assert not actions.may_act(s.get(Staff, world.staff["ilc-0001"]), step, enrollment)  # type: ignore[arg-type]
        # Inactive staff may do nothing.
        teacher = s.get(Staff, world.staff["tch-0001-001"])
        teacher.active = False  # type: ignore[union-attr]
        s.add(teacher)
    with pytest.raises(NotPermitted), session_scope(world.url) as s:
        actions.acknowledge(s, q2, owner)


def test_withdrawn_or_closed_steps_change_nothing(world: World) -> None:
    sid = world.step("q2_note", "tch-0001-001")
    with session_scope(world.url) as s:
        enrollment = s.get(Enrollment, s.get(Step, sid).enrollment_id)  # type: ignore[union-attr]
        enrollment.status = EnrollmentStatus.WITHDRAWN  # type: ignore[union-attr]
        s.add(enrollment)
    snap = dump(world.url)
    for fn in (
        lambda s: actions.acknowledge(s, sid, actor(world, "tch-0001-001")),
        lambda s: actions.snooze(s, sid, actor(world, "tch-0001-001"), "2026-12-16"),
        lambda s: actions.complete(s, sid, actor(world, "tch-0001-001"), ANSWERS),
    ):
        with session_scope(world.url) as s:
            out = fn(s)
        assert out.already_done and "no longer open" in out.message
    assert dump(world.url) == snap


def test_same_submission_twice_changes_nothing(world: World) -> None:
    call = world.step("welcome_call", "tch-0001-001")
    who = actor(world, "tch-0001-001", submission="ab" * 16)
    form = {"outcome": "failed", "method": "email"}
    with session_scope(world.url) as s:
        assert actions.complete(s, call, who, form).changed
    snap = dump(world.url)
    with session_scope(world.url) as s:
        again = actions.complete(s, call, who, form)
    assert again.already_done and "already submitted" in again.message
    assert dump(world.url) == snap
