"""year-rollover: close a finished school year and start the next one.

Served by `deployments/serve.py` with one schedule per configured year boundary: the day after
a year's last instructional day. With no `to_year`, every school whose current year is over
moves into its next configured year; `ilp rollover --to YEAR` does the same by hand.
Idempotent: a second run (or a retry) changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger

from tasks.rollover import roll_over


@flow(name="year-rollover", flow_run_name="year-rollover", log_prints=False)
def year_rollover(
    to_year: str | None = None, now: datetime | None = None, school: str | None = None
) -> dict[str, Any]:
    """Roll the schools over into `to_year` (default: each school's next year, once over)."""
    summary = roll_over(to_year, now or datetime.now(UTC), school)
    get_run_logger().info("year rollover: %s", summary)
    return summary
