"""Prefect artifacts: what operators see of a feed run or a lifecycle in the UI."""

from __future__ import annotations

import re
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE

from models.feeds import FeedResult

MAX_REJECTION_ROWS = 500


def artifact_key(text: str) -> str:
    """Prefect artifact keys allow only lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:100]


@task(name="feed-artifact", cache_policy=NONE)
def publish_feed_artifact(source: str, result: FeedResult, planned: int) -> None:
    """Counts, then a table of rejected rows (file, line, column, reason)."""
    from intake.safety import csv_safe

    counts = (
        f"### Feed run {result.feed_run_id}: `{csv_safe(source)}`\n\n"
        "| new | changed | unchanged | withdrawn | rejected | planned |\n"
        "|---|---|---|---|---|---|\n"
        f"| {result.new} | {result.changed} | {result.unchanged} | {result.withdrawn} "
        f"| {result.rejected} | {planned} |\n"
    )
    create_markdown_artifact(
        counts, key=f"feed-run-{result.feed_run_id}", description="Feed counts"
    )
    if result.rejections:
        rows = [
            {"file": r.file, "line": r.line, "column": r.column, "reason": csv_safe(r.reason)}
            for r in result.rejections[:MAX_REJECTION_ROWS]
        ]
        create_table_artifact(
            rows,
            key=f"feed-run-{result.feed_run_id}-rejected",
            description=f"Rejected rows ({result.rejected}; first {len(rows)} shown)",
        )


@task(name="plan-artifact", cache_policy=NONE)
def publish_plan_artifact(enrollment_id: int, school: str, steps: list[dict[str, Any]]) -> None:
    """The planned steps and due dates of one lifecycle (no names)."""
    rows = [
        {
            "step": f"{s['kind']}" + (f" #{s['seq']}" if s["seq"] else ""),
            "due": str(s["due"]),
            "required": s["required"],
            "owner": str(s["owner_role"]),
            "status": str(s["status"]),
            "next notification (UTC)": str(s["next_action_at"] or "-"),
        }
        for s in steps
    ]
    create_table_artifact(
        rows,
        key=artifact_key(f"lifecycle-{school}-{enrollment_id}"),
        description=f"ILP plan for enrollment {enrollment_id}",
    )
