"""School years as data: each school's years with their own calendars, and which year a date,
an enrollment or a feed row belongs to.

A school's ``calendar`` column is its current year's (what the sweep runs on); every year it
has had or will have is a ``school_year`` row. An enrollment belongs to one year
(``enrollment.school_year``), and through it its steps, notes, attempts, deliveries and audit.
The feed's identity of an enrollment ("student@school") names the first year's row; a later
year's row of the same identity is stored as "student@school#2027-2028", so a past year's row
is never rewritten by the next one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from models.tables import Enrollment, SchoolYear, utcnow

YEAR_SEPARATOR = "#"


class SchoolYearError(ValueError):
    """A school year that is not known or not usable; the message says which."""


@dataclass(frozen=True)
class Year:
    school_id: int
    label: str
    first_day: date
    last_day: date
    calendar: dict[str, Any]
    rolled_over_at: datetime | None = None

    @property
    def closed(self) -> bool:
        return self.rolled_over_at is not None


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def year_label(calendar: Mapping[str, Any]) -> str:
    """ "2026-2027": the years of the first and last instructional day."""
    return f"{_day(calendar['year_start']).year}-{_day(calendar['year_end']).year}"


def same_year(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return year_label(a) == year_label(b)


def merged(
    configured: Iterable[Mapping[str, Any]], calendar: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """The configured years, with `calendar` (the one a feed or file gives now) in place of
    the configured year it describes."""
    years = {year_label(c): dict(c) for c in configured}
    if calendar:
        years[year_label(calendar)] = dict(calendar)
    return sorted(years.values(), key=lambda c: _day(c["year_start"]))


def current_calendar(calendars: Sequence[Mapping[str, Any]], today: date) -> dict[str, Any] | None:
    """Of a school's configured years, the one `today` belongs to (see `year_of`)."""
    ordered = sorted(calendars, key=lambda c: _day(c["year_start"]))
    for calendar in ordered:
        if today <= _day(calendar["year_end"]):
            return dict(calendar)
    return dict(ordered[-1]) if ordered else None


def normalize_label(text: str) -> str:
    """ "2027", "2027-28" and "2027-2028" all name the year that starts in 2027."""
    match = re.fullmatch(r"\s*(\d{4})(?:\s*[-/]\s*(\d{2}|\d{4}))?\s*", text)
    if match is None:
        raise SchoolYearError(f"{text!r} is not a school year (e.g. 2027-2028, or 2027)")
    first = int(match.group(1))
    return f"{first}-{first + 1}"


def stored_source_id(base: str, label: str) -> str:
    return f"{base}{YEAR_SEPARATOR}{label}"


def base_source_id(source_id: str) -> str:
    return source_id.split(YEAR_SEPARATOR, 1)[0]


def school_years(session: Session, school_ids: Iterable[int]) -> dict[int, list[Year]]:
    """Each school's years, oldest first."""
    t = SchoolYear.__table__  # type: ignore[attr-defined]
    found: dict[int, list[Year]] = defaultdict(list)
    ids = sorted(set(school_ids))
    if not ids:
        return found
    query = sa.select(t).where(t.c.school_id.in_(ids)).order_by(t.c.school_id, t.c.first_day)
    for row in session.execute(query):
        found[row.school_id].append(
            Year(
                row.school_id,
                row.label,
                row.first_day,
                row.last_day,
                dict(row.calendar),
                row.rolled_over_at,
            )
        )
    return found


def ensure_years(
    session: Session, school_id: int, calendars: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Store the school's years these calendars describe. A new year is added; a year not yet
    closed takes a changed calendar; a closed (rolled-over) year is never changed. Returns the
    labels added or changed."""
    t = SchoolYear.__table__  # type: ignore[attr-defined]
    stored = {y.label: y for y in school_years(session, [school_id]).get(school_id, [])}
    touched = []
    for calendar in calendars:
        label = year_label(calendar)
        data = dict(calendar)
        year = stored.get(label)
        first, last = _day(data["year_start"]), _day(data["year_end"])
        if year is None:
            session.execute(
                sa.insert(t).values(
                    school_id=school_id,
                    label=label,
                    first_day=first,
                    last_day=last,
                    calendar=data,
                    created_at=utcnow(),
                )
            )
            stored[label] = Year(school_id, label, first, last, data)
            touched.append(label)
        elif not year.closed and year.calendar != data:
            session.execute(
                sa.update(t)
                .where(t.c.school_id == school_id, t.c.label == label)
                .values(first_day=first, last_day=last, calendar=data)
            )
            touched.append(label)
    return touched


def year_of(years: Sequence[Year], day: date) -> Year | None:
    """The year a date belongs to: the first year not over by then (a summer day belongs to
    the next year), else the last one."""
    if not years:
        return None
    for year in years:
        if day <= year.last_day:
            return year
    return years[-1]


def find(years: Sequence[Year], label: str) -> Year | None:
    return next((y for y in years if y.label == label), None)


def year_calendars(
    session: Session, keys: Iterable[tuple[int, str]]
) -> dict[tuple[int, str], dict[str, Any]]:
    """(school id, year label) -> that year's calendar, for the keys that have one."""
    wanted = set(keys)
    years = school_years(session, {school for school, _ in wanted})
    return {
        (school, y.label): y.calendar
        for school, rows in years.items()
        for y in rows
        if (school, y.label) in wanted
    }


SCAN_THRESHOLD = 5000  # above this many identities, read the table once


def enrollment_rows(
    session: Session, bases: Iterable[str], labels: Iterable[str], columns: Sequence[str] = ()
) -> dict[str, list[Any]]:
    """Every year's stored rows of these feed identities (for the years `labels`), oldest year
    first. Exact ids only, so the unique index answers (a feed's many: one pass over the table)."""
    t = Enrollment.__table__  # type: ignore[attr-defined]
    selected = [t.c.id, t.c.source_id, t.c.school_year, *(t.c[c] for c in columns)]
    if not columns:
        selected = [t]
    labels = sorted(set(labels))
    wanted = sorted({i for b in set(bases) for i in (b, *(stored_source_id(b, y) for y in labels))})
    found: dict[str, list[Any]] = defaultdict(list)
    if len(wanted) > SCAN_THRESHOLD:  # a feed: one pass over the table beats IN-list batches
        keep = set(wanted)
        for row in session.execute(sa.select(*selected)):
            if row.source_id in keep:
                found[base_source_id(row.source_id)].append(row)
        wanted = []
    for start in range(0, len(wanted), 900):
        chunk = wanted[start : start + 900]
        for row in session.execute(sa.select(*selected).where(t.c.source_id.in_(chunk))):
            found[base_source_id(row.source_id)].append(row)
    for rows in found.values():
        rows.sort(key=lambda r: (r.school_year, r.id))
    return found
