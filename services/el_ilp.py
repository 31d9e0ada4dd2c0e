"""EL ILP versions: saving one completes the el_ilp / el_ilp_review step it was written for.

A version is never edited: each save inserts the next version number for the student. Saving
goes through the same steps as every action (lock, permission, still open, one audit event, the
re-plan that schedules the next review and the parent copy), so a saved version and a completed
step are one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from lifecycle.el_ilp import ElIlpContent, content_of, read_el_ilp
from lifecycle.forms import REPLAN_KINDS, InvalidAnswer
from lifecycle.types import StepKind
from models.documents import ElIlpVersion
from models.tables import Note
from services.actions import (
    ActionOutcome,
    Actor,
    InvalidInput,
    _audit,
    _begin,
    _done,
    _finish,
    snapshot,
)
from services.planning import plan_enrollments


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
    ctx = _begin(session, step_id, actor, "complete")
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
    _finish(ctx, actor)
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
    after = snapshot(step) | {"note_id": note.id, "el_ilp_version": number, "version_id": row.id}
    audit_id = _audit(session, ctx, actor, "step.completed", before, after)
    return _done(
        ctx,
        "complete",
        f"Saved as version {number} of the EL ILP. The step is complete; the next review and "
        "the parent copy are scheduled.",
        audit_id,
        "completed",
        completed=True,
        replanned=replanned,
    )


def _columns(content: ElIlpContent) -> dict[str, Any]:
    values = dict(content.__dict__)
    values["collaborators"] = list(content.collaborators)
    return values


def content(row: ElIlpVersion) -> ElIlpContent:
    return content_of(row)
