"""The year-rollover task: one transaction that closes a school year and opens the next."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from prefect import task
from prefect.cache_policies import NONE


@task(name="roll-over-school-year", cache_policy=NONE)
def roll_over(to_year: str | None, now: datetime, school: str | None = None) -> dict[str, Any]:
    """Run `services.rollover.rollover` and commit; idempotent, so a retry or a second
    scheduled run changes nothing."""
    from config.schools import load_school_configs
    from config.settings import get_settings
    from models.db import session_scope
    from services.rollover import rollover

    configs = load_school_configs(get_settings().schools_dir)
    with session_scope() as session:
        result = rollover(session, to_year, now=now, configs=configs, school=school)
    return summary(result)


def summary(result: Any) -> dict[str, Any]:
    """The rollover's outcome as plain JSON values (CLI output, flow result)."""
    return {
        "to_year": result.to_year,
        "changed": result.changed,
        "schools": [dataclasses.asdict(s) for s in result.schools],
        "skipped": result.skipped,
        "planned": dataclasses.asdict(result.planned),
    }
