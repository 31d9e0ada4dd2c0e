"""Prefect tasks for feed intake: each does one side effect, and DB writes retry."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Protocol, TypeVar

from prefect import task
from prefect.cache_policies import NONE
from prefect.utilities.annotations import quote

from intake.records import ParsedFeed
from services.feed_store import FeedResult


def detect_and_parse(path: Path, date_order: str | None = None) -> ParsedFeed:
    """OneRoster (zip, or a folder with users.csv) or the simple one-row-per-student CSV.
    `date_order` (mdy/dmy) reads the feed's slash dates; else each row's school's `date_order`
    (school TOML, then default.toml); without either ambiguous ones are rejected."""
    from config.schools import load_school_configs
    from config.settings import get_settings
    from intake.oneroster import parse_oneroster
    from intake.records import FeedError
    from intake.simple_csv import parse_simple_csv
    from intake.values import DateOrders

    if not path.exists():
        raise FeedError(f"{path}: no such file or folder")
    configs = load_school_configs(get_settings().schools_dir)
    orders = DateOrders(None, configs.date_orders(), configs.default.date_order)
    if path.is_dir() or path.suffix.lower() == ".zip":
        return parse_oneroster(path, date_order=date_order, school_orders=orders)
    return parse_simple_csv(path, date_order=date_order, school_orders=orders)


# A district feed holds 100k+ records: results and arguments go between tasks inside `quote`,
# so Prefect does not walk every record looking for futures (that walk costs more than the
# import itself). Prefect unwraps a quoted argument before the task body sees it.

T_co = TypeVar("T_co", covariant=True)


class Quoted(Protocol[T_co]):
    """What a task hands back inside `quote`: mypy cannot read Prefect's `quote[T]`."""

    def unquote(self) -> T_co: ...


@task(name="parse-feed", cache_policy=NONE)
def parse_feed(path: str, date_order: str | None = None) -> Quoted[ParsedFeed]:
    """Read and validate the feed; bad rows become rejections, a non-feed raises FeedError."""
    return quote(detect_and_parse(Path(path), date_order))


@task(name="store-feed", retries=2, retry_delay_seconds=1, cache_policy=NONE)
def store_feed(
    feed: ParsedFeed, source: str, today: date, bulk: bool = False
) -> Quoted[FeedResult]:
    """Record the feed run, then upsert every accepted row in one transaction (all or nothing,
    so a retry is safe); the run is closed as succeeded or failed either way. `bulk`: the
    feed lists every current student of its source (`ilp import --bulk`)."""
    from models.db import session_factory
    from services.intake import receive_feed

    return quote(receive_feed(session_factory(), feed, source=source, today=today, bulk=bulk))


@task(name="apply-dated-changes", retries=2, retry_delay_seconds=1, cache_policy=NONE)
def apply_dated_changes(now: datetime) -> int:
    """Withdrawals and start dates whose day has come take effect; those plans are redone.
    Returns how many enrollments were re-planned."""
    from models.db import session_factory
    from services.intake import apply_dated_changes as apply

    return apply(session_factory(), now).enrollments
