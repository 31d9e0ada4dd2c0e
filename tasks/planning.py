"""Prefect tasks that plan enrollments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from prefect import task
from prefect.cache_policies import NONE

from services.planning import PlanCounts


@task(name="plan-enrollments", retries=2, retry_delay_seconds=1, cache_policy=NONE)
def plan_batch(
    enrollment_ids: Sequence[int], planned_by: str, now: datetime | None = None
) -> PlanCounts:
    """Plan a feed's enrollments and store their steps, committing every 5,000 enrollments.

    One task for a whole feed keeps Prefect's per-task cost out of the loop; a retry re-plans
    from the database, so what was already committed is simply found unchanged. Each batch
    claims its enrollments first: one a lifecycle run is already planning is left to it.
    """
    from services.planning import plan_enrollments_in_batches

    return plan_enrollments_in_batches(enrollment_ids, now=now, planned_by=planned_by, claim=True)


@task(name="plan-waiting-enrollments", retries=2, retry_delay_seconds=1, cache_policy=NONE)
def plan_waiting_enrollments(
    claimer: str, now: datetime | None = None
) -> tuple[list[int], dict[int, str]]:
    """Claim every enrollment waiting to be planned and plan it: (ids planned, {id: error} of
    those the planner refused). A retry (the database went away) claims again: what the failed
    try committed is planned and no longer waiting."""
    from services.plan_queue import plan_waiting

    planned = plan_waiting(claimer, now=now)
    return planned.enrollment_ids, planned.failed
