"""enrollment_lifecycle: plan one student's ILP year. Started by an ilp.enrollment.* event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from tasks.artifacts import publish_plan_artifact
from tasks.planning import plan_batch

if TYPE_CHECKING:
    from services.planning import EnrollmentLabel


def lifecycle_run_name() -> str:
    """School and student IDs, never a name."""
    from prefect.runtime import flow_run

    from models.db import session_scope
    from services.planning import describe_enrollment

    enrollment_id = int(flow_run.parameters["enrollment_id"])
    try:
        with session_scope() as session:
            label = describe_enrollment(session, enrollment_id)
    except Exception:  # noqa: BLE001 - a name must never fail the run
        label = None
    return label.run_name if label else f"enrollment-{enrollment_id}"


@task(name="read-plan", cache_policy=NONE)
def read_plan(enrollment_id: int) -> tuple[EnrollmentLabel | None, list[dict[str, Any]]]:
    from models.db import session_scope
    from services.planning import describe_enrollment, stored_plan

    with session_scope() as session:
        return describe_enrollment(session, enrollment_id), stored_plan(session, enrollment_id)


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
    label, steps = read_plan(enrollment_id)
    if label is None:
        logger.warning("enrollment %s does not exist; nothing to plan", enrollment_id)
        return 0
    tag_run_by_school(label.school)
    publish_plan_artifact(enrollment_id, label.school, steps)
    logger.info(
        "planned %s: %d steps (%d new, %d updated)",
        label.run_name,
        len(steps),
        counts.steps_inserted,
        counts.steps_updated,
    )
    return len(steps)
