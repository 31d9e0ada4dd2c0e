"""import_feed: one district feed in, every accepted enrollment stored and planned, in one run.

Planning happens here in batches (the same planner and store as the per-enrollment flow), not
through one flow run per student.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.utilities.annotations import quote

from config.settings import get_settings
from services.feed_store import FeedResult
from tasks.artifacts import publish_feed_artifact, publish_plan_artifacts
from tasks.intake import Quoted, parse_feed, store_feed
from tasks.planning import plan_batch

PLAN_BATCH = 25_000  # enrollments per planning task (it commits every 5,000)


def import_run_name() -> str:
    from prefect.runtime import flow_run

    return f"import-{Path(str(flow_run.parameters['path'])).name}"


@contextmanager
def bulk_gc() -> Iterator[None]:
    """A feed allocates millions of long-lived objects; Python's cyclic GC would re-walk them
    again and again. Collect less often while importing (nothing here makes cycles)."""
    thresholds = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@flow(name="import-feed", flow_run_name=import_run_name, log_prints=True)
def import_feed(
    path: str,
    today: date | None = None,
    progress: bool = False,
    date_order: str | None = None,
    bulk: bool = False,
) -> dict[str, Any]:
    """Parse, store (feed run, one transaction), plan in batches, report. `bulk`: the feed
    lists every current student of its source, so the missing ones are withdrawn."""
    with bulk_gc():
        return _import(path, today, progress, date_order, bulk)


def _import(
    path: str,
    today: date | None,
    progress: bool,
    date_order: str | None = None,
    bulk: bool = False,
) -> dict[str, Any]:
    logger = get_run_logger()
    clock = _Clock()
    feed = parse_feed(path, date_order)  # a non-feed fails here, before anything is written
    clock.lap("parse")
    gc.freeze()  # the parsed feed lives until it is applied: not the cyclic GC's business
    notes = dict(feed.unquote().notes)  # what the parse decided for the feed, counted
    # Prefect unwraps the quoted feed (and below, the quoted result) before the task body runs.
    quoted: Quoted[FeedResult] = store_feed(feed, path, today or date.today(), bulk)  # type: ignore[call-overload]
    clock.lap("store")
    del feed
    result = quoted.unquote()
    to_plan = result.to_plan
    planned = 0
    bar = _progress(len(to_plan)) if progress else None
    for start in range(0, len(to_plan), PLAN_BATCH):
        batch = to_plan[start : start + PLAN_BATCH]
        planned += plan_batch(  # quoted: Prefect does not walk the list
            quote(batch), f"feed-run-{result.feed_run_id}"
        ).enrollments
        if bar:
            bar.advance(len(batch))
    if bar:
        bar.stop()
    clock.lap("plan")
    lifecycle_artifacts = None
    if len(to_plan) <= get_settings().lifecycle_artifacts_max:
        lifecycle_artifacts = publish_plan_artifacts(to_plan)
    publish_feed_artifact(path, quoted, planned, lifecycle_artifacts)  # type: ignore[call-overload]
    clock.lap("artifacts")
    summary = {
        "feed_run_id": result.feed_run_id,
        "new": result.new,
        "changed": result.changed,
        "unchanged": result.unchanged,
        "withdrawn": result.withdrawn,
        "skipped": result.skipped,
        "rejected": result.rejected,
        "planned": planned,
        "scheduled": result.scheduled,
        "fields": dict(sorted(result.fields.items())),
        # guardians, parents, relatives: new / changed / unchanged / deactivated, links added /
        # removed (only what the feed carried)
        "contacts": dict(sorted(result.contacts.items())),
        "warnings": [
            {"file": r.file, "line": r.line, "column": r.column, "reason": r.reason}
            for r in result.warnings
        ],
        "notes": {**notes, **result.notes},
        "rejections": [
            {"file": r.file, "line": r.line, "column": r.column, "reason": r.reason}
            for r in result.rejections
        ],
    }
    logged = {k: v for k, v in summary.items() if k not in ("rejections", "warnings")}
    logger.info("feed %s: %s", path, logged)
    logger.info("feed %s timings: %s", path, clock)
    return summary


class _Clock:
    """Seconds spent in each phase of the import, for the run's log ("parse 2.0 s, ...")."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self.last = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.laps[phase] = self.laps.get(phase, 0.0) + now - self.last
        self.last = now

    def __str__(self) -> str:
        return ", ".join(f"{phase} {seconds:.2f} s" for phase, seconds in self.laps.items())


class _Bar:
    """A rich progress bar on stderr for `ilp import`."""

    def __init__(self, total: int) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self.task = self.progress.add_task("planning", total=total)
        self.progress.start()

    def advance(self, n: int) -> None:
        self.progress.advance(self.task, n)

    def stop(self) -> None:
        self.progress.stop()


def _progress(total: int) -> _Bar | None:
    return _Bar(total) if total else None
