"""Prefect tasks of the escalation sweep: one side effect each.

- `record_due_escalations`: one transaction: select due steps, decide, write delivery rows.
- `send_digest`: one Apprise delivery (N attempts with backoff, then the fallback target);
  raises `DeliveryFailed` when even the fallback failed, so Prefect retries it and the task run
  shows red in the UI.
- `mark_and_advance`: one transaction: delivery rows marked, sent steps moved to the next rung.
- `publish_sweep_artifacts`: counts, and a table of failed deliveries (ids only, no student data).
- `publish_compliance_artifact`: the compliance report as of the sweep's `now` (markdown: by
  school, by step kind, owners with the most overdue steps; counts only, no student data).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from notifications.deliver import DeliveryResult
from notifications.markdown import md_text
from services.sweep import (
    DeliveryOutcome,
    Outgoing,
    SweepBatch,
    SweepConfig,
    SweepReport,
    advance,
    failed_rows,
    mark_deliveries,
    outcome_for,
    prepare,
)

TAGS = ["ilp", "escalation"]
FAILED_ARTIFACT_KEY = "escalation-sweep-failed-deliveries"
SUMMARY_ARTIFACT_KEY = "escalation-sweep-summary"
COMPLIANCE_ARTIFACT_KEY = "ilp-compliance-report"


class DeliveryFailed(Exception):
    """Every attempt, fallback included, failed. Carries the last `DeliveryResult`."""

    def __init__(self, outgoing: Outgoing, result: DeliveryResult) -> None:
        super().__init__(
            f"delivery {outgoing.delivery_id} to staff {outgoing.digest.recipient_staff_id} "
            f"failed after {result.attempts} attempt(s): {result.error}"
        )
        self.result = result


@lru_cache(maxsize=8)
def _sender(config: SweepConfig) -> Any:
    from notifications.sender import AppriseSender

    return AppriseSender(config)


@task(name="record-due-escalations", cache_policy=NONE, retries=2, retry_delay_seconds=1, tags=TAGS)
def record_due_escalations(now: datetime, config: SweepConfig) -> SweepBatch:
    """Select the next batch of due steps, decide, and commit their delivery rows."""
    from models.db import session_scope

    with session_scope() as session:
        return prepare(session, now, config)


def _send_name() -> str:
    from prefect.runtime import task_run

    outgoing = task_run.parameters.get("outgoing")
    if outgoing is None:
        return "send-digest"
    return f"send-digest-{outgoing.delivery_id}-staff-{outgoing.digest.recipient_staff_id}"


@task(name="send-digest", task_run_name=_send_name, cache_policy=NONE, tags=TAGS)
def send_digest(outgoing: Outgoing, config: SweepConfig) -> DeliveryResult:
    """Render and deliver one recorded digest through Apprise (primary, then fallback)."""
    result: DeliveryResult = _sender(config)(outgoing)
    if not result.ok:
        raise DeliveryFailed(outgoing, result)
    return result


def outcome_from_state(outgoing: Outgoing, state: Any) -> DeliveryOutcome:
    """The delivery's outcome from a finished `send_digest` task state."""
    if state.is_completed():
        return outcome_for(outgoing, state.result())
    error = state.result(raise_on_failure=False)
    if isinstance(error, DeliveryFailed):
        return outcome_for(outgoing, error.result)
    return outcome_for(
        outgoing, DeliveryResult(False, 0, False, f"send task ended {state.name}: {error}")
    )


@task(name="mark-and-advance", cache_policy=NONE, retries=2, retry_delay_seconds=1, tags=TAGS)
def mark_and_advance(batch: SweepBatch, outcomes: list[DeliveryOutcome]) -> int:
    """Mark the delivery rows and advance the steps whose digests are all sent."""
    from models.db import session_scope

    with session_scope() as session:
        mark_deliveries(session, outcomes, batch.now)
        return advance(session, batch, outcomes)


def unresolved_lines(unresolved: Iterable[str], limit: int = 50) -> list[str]:
    """'step 7 level 2: nobody holds esl_teacher at school 3' per step becomes one line per
    (level, roles, school) with a count: a step id next to its owner role would tell a Prefect
    reader which lifecycle is an EL one."""
    counts = Counter(re.sub(r"^step \d+ ", "", line) for line in unresolved)
    return [
        f"- {md_text(line)} ({n} step{'' if n == 1 else 's'})"
        for line, n in sorted(counts.items())[:limit]
    ]


@task(name="sweep-artifacts", cache_policy=NONE, tags=TAGS)
def publish_sweep_artifacts(report: SweepReport) -> None:
    """A summary every run; a table of failed deliveries when there are any."""
    s = report.summary()
    create_markdown_artifact(
        f"### Escalation sweep at {s['now']}\n\n"
        "| due steps | held | advanced | items | new digests | sent | via fallback | failed |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"| {s['steps_due']} | {s['steps_held']} | {s['steps_advanced']} | {s['items']} "
        f"| {s['recorded']} | {s['sent']} | {s['fallback']} | {s['failed']} |\n"
        + (
            "\n**Nobody to notify:**\n\n" + "\n".join(unresolved_lines(report.unresolved))
            if report.unresolved
            else ""
        ),
        key=SUMMARY_ARTIFACT_KEY,
        description="Escalation sweep counts",
    )
    rows = failed_rows(report.deliveries)
    if rows:
        create_table_artifact(
            rows,
            key=FAILED_ARTIFACT_KEY,
            description=(
                f"{len(rows)} failed deliveries: retried on the next sweep in the same window, "
                "carried into the next window's digest otherwise"
            ),
        )


@task(name="compliance-artifact", cache_policy=NONE, tags=TAGS)
def publish_compliance_artifact(now: datetime) -> dict[str, Any]:
    """The compliance report as of `now` (services.report), as a markdown artifact. Returns the
    totals."""
    from models.db import session_scope
    from services.report import compliance_report, report_markdown

    with session_scope() as session:
        report = compliance_report(session, now)
    create_markdown_artifact(
        report_markdown(report),
        key=COMPLIANCE_ARTIFACT_KEY,
        description="ILP compliance: on time, late, overdue, missed, open",
    )
    return report.total.as_dict()


@task(name="send-pending-parent-copies", retries=2, retry_delay_seconds=5, cache_policy=NONE)
def send_pending_parent_copies(now: datetime) -> int:
    """Parent copies committed as "to send" whose e-mail never went (the process stopped
    between the commit and the send): each is sent once now. Returns how many were tried."""
    from services.parent_copy import send_pending

    return len(send_pending(now))
