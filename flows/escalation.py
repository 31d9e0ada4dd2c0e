"""escalation_sweep: send due escalations as one digest per recipient per sending window.

    select due steps (index on next_action_at) → decide (pure) → record delivery rows (commit)
    → send each digest with Apprise (task, retries, fallback) → mark sent → advance the steps
    → artifacts: the sweep's counts, failed deliveries, and the compliance report as of `now`

Served by `deployments/serve.py` every 15 minutes; `ilp sweep --now ISO` runs it by hand. The
loop is `services.sweep.sweep`, the same one `run_sweep` (no Prefect) runs. A run with any
failed delivery ends Failed, with a table artifact listing the failed deliveries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.client.schemas.objects import State
from prefect.states import Failed

from services.sweep import DeliveryOutcome, SweepBatch, SweepConfig, SweepPhases, sweep
from tasks.intake import apply_dated_changes
from tasks.notify import (
    mark_and_advance,
    outcome_from_state,
    publish_compliance_artifact,
    publish_sweep_artifacts,
    record_due_escalations,
    send_digest,
    send_pending_parent_copies,
)


def _run_name() -> str:
    from prefect.runtime import flow_run

    now = flow_run.parameters.get("now")
    if isinstance(now, str):
        now = datetime.fromisoformat(now)
    if isinstance(now, datetime):
        return f"escalation-sweep-{now.astimezone(UTC):%Y-%m-%dT%H%MZ}"
    return f"escalation-sweep-{datetime.now(UTC):%Y-%m-%dT%H%MZ}"


@flow(name="escalation-sweep", flow_run_name=_run_name, log_prints=False)
def escalation_sweep(now: datetime | None = None) -> dict[str, Any] | State:
    """Send every escalation due at `now` (default: the current time)."""
    from config.settings import get_settings

    logger = get_run_logger()
    settings = get_settings()
    config = SweepConfig.from_settings(settings)
    now = (now or datetime.now(UTC)).astimezone(UTC) if (now is None or now.tzinfo) else None
    if now is None:
        raise ValueError("now must be timezone-aware (e.g. 2026-09-08T12:00:00Z)")
    send = send_digest.with_options(
        retries=settings.delivery_task_retries,
        retry_delay_seconds=max(settings.delivery_backoff_seconds, 0.0),
    )

    def send_batch(batch: SweepBatch) -> list[DeliveryOutcome]:
        futures = [send.submit(outgoing, config) for outgoing in batch.outgoing]
        outcomes = []
        for outgoing, future in zip(batch.outgoing, futures, strict=True):
            future.wait()
            outcomes.append(outcome_from_state(outgoing, future.state))
        return outcomes

    phases = SweepPhases(
        record=lambda: record_due_escalations(now, config),
        send=send_batch,
        advance=mark_and_advance,
    )
    apply_dated_changes(now)  # withdrawals and start dates due today first, then their plans
    send_pending_parent_copies(now)  # a copy committed as "to send" is never left unsent
    report = sweep(now, phases)
    publish_sweep_artifacts(report)
    compliance = publish_compliance_artifact(now, return_state=True)
    if not compliance.is_completed():  # the report is for operators; it never fails a sweep
        logger.warning("compliance report artifact not written: %s", compliance.message)
    summary = report.summary()
    if report.failed:
        message = (
            f"{len(report.failed)} of {len(report.deliveries)} deliveries failed "
            "(see the failed-deliveries artifact); their steps are retried on the next sweep"
        )
        logger.error(message)
        return Failed(message=message, data=summary)
    logger.info("sweep done: %s", summary)
    return summary
