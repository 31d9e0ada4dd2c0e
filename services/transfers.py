"""A move to another school of the district in the middle of a year.

When a feed enrolls a student at a school while the student has an enrollment of the same
school year at another school that is active (or ended at most two weeks before the new start:
a OneRoster feed ends the old school's enrollments as it adds the new ones), the student
transferred on the new start date: the old
enrollment ends as ``transferred`` and its open steps close as ``transferred`` (not missed: the
compliance report does not count them against the old school). Completed steps, notes and
attempts stay where they are, so the history is kept; the new school's steps are planned from
the transfer date by the planner, as for any new enrollment.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from lifecycle.types import StepStatus
from models.tables import AuditEvent, Enrollment, EnrollmentStatus, School, Step

TRANSFERRED = "step.transferred"  # the audit action of a step closed by a transfer
# A withdrawal from the old school at most this many days before the new start (the same feed
# usually ends the old enrollments and adds the new ones) is part of the move, not a leaving.
TRANSFER_GAP_DAYS = 14


def apply_transfers(session: Session, created_ids: Sequence[int], now: datetime) -> list[int]:
    """Close the enrollments these new ones replace; returns the closed enrollment ids."""
    if not created_ids:
        return []
    e, s = Enrollment.__table__, Step.__table__  # type: ignore[attr-defined]
    sc = School.__table__  # type: ignore[attr-defined]
    new_rows = session.execute(
        sa.select(e.c.id, e.c.student_id, e.c.school_id, e.c.school_year, e.c.start_date).where(
            e.c.id.in_(list(created_ids))
        )
    ).all()
    closed = []
    for new in new_rows:
        old_rows = session.execute(
            sa.select(e.c.id, e.c.school_id)
            .where(
                e.c.student_id == new.student_id,
                e.c.school_year == new.school_year,
                e.c.school_id != new.school_id,
                e.c.status.in_([EnrollmentStatus.ACTIVE.value, EnrollmentStatus.WITHDRAWN.value]),
                sa.or_(
                    e.c.withdrawn_on.is_(None),
                    e.c.withdrawn_on >= new.start_date - timedelta(days=TRANSFER_GAP_DAYS),
                ),
                e.c.start_date < new.start_date,
            )
            .order_by(e.c.id)
        ).all()
        if not old_rows:
            continue
        school = session.execute(
            sa.select(sc.c.source_id).where(sc.c.id == new.school_id)
        ).scalar_one()
        for old in old_rows:
            open_ids = list(
                session.execute(
                    sa.select(s.c.id).where(
                        s.c.enrollment_id == old.id, s.c.status == StepStatus.OPEN.value
                    )
                ).scalars()
            )
            if open_ids:
                session.execute(
                    sa.update(s)
                    .where(s.c.id.in_(open_ids))
                    .values(
                        status=StepStatus.TRANSFERRED.value, next_action_at=None, updated_at=now
                    )
                )
                session.execute(
                    sa.insert(AuditEvent.__table__),  # type: ignore[attr-defined]
                    [
                        {
                            "at": now,
                            "action": TRANSFERRED,
                            "step_id": step_id,
                            "before": {"status": StepStatus.OPEN.value},
                            "after": {"status": StepStatus.TRANSFERRED.value},
                            "detail": f"moved to school {school} on {new.start_date}",
                        }
                        for step_id in open_ids
                    ],
                )
            session.execute(
                sa.update(e)
                .where(e.c.id == old.id)
                .values(
                    status=EnrollmentStatus.TRANSFERRED.value,
                    withdrawn_on=new.start_date,
                    planned_fingerprint=e.c.fingerprint,
                    updated_at=now,
                )
            )
            closed.append(old.id)
    return closed
