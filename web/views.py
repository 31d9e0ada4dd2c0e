"""What a page shows about a step, and the Jinja environment that renders it.

A step card carries the student's initials and internal id, the step (with the neutral labels
messages use, so EL status is never shown), the due date and the step's own state. The page of
one step, behind its signed link, adds what a teacher needs to recognise and reach the student
(issue 12): full name, grade, school, the learning coaches / guardians from the feed, and the
step's history (`student_view`). Messages never carry any of it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import pendulum
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from lifecycle.escalation import acknowledge_pause_until
from lifecycle.forms import CONFIRM_KINDS, CONTACT_OUTCOMES, UNSUCCESSFUL, Question, questions_for
from lifecycle.templates import school_templates
from lifecycle.types import StepKind
from models.tables import ContactMethod
from notifications.render import format_date, step_label
from services.actions import StepContext, attempt_count, attempts_for, closed_reason
from services.carry_over import CarryOver, carry_over
from services.contacts import StudentCard, step_history, student_card

TEMPLATES = Path(__file__).with_name("templates")
STATIC = Path(__file__).with_name("static")

METHOD_LABELS = {
    ContactMethod.PHONE.value: "Phone",
    ContactMethod.EMAIL.value: "Email",
    ContactMethod.TEXT.value: "Text message",
    ContactMethod.VIDEO.value: "Video call",
    ContactMethod.IN_PERSON.value: "In person",
    ContactMethod.OTHER.value: "Other",
}
ACTION_TITLES = {
    "acknowledge": "Acknowledge",
    "complete": "Complete",
    "snooze": "Snooze",
    "reassign": "Reassign",
}


@dataclass
class AttemptView:
    when: str
    method: str
    succeeded: bool
    notes: str | None
    outcome: str = ""


@dataclass
class StepView:
    id: int
    kind: str
    label: str
    student_ref: str
    due: date
    due_text: str
    opens_text: str
    is_open: bool
    closed_message: str
    upcoming: bool
    badges: list[tuple[str, str]]  # (css class, text)
    questions: tuple[Question, ...]
    today_iso: str
    due_iso: str
    ack_until_text: str
    can_snooze: bool = True
    attempts: list[AttemptView] = field(default_factory=list)
    failed_attempts: int = 0
    failed_attempt_days: int = 0
    min_attempts: int = 5
    min_attempt_days: int = 1
    now_local: str = ""  # the attempt form's default and latest time (YYYY-MM-DDTHH:MM, local)
    outcome_labels: dict[str, str] = field(default_factory=lambda: dict(CONTACT_OUTCOMES))
    unsuccessful_variant: str = UNSUCCESSFUL
    confirm: bool = False
    guide: tuple[str, ...] = ()  # the school's welcome call guide (lifecycle.templates)
    method_labels: dict[str, str] = field(default_factory=lambda: dict(METHOD_LABELS))
    carry_over: CarryOver | None = None  # a returning student's last year (welcome call/note)
    student_id: int = 0  # for the link to the student's page (web/student.py)

    @property
    def complete_button(self) -> str:
        if self.kind == StepKind.WELCOME_CALL:
            return "Log this contact attempt"
        return f"Complete: {self.label}"


def local_text(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(pendulum.timezone(timezone))
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M}"


def step_view(session: Session, ctx: StepContext, now: datetime) -> StepView:
    step, enrollment, cal, policy = ctx.step, ctx.enrollment, ctx.calendar, ctx.policy
    kind = StepKind(step.kind)
    today = cal.local_date(now)
    badges: list[tuple[str, str]] = []
    if ctx.open:
        if step.due < today:
            badges.append(("late", f"overdue since {format_date(step.due)}"))
        elif step.due == today:
            badges.append(("today", "due today"))
        if step.acknowledged_until is not None and step.acknowledged_until > now:
            text = local_text(step.acknowledged_until, cal.timezone)
            badges.append(("info", f"acknowledged: paused until {text}"))
        if step.snoozed_until is not None and step.snoozed_until >= today:
            badges.append(("info", f"snoozed until {format_date(step.snoozed_until)}"))
        if not step.required:
            badges.append(("muted", "optional"))
    elif step.status == "completed":
        badges.append(("done", "completed"))
    else:
        badges.append(("muted", "closed"))
    view = StepView(
        id=int(step.id or 0),
        kind=kind.value,
        label=step_label(kind),
        student_ref=ctx.student_ref,
        due=step.due,
        due_text=format_date(step.due),
        opens_text=format_date(step.opens),
        is_open=ctx.open,
        closed_message="" if ctx.open else closed_reason(step, enrollment),
        upcoming=step.opens > today,
        badges=badges,
        questions=questions_for(kind, school_templates(ctx.school.policy).questions),
        today_iso=today.isoformat(),
        due_iso=step.due.isoformat(),
        ack_until_text=local_text(acknowledge_pause_until(now, cal, policy), cal.timezone),
        can_snooze=ctx.open and step.due >= today,
        min_attempts=policy.welcome_call_min_attempts,
        min_attempt_days=policy.welcome_call_min_attempt_days,
        confirm=kind in CONFIRM_KINDS,
    )
    view.student_id = int(ctx.student.id or 0)
    if kind is StepKind.WELCOME_CALL:
        view.guide = school_templates(ctx.school.policy).welcome_call_guide
        view.now_local = now.astimezone(pendulum.timezone(cal.timezone)).strftime("%Y-%m-%dT%H:%M")
        view.attempts = [
            AttemptView(
                when=local_text(a.at, cal.timezone),
                method=METHOD_LABELS.get(str(a.method), str(a.method)),
                succeeded=a.succeeded,
                notes=a.notes,
                outcome=CONTACT_OUTCOMES.get(a.outcome, a.outcome),
            )
            for a in attempts_for(session, view.id)
        ]
    if kind in (StepKind.WELCOME_CALL, StepKind.WELCOME_NOTE):
        count = attempt_count(session, enrollment.id or 0, cal)
        view.failed_attempts, view.failed_attempt_days = count.attempts, count.days
        view.carry_over = carry_over(session, enrollment)
    return view


@dataclass(frozen=True)
class HistoryView:
    when: str
    who: str
    what: str
    detail: str


@dataclass(frozen=True)
class StudentView:
    """The student block of a one-step page: who the student is and what happened so far."""

    card: StudentCard
    history: tuple[HistoryView, ...]


def student_view(session: Session, ctx: StepContext) -> StudentView:
    tz = ctx.calendar.timezone
    history = tuple(
        HistoryView(local_text(h.at, tz), h.who, h.what, h.detail)
        for h in step_history(session, ctx.step)
    )
    card = student_card(session, ctx.student, ctx.enrollment.grade, ctx.school)
    return StudentView(card, history)


def submission_id() -> str:
    """A one-time id for a rendered form; the same form posted twice changes nothing."""
    return secrets.token_hex(16)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["submission_id"] = submission_id
    return env


def render(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("title", "ILP")
    context.setdefault("root", "")
    context.setdefault("back", None)
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code)


@lru_cache(maxsize=1)
def stylesheet() -> str:
    return (STATIC / "app.css").read_text(encoding="utf-8")
