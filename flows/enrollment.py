"""enrollment_lifecycle: plan every enrollment waiting in the database. Started by ilp.enrollment.*
events, coalesced.

The deployment's trigger fires on the first event of a burst and ignores the others for
`window_seconds` (a reactive trigger with `within`). The run it starts stays that long, plus a
margin, planning whatever arrives: every ignored event announced an enrollment that was stored
before the event was sent, so it is in the database before this run stops looking. Runs that
overlap share the work through claims (services/plan_queue.py): none plans an enrollment twice.

One run per burst instead of one per enrollment: a flow run costs a Python subprocess that
imports Prefect (~3 s of CPU here), planning one enrollment a few milliseconds.
"""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NONE

from tasks.artifacts import publish_plan_artifacts
from tasks.planning import plan_waiting_enrollments

LINGER_MARGIN_SECONDS = 2.0  # clock skew between the webhook's host and this run's
POLL_SECONDS = 0.25
# A run that planned a few enrollments (a webhook's usual) also publishes each one's plan table
# (key `lifecycle-<school>-<id>`, as a feed import does); a burst's run publishes its summary
# table only: 50 ms per artifact here would hold up the next run's planning.
PLAN_ARTIFACTS_PER_RUN = 50


def run_name(enrollment_id: int) -> str:
    """The internal enrollment id only: no SIS id, no name, nothing a Prefect reader could tie to
    a student outside the staff app."""
    return f"enrollment-{int(enrollment_id)}"


def planned_run_name(enrollment_ids: list[int]) -> str:
    """What a run planned, by internal ids: `enrollment-7`, or `enrollments-7-to-93 (40)`."""
    if len(enrollment_ids) == 1:
        return run_name(enrollment_ids[0])
    return f"enrollments-{min(enrollment_ids)}-to-{max(enrollment_ids)} ({len(enrollment_ids)})"


def lifecycle_run_name() -> str:
    from prefect.runtime import flow_run

    enrollment_id = flow_run.parameters.get("enrollment_id")
    return run_name(enrollment_id) if enrollment_id is not None else "enrollment-lifecycle"


def _waiting() -> bool:
    from models.db import session_scope
    from services.plan_queue import any_waiting

    with session_scope() as session:
        return any_waiting(session)


@task(name="name-run-by-what-it-planned", cache_policy=NONE)
def name_run(enrollment_ids: list[int]) -> list[dict[str, Any]]:
    """Operators find an enrollment's run by name, filter runs by school tag, and read the
    run's table of what it planned (internal ids, school, step count; no student facts)."""
    from prefect.artifacts import create_table_artifact
    from prefect.client.orchestration import get_client
    from prefect.runtime import flow_run

    from models.db import session_scope
    from services.planning import planned_summary

    with session_scope() as session:
        rows = planned_summary(session, enrollment_ids)
    schools = {f"school:{row['school']}" for row in rows}
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run.id)
        client.update_flow_run(
            run.id, name=planned_run_name(enrollment_ids), tags=sorted({*run.tags, *schools})
        )
    create_table_artifact(rows, description=f"Enrollments this run planned ({len(rows)})")
    return rows


@flow(name="enrollment-lifecycle", flow_run_name=lifecycle_run_name, log_prints=True)
def enrollment_lifecycle(enrollment_id: int | None = None, window_seconds: float = 0) -> int:
    """Plan the enrollment that started this run and every other one waiting, for the
    trigger's window; return how many were planned. Idempotent."""
    from prefect.runtime import flow_run

    logger = get_run_logger()
    claimer = f"lifecycle:{flow_run.id or 'local'}"
    stop_looking = time.monotonic() + max(0.0, window_seconds) + LINGER_MARGIN_SECONDS
    planned: list[int] = []
    failed: dict[int, str] = {}
    while True:
        if _waiting():
            batch, refused = plan_waiting_enrollments(claimer)
            failed.update(refused)
            planned.extend(batch)
            continue
        if time.monotonic() >= stop_looking:
            break
        time.sleep(POLL_SECONDS)
    if planned:
        name_run(planned)
        if len(planned) <= PLAN_ARTIFACTS_PER_RUN:
            publish_plan_artifacts(planned)
        logger.info("planned %d enrollment(s) as %s", len(planned), planned_run_name(planned))
    else:
        logger.info("nothing waiting: %s was planned by another run", lifecycle_run_name())
    if failed:
        for enrollment_id, error in sorted(failed.items()):
            logger.error("could not plan %s: %s", run_name(enrollment_id), error)
        raise RuntimeError(f"{len(failed)} enrollment(s) could not be planned (see the log)")
    return len(planned)
