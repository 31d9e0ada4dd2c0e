"""reconcile: plan every enrollment whose plan is missing or stale.

Events are only triggers; a dropped trigger or a crashed run leaves an enrollment whose
fingerprint was never planned. This scheduled flow finds those in the database and plans them
(claiming them like a lifecycle run, so the two never plan one twice): a lost event costs
minutes, not a student.
"""

from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from tasks.planning import plan_waiting_enrollments


@flow(name="reconcile", flow_run_name="reconcile", log_prints=True)
def reconcile() -> int:
    logger = get_run_logger()
    planned, failed = plan_waiting_enrollments(f"reconcile:{flow_run.id or 'local'}")
    if planned:
        logger.warning("planned %d enrollment(s) that had no current plan", len(planned))
    else:
        logger.info("every enrollment has a current plan")
    for enrollment_id, error in sorted(failed.items()):
        logger.error("could not plan enrollment-%d: %s", enrollment_id, error)
    if failed:
        raise RuntimeError(f"{len(failed)} enrollment(s) could not be planned (see the log)")
    return len(planned)
