"""Prefect tasks that plan enrollments and tell Prefect about them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prefect import task
from prefect.cache_policies import NONE

from services.planning import PlanCounts


@task(name="plan-enrollments", retries=2, retry_delay_seconds=1, cache_policy=NONE)
def plan_batch(enrollment_ids: Sequence[int], now: datetime | None = None) -> PlanCounts:
    """Plan enrollments and store their steps, committing every 5,000 enrollments.

    One task for a whole feed keeps Prefect's per-task cost out of the loop; a retry re-plans
    from the database, so what was already committed is simply found unchanged.
    """
    from services.planning import plan_enrollments_in_batches

    return plan_enrollments_in_batches(enrollment_ids, now=now)


@task(name="unplanned-enrollments", cache_policy=NONE)
def find_unplanned(limit: int = 50_000) -> list[int]:
    from models.db import session_scope
    from services.planning import unplanned_enrollment_ids

    with session_scope() as session:
        return unplanned_enrollment_ids(session, limit=limit)
