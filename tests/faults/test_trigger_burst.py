"""A webhook burst with the trigger path on: a real Prefect server, the served deployments and
the web app (the e2e stack). Every enrollment must end planned exactly once: by its trigger,
or by reconcile for any event the burst lost."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest
import sqlalchemy as sa

from tests.faults.conftest import ROWS, FaultRow, size
from tests.flows.test_intake_flows import post, stack, student  # noqa: F401 - fixture
from tests.prefect_server import prefect_server  # noqa: F401 - session fixture

pytestmark = [pytest.mark.faults, pytest.mark.e2e]


def counts(prefix: str) -> tuple[int, int, int]:
    """(enrollments, planned, (enrollment, kind, seq) stored more than once)."""
    from models.db import get_engine

    with get_engine().connect() as conn:
        rows, planned = conn.execute(
            sa.text(
                "SELECT count(*), sum(planned_fingerprint = fingerprint) FROM enrollment"
                " WHERE source_id LIKE :p"
            ),
            {"p": f"{prefix}%"},
        ).one()
        doubled = conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT enrollment_id, kind, seq FROM step"
                " GROUP BY enrollment_id, kind, seq HAVING count(*) > 1)"
            )
        ).scalar()
    return rows, int(planned or 0), int(doubled or 0)


def test_webhook_burst_through_the_trigger_path(stack: dict) -> None:  # noqa: F811
    count = size(20, 1000)
    row = FaultRow(fault=f"webhook burst ({count}), trigger path on")
    ROWS.append(row)
    items = [student(n, student_id=f"tb-{n}", grade=str(n % 12 + 1)) for n in range(count)]
    batches = [items[i : i + 25] for i in range(0, count, 25)]
    work = batches + batches[::-1]  # every batch sent twice, as a retrying SIS would
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()

    def worker(mine: list[list[dict[str, str]]]) -> None:
        for payload in mine:
            for _attempt in range(3):  # an SIS retries a timed-out or failed post
                try:
                    response = post(stack, payload)
                except httpx.HTTPError as exc:
                    with lock:
                        outcomes[f"error: {type(exc).__name__}"] += 1
                    continue
                with lock:
                    if response.status_code >= 500 or "locked" in response.text.lower():
                        outcomes[f"error: HTTP {response.status_code}"] += 1
                        continue
                    outcomes.update(i["status"] for i in response.json()["items"])
                break

    threads = [threading.Thread(target=worker, args=(work[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + size(60, 600)
    while counts("tb-")[1] < count and time.monotonic() < deadline:
        time.sleep(2)
    by_trigger = counts("tb-")[1]
    from flows.reconcile import reconcile

    reconcile()  # the scheduled safety net, for any trigger the burst lost
    rows, planned, doubled = counts("tb-")
    row.runs = 1
    row.lost = count - planned
    row.duplicated = (rows - count) + doubled + max(0, outcomes["created"] - count)
    errors = {k: n for k, n in outcomes.items() if k.startswith("error")}
    row.errors_shown = sum(errors.values()) + outcomes["rejected"]
    row.note = f"{by_trigger} planned by their trigger, the rest by reconcile; {errors or ''}"
    assert outcomes["created"] == count
    assert (row.lost, row.duplicated, row.errors_shown) == (0, 0, 0)
