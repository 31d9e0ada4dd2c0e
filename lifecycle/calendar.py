"""A school's year: quarters, semesters, holidays and school-day arithmetic, in local dates."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any

import pendulum

Span = tuple[date, date]


class CalendarError(ValueError):
    """A calendar that cannot be used; the message names the problem in one line."""


@dataclass(frozen=True)
class SchoolCalendar:
    timezone: str
    year_start: date
    year_end: date
    quarters: tuple[Span, Span, Span, Span]
    semesters: tuple[Span, Span] | None = None
    holidays: frozenset[date] = frozenset()

    def is_school_day(self, day: date) -> bool:
        """A weekday inside a quarter that is not a listed holiday. Days between quarters are
        breaks."""
        return day in _school_day_index(self)

    def next_school_day(self, day: date) -> date:
        """`day` itself if it is a school day, else the first school day after it.

        Past the last school day there are none left; the following weekday is used so that a
        late item still has somewhere to go (the planner drops rungs that land there).
        """
        days = _school_days(self)
        position = bisect_left(days, day)
        if position < len(days):
            return days[position]
        probe = day
        while probe.weekday() >= 5:
            probe += timedelta(days=1)
        return probe

    def shift_school_days(self, day: date, count: int) -> date:
        """The school day `count` school days after the first school day on or after `day`
        (before `day` when negative). For the simulator's pacing; escalation counts with
        `nth_school_day`, which counts from `day` itself."""
        return nth_school_day(self, nth_school_day(self, day, 0) if count > 0 else day, count)

    def quarter_of(self, day: date) -> int:
        """Enrollment quarter (1-4): the quarter containing `day`; a day in a break counts toward
        the next quarter; a day before Q1 counts as Q1."""
        for number, (_, end) in enumerate(self.quarters, start=1):
            if day <= end:
                return number
        raise CalendarError(f"{day} is after the last quarter ends ({self.quarters[3][1]})")

    def semester_spans(self) -> tuple[Span, Span]:
        if self.semesters is not None:
            return self.semesters
        q = self.quarters
        return ((q[0][0], q[1][1]), (q[2][0], q[3][1]))

    def semester_end_for(self, day: date) -> date:
        first, second = self.semester_spans()
        return first[1] if day <= first[1] else second[1]

    def local_instant(self, day: date, at: time) -> datetime:
        """The UTC instant of local wall-clock `at` on `day` in the school's time zone."""
        return _local_instant(self.timezone, day, at)

    def local_date(self, instant: datetime) -> date:
        return instant.astimezone(_zone(self.timezone)).date()


def nth_school_day(calendar: SchoolCalendar, day: date, n: int) -> date:
    """The n-th school day strictly after `day` (n > 0) or strictly before it (n < 0), counted
    from `day` itself even when `day` is not a school day (ILP_RULES, "Counting school days").

    n = 0 is `day` when it is a school day, else the first school day after it: where something
    due on `day` waits. Counting back stops at the first school day of the year. Past the last
    school day, weekdays count, so a late rung still has a date (the planner drops it).
    """
    days = _school_days(calendar)
    if n == 0:
        return calendar.next_school_day(day)
    if n > 0:
        target = bisect_right(days, day) + n - 1
        if target < len(days):
            return days[target]
        return _weekdays_after(max(day, days[-1]), target - len(days) + 1)
    remaining = -n
    probe = day
    while probe > days[-1] + timedelta(days=1):  # weekdays after the last school day count
        probe -= timedelta(days=1)
        if probe.weekday() < 5 and probe > days[-1]:
            remaining -= 1
            if not remaining:
                return probe
    return days[max(bisect_left(days, probe) - remaining, 0)]


def school_days_overdue(calendar: SchoolCalendar, due: date, today: date) -> int:
    """How many school days `today` is past `due`: the n with nth_school_day(due, n) == today on
    a school day, so a message's "overdue (N school days)" matches the rung that sent it."""
    if today <= due:
        return 0
    return _counted_through(calendar, today) - _counted_through(calendar, due)


def _counted_through(calendar: SchoolCalendar, day: date) -> int:
    """Days that count as school days up to and including `day` (weekdays past the last one)."""
    days = _school_days(calendar)
    counted = bisect_right(days, day)
    if day > days[-1]:
        weeks, extra = divmod((day - days[-1]).days, 7)
        counted += 5 * weeks
        counted += sum(
            1 for k in range(1, extra + 1) if (days[-1] + timedelta(days=k)).weekday() < 5
        )
    return counted


def _weekdays_after(day: date, count: int) -> date:
    """The `count`-th weekday after `day`: counting past the last school day."""
    probe = day
    while count > 0:
        probe += timedelta(days=1)
        if probe.weekday() < 5:
            count -= 1
    return probe


@lru_cache(maxsize=256)
def _school_days(calendar: SchoolCalendar) -> list[date]:
    """Every school day of the year, in order."""
    days = []
    for start, end in calendar.quarters:
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            if day.weekday() < 5 and day not in calendar.holidays:
                days.append(day)
    return days


@lru_cache(maxsize=256)
def _school_day_index(calendar: SchoolCalendar) -> dict[date, int]:
    return {day: index for index, day in enumerate(_school_days(calendar))}


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    return pendulum.timezone(name)


@lru_cache(maxsize=65536)
def _local_instant(zone: str, day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=_zone(zone)).astimezone(UTC)


def _as_date(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise CalendarError(f"{name}: {value!r} is not a date (YYYY-MM-DD)")


def _as_span(value: Any, name: str) -> Span:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise CalendarError(f"{name}: expected [start, end], got {value!r}")
    start, end = _as_date(value[0], f"{name} start"), _as_date(value[1], f"{name} end")
    if end < start:
        raise CalendarError(f"{name}: ends {end} before it starts {start}")
    return start, end


def _ordered_spans(spans: list[Span], what: str) -> None:
    for number in range(1, len(spans)):
        if spans[number][0] <= spans[number - 1][1]:
            raise CalendarError(
                f"{what} {number + 1} starts {spans[number][0]}, not after "
                f"{what} {number} ends {spans[number - 1][1]}: {what}s overlap or are out of order"
            )


def _time_zone(data: Mapping[str, Any]) -> str:
    zone = data["timezone"]
    if not isinstance(zone, str):
        raise CalendarError(f"timezone: {zone!r} is not a time zone name")
    try:
        pendulum.timezone(zone)
    except Exception:
        raise CalendarError(f"timezone: unknown time zone {zone!r}") from None
    return zone


def _spans_in_year(raw: Any, count: int, what: str, year: Span) -> list[Span]:
    """Exactly `count` ordered, non-overlapping [start, end] pairs inside the school year."""
    plural = {4: "four", 2: "two"}.get(count, str(count))
    if not isinstance(raw, list | tuple) or len(raw) != count:
        raise CalendarError(f"{what}s: expected exactly {plural} [start, end] pairs")
    spans = [_as_span(item, f"{what} {n}") for n, item in enumerate(raw, start=1)]
    _ordered_spans(spans, what)
    for number, (start, end) in enumerate(spans, start=1):
        if start < year[0] or end > year[1]:
            raise CalendarError(
                f"{what} {number} ({start} to {end}) is outside the year ({year[0]} to {year[1]})"
            )
    return spans


def _holidays(values: Any, year: Span) -> frozenset[date]:
    """Single days and breaks ([first, last]), all inside the school year."""
    holidays: set[date] = set()
    for value in values or ():
        if isinstance(value, list | tuple):
            start, end = _as_span(value, "holiday range")
            holidays.update(start + timedelta(days=n) for n in range((end - start).days + 1))
        else:
            holidays.add(_as_date(value, "holiday"))
    for day in sorted(holidays):
        if not year[0] <= day <= year[1]:
            raise CalendarError(f"holiday {day} is outside the year ({year[0]} to {year[1]})")
    return frozenset(holidays)


def calendar_from_mapping(data: Mapping[str, Any]) -> SchoolCalendar:
    """Build and validate a calendar from its TOML/JSON form (see README: calendar keys)."""
    for key in ("timezone", "year_start", "year_end", "quarters"):
        if key not in data:
            raise CalendarError(f"calendar is missing the key {key!r}")
    zone = _time_zone(data)
    year = (_as_date(data["year_start"], "year_start"), _as_date(data["year_end"], "year_end"))
    if year[1] <= year[0]:
        raise CalendarError(f"year_end {year[1]} is not after year_start {year[0]}")
    quarters = _spans_in_year(data["quarters"], 4, "quarter", year)
    semesters: tuple[Span, Span] | None = None
    if data.get("semesters") is not None:
        first, second = _spans_in_year(data["semesters"], 2, "semester", year)
        semesters = (first, second)
    calendar = SchoolCalendar(
        timezone=zone,
        year_start=year[0],
        year_end=year[1],
        quarters=(quarters[0], quarters[1], quarters[2], quarters[3]),
        semesters=semesters,
        holidays=_holidays(data.get("holidays"), year),
    )
    if not _school_days(calendar):
        raise CalendarError(
            "calendar has no school days: every quarter day is a weekend or holiday"
        )
    return calendar


def calendar_to_mapping(calendar: SchoolCalendar) -> dict[str, Any]:
    """The JSON-friendly form stored with a school; `calendar_from_mapping` reads it back."""
    return {
        "timezone": calendar.timezone,
        "year_start": calendar.year_start.isoformat(),
        "year_end": calendar.year_end.isoformat(),
        "quarters": [[s.isoformat(), e.isoformat()] for s, e in calendar.quarters],
        "semesters": (
            [[s.isoformat(), e.isoformat()] for s, e in calendar.semesters]
            if calendar.semesters
            else None
        ),
        "holidays": sorted(d.isoformat() for d in calendar.holidays),
    }
