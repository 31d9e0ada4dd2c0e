"""A staff member's caseload: which of their steps the task list shows, in what order, one page
at a time.

Steps are the staff member's own (`owner_staff_id`), on active enrollments; "done" also shows the
steps they completed. Students are ordered by their most urgent listed step (the most overdue
first, then the nearest due date) and each student's steps follow in the same order, so a page
reads student by student. Pages cut that order into `page_size` steps: a student's steps may
continue on the next page. The database does the filtering, ordering and counting, so a
caseload of thousands costs one page of rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from lifecycle.types import StepKind, StepStatus
from models.tables import Enrollment, EnrollmentStatus, Step


class TaskState(StrEnum):
    OPEN = "open"
    OVERDUE = "overdue"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    DONE = "done"


STATE_LABELS = {
    TaskState.OPEN: "Open",
    TaskState.OVERDUE: "Overdue",
    TaskState.ACKNOWLEDGED: "Acknowledged",
    TaskState.SNOOZED: "Snoozed",
    TaskState.DONE: "Done",
}


@dataclass(frozen=True)
class TaskFilter:
    """What the page asks for: a step kind (None: all), a state and a 1-based page."""

    kind: StepKind | None = None
    state: TaskState = TaskState.OPEN
    page: int = 1

    @classmethod
    def read(cls, params: Any) -> TaskFilter:
        """From query parameters (or a form); anything unknown falls back to the default."""
        kind_text = str(params.get("kind") or "").strip()
        kind = StepKind(kind_text) if kind_text in set(StepKind) else None
        state_text = str(params.get("state") or "").strip()
        state = TaskState(state_text) if state_text in set(TaskState) else TaskState.OPEN
        page_text = str(params.get("page") or "").strip()
        page = int(page_text) if page_text.isdigit() and 0 < len(page_text) < 7 else 1
        return cls(kind, state, max(page, 1))

    def query(self, **changes: Any) -> dict[str, str]:
        """The query parameters of this filter, with `changes` (None drops a parameter)."""
        values: dict[str, Any] = {
            "kind": self.kind.value if self.kind else None,
            "state": self.state.value,
            "page": self.page,
        }
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


@dataclass(frozen=True)
class CaseloadPage:
    step_ids: list[int]  # this page's steps, in display order
    continued: bool  # the first student's earlier steps end the previous page
    total: int  # steps matching the filter
    page: int  # the page shown (the last one if the asked page is past the end)
    pages: int
    counts: dict[TaskState, int]  # steps per state (same kind filter), for the filter bar
    kinds: list[str]  # the kinds this caseload has, for the kind filter


def _where(
    staff_id: int, state: TaskState, kind: StepKind | None, today: date, now: datetime
) -> list[Any]:
    s = Step.__table__  # type: ignore[attr-defined]
    e = Enrollment.__table__  # type: ignore[attr-defined]
    clauses: list[Any] = []
    if state is TaskState.DONE:
        clauses += [
            s.c.status == StepStatus.COMPLETED.value,
            sa.or_(s.c.owner_staff_id == staff_id, s.c.completed_by == staff_id),
        ]
    else:
        clauses += [
            s.c.owner_staff_id == staff_id,
            s.c.status == StepStatus.OPEN.value,
            e.c.status == EnrollmentStatus.ACTIVE.value,
        ]
    if state is TaskState.OVERDUE:
        clauses.append(s.c.due < today)
    elif state is TaskState.ACKNOWLEDGED:
        clauses.append(s.c.acknowledged_until > now)
    elif state is TaskState.SNOOZED:
        clauses.append(s.c.snoozed_until >= today)
    if kind is not None:
        clauses.append(s.c.kind == kind.value)
    return clauses


def caseload_page(
    session: Session,
    staff_id: int,
    wanted: TaskFilter,
    *,
    today: date,
    now: datetime,
    page_size: int,
) -> CaseloadPage:
    """One page of the staff member's steps matching `wanted`, most urgent student first."""
    s = Step.__table__  # type: ignore[attr-defined]
    e = Enrollment.__table__  # type: ignore[attr-defined]
    joined = s.join(e, e.c.id == s.c.enrollment_id)
    where = _where(staff_id, wanted.state, wanted.kind, today, now)
    total = int(
        session.execute(sa.select(sa.func.count()).select_from(joined).where(*where)).scalar_one()
    )
    pages = max(1, -(-total // page_size))
    page = min(wanted.page, pages)
    first = (
        sa.select(e.c.student_id, sa.func.min(s.c.due).label("first_due"))
        .select_from(joined)
        .where(*where)
        .group_by(e.c.student_id)
        .subquery()
    )
    start = (page - 1) * page_size
    before = 1 if start else 0  # the previous page's last step: does its student continue?
    rows = session.execute(
        sa.select(s.c.id, e.c.student_id)
        .select_from(joined.join(first, first.c.student_id == e.c.student_id))
        .where(*where)
        .order_by(first.c.first_due, e.c.student_id, s.c.due, s.c.id)
        .limit(page_size + before)
        .offset(start - before)
    ).all()
    continued = bool(before and len(rows) > 1 and rows[0][1] == rows[1][1])
    rows = rows[before:]
    counts = {}
    for state in TaskState:
        clauses = _where(staff_id, state, wanted.kind, today, now)
        counts[state] = int(
            session.execute(
                sa.select(sa.func.count()).select_from(joined).where(*clauses)
            ).scalar_one()
        )
    kinds = session.execute(
        sa.select(s.c.kind)
        .where(sa.or_(s.c.owner_staff_id == staff_id, s.c.completed_by == staff_id))
        .distinct()
    ).scalars()
    order = {kind.value: n for n, kind in enumerate(StepKind)}
    return CaseloadPage(
        step_ids=[int(r[0]) for r in rows],
        continued=continued,
        total=total,
        page=page,
        pages=pages,
        counts=counts,
        kinds=sorted((str(k) for k in kinds), key=lambda k: order.get(k, 99)),
    )
