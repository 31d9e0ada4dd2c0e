"""Enrollments waiting to be planned, and the runs that claim them.

An enrollment is waiting when its stored plan is missing or stale (its planned_fingerprint is
not its fingerprint), its year is not closed, and nobody holds a live claim on it. A lifecycle
run (or reconcile, or a feed import) claims a batch in one UPDATE, plans it, and the plan write
clears the claim (services/planning.py). One UPDATE is atomic on SQLite; on PostgreSQL a second
claimer blocked on the same row re-checks the claim condition after the first commits and skips
it. So two runs never plan the same enrollment, and a run that dies leaves its claim to expire
after the lease: the enrollment is then waiting again, for the next run or reconcile.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from models.db import SessionFactory, session_factory
from models.tables import Enrollment, utcnow
from services.planning import (
    PLAN_LEASE,
    PlanCounts,
    is_unclaimed,
    needs_plan,
    plan_enrollments_in_batches,
)

DEFAULT_LEASE = PLAN_LEASE
CLAIM_BATCH = 5_000


def _table() -> Any:
    return Enrollment.__table__  # type: ignore[attr-defined]


def any_waiting(session: Session, now: datetime | None = None) -> bool:
    """Is some enrollment waiting to be planned? (A lingering lifecycle run polls this.)"""
    e = _table()
    query = sa.select(e.c.id).where(needs_plan(e), is_unclaimed(e, now or utcnow())).limit(1)
    return session.execute(query).first() is not None


def claim_waiting(
    session: Session,
    claimer: str,
    *,
    now: datetime | None = None,
    lease: timedelta = DEFAULT_LEASE,
    limit: int = CLAIM_BATCH,
) -> list[int]:
    """Claim up to `limit` waiting enrollments for `claimer`; their ids, oldest first."""
    e = _table()
    now = now or utcnow()
    waiting = sa.select(e.c.id).where(needs_plan(e), is_unclaimed(e, now))
    oldest = waiting.order_by(e.c.id).limit(limit)
    statement = (
        sa.update(e)
        .where(e.c.id.in_(oldest.scalar_subquery()), is_unclaimed(e, now))
        .values(plan_claimed_by=claimer, plan_claimed_until=now + lease)
        .returning(e.c.id)
    )
    return sorted(session.execute(statement).scalars())


def release(session: Session, claimer: str) -> int:
    """Give back what `claimer` still holds (its planning failed): waiting again at once."""
    e = _table()
    result = session.execute(
        sa.update(e)
        .where(e.c.plan_claimed_by == claimer)
        .values(plan_claimed_by=None, plan_claimed_until=None)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass
class Planned:
    """What one claimer planned, batch after batch, and what failed to plan."""

    enrollment_ids: list[int] = field(default_factory=list)
    counts: PlanCounts = field(default_factory=PlanCounts)
    failed: dict[int, str] = field(default_factory=dict)  # enrollment id -> the error

    def add(self, ids: Sequence[int], counts: PlanCounts) -> None:
        self.enrollment_ids.extend(ids)
        self.counts = PlanCounts(
            *(a + b for a, b in zip(astuple(self.counts), astuple(counts), strict=True))
        )


def plan_waiting(
    claimer: str,
    *,
    sessions: SessionFactory | None = None,
    now: datetime | None = None,
    lease: timedelta = DEFAULT_LEASE,
    limit: int = CLAIM_BATCH,
) -> Planned:
    """Claim what is waiting and plan it, batch by batch, until nothing is left to claim.

    Each claim is committed before planning, so the claim is what other runs see while this
    one plans; `now` is the planner's clock (tests pass a date in the school year). An
    enrollment the planner cannot plan does not hold up the others: the batch is planned one
    by one, and the failing one keeps its claim until the lease ends (retried then, not in a
    loop) and is reported in `failed`.
    """
    sessions = sessions or session_factory()
    planned = Planned()
    while True:
        with sessions() as session:
            ids = claim_waiting(session, claimer, lease=lease, limit=limit)
        if not ids:
            return planned
        try:
            counts = plan_enrollments_in_batches(
                ids, sessions=sessions, now=now, planned_by=claimer
            )
        except Exception:  # noqa: BLE001 - find the enrollment that fails, plan the rest
            _plan_one_by_one(ids, claimer, sessions, now, planned)
        else:
            planned.add(ids, counts)


def _plan_one_by_one(
    ids: Sequence[int],
    claimer: str,
    sessions: SessionFactory,
    now: datetime | None,
    planned: Planned,
) -> None:
    for enrollment_id in ids:
        try:
            counts = plan_enrollments_in_batches(
                [enrollment_id], sessions=sessions, now=now, planned_by=claimer
            )
        except Exception as exc:  # noqa: BLE001 - reported, retried after the lease
            planned.failed[enrollment_id] = f"{type(exc).__name__}: {exc}"
        else:
            planned.add([enrollment_id], counts)
