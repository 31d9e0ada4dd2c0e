"""What staff do to a step: acknowledge, complete, snooze, log a contact attempt.

Plain functions on a SQLModel ``Session``: no Prefect, no HTTP, no clock (``Actor.now`` is the
time). Each action

1. locks the step row (``FOR UPDATE`` on PostgreSQL; on SQLite a no-op write takes the database
   write lock first, so two clicks at once are serialised instead of failing),
2. checks who may act (:func:`may_act`) and that the step is still open,
3. changes the step (and writes the ``Note`` / ``ContactAttempt`` rows),
4. writes one ``AuditEvent`` (actor, time, IP, user agent, before, after) in the same
   transaction,
5. returns an :class:`ActionOutcome`.

The caller commits, then emits the Prefect event named by ``ActionOutcome.event`` (see
``tasks.events.emit_step_event``). An action on a step that is no longer open, or one that would
change nothing (the same acknowledgment again, the same form submitted twice), changes nothing
and returns an outcome with ``already_done=True``.

Who may act on a step (the token-permission rule): the step's owner (``owner_staff_id``), or an
active staff member holding a role the step escalates to (ILP coordinator, principal, regional
VP: a role named in the step's stored escalation schedule) at the enrollment's school. A regional
VP without a school (``school_id`` NULL) is district-wide. Any teacher of the student (an
assignment with role teacher) may act on a quarter note. Inactive staff may do nothing. Only the
school's ILP coordinator may reassign a step (:func:`reassign`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlmodel import Session, select

from config.schools import school_rules
from lifecycle.access import (
    ANY_TEACHER_KINDS,
    StaffMember,
    ladder_roles,
    may_own,
    may_reassign,
)
from lifecycle.access import may_act as access_rule
from lifecycle.calendar import SchoolCalendar
from lifecycle.escalation import acknowledge_pause_until, snooze_until
from lifecycle.forms import (
    BULK_COMPLETE_KINDS,
    BULK_CONFIRMATION,
    CONTACT_OUTCOMES,
    REACHED,
    REPLAN_KINDS,
    InvalidAnswer,
    read_attempt,
    read_completion,
)
from lifecycle.policy import SchoolPolicy
from lifecycle.students import student_ref
from lifecycle.templates import school_templates
from lifecycle.types import Role, StepKind, StepStatus
from lifecycle.welcome_call import AttemptCount
from models.tables import (
    Assignment,
    AuditEvent,
    ContactAttempt,
    ContactMethod,
    Enrollment,
    EnrollmentStatus,
    Note,
    School,
    Staff,
    Step,
    Student,
)
from services.planning import REASSIGNED, PlanCounts, plan_enrollments

_SUBMISSION = re.compile(r"^[0-9a-f]{16,64}$")


# --- errors and results -------------------------------------------------------------------


class ActionError(ValueError):
    """The action cannot be done. ``str(err)`` is fit to show to the person who asked."""


class StepNotFound(ActionError):
    pass


class NotPermitted(ActionError):
    pass


class InvalidInput(ActionError, InvalidAnswer):
    """The form is incomplete or wrong (`lifecycle.forms.InvalidAnswer`, as an action error)."""


@dataclass(frozen=True)
class Actor:
    """Who acts, when, and from where. ``submission`` is a form's one-time id: the same form
    submitted twice (a double click, a browser refresh) changes nothing the second time."""

    staff_id: int
    now: datetime
    ip: str | None = None
    user_agent: str | None = None
    submission: str | None = None


@dataclass(frozen=True)
class ActionOutcome:
    action: str  # acknowledge | complete | snooze | contact_attempt | reassign
    step_id: int
    changed: bool
    message: str
    already_done: bool = False
    event: str | None = None  # completed | acknowledged | snoozed: emit after commit
    enrollment_id: int | None = None
    school_source_id: str | None = None
    audit_id: int | None = None
    completed: bool = False
    replanned: PlanCounts | None = None
    after: dict[str, Any] = field(default_factory=dict)


# --- access ---------------------------------------------------------------------------------


def escalation_roles(step: Step) -> frozenset[str]:
    """The escalation roles (coordinator, principal, RVP) the step's ladder notifies."""
    return ladder_roles(rung.get("notify", ()) for rung in (step.escalation_schedule or []))


def staff_member(staff: Staff) -> StaffMember:
    per_school = {int(k): frozenset(v) for k, v in (staff.school_roles or {}).items()}
    return StaffMember(
        int(staff.id or 0), frozenset(staff.roles or ()), staff.school_id, staff.active, per_school
    )


def may_act(
    staff: Staff | None,
    step: Step,
    enrollment: Enrollment,
    teachers: frozenset[int] = frozenset(),
) -> bool:
    """The token-permission rule (`lifecycle.access.may_act`) for stored rows; `teachers` are
    the student's teachers (see :func:`student_teachers`)."""
    member = staff_member(staff) if staff is not None else None
    return access_rule(
        member,
        step.owner_staff_id,
        escalation_roles(step),
        enrollment.school_id,
        kind=StepKind(step.kind),
        teachers=teachers,
    )


def student_teachers(session: Session, student_id: int) -> frozenset[int]:
    """Staff assigned to the student as a teacher (the feed's class enrollments)."""
    a = Assignment.__table__  # type: ignore[attr-defined]
    query = sa.select(a.c.staff_id).where(
        a.c.student_id == student_id, a.c.role == Role.TEACHER.value
    )
    return frozenset(session.execute(query).scalars())


def is_open(step: Step, enrollment: Enrollment) -> bool:
    return step.status == StepStatus.OPEN and enrollment.status != EnrollmentStatus.WITHDRAWN


def closed_reason(step: Step, enrollment: Enrollment) -> str:
    if step.status == StepStatus.COMPLETED:
        when = f" on {step.completed_on:%a %d %b %Y}" if step.completed_on else ""
        return f"Already done: this step was completed{when}. Nothing was changed."
    if enrollment.status == EnrollmentStatus.WITHDRAWN or step.status in (
        StepStatus.CANCELLED,
        StepStatus.MISSED,
    ):
        return "This step is no longer open (the student withdrew or the plan changed)."
    return "This step is no longer open."


@dataclass
class StepContext:
    step: Step
    enrollment: Enrollment
    school: School
    student: Student
    staff: Staff | None
    calendar: SchoolCalendar
    policy: SchoolPolicy

    @property
    def open(self) -> bool:
        return is_open(self.step, self.enrollment)

    @property
    def student_ref(self) -> str:
        return student_ref(self.student.initials, int(self.student.id or 0))

    def local_today(self, now: datetime) -> date:
        return self.calendar.local_date(now)


def load_step(
    session: Session,
    step_id: int,
    staff_id: int,
    *,
    lock: bool = False,
    reassigning: bool = False,
) -> StepContext:
    """The step with what an action or a page needs; raises StepNotFound / NotPermitted.
    `reassigning` checks the delegation rule (the school's coordinator) instead."""
    if lock:
        _lock_step(session, step_id)
    query = select(Step).where(Step.id == step_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    step = session.exec(query).first()
    if step is None:
        raise StepNotFound("This step does not exist (any more).")
    enrollment = session.get(Enrollment, step.enrollment_id)
    school = session.get(School, enrollment.school_id) if enrollment else None
    student = session.get(Student, enrollment.student_id) if enrollment else None
    if enrollment is None or school is None or student is None:
        raise StepNotFound("This step's enrollment no longer exists.")
    staff = session.get(Staff, staff_id)
    if reassigning:
        member = staff_member(staff) if staff is not None else None
        if not may_reassign(member, enrollment.school_id):
            raise NotPermitted("Only the school's ILP coordinator can reassign a step.")
    else:
        teachers = (
            student_teachers(session, student.id or 0)
            if StepKind(step.kind) in ANY_TEACHER_KINDS
            else frozenset()
        )
        if not may_act(staff, step, enrollment, teachers):
            raise NotPermitted(
                "This link is not for a step you are responsible for. Nothing was changed."
            )
    calendar, policy = school_rules(school.calendar, school.policy)
    return StepContext(step, enrollment, school, student, staff, calendar, policy)


def _lock_step(session: Session, step_id: int) -> None:
    """On SQLite, take the write lock before reading (a no-op update), so that a concurrent
    action waits for ours instead of failing when it upgrades its read to a write."""
    if session.get_bind().dialect.name == "sqlite":
        t = Step.__table__  # type: ignore[attr-defined]
        session.execute(sa.update(t).where(t.c.id == step_id).values(updated_at=t.c.updated_at))


def failed_attempts(session: Session, enrollment_id: int) -> int:
    """Failed contact attempts logged on the enrollment's welcome-call step(s)."""
    return len(_failed_attempt_times(session, enrollment_id))


def _failed_attempt_times(session: Session, enrollment_id: int) -> list[datetime]:
    c = ContactAttempt.__table__  # type: ignore[attr-defined]
    s = Step.__table__  # type: ignore[attr-defined]
    query = (
        sa.select(c.c.at)
        .select_from(c.join(s, s.c.id == c.c.step_id))
        .where(
            s.c.enrollment_id == enrollment_id,
            s.c.kind == StepKind.WELCOME_CALL.value,
            c.c.succeeded.is_(False),
        )
    )
    return list(session.execute(query).scalars())


def attempt_count(session: Session, enrollment_id: int, calendar: SchoolCalendar) -> AttemptCount:
    """The welcome call's failed attempts and the school-local days they were made on."""
    times = _failed_attempt_times(session, enrollment_id)
    return AttemptCount.of(calendar.local_date(at) for at in times)


def attempts_for(session: Session, step_id: int) -> list[ContactAttempt]:
    return list(
        session.exec(
            select(ContactAttempt)
            .where(ContactAttempt.step_id == step_id)
            .order_by(ContactAttempt.at, ContactAttempt.id)  # type: ignore[arg-type]
        )
    )


# --- snapshots and audit -----------------------------------------------------------------

SNAPSHOT_FIELDS = (
    "status",
    "completed_on",
    "completed_by",
    "next_action_at",
    "acknowledged_until",
    "snoozed_until",
    "external_ref",
)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "value"):
        return value.value
    return value


def snapshot(step: Step) -> dict[str, Any]:
    return {name: _plain(getattr(step, name)) for name in SNAPSHOT_FIELDS}


def _submission(actor: Actor) -> str | None:
    sub = (actor.submission or "").strip().lower()
    return sub if _SUBMISSION.match(sub) else None


def _seen(session: Session, step_id: int, actor: Actor) -> bool:
    sub = _submission(actor)
    if sub is None:
        return False
    found = session.exec(
        select(AuditEvent.id).where(
            AuditEvent.step_id == step_id, AuditEvent.detail == f"submission {sub}"
        )
    ).first()
    return found is not None


def record_audit(
    session: Session,
    ctx: StepContext,
    actor: Actor,
    action: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> int:
    """One audit row (who, when, from where, before/after) in the action's own transaction;
    its id goes into the outcome. Shared by every step action, documents' included."""
    sub = _submission(actor)
    event = AuditEvent(
        at=actor.now,
        actor_staff_id=actor.staff_id,
        action=action,
        step_id=ctx.step.id,
        ip=actor.ip[:64] if actor.ip else None,
        user_agent=actor.user_agent[:512] if actor.user_agent else None,
        before=before,
        after=after,
        detail=f"submission {sub}" if sub else None,
    )
    session.add(event)
    session.flush()
    assert event.id is not None
    return event.id


def _noop(ctx: StepContext, action: str, message: str) -> ActionOutcome:
    return ActionOutcome(
        action=action,
        step_id=int(ctx.step.id or 0),
        changed=False,
        message=message,
        already_done=True,
        enrollment_id=ctx.enrollment.id,
        school_source_id=ctx.school.source_id,
        after=snapshot(ctx.step),
    )


def begin_action(
    session: Session, step_id: int, actor: Actor, action: str
) -> StepContext | ActionOutcome:
    """Lock the step and check access; an outcome instead of a context means "nothing to do"
    (the step is closed, or this form was already submitted)."""
    reassigning = action == "reassign"
    ctx = load_step(session, step_id, actor.staff_id, lock=True, reassigning=reassigning)
    if not ctx.open:
        return _noop(ctx, action, closed_reason(ctx.step, ctx.enrollment))
    if _seen(session, step_id, actor):
        return _noop(ctx, action, "Already done: this form was already submitted.")
    return ctx


def done_outcome(
    ctx: StepContext,
    action: str,
    message: str,
    audit_id: int,
    event: str | None,
    **extra: Any,
) -> ActionOutcome:
    """The outcome of an action that changed the step (`event`: the Prefect event to emit)."""
    return ActionOutcome(
        action=action,
        step_id=int(ctx.step.id or 0),
        changed=True,
        message=message,
        event=event,
        enrollment_id=ctx.enrollment.id,
        school_source_id=ctx.school.source_id,
        audit_id=audit_id,
        after=snapshot(ctx.step),
        **extra,
    )


def _local_text(ctx: StepContext, moment: datetime) -> str:
    """'Tue 6 Oct 2026, 07:00' in the school's time zone."""
    local = moment.astimezone(pendulum.timezone(ctx.calendar.timezone))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


# --- the actions ---------------------------------------------------------------------------


def acknowledge(session: Session, step_id: int, actor: Actor) -> ActionOutcome:
    """Pause escalation for the school's acknowledgment pause; it resumes afterwards."""
    ctx = begin_action(session, step_id, actor, "acknowledge")
    if isinstance(ctx, ActionOutcome):
        return ctx
    step = ctx.step
    until = acknowledge_pause_until(actor.now, ctx.calendar, ctx.policy)
    if step.acknowledged_until is not None and step.acknowledged_until >= until:
        return _noop(
            ctx,
            "acknowledge",
            "Already acknowledged: reminders are paused until "
            f"{_local_text(ctx, step.acknowledged_until)}. Nothing was changed.",
        )
    before = snapshot(step)
    step.acknowledged_until = until
    if step.next_action_at is not None:
        step.next_action_at = max(step.next_action_at, until)
    session.add(step)
    session.flush()
    audit_id = record_audit(session, ctx, actor, "step.acknowledged", before, snapshot(step))
    return done_outcome(
        ctx,
        "acknowledge",
        f"Acknowledged. Reminders and escalation pause until {_local_text(ctx, until)}, "
        "then resume if the step is still open.",
        audit_id,
        "acknowledged",
    )


def snooze(session: Session, step_id: int, actor: Actor, until: date | str) -> ActionOutcome:
    """Hold reminders until `until`, which may not be after the due date (nor in the past)."""
    ctx = begin_action(session, step_id, actor, "snooze")
    if isinstance(ctx, ActionOutcome):
        return ctx
    step = ctx.step
    day = parse_date(until, "until")
    today = ctx.local_today(actor.now)
    if day > step.due:
        raise InvalidInput(
            f"You can snooze until the due date ({step.due:%a %d %b %Y}) at the latest; "
            f"{day:%a %d %b %Y} is after it.",
            "until",
        )
    if day < today:
        raise InvalidInput(f"{day:%a %d %b %Y} is in the past; pick today or later.", "until")
    if step.snoozed_until == day:
        return _noop(
            ctx, "snooze", f"Already snoozed until {day:%a %d %b %Y}. Nothing was changed."
        )
    before = snapshot(step)
    step.snoozed_until = day
    if step.next_action_at is not None:
        step.next_action_at = max(
            step.next_action_at, snooze_until(day, step.due, ctx.calendar, ctx.policy)
        )
    session.add(step)
    session.flush()
    audit_id = record_audit(session, ctx, actor, "step.snoozed", before, snapshot(step))
    return done_outcome(
        ctx,
        "snooze",
        f"Snoozed. Reminders are held until {day:%a %d %b %Y}.",
        audit_id,
        "snoozed",
    )


def parse_date(value: date | str, field_name: str) -> date:
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput("Pick a date (YYYY-MM-DD).", field_name) from None


def mark_completed(ctx: StepContext, actor: Actor) -> None:
    """Close the step as completed today (school time) by the actor; nothing more is sent."""
    step = ctx.step
    step.status = StepStatus.COMPLETED
    step.completed_on = ctx.local_today(actor.now)
    step.completed_by = actor.staff_id
    step.next_action_at = None


def complete(
    session: Session, step_id: int, actor: Actor, form: Mapping[str, Any]
) -> ActionOutcome:
    """Complete the step with its kind's form. A welcome call's form logs a contact attempt
    (see :func:`log_contact_attempt`); every other kind is validated and completed here."""
    ctx = begin_action(session, step_id, actor, "complete")
    if isinstance(ctx, ActionOutcome):
        return ctx
    step = ctx.step
    kind = StepKind(step.kind)
    if kind is StepKind.WELCOME_CALL:
        return _log_attempt(session, ctx, actor, form)

    try:
        filed = read_completion(
            kind,
            form,
            attempts=attempt_count(session, ctx.enrollment.id or 0, ctx.calendar),
            min_attempts=ctx.policy.welcome_call_min_attempts,
            min_attempt_days=ctx.policy.welcome_call_min_attempt_days,
            school=school_templates(ctx.school.policy).questions,
        )
    except InvalidAnswer as exc:
        raise InvalidInput(str(exc), exc.field) from None
    answers, variant = filed.answers, filed.variant

    before = snapshot(step)
    mark_completed(ctx, actor)
    if kind is StepKind.GRADUATION_PLAN:
        step.external_ref = answers["external_ref"]
    session.add(step)
    note = Note(
        step_id=step.id,  # type: ignore[arg-type]
        kind=kind,
        answers=answers,
        variant=variant,
        author_staff_id=actor.staff_id,
        created_at=actor.now,
    )
    session.add(note)
    session.flush()
    replanned = None
    if kind in REPLAN_KINDS:
        replanned = plan_enrollments(session, [ctx.enrollment.id or 0], now=actor.now)
    after = snapshot(step) | {"note_id": note.id, "variant": variant}
    audit_id = record_audit(session, ctx, actor, "step.completed", before, after)
    return done_outcome(
        ctx,
        "complete",
        "Completed. Reminders and escalation for this step have stopped.",
        audit_id,
        "completed",
        completed=True,
        replanned=replanned,
    )


def log_contact_attempt(
    session: Session,
    step_id: int,
    actor: Actor,
    *,
    succeeded: bool | None = None,
    method: ContactMethod | str,
    outcome: str | None = None,
    at: datetime | str | None = None,
    notes: str | None = None,
) -> ActionOutcome:
    """Log one welcome-call contact attempt: when it was made (`at`, default now; the form's
    local time is read in the school's time zone; never in the future), how (`method`) and how
    it ended (`outcome`, or `succeeded`: reached / no answer). The step completes when the
    family is reached, or when the failed attempts reach the school's minimum (5 by default)
    on enough different days (2 by default)."""
    ctx = begin_action(session, step_id, actor, "contact_attempt")
    if isinstance(ctx, ActionOutcome):
        return ctx
    if outcome is None:
        outcome = REACHED if succeeded else "no_answer"
    when = at.isoformat() if isinstance(at, datetime) else at
    form = {"outcome": outcome, "method": method, "notes": notes, "at": when}
    return _log_attempt(session, ctx, actor, form)


def _log_attempt(
    session: Session, ctx: StepContext, actor: Actor, form: Mapping[str, Any]
) -> ActionOutcome:
    step = ctx.step
    if StepKind(step.kind) is not StepKind.WELCOME_CALL:
        raise InvalidInput("Contact attempts are logged on welcome calls only")
    try:
        filed = read_attempt(form, now=actor.now, timezone=ctx.calendar.timezone)
    except InvalidAnswer as exc:
        raise InvalidInput(str(exc), exc.field) from None

    before = snapshot(step)
    attempt = ContactAttempt(
        step_id=step.id,  # type: ignore[arg-type]
        at=filed.at,
        succeeded=filed.succeeded,
        method=ContactMethod(filed.method),
        outcome=filed.outcome,
        staff_id=actor.staff_id,
        notes=filed.notes or None,
        logged_at=actor.now,
    )
    session.add(attempt)
    session.flush()
    count = attempt_count(session, ctx.enrollment.id or 0, ctx.calendar)
    needed, days = ctx.policy.welcome_call_min_attempts, ctx.policy.welcome_call_min_attempt_days
    completes = attempt.succeeded or count.enough(needed, days)
    if completes:
        mark_completed(ctx, actor)
        session.add(step)
        session.flush()
    when = _local_text(ctx, filed.at)
    how = CONTACT_OUTCOMES[filed.outcome].lower()
    if attempt.succeeded:
        message = f"Contact logged ({when}): {how}. The welcome call is complete."
    elif completes:
        message = (
            f"Attempt logged ({when}): {how}. With {count.attempts} failed attempts on "
            f"{count.days} days the welcome call is complete; you can now file the welcome "
            "note as “contact unsuccessful”."
        )
    else:
        short = count.shortfall(needed, days) or ""
        message = (
            f"Attempt logged ({when}): {how}. The call stays open: closing it without contact "
            f"{short}."
        )
    after = snapshot(step) | {
        "contact_attempt": {
            "id": attempt.id,
            "at": filed.at.isoformat(),
            "succeeded": attempt.succeeded,
            "method": filed.method,
            "outcome": filed.outcome,
            "failed_attempts": count.attempts,
            "failed_attempt_days": count.days,
        }
    }
    audit_id = record_audit(session, ctx, actor, "step.contact_attempt", before, after)
    return done_outcome(
        ctx,
        "contact_attempt",
        message,
        audit_id,
        "completed" if completes else None,
        completed=completes,
    )


def bulk_completable(kind: StepKind | str) -> bool:
    """The task list completes these in bulk: their completion asks for no answers."""
    return StepKind(kind) in BULK_COMPLETE_KINDS


def complete_without_form(session: Session, step_id: int, actor: Actor) -> ActionOutcome:
    """Complete a step whose completion needs no answers (the task list's bulk complete).
    Any other kind is refused with a message pointing at its own form."""
    ctx = load_step(session, step_id, actor.staff_id, lock=True)
    if not bulk_completable(ctx.step.kind):
        raise InvalidInput("This step needs its own form: open it to complete it.")
    return complete(session, step_id, actor, BULK_CONFIRMATION)


def reassign_choices(session: Session, school_id: int) -> list[tuple[int, str]]:
    """Who a coordinator can hand a step to: active staff of the school, by name."""
    t = Staff.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        sa.select(t.c.id, t.c.given_name, t.c.family_name, t.c.roles)
        .where(t.c.school_id == school_id, t.c.active.is_(True))
        .order_by(t.c.family_name, t.c.given_name, t.c.id)
    )
    return [
        (row.id, f"{row.given_name} {row.family_name}".strip() + f" ({', '.join(row.roles or [])})")
        for row in rows
    ]


def reassign(session: Session, step_id: int, actor: Actor, to_staff_id: int | str) -> ActionOutcome:
    """A coordinator hands an open step to another active staff member of the school. The step
    keeps its ladder (nothing is re-sent); its owner's rungs now reach the new owner. Re-plans
    keep the delegation while the new owner is active (services.planning reads this audit)."""
    ctx = begin_action(session, step_id, actor, "reassign")
    if isinstance(ctx, ActionOutcome):
        return ctx
    try:
        target_id = int(to_staff_id)
    except (TypeError, ValueError):
        raise InvalidInput("Choose the staff member to hand the step to.", "owner") from None
    target = session.get(Staff, target_id)
    if target is None or not may_own(staff_member(target), ctx.enrollment.school_id):
        raise InvalidInput("That person is not active staff at this school.", "owner")
    step = ctx.step
    if step.owner_staff_id == target_id:
        return _noop(ctx, "reassign", "Already done: this step is theirs. Nothing was changed.")
    before = snapshot(step) | {"owner_staff_id": step.owner_staff_id}
    step.owner_staff_id = target_id
    session.add(step)
    session.flush()
    after = snapshot(step) | {"owner_staff_id": target_id}
    audit_id = record_audit(session, ctx, actor, REASSIGNED, before, after)
    name = f"{target.given_name} {target.family_name}".strip()
    return done_outcome(ctx, "reassign", f"Reassigned to {name}.", audit_id, None)
