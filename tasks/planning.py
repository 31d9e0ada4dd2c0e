"""Prefect tasks that plan enrollments and tell Prefect about them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prefect import task
from prefect.cache_policies import NONE

from models.planning import PlanCounts


@task(name="plan-batch", retries=2, retry_delay_seconds=1, cache_policy=NONE)
def plan_batch(enrollment_ids: Sequence[int], now: datetime | None = None) -> PlanCounts:
    """Plan a batch of enrollments and store their steps, in one transaction."""
    from models.db import session_scope
    from models.planning import plan_enrollments

    with session_scope() as session:
        return plan_enrollments(session, enrollment_ids, now=now)


@task(name="emit-enrollment-events", cache_policy=NONE)
def emit_enrollment_events(created: Sequence[int], changed: Sequence[int]) -> int:
    """One ilp.enrollment.* event per enrollment; returns how many were queued.

    A lost event costs minutes, not a student: the reconcile flow plans whatever was missed.
    """
    from models.db import session_scope
    from models.planning import describe_enrollment
    from tasks.events import emit_enrollment_event, flush_events

    sent = 0
    with session_scope() as session:
        for kind, ids in (("created", created), ("changed", changed)):
            for enrollment_id in ids:
                label = describe_enrollment(session, enrollment_id)
                if label is None:
                    continue
                sent += emit_enrollment_event(
                    kind,  # type: ignore[arg-type]
                    enrollment_id,
                    label.school,
                    label.student_ref,
                    student=label.student,
                )
    if sent:
        flush_events()
    return sent


@task(name="unplanned-enrollments", cache_policy=NONE)
def find_unplanned(limit: int = 50_000) -> list[int]:
    from models.db import session_scope
    from models.planning import unplanned_enrollment_ids

    with session_scope() as session:
        return unplanned_enrollment_ids(session, limit=limit)
