"""reconcile: plan every enrollment whose plan is missing or stale.

Events are only triggers; a dropped trigger or a crashed run leaves an enrollment whose
fingerprint was never planned. This scheduled flow finds those in the database and plans them,
so a lost event costs minutes, not a student.
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from tasks.planning import find_unplanned, plan_batch


@flow(name="reconcile", flow_run_name="reconcile", log_prints=True)
def reconcile() -> int:
    logger = get_run_logger()
    missing = find_unplanned()
    planned = plan_batch(missing).enrollments if missing else 0
    if planned:
        logger.warning("planned %d enrollment(s) that had no current plan", planned)
    else:
        logger.info("every enrollment has a current plan")
    return planned
