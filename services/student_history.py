"""A student's whole ILP record, every year and school: what the student page shows.

Steps with status and dates, the notes' answers, contact attempts, EL ILP versions,
graduation-plan references and the audit trail, grouped by school year (oldest first). Reads
only. Who may see it is `lifecycle.access.may_view_student` (:func:`may_view`, per-school roles);
which of its steps the viewer may hand to someone else is :func:`reassignable_steps`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pendulum
import sqlalchemy as sa
from sqlmodel import Session

from lifecycle.access import may_reassign, may_view_student
from lifecycle.forms import questions_for
from lifecycle.types import StepKind, StepStatus, grade_name
from models.documents import ElIlpVersion
from models.tables import (
    Assignment,
    AuditEvent,
    ContactAttempt,
    Enrollment,
    EnrollmentStatus,
    Note,
    School,
    Staff,
    Step,
    Student,
)
from notifications.render import step_label
from services.actions import staff_member


@dataclass
class StepLine:
    id: int
    label: str
    due: date
    status: str
    required: bool
    completed_on: date | None
    owner: str
    external_ref: str | None


@dataclass
class NoteLine:
    step: str
    author: str
    written: str
    variant: str | None
    answers: list[tuple[str, str]]


@dataclass
class AttemptLine:
    when: str
    by: str
    method: str
    succeeded: bool
    notes: str | None


@dataclass
class AuditLine:
    when: str
    by: str
    action: str
    step: str
    detail: str


@dataclass
class YearRecord:
    year: str
    school: str
    grade: str
    start: date
    status: str
    returning: bool
    withdrawn_on: date | None
    steps: list[StepLine] = field(default_factory=list)
    notes: list[NoteLine] = field(default_factory=list)
    attempts: list[AttemptLine] = field(default_factory=list)
    el_versions: list[tuple[int, str, str]] = field(default_factory=list)  # (version, when, by)
    graduation_refs: list[tuple[str, str]] = field(default_factory=list)  # (ref, completed)
    audit: list[AuditLine] = field(default_factory=list)


@dataclass
class StudentHistory:
    student_id: int
    name: str
    initials: str
    years: list[YearRecord]
    school_ids: frozenset[int]


def _text(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(pendulum.timezone(timezone))
    return f"{local:%Y-%m-%d %H:%M}"


def student_schools(session: Session, student_id: int) -> frozenset[int]:
    e = Enrollment.__table__  # type: ignore[attr-defined]
    return frozenset(
        session.execute(sa.select(e.c.school_id).where(e.c.student_id == student_id)).scalars()
    )


def is_assigned(session: Session, student_id: int, staff_id: int) -> bool:
    a = Assignment.__table__  # type: ignore[attr-defined]
    query = sa.select(a.c.id).where(a.c.student_id == student_id, a.c.staff_id == staff_id)
    return session.execute(query.limit(1)).first() is not None


def may_view(session: Session, staff: Staff, student_id: int) -> bool:
    """The student page's rule for this viewer and student (roles held per school)."""
    schools = student_schools(session, student_id)
    assigned = is_assigned(session, student_id, int(staff.id or 0))
    return bool(schools) and may_view_student(staff_member(staff), assigned, schools)


def reassignable_steps(session: Session, student_id: int, staff: Staff) -> list[int]:
    """The student's open steps of the current year (active enrollments) that this viewer may
    hand to someone else: those at a school where they are the ILP coordinator."""
    e, s = Enrollment.__table__, Step.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        sa.select(s.c.id, e.c.school_id)
        .select_from(s.join(e, e.c.id == s.c.enrollment_id))
        .where(
            e.c.student_id == student_id,
            e.c.status == EnrollmentStatus.ACTIVE.value,
            s.c.status == StepStatus.OPEN.value,
        )
        .order_by(s.c.id)
    ).all()
    member = staff_member(staff)
    return [int(r.id) for r in rows if may_reassign(member, int(r.school_id))]


def student_history(session: Session, student_id: int) -> StudentHistory | None:
    student = session.get(Student, student_id)
    if student is None:
        return None
    e, s = Enrollment.__table__, Step.__table__  # type: ignore[attr-defined]
    enrollments = session.execute(
        sa.select(e).where(e.c.student_id == student_id).order_by(e.c.school_year, e.c.start_date)
    ).all()
    schools = {
        r.id: r
        for r in session.execute(
            sa.select(School.__table__).where(  # type: ignore[attr-defined]
                School.__table__.c.id.in_({r.school_id for r in enrollments})  # type: ignore[attr-defined]
            )
        )
    }
    steps = session.execute(
        sa.select(s)
        .where(s.c.enrollment_id.in_([r.id for r in enrollments]))
        .order_by(s.c.due, s.c.id)
    ).all()
    step_ids = [r.id for r in steps]
    notes = session.execute(
        sa.select(Note.__table__).where(Note.__table__.c.step_id.in_(step_ids)).order_by("id")  # type: ignore[attr-defined]
    ).all()
    attempts = session.execute(
        sa.select(ContactAttempt.__table__)  # type: ignore[attr-defined]
        .where(ContactAttempt.__table__.c.step_id.in_(step_ids))  # type: ignore[attr-defined]
        .order_by("at")
    ).all()
    audit = session.execute(
        sa.select(AuditEvent.__table__)  # type: ignore[attr-defined]
        .where(AuditEvent.__table__.c.step_id.in_(step_ids))  # type: ignore[attr-defined]
        .order_by("at", "id")
    ).all()
    versions = session.execute(
        sa.select(ElIlpVersion.__table__)  # type: ignore[attr-defined]
        .where(ElIlpVersion.__table__.c.student_id == student_id)  # type: ignore[attr-defined]
        .order_by("version")
    ).all()
    staff_ids = (
        {r.owner_staff_id for r in steps}
        | {r.author_staff_id for r in notes}
        | {r.staff_id for r in attempts}
        | {r.actor_staff_id for r in audit}
        | {r.author_staff_id for r in versions}
    ) - {None}
    t = Staff.__table__  # type: ignore[attr-defined]
    names = {
        r.id: f"{r.given_name} {r.family_name}"
        for r in session.execute(sa.select(t).where(t.c.id.in_(staff_ids)))
    }

    def who(staff_id: int | None) -> str:
        return names.get(staff_id or 0, "") if staff_id else "(system)"

    by_enrollment: dict[int, YearRecord] = {}
    years = []
    for r in enrollments:
        school = schools[r.school_id]
        record = YearRecord(
            year=r.school_year,
            school=f"{school.name} ({school.source_id})",
            grade=grade_name(r.grade),
            start=r.start_date,
            status=str(r.status),
            returning=bool(r.returning),
            withdrawn_on=r.withdrawn_on,
        )
        by_enrollment[r.id] = record
        years.append(record)
    step_of: dict[int, tuple[Any, YearRecord, str]] = {}
    zone = {r.id: schools[r.school_id].timezone for r in enrollments}
    for st in steps:
        record = by_enrollment[st.enrollment_id]
        kind = StepKind(st.kind)
        label = step_label(kind) + (
            f" #{st.seq}" if st.seq and kind is not StepKind.EL_ILP_NOTICE else ""
        )
        step_of[st.id] = (st, record, zone[st.enrollment_id])
        record.steps.append(
            StepLine(
                st.id,
                label,
                st.due,
                str(st.status),
                bool(st.required),
                st.completed_on,
                who(st.owner_staff_id),
                st.external_ref,
            )
        )
        if kind is StepKind.GRADUATION_PLAN and st.external_ref:
            record.graduation_refs.append((st.external_ref, str(st.completed_on or "")))
    labels: dict[str, dict[str, str]] = defaultdict(dict)
    for n in notes:
        st, record, tz = step_of[n.step_id]
        kind = StepKind(st.kind)
        if not labels[kind.value]:
            labels[kind.value] = {q.key: q.label for q in questions_for(kind)}
        answers = [
            (labels[kind.value].get(key, key.replace("_", " ")), value)
            for key, value in (n.answers or {}).items()
            if value and key not in ("confirmed",)
        ]
        record.notes.append(
            NoteLine(
                step_label(kind),
                who(n.author_staff_id),
                _text(n.created_at, tz),
                n.variant,
                answers,
            )
        )
    for a in attempts:
        st, record, tz = step_of[a.step_id]
        record.attempts.append(
            AttemptLine(_text(a.at, tz), who(a.staff_id), str(a.method), bool(a.succeeded), a.notes)
        )
    for ev in audit:
        st, record, tz = step_of[ev.step_id]
        record.audit.append(
            AuditLine(
                _text(ev.at, tz),
                who(ev.actor_staff_id),
                ev.action,
                step_label(StepKind(st.kind)),
                ev.detail or "",
            )
        )
    for v in versions:
        record = by_enrollment.get(v.enrollment_id) or years[-1]
        tz = zone.get(v.enrollment_id, "UTC")
        record.el_versions.append((v.version, _text(v.created_at, tz), who(v.author_staff_id)))
    return StudentHistory(
        student_id=student_id,
        name=f"{student.given_name} {student.family_name}",
        initials=student.initials,
        years=list(reversed(years)),  # the current year first
        school_ids=frozenset(schools),
    )
