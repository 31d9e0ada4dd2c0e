"""Receive a feed: the one intake use case behind `ilp import`, the webhook and the simulator.

    record the feed run (committed first) → apply every accepted row in one transaction
    → close the run (succeeded, or failed with the reason) → optionally plan what changed

A feed run is never left `running`: if applying fails, the run is closed as failed in its own
transaction and the error is raised again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session

from config.schools import SchoolConfigs, load_school_configs
from config.settings import get_settings
from intake.records import ParsedFeed
from models.db import SessionFactory
from services.feed_store import (
    FeedResult,
    apply_due_changes,
    apply_feed,
    finish_feed_run,
    start_feed_run,
)
from services.planning import PlanCounts, plan_enrollments_in_batches


@dataclass(frozen=True)
class Received:
    result: FeedResult
    planned: PlanCounts | None = None


def receive_feed(
    sessions: SessionFactory,
    feed: ParsedFeed,
    *,
    source: str,
    today: date,
    configs: SchoolConfigs | None = None,
    bulk: bool = False,
    origin: str | None = None,
) -> FeedResult:
    """Store a parsed feed and return what changed. Planning is the caller's next step.
    `bulk` (`ilp import --bulk`) lets the feed withdraw its source's missing students;
    `origin` names that source (default: the OneRoster district, "csv" or "webhook")."""
    configs = configs or load_school_configs(get_settings().schools_dir)
    with sessions() as session:
        run_id = start_feed_run(session, source, feed.kind)
    try:
        result = _apply_with_retry(
            sessions,
            lambda session: apply_feed(
                session, feed, run_id, configs, today=today, bulk=bulk, origin=origin
            ),
        )
    except Exception as exc:
        with sessions() as session:
            finish_feed_run(session, FeedResult(feed_run_id=run_id), failed=str(exc)[:500])
        raise
    return result


APPLY_ATTEMPTS = 5


def _apply_with_retry(
    sessions: SessionFactory, apply: Callable[[Session], FeedResult]
) -> FeedResult:
    """Apply in one transaction, again if a concurrent writer won a race: another request
    inserted the same student first (unique key), or SQLite refused a second writer ("database
    is locked"). The whole transaction is redone, so the retry sees the winner's rows; the
    caller never sees the race."""
    for attempt in range(1, APPLY_ATTEMPTS + 1):
        try:
            with sessions() as session:
                result = apply(session)
                finish_feed_run(session, result)
            return result
        except (IntegrityError, OperationalError) as exc:
            transient = isinstance(exc, IntegrityError) or "locked" in str(exc).lower()
            if not transient or attempt == APPLY_ATTEMPTS:
                raise
            time.sleep(0.05 * attempt * (1 + random.random()))
    raise AssertionError("unreachable")


def receive_and_plan(
    sessions: SessionFactory,
    feed: ParsedFeed,
    *,
    source: str,
    today: date,
    now: datetime,
    configs: SchoolConfigs | None = None,
    bulk: bool = False,
) -> Received:
    """`receive_feed`, then plan every new or changed enrollment as of `now`."""
    result = receive_feed(sessions, feed, source=source, today=today, configs=configs, bulk=bulk)
    planned = plan_enrollments_in_batches(
        result.to_plan, now=now, sessions=sessions, planned_by=f"feed-run-{result.feed_run_id}"
    )
    return Received(result, planned)


def apply_dated_changes(sessions: SessionFactory, now: datetime) -> PlanCounts:
    """Put into effect the withdrawals and start dates whose day has come, and re-plan those
    enrollments. The sweep calls this first, so a future withdrawal leaves steps open until
    its day and cancels them on it."""
    with sessions() as session:
        due = apply_due_changes(session, now)
    return plan_enrollments_in_batches(due, now=now, sessions=sessions)
