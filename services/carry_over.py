"""What a returning student brings from last year: the synopsis and the ILP actions.

ILP_RULES: the synopsis "carries over: a returning student's next-year welcome call shows last
year's synopsis". The welcome call page and the welcome-note form show it, with its author and
date, and last year's quarter-note actions, so teacher and family start from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import pendulum
import sqlalchemy as sa
from sqlmodel import Session

from lifecycle.types import StepKind, StepStatus
from models.tables import Enrollment, Note, School, Staff, Step

QUARTER_KINDS = (StepKind.Q1_NOTE, StepKind.Q2_NOTE, StepKind.Q3_NOTE)
SYNOPSIS_ANSWERS = (
    ("support", "Support the student received"),
    ("successes", "Successes"),
    ("continuing_goals", "Goals that continue"),
)
QUARTER_LABELS = {
    StepKind.Q1_NOTE.value: "Quarter 1",
    StepKind.Q2_NOTE.value: "Quarter 2",
    StepKind.Q3_NOTE.value: "Quarter 3",
}


@dataclass(frozen=True)
class ActionNote:
    quarter: str
    action: str
    author: str
    written: str


@dataclass(frozen=True)
class CarryOver:
    year: str  # last year's label, e.g. "2026-2027"
    school: str  # last year's school name
    synopsis: tuple[tuple[str, str], ...] = ()  # (question, answer)
    synopsis_author: str = ""
    synopsis_written: str = ""
    actions: tuple[ActionNote, ...] = field(default=())

    @property
    def has_synopsis(self) -> bool:
        return bool(self.synopsis)


def _written(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(pendulum.timezone(timezone))
    return f"{local:%a} {local.day} {local:%b %Y}"


def previous_enrollment(session: Session, enrollment: Enrollment) -> Enrollment | None:
    """The student's enrollment of the latest earlier school year (any school of the district)."""
    e = Enrollment.__table__  # type: ignore[attr-defined]
    row = session.execute(
        sa.select(e.c.id)
        .where(
            e.c.student_id == enrollment.student_id,
            e.c.school_year < enrollment.school_year,
            e.c.school_year != "",
        )
        .order_by(e.c.school_year.desc(), e.c.start_date.desc(), e.c.id.desc())
        .limit(1)
    ).scalar()
    return session.get(Enrollment, row) if row is not None else None


def carry_over(session: Session, enrollment: Enrollment) -> CarryOver | None:
    """Last year's synopsis and ILP actions for this enrollment's student; None for a student
    the district did not have last year."""
    before = previous_enrollment(session, enrollment)
    if before is None:
        return None
    school = session.get(School, before.school_id)
    timezone = school.timezone if school is not None else "UTC"
    s, n, t = Step.__table__, Note.__table__, Staff.__table__  # type: ignore[attr-defined]
    kinds = [StepKind.SYNOPSIS.value, *(k.value for k in QUARTER_KINDS)]
    rows = session.execute(
        sa.select(s.c.kind, n.c.answers, n.c.created_at, t.c.given_name, t.c.family_name)
        .join(n, n.c.step_id == s.c.id)
        .outerjoin(t, t.c.id == n.c.author_staff_id)
        .where(
            s.c.enrollment_id == before.id,
            s.c.kind.in_(kinds),
            s.c.status == StepStatus.COMPLETED.value,
        )
        .order_by(s.c.due, n.c.id)
    ).all()
    synopsis: tuple[tuple[str, str], ...] = ()
    author = written = ""
    actions = []
    for row in rows:
        name = f"{row.given_name} {row.family_name}" if row.given_name else "(unknown)"
        answers = row.answers or {}
        if str(row.kind) == StepKind.SYNOPSIS.value:
            synopsis = tuple((label, answers.get(key, "")) for key, label in SYNOPSIS_ANSWERS)
            author, written = name, _written(row.created_at, timezone)
        elif answers.get("action"):
            actions.append(
                ActionNote(
                    QUARTER_LABELS[str(row.kind)],
                    answers["action"],
                    name,
                    _written(row.created_at, timezone),
                )
            )
    return CarryOver(
        year=before.school_year,
        school=school.name if school is not None else "",
        synopsis=synopsis,
        synopsis_author=author,
        synopsis_written=written,
        actions=tuple(actions),
    )
