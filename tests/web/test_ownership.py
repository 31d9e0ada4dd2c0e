"""Ownership follows the school (services/actions.py and planning): any teacher of the student
may complete a quarter note; a coordinator reassigns a step, audited, and re-plans keep it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import select

from lifecycle.types import Role
from models.db import session_scope
from models.tables import Assignment, AuditEvent, Enrollment, Note, Staff, Step
from services import actions
from services.actions import Actor, InvalidInput, NotPermitted
from services.planning import plan_enrollments
from tests.web.conftest import NOW, World, dump

ANSWERS = {
    "action": "Weekly check-in on fractions",
    "communicated": "Call with student and learning coach",
    "follow_up": "Math specialist to join next call",
    "resources": "Khan Academy unit 4, small group",
}


def actor(world: World, who: str) -> Actor:
    return Actor(staff_id=world.staff[who], now=NOW, ip="203.0.113.9", user_agent="pytest")


def student_of(world: World, step_id: int) -> int:
    with session_scope(world.url) as s:
        step = s.get(Step, step_id)
        enrollment = s.get(Enrollment, step.enrollment_id)  # type: ignore[union-attr]
        return int(enrollment.student_id)  # type: ignore[union-attr]


def add_teacher(world: World, step_id: int, who: str) -> None:
    with session_scope(world.url) as s:
        s.add(
            Assignment(
                staff_id=world.staff[who], student_id=student_of(world, step_id), role=Role.TEACHER
            )
        )


def set_active(world: World, who: str, active: bool) -> None:
    with session_scope(world.url) as s:
        s.execute(sa.update(Staff).where(Staff.id == world.staff[who]).values(active=active))


def replan(world: World, step_id: int) -> None:
    with session_scope(world.url) as s:
        plan_enrollments(s, [world.get(step_id).enrollment_id], now=NOW)


def test_a_second_teacher_of_the_student_completes_the_quarter_note(world: World) -> None:
    q2 = world.step("q2_note", "tch-0001-001")
    with pytest.raises(NotPermitted), session_scope(world.url) as s:
        actions.complete(s, q2, actor(world, "tch-0001-002"), ANSWERS)  # not their student
    add_teacher(world, q2, "tch-0001-002")
    with session_scope(world.url) as s:
        out = actions.complete(s, q2, actor(world, "tch-0001-002"), ANSWERS)
    assert out.completed
    step = world.get(q2)
    assert (step.status, step.completed_by) == ("completed", world.staff["tch-0001-002"])
    assert step.owner_staff_id == world.staff["tch-0001-001"]  # the owner stays the owner
    with session_scope(world.url) as s:
        note = s.exec(select(Note).where(Note.step_id == q2)).one()
    assert note.author_staff_id == world.staff["tch-0001-002"]
    # the welcome note is the assigned teacher's: a second teacher may not file it
    note_step = world.step("welcome_note", "tch-0001-001", enrollment_id=step.enrollment_id)
    with pytest.raises(NotPermitted), session_scope(world.url) as s:
        actions.acknowledge(s, note_step, actor(world, "tch-0001-002"))


def test_a_coordinator_reassigns_a_step_and_a_replan_keeps_it(world: World) -> None:
    q2 = world.step("q2_note", "tch-0001-001")
    before = world.get(q2)
    for who in ("tch-0001-001", "prn-0001", "ilc-0002"):  # only the school's coordinator
        snap = dump(world.url)
        with pytest.raises(NotPermitted), session_scope(world.url) as s:
            actions.reassign(s, q2, actor(world, who), world.staff["tch-0001-002"])
        assert dump(world.url) == snap
    for target in ("tch-0002-001", "nobody"):  # another school's teacher; not a staff id
        with pytest.raises(InvalidInput), session_scope(world.url) as s:
            actions.reassign(s, q2, actor(world, "ilc-0001"), world.staff.get(target, "x"))

    with session_scope(world.url) as s:
        out = actions.reassign(s, q2, actor(world, "ilc-0001"), world.staff["tch-0001-002"])
    assert out.changed and out.message.startswith("Reassigned to ")
    after = world.get(q2)
    assert after.owner_staff_id == world.staff["tch-0001-002"]
    # the ladder goes on where it was: nothing re-sent, nothing skipped
    assert (after.rungs_sent, after.next_action_at) == (before.rungs_sent, before.next_action_at)
    with session_scope(world.url) as s:
        audit = s.exec(select(AuditEvent).where(AuditEvent.step_id == q2)).one()
    assert audit.action == "step.reassigned"
    assert audit.actor_staff_id == world.staff["ilc-0001"]
    assert audit.before["owner_staff_id"] == world.staff["tch-0001-001"]
    assert audit.after["owner_staff_id"] == world.staff["tch-0001-002"]
    # the new owner may act on it now; the same reassignment again changes nothing
    with session_scope(world.url) as s:
        assert actions.acknowledge(s, q2, actor(world, "tch-0001-002")).changed
    with session_scope(world.url) as s:
        again = actions.reassign(s, q2, actor(world, "ilc-0001"), world.staff["tch-0001-002"])
    assert again.already_done and not again.changed

    replan(world, q2)  # the school's records still say tch-0001-001: the delegation holds
    assert world.get(q2).owner_staff_id == world.staff["tch-0001-002"]
    set_active(world, "tch-0001-002", False)  # the delegate leaves: back to the school's teacher
    replan(world, q2)
    assert world.get(q2).owner_staff_id == world.staff["tch-0001-001"]


def test_an_inactive_target_is_refused(world: World) -> None:
    q2 = world.step("q2_note", "tch-0001-001")
    set_active(world, "tch-0001-002", False)
    with pytest.raises(InvalidInput), session_scope(world.url) as s:
        actions.reassign(s, q2, actor(world, "ilc-0001"), world.staff["tch-0001-002"])


def test_the_step_page_offers_coordinators_a_reassign_form(world: World, client) -> None:  # noqa: ANN001
    import re

    q2 = world.step("q2_note", "tch-0001-001")
    teacher_page = client.get(f"/a/{world.token('tch-0001-001', 'acknowledge', q2)}").text
    assert 'name="owner"' not in teacher_page  # only the coordinator delegates
    page = client.get(f"/a/{world.token('ilc-0001', 'acknowledge', q2)}")
    assert page.status_code == 200 and 'class="inline reassign"' in page.text
    action = re.search(r'<form method="post" action="[^"]*(/a/[^"]+)"[^>]*reassign', page.text)
    assert action is not None
    choice = f'<option value="{world.staff["tch-0001-002"]}"'
    assert choice in page.text and f'value="{world.staff["tch-0002-001"]}"' not in page.text
    target = action.group(1)
    assert client.get(target).status_code == 200  # the form's own page
    bad = client.post(target, data={"owner": str(world.staff["tch-0002-001"])})
    assert bad.status_code == 422 and world.get(q2).owner_staff_id == world.staff["tch-0001-001"]
    done = client.post(target, data={"owner": str(world.staff["tch-0001-002"])})
    assert done.status_code == 200 and "Reassigned to" in done.text
    assert world.get(q2).owner_staff_id == world.staff["tch-0001-002"]
    # the reassign link is the coordinator's: the teacher cannot use one
    teacher_link = f"/a/{world.token('tch-0001-001', 'reassign', q2)}"
    assert client.post(teacher_link, data={"owner": "1"}).status_code == 403
