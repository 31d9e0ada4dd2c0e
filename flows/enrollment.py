"""enrollment_lifecycle: plan one student's ILP year. Started by an ilp.enrollment.* event."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from tasks.artifacts import publish_plan_artifact
from tasks.planning import plan_batch


def run_name(enrollment_id: int) -> str:
    """The internal enrollment id only: no SIS id, no name, nothing a Prefect reader could tie to
    a student outside the staff app."""
    return f"enrollment-{int(enrollment_id)}"


def lifecycle_run_name() -> str:
    from prefect.runtime import flow_run

    return run_name(flow_run.parameters["enrollment_id"])


@task(name="read-plan", cache_policy=NONE)
def read_plan(enrollment_id: int) -> tuple[str | None, list[dict[str, Any]]]:
    """(the school's id or None if the enrollment is gone, its steps): no student facts in the
    task's result."""
    from models.db import session_scope
    from services.planning import describe_enrollment, stored_plan

    with session_scope() as session:
        label = describe_enrollment(session, enrollment_id)
        return (label.school if label else None), stored_plan(session, enrollment_id)


@task(name="tag-run-by-school", cache_policy=NONE)
def tag_run_by_school(school: str) -> None:
    """Operators filter runs by school: add the school's tag to this run."""
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run.id)
        client.update_flow_run(run.id, tags=sorted({*run.tags, f"school:{school}"}))


@flow(name="enrollment-lifecycle", flow_run_name=lifecycle_run_name, log_prints=True)
def enrollment_lifecycle(enrollment_id: int) -> int:
    """Plan (or re-plan) one enrollment and show its steps as an artifact. Idempotent."""
    logger = get_run_logger()
    counts = plan_batch([enrollment_id])
    school, steps = read_plan(enrollment_id)
    if school is None:
        logger.warning("enrollment %s does not exist; nothing to plan", enrollment_id)
        return 0
    tag_run_by_school(school)
    publish_plan_artifact(enrollment_id, school, steps)
    logger.info(
        "planned %s: %d steps (%d new, %d updated)",
        run_name(enrollment_id),
        len(steps),
        counts.steps_inserted,
        counts.steps_updated,
    )
    return len(steps)
