"""EL ILP versions: saving one completes the el_ilp / el_ilp_review step it was written for.

A version is never edited: each save inserts the next version number for the student. Saving
goes through the same steps as every action (lock, permission, still open, one audit event, the
re-plan that schedules the next review and the parent copy), so a saved version and a completed
step are one transaction.

Versions are numbered per student, not per enrollment: a returning English learner's first EL
ILP of a new school year (or at a new school) opens on last year's last version, and the next
save continues the numbering (tests/web/test_years.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from lifecycle.el_ilp import (
    ElIlpContent,
    content_of,
    read_el_ilp,
    teacher_input_days,
    teacher_input_ladder,
)
from lifecycle.escalation import current_window
from lifecycle.forms import REPLAN_KINDS, InvalidAnswer
from lifecycle.types import Escalation, Role, StepKind, StepStatus
from models.documents import ElIlpVersion
from models.tables import Assignment, Note, Staff, Step, escalations_to_json
from services.actions import (
    ActionOutcome,
    Actor,
    InvalidInput,
    StepContext,
    begin_action,
    done_outcome,
    mark_completed,
    record_audit,
    snapshot,
)
from services.planning import plan_enrollments

# Who is told of a new version: the student's general-education teachers and counselor.
COLLABORATOR_ROLES = (Role.TEACHER, Role.COUNSELOR)
NOTICES_PER_VERSION = 100  # seq = version * 100 + n keeps (enrollment, kind, seq) unique
NOTICE_DAYS = timedelta(days=7)  # the notice's nominal due date (it never escalates)


def versions(session: Session, student_id: int) -> list[ElIlpVersion]:
    """Every saved version of the student's EL ILP, oldest first."""
    return list(
        session.exec(
            select(ElIlpVersion)
            .where(ElIlpVersion.student_id == student_id)
            .order_by(col(ElIlpVersion.version))
        )
    )


def latest(session: Session, student_id: int) -> ElIlpVersion | None:
    return session.exec(
        select(ElIlpVersion)
        .where(ElIlpVersion.student_id == student_id)
        .order_by(col(ElIlpVersion.version).desc())
    ).first()


def _next_version(session: Session, student_id: int) -> int:
    top = session.execute(
        sa.select(sa.func.max(col(ElIlpVersion.version))).where(
            col(ElIlpVersion.student_id) == student_id
        )
    ).scalar()
    return int(top or 0) + 1


def save_version(
    session: Session, step_id: int, actor: Actor, form: Mapping[str, Any]
) -> ActionOutcome:
    """Save the form as the student's next EL ILP version and complete the step."""
    ctx = begin_action(session, step_id, actor, "complete")
    if isinstance(ctx, ActionOutcome):
        return ctx
    step = ctx.step
    kind = StepKind(step.kind)
    if kind not in REPLAN_KINDS:
        raise InvalidInput("Only an EL ILP or its review is completed by saving a version")
    try:
        content = read_el_ilp(form, today=ctx.local_today(actor.now))
    except InvalidAnswer as exc:
        raise InvalidInput(str(exc), exc.field) from None

    student_id = int(ctx.student.id or 0)
    before = snapshot(step)
    number = _next_version(session, student_id)
    row = ElIlpVersion(
        student_id=student_id,
        enrollment_id=int(ctx.enrollment.id or 0),
        step_id=step.id,
        version=number,
        **_columns(content),
        author_staff_id=actor.staff_id,
        created_at=actor.now,
    )
    session.add(row)
    mark_completed(ctx, actor)
    session.add(step)
    note = Note(
        step_id=step.id,  # type: ignore[arg-type]
        kind=kind,
        answers={"confirmed": "yes", "version": str(number)},
        author_staff_id=actor.staff_id,
        created_at=actor.now,
    )
    session.add(note)
    session.flush()
    replanned = plan_enrollments(session, [ctx.enrollment.id or 0], now=actor.now)
    told = tell_collaborators(session, ctx, number, actor)
    asked = request_teacher_input(session, ctx, actor)
    after = snapshot(step) | {
        "note_id": note.id,
        "el_ilp_version": number,
        "version_id": row.id,
        "collaborators_told": told,
        "teacher_input_requested": asked,
    }
    audit_id = record_audit(session, ctx, actor, "step.completed", before, after)
    return done_outcome(
        ctx,
        "complete",
        f"Saved as version {number} of the EL ILP. The step is complete; the next review and "
        "the parent copy are scheduled.",
        audit_id,
        "completed",
        completed=True,
        replanned=replanned,
    )


def tell_collaborators(session: Session, ctx: StepContext, version: int, actor: Actor) -> list[int]:
    """One `el_ilp_notice` step per general-education teacher and counselor of the student, so
    their next digest says the ILP changed and links to it (ILP_RULES: "Each completed update
    notifies the student's general-education teachers and counselor"). Returns their staff ids.

    The notice rides the sweep like any step: one rung, to its owner only, at the current
    sending window; it never escalates. Reading it ("I have read it") completes it.
    """
    student_id = int(ctx.student.id or 0)
    today = ctx.local_today(actor.now)
    window = current_window(actor.now, ctx.calendar, ctx.policy)
    told: list[int] = []
    rows = _collaborators(session, student_id)
    for index, (role, staff) in enumerate(rows[:NOTICES_PER_VERSION]):
        if staff.id == actor.staff_id or staff.id in told:
            continue
        session.add(
            Step(
                enrollment_id=int(ctx.enrollment.id or 0),
                kind=StepKind.EL_ILP_NOTICE,
                seq=version * NOTICES_PER_VERSION + index,
                due=today + NOTICE_DAYS,
                required=False,
                owner_role=role,
                owner_staff_id=staff.id,
                opens=today,
                escalation_schedule=escalations_to_json([Escalation(0, window, (role,))]),
                next_action_at=window,
                created_at=actor.now,
                updated_at=actor.now,
            )
        )
        told.append(int(staff.id or 0))
    session.flush()
    return told


def _collaborators(session: Session, student_id: int) -> list[tuple[Role, Staff]]:
    rows = session.exec(
        select(Assignment, Staff)
        .join(Staff, col(Staff.id) == Assignment.staff_id)
        .where(
            Assignment.student_id == student_id,
            col(Assignment.role).in_([r.value for r in COLLABORATOR_ROLES]),
            Staff.active == True,  # noqa: E712 - SQL comparison
        )
        .order_by(col(Assignment.role), col(Staff.id))
    ).all()
    return [(Role(a.role), staff) for a, staff in rows]


def next_review(session: Session, enrollment_id: int) -> Step | None:
    """The enrollment's open EL ILP review (the one the next version will complete)."""
    return session.exec(
        select(Step)
        .where(
            Step.enrollment_id == enrollment_id,
            Step.kind == StepKind.EL_ILP_REVIEW,
            Step.status == StepStatus.OPEN,
        )
        .order_by(col(Step.seq))
    ).first()


def request_teacher_input(session: Session, ctx: StepContext, actor: Actor) -> list[int]:
    """One `teacher_input` step per teacher and counselor for the next review, due the school's
    `teacher_input_school_days` (default 5) school days before it. Their ladder names only the
    owner and, once overdue, the ESL teacher. Asked once per review; returns the staff ids."""
    review = next_review(session, int(ctx.enrollment.id or 0))
    base = review.seq * NOTICES_PER_VERSION if review is not None else -1
    # The review they were for is done: its unanswered requests stop reminding anyone.
    for stale in session.exec(
        select(Step).where(
            Step.enrollment_id == ctx.enrollment.id,
            Step.kind == StepKind.TEACHER_INPUT,
            Step.status == StepStatus.OPEN,
            (col(Step.seq) < base) | (col(Step.seq) >= base + NOTICES_PER_VERSION),
        )
    ):
        stale.status = StepStatus.CANCELLED
        stale.next_action_at = None
        stale.updated_at = actor.now
        session.add(stale)
    if review is None:
        return []
    exists = session.exec(
        select(Step.id).where(
            Step.enrollment_id == ctx.enrollment.id,
            Step.kind == StepKind.TEACHER_INPUT,
            col(Step.seq) >= base,
            col(Step.seq) < base + NOTICES_PER_VERSION,
        )
    ).first()
    if exists is not None:
        return []
    days = teacher_input_days(ctx.school.policy)
    today = ctx.local_today(actor.now)
    asked: list[int] = []
    collaborators = _collaborators(session, int(ctx.student.id or 0))
    for index, (role, staff) in enumerate(collaborators[:NOTICES_PER_VERSION]):
        if staff.id in asked:
            continue
        due, rungs = teacher_input_ladder(review.due, today, role, days, ctx.calendar, ctx.policy)
        session.add(
            Step(
                enrollment_id=int(ctx.enrollment.id or 0),
                kind=StepKind.TEACHER_INPUT,
                seq=base + index,
                due=due,
                required=False,
                owner_role=role,
                owner_staff_id=staff.id,
                opens=today,
                escalation_schedule=escalations_to_json(rungs),
                next_action_at=rungs[0].at if rungs else None,
                created_at=actor.now,
                updated_at=actor.now,
            )
        )
        asked.append(int(staff.id or 0))
    session.flush()
    return asked


def teacher_input_for(session: Session, review: Step) -> list[tuple[Note, Staff | None]]:
    """The answers teachers gave for this review (shown on the ESL teacher's form)."""
    base = review.seq * NOTICES_PER_VERSION
    rows = session.exec(
        select(Note, Step)
        .join(Step, col(Step.id) == Note.step_id)
        .where(
            Step.enrollment_id == review.enrollment_id,
            Step.kind == StepKind.TEACHER_INPUT,
            col(Step.seq) >= base,
            col(Step.seq) < base + NOTICES_PER_VERSION,
        )
        .order_by(col(Note.id))
    ).all()
    return [(note, session.get(Staff, note.author_staff_id or 0)) for note, _ in rows]


def _columns(content: ElIlpContent) -> dict[str, Any]:
    values = dict(content.__dict__)
    values["collaborators"] = list(content.collaborators)
    return values


def content(row: ElIlpVersion) -> ElIlpContent:
    return content_of(row)
