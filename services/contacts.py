"""What staff see about a student behind a signed link: the student, their learning coaches
and guardians from the feed, and a step's history.

Only pages behind a valid link use this. Messages (digests) carry initials and the internal id
and nothing from here (ILP_RULES: details are shown only behind the link).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from lifecycle.forms import CONTACT_OUTCOMES
from lifecycle.types import grade_name
from models.tables import (
    AuditEvent,
    Contact,
    ContactAttempt,
    Note,
    School,
    Staff,
    Step,
    Student,
    StudentContact,
)

#: how an audit action reads on the page
ACTIONS = {
    "step.completed": "completed the step",
    "step.acknowledged": "acknowledged",
    "step.snoozed": "snoozed",
    "step.contact_attempt": "logged a contact attempt",
    "step.reassigned": "reassigned the step",
    "parent_copy.sent": "parent copy sent",
    "parent_copy.send_failed": "parent copy could not be sent",
}


@dataclass(frozen=True)
class ContactCard:
    """A guardian, parent or relative of the student, as the feed gave them."""

    source_id: str
    name: str
    relationship: str
    phone: str
    email: str


@dataclass(frozen=True)
class StudentCard:
    """The student as the school knows them: only behind a signed link."""

    full_name: str
    grade: str
    school: str
    contacts: tuple[ContactCard, ...]


@dataclass(frozen=True)
class HistoryEntry:
    """One thing that happened to a step: who, what, when (UTC, formatted by the page)."""

    at: datetime
    who: str
    what: str
    detail: str = ""


def contacts_of(session: Session, student_id: int) -> list[ContactCard]:
    """The student's active contacts: guardians first, then parents, then relatives."""
    c, link = Contact.__table__, StudentContact.__table__  # type: ignore[attr-defined]
    order = sa.case(
        (link.c.relationship == "guardian", 0), (link.c.relationship == "parent", 1), else_=2
    )
    query = (
        sa.select(c, link.c.relationship.label("link_relationship"))
        .join(link, link.c.contact_id == c.c.id)
        .where(link.c.student_id == student_id, c.c.active.is_(True))
        .order_by(order, c.c.family_name, c.c.given_name, c.c.id)
    )
    return [
        ContactCard(
            source_id=row.source_id,
            name=f"{row.given_name} {row.family_name}".strip() or row.source_id,
            relationship=row.link_relationship,
            phone=row.phone or "",
            email=row.email or "",
        )
        for row in session.execute(query)
    ]


def student_card(session: Session, student: Student, grade: int, school: School) -> StudentCard:
    return StudentCard(
        full_name=f"{student.given_name} {student.family_name}".strip(),
        grade=grade_name(grade),
        school=school.name,
        contacts=tuple(contacts_of(session, int(student.id or 0))),
    )


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    t = Staff.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        sa.select(t.c.id, t.c.given_name, t.c.family_name).where(t.c.id.in_(sorted(ids)))
    )
    return {r.id: f"{r.given_name} {r.family_name}".strip() for r in rows}


def _answers(answers: dict[str, Any]) -> str:
    return "; ".join(f"{k.replace('_', ' ')}: {v}" for k, v in answers.items() if v)


def step_history(session: Session, step: Step) -> list[HistoryEntry]:
    """The step's audit events, contact attempts and notes, oldest first."""
    step_id = int(step.id or 0)
    events = list(session.exec(select(AuditEvent).where(col(AuditEvent.step_id) == step_id)))
    attempts = list(
        session.exec(select(ContactAttempt).where(col(ContactAttempt.step_id) == step_id))
    )
    notes = list(session.exec(select(Note).where(col(Note.step_id) == step_id)))
    staff = {e.actor_staff_id for e in events} | {a.staff_id for a in attempts}
    staff |= {n.author_staff_id for n in notes}
    names = _names(session, {i for i in staff if i is not None})

    def who(staff_id: int | None) -> str:
        return names.get(staff_id, f"staff #{staff_id}") if staff_id is not None else "the system"

    out: list[HistoryEntry] = []
    for e in events:
        out.append(HistoryEntry(e.at, who(e.actor_staff_id), ACTIONS.get(e.action, e.action)))
    for a in attempts:
        outcome = CONTACT_OUTCOMES.get(a.outcome, a.outcome).lower()  # reached, no answer, ...
        detail = f"{a.method}, {outcome}" + (f": {a.notes}" if a.notes else "")
        out.append(HistoryEntry(a.at, who(a.staff_id), "contact attempt", detail))
    for n in notes:
        what = f"note ({n.variant.replace('_', ' ')})" if n.variant else "note"
        out.append(HistoryEntry(n.created_at, who(n.author_staff_id), what, _answers(n.answers)))
    out.sort(key=lambda h: (h.at, h.what))
    return out
