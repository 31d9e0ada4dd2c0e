"""Prefect tasks for feed intake: each does one side effect, and DB writes retry."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import task
from prefect.cache_policies import NONE
from prefect.utilities.annotations import quote

from intake.records import ParsedFeed
from models.feeds import FeedResult


def detect_and_parse(path: Path, date_order: str | None = None) -> ParsedFeed:
    """OneRoster (zip, or a folder with users.csv) or the simple one-row-per-student CSV.
    `date_order` (mdy/dmy) reads the feed's slash dates; without it ambiguous ones are rejected."""
    from intake.oneroster import parse_oneroster
    from intake.records import FeedError
    from intake.simple_csv import parse_simple_csv

    if not path.exists():
        raise FeedError(f"{path}: no such file or folder")
    if path.is_dir() or path.suffix.lower() == ".zip":
        return parse_oneroster(path, date_order=date_order)
    return parse_simple_csv(path, date_order=date_order)


# A district feed holds 100k+ records: results and arguments go between tasks inside `quote`,
# so Prefect does not walk every record looking for futures (that walk costs more than the
# import itself). Prefect unwraps a quoted argument before the task body sees it.


@task(name="parse-feed", cache_policy=NONE)
def parse_feed(path: str, date_order: str | None = None) -> quote[ParsedFeed]:
    """Read and validate the feed; bad rows become rejections, a non-feed raises FeedError."""
    return quote(detect_and_parse(Path(path), date_order))


@task(name="record-feed-run", retries=2, retry_delay_seconds=1, cache_policy=NONE)
def record_feed_run(source: str, kind: str) -> int:
    """The feed run exists (committed) before any of its rows is applied."""
    from models.db import session_scope
    from models.feeds import start_feed_run

    with session_scope() as session:
        return start_feed_run(session, source, kind)


@task(name="apply-feed", retries=2, retry_delay_seconds=1, cache_policy=NONE)
def apply_feed_rows(feed: quote[ParsedFeed], feed_run_id: int, today: date) -> quote[FeedResult]:
    """Upsert every accepted row in one transaction (all or nothing, so a retry is safe)."""
    from ilp.schools import load_school_configs
    from ilp.settings import get_settings
    from models.db import session_scope
    from models.feeds import apply_feed

    configs = load_school_configs(get_settings().schools_dir)
    with session_scope() as session:
        return quote(apply_feed(session, feed, feed_run_id, configs, today=today))


@task(name="close-feed-run", retries=2, retry_delay_seconds=1, cache_policy=NONE)
def close_feed_run(result: FeedResult, failed: str | None = None) -> None:
    from models.db import session_scope
    from models.feeds import finish_feed_run

    with session_scope() as session:
        finish_feed_run(session, result, failed=failed)
