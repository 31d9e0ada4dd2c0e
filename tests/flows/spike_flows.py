"""Throwaway flows standing in for the product flows in the trigger spike.

They carry the product names (`enrollment_lifecycle`, `import_feed`, `escalation_sweep`,
`reconcile`) so `deployments.serve` can load them with `--flows tests.flows.spike_flows`. A served
flow runs in a subprocess of the serve process, so results go to the SQLite file named by
`ILP_SPIKE_DB`, never to memory.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime

from prefect import flow


def _record(flow_name: str, key: str) -> None:
    path = os.environ.get("ILP_SPIKE_DB")
    if not path:
        return
    with sqlite3.connect(path, timeout=30) as db:
        db.execute("CREATE TABLE IF NOT EXISTS runs (flow TEXT, key TEXT, at TEXT)")
        db.execute(
            "INSERT INTO runs VALUES (?, ?, ?)",
            (flow_name, key, datetime.now(UTC).isoformat()),
        )


@flow(name="enrollment-lifecycle", flow_run_name="enrollment-{enrollment_id}")
async def enrollment_lifecycle(enrollment_id: int, window_seconds: float = 0) -> int:
    _record("enrollment_lifecycle", str(enrollment_id))
    return enrollment_id


@flow(name="import-feed", flow_run_name="import-{path}")
async def import_feed(path: str) -> str:
    _record("import_feed", path)
    return path


@flow(name="escalation-sweep")
async def escalation_sweep(now: datetime | None = None) -> None:
    _record("escalation_sweep", (now or datetime.now(UTC)).isoformat())


@flow(name="reconcile")
async def reconcile() -> None:
    _record("reconcile", "")
