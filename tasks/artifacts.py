"""Prefect artifacts: what operators see of a feed run or a lifecycle in the UI.

Whoever reads Prefect sees no student facts: a lifecycle is its internal enrollment id, a step
is a neutral code ("step-3": its place in the plan's due order), never its kind or owner role
(`el_ilp` owned by `esl_teacher` would tell EL status, `graduation_plan` the grade band). The
staff app and `ilp report` show what each step is. Feed text is escaped (`md_text`), and quoted
values in rejection reasons are left out (they may be a student's id or grade).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from prefect import task
from prefect.artifacts import TableArtifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from notifications.markdown import md_text
from services.feed_store import FeedResult

MAX_REJECTION_ROWS = 500


def artifact_key(text: str) -> str:
    """Prefect artifact keys allow only lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:100]


@task(name="feed-artifact", cache_policy=NONE)
def publish_feed_artifact(
    source: str, result: FeedResult, planned: int, lifecycle_artifacts: int | None
) -> None:
    """Counts, then a table of rejected rows (file, line, column, reason).

    `lifecycle_artifacts` is how many per-student plan artifacts were published, or None when
    the feed was too big for them.
    """
    from intake.safety import csv_safe

    counts = (
        f"### Feed run {result.feed_run_id}: {md_text(source)}\n\n"
        "| new | changed | unchanged | withdrawn | rejected | planned |\n"
        "|---|---|---|---|---|---|\n"
        f"| {result.new} | {result.changed} | {result.unchanged} | {result.withdrawn} "
        f"| {result.rejected} | {planned} |\n\n"
    )
    if lifecycle_artifacts is None:
        counts += (
            f"{planned} lifecycles planned: more than ILP_LIFECYCLE_ARTIFACTS_MAX, so no "
            "per-student plan artifacts. `ilp report` and the staff pages show the plans.\n"
        )
    else:
        counts += f"{lifecycle_artifacts} lifecycle plan artifacts (keys `lifecycle-*`).\n"
    counts += changed_fields_markdown(result)
    counts += _unowned_markdown(result.to_plan)
    create_markdown_artifact(
        counts, key=f"feed-run-{result.feed_run_id}", description="Feed counts"
    )
    if result.rejections:
        rows = [
            {
                "file": csv_safe(r.file),
                "line": r.line,
                "column": csv_safe(r.column),
                "reason": csv_safe(without_values(r.reason)),
            }
            for r in result.rejections[:MAX_REJECTION_ROWS]
        ]
        create_table_artifact(
            rows,
            key=f"feed-run-{result.feed_run_id}-rejected",
            description=f"Rejected rows ({result.rejected}; first {len(rows)} shown)",
        )


def changed_fields_markdown(result: FeedResult) -> str:
    """Which stored values the feed changed (table.column: rows), dated changes, and rows
    accepted with a warning: a feed changes only what it says, and this shows what it said."""
    from intake.safety import csv_safe

    text = ""
    if result.fields:
        text += "\n#### Changed fields\n\n| field | rows |\n|---|---|\n"
        text += "".join(f"| {k} | {n} |\n" for k, n in sorted(result.fields.items()))
    else:
        text += "\nNo stored value changed.\n"
    if result.scheduled:
        text += f"\n{result.scheduled} dated change(s) stored, applied on their day.\n"
    if result.contacts:
        text += "\n#### Contacts (guardians, parents, relatives)\n\n| | count |\n|---|---|\n"
        text += "".join(f"| {k} | {n} |\n" for k, n in sorted(result.contacts.items()))
    if result.warnings:
        text += "\n#### Accepted with a warning\n\n| file | line | column | reason |\n"
        text += "|---|---|---|---|\n"
        text += "".join(
            f"| {w.file} | {w.line} | {w.column} | {csv_safe(w.reason)} |\n"
            for w in result.warnings[:MAX_REJECTION_ROWS]
        )
    return text


def _unowned_markdown(enrollment_ids: Sequence[int]) -> str:
    """Every open step of this feed's enrollments that nobody owns, by name of step."""
    if not enrollment_ids:
        return ""
    from models.db import session_scope
    from services.report import unowned_steps, unowned_table

    with session_scope() as session:
        steps = unowned_steps(session, enrollment_ids=enrollment_ids)
    if not steps:
        return "\nEvery open step has an owner.\n"
    return f"\n#### Open steps with no owner ({len(steps)})\n\n" + unowned_table(steps)


QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def without_values(reason: str) -> str:
    """ "duplicate student 's-1042' at school 'hs'" -> "duplicate student '…' at school '…'"."""
    return QUOTED.sub("'…'", reason)


def step_code(position: int) -> str:
    """A step's neutral label in Prefect: its 1-based place in the plan's due order."""
    return f"step-{position}"


def plan_rows(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per step, in due order: neutral code, due date, status; no kind, no owner role."""
    return [
        {
            "step": step_code(n),
            "due": str(s["due"]),
            "required": s["required"],
            "status": str(s["status"]),
            "next notification (UTC)": str(s["next_action_at"] or "-"),
        }
        for n, s in enumerate(steps, 1)
    ]


def lifecycle_key(school: str, enrollment_id: int) -> str:
    """The same key from the trigger path and a feed import, so the UI shows one history."""
    return artifact_key(f"lifecycle-{school}-{enrollment_id}")


@task(name="plan-artifact", cache_policy=NONE)
def publish_plan_artifact(enrollment_id: int, school: str, steps: list[dict[str, Any]]) -> None:
    """The planned steps and due dates of one lifecycle (no names)."""
    create_table_artifact(
        plan_rows(steps),
        key=lifecycle_key(school, enrollment_id),
        description=f"ILP plan for enrollment {enrollment_id}",
    )


@task(name="plan-artifacts", retries=1, retry_delay_seconds=1, cache_policy=NONE)
def publish_plan_artifacts(enrollment_ids: Sequence[int]) -> int:
    """A lifecycle artifact for each enrollment a feed planned, sent a few at a time.

    A feed above `lifecycle_artifacts_max` gets none: nobody browses 100,000 artifacts, and
    creating them would cost more than planning. Its feed artifact says so.
    """
    from prefect.utilities.asyncutils import run_coro_as_sync

    from models.db import session_scope
    from services.planning import describe_enrollment, stored_plan

    artifacts: list[TableArtifact] = []
    with session_scope() as session:
        for enrollment_id in enrollment_ids:
            label = describe_enrollment(session, enrollment_id)
            if label is None:
                continue
            artifacts.append(
                TableArtifact(
                    table=plan_rows(stored_plan(session, enrollment_id)),
                    key=lifecycle_key(label.school, enrollment_id),
                    description=f"ILP plan for enrollment {enrollment_id}",
                )
            )
    run_coro_as_sync(_create_all(artifacts))
    return len(artifacts)


async def _create_all(artifacts: list[TableArtifact], concurrency: int = 8) -> None:
    import asyncio

    from prefect.client.orchestration import get_client

    limit = asyncio.Semaphore(concurrency)
    async with get_client() as client:

        async def create(artifact: TableArtifact) -> None:
            async with limit:
                await artifact.acreate(client)

        await asyncio.gather(*(create(a) for a in artifacts))
