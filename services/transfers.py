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

from collections import defaultdict
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from lifecycle.types import StepStatus
from models.bulk import id_filters
from models.tables import AuditEvent, Enrollment, EnrollmentStatus, School, Step

TRANSFERRED = "step.transferred"  # the audit action of a step closed by a transfer
# A withdrawal from the old school at most this many days before the new start (the same feed
# usually ends the old enrollments and adds the new ones) is part of the move, not a leaving.
TRANSFER_GAP_DAYS = 14


CHUNK = 900  # ids per IN list: under SQLite's bound-parameter limit


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def apply_transfers(session: Session, created_ids: Sequence[int], now: datetime) -> list[int]:
    """Close the enrollments these new ones replace; returns the closed enrollment ids.

    Reads are chunked (one query per 900 ids, not one per enrollment); the new enrollments are
    taken in id order and each closed enrollment stops being a candidate for the next ones, as
    if each were applied in turn."""
    if not created_ids:
        return []
    e, s = Enrollment.__table__, Step.__table__  # type: ignore[attr-defined]
    sc = School.__table__  # type: ignore[attr-defined]
    created = set(created_ids)
    # Only students with another open enrollment can have moved: one self-join finds them (none
    # at all in a first import), and only their rows are read.
    other = e.alias("other")
    open_statuses = [EnrollmentStatus.ACTIVE.value, EnrollmentStatus.WITHDRAWN.value]
    movers: set[int] = set()
    for where in id_filters(e.c.id, created):
        query = (
            sa.select(e.c.id, e.c.student_id)
            .join(other, sa.and_(other.c.student_id == e.c.student_id, other.c.id != e.c.id))
            .where(where, other.c.status.in_(open_statuses))
        )
        movers.update(student for new_id, student in session.execute(query) if new_id in created)
    if not movers:
        return []
    # Every enrollment of theirs a transfer may close (the new ones included), in id order.
    candidates: dict[int, list[Any]] = defaultdict(list)
    for chunk in _chunks(sorted(movers)):
        query = (
            sa.select(e.c.id, e.c.student_id, e.c.school_id, e.c.school_year, e.c.start_date)
            .add_columns(e.c.withdrawn_on)
            .where(e.c.student_id.in_(chunk), e.c.status.in_(open_statuses))
            .order_by(e.c.id)
        )
        for row in session.execute(query):
            candidates[row.student_id].append(row)
    new_rows = sorted(
        (row for rows in candidates.values() for row in rows if row.id in created),
        key=lambda r: r.id,
    )
    moves: list[tuple[int, Any]] = []  # (old enrollment id, the new row it moved to)
    closed_ids: set[int] = set()  # transferred: no longer active nor withdrawn
    for new in new_rows:
        gap_start = new.start_date - timedelta(days=TRANSFER_GAP_DAYS)
        for old in candidates[new.student_id]:
            if (
                old.school_year == new.school_year
                and old.school_id != new.school_id
                and (old.withdrawn_on is None or old.withdrawn_on >= gap_start)
                and old.start_date < new.start_date
                and old.id not in closed_ids
            ):
                closed_ids.add(old.id)
                moves.append((old.id, new))
    if not moves:
        return []
    open_steps: dict[int, list[int]] = defaultdict(list)
    for chunk in _chunks(sorted({old for old, _ in moves})):
        query = (
            sa.select(s.c.id, s.c.enrollment_id)
            .where(s.c.enrollment_id.in_(chunk), s.c.status == StepStatus.OPEN.value)
            .order_by(s.c.id)
        )
        for step_id, enrollment_id in session.execute(query):
            open_steps[enrollment_id].append(step_id)
    schools = {
        row.id: row.source_id
        for row in session.execute(
            sa.select(sc.c.id, sc.c.source_id).where(
                sc.c.id.in_(sorted({new.school_id for _, new in moves}))
            )
        )
    }
    closed = []
    for old_id, new in moves:
        open_ids = open_steps.get(old_id, [])
        if open_ids:
            for chunk in _chunks(open_ids):
                session.execute(
                    sa.update(s)
                    .where(s.c.id.in_(chunk))
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
                        "detail": f"moved to school {schools[new.school_id]} on {new.start_date}",
                    }
                    for step_id in open_ids
                ],
            )
        session.execute(
            sa.update(e)
            .where(e.c.id == old_id)
            .values(
                status=EnrollmentStatus.TRANSFERRED.value,
                withdrawn_on=new.start_date,
                planned_fingerprint=e.c.fingerprint,
                updated_at=now,
            )
        )
        closed.append(old_id)
    return closed
