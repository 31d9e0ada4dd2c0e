"""A school's calendar from the feed's academic sessions, whatever shape the school's year has.

The planner needs four quarters (docs/ILP_RULES.md; each shape in docs/ILP_CHOICES.md).
Schools report in quarters, six-week
periods, trimesters or semesters only; this module maps each shape to Q1..Q4 as the rules
document it *(chosen)*:

| sessions of the school year | Q1           | Q2           | Q3           | Q4           |
| --------------------------- | ------------ | ------------ | ------------ | ------------ |
| 4 grading periods           | P1           | P2           | P3           | P4           |
| 8 (or 12) grading periods   | P1-P2        | P3-P4        | P5-P6        | P7-P8        |
| 6 six-week periods          | P1-P2        | P3           | P4-P5        | P6           |
| 3 trimesters                | T1           | T2           | T3, 1st half | T3, 2nd half |
| 2 semesters (or terms) only | S1, 1st half | S1, 2nd half | S2, 1st half | S2, 2nd half |
| a school year only          | the year in four runs of school weeks                     |

A "half" ends on the last school day of the span's middle school week (a span of an odd number
of weeks gives the extra week to the first half). Quarter ends are the school's own period ends
wherever the shape allows, so notes fall due when grades close. Weekdays between two periods
of one quarter are breaks (holidays). The school year is the one named by `schoolYear`; a feed
with sessions for several years uses the latest. Overlapping periods, and shapes not listed,
are an error naming the file and lines: never a guessed or sample calendar.

Pure: no database, no configuration files; the caller passes the time zone and holidays.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from lifecycle.calendar import CalendarError, calendar_from_mapping, calendar_to_mapping

from .records import GradingPeriod

__all__ = ["SessionCalendarError", "calendar_from_feed_sessions", "pick_sessions"]

Span = tuple[date, date]

# session type (lower case) -> how fine it is; the finest kind present gives the periods
_GRADING = frozenset({"gradingperiod", "quarter", "sixweeks", "marking period"})
_TERM = frozenset({"term", "trimester"})
_SEMESTER = frozenset({"semester"})
_YEAR = frozenset({"schoolyear"})


class SessionCalendarError(ValueError):
    """The feed has sessions for the school, but they cannot give a calendar. `file` and `lines`
    point at the sessions at fault."""

    def __init__(self, reason: str, file: str, lines: Sequence[int]) -> None:
        where = f"{file} line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))}"
        super().__init__(f"{where}: {reason}" if lines else f"{file}: {reason}")
        self.reason, self.file, self.lines = reason, file, list(lines)


def _kind(session: GradingPeriod) -> str:
    return session.kind.strip().lower()


def _lines(sessions: Iterable[GradingPeriod]) -> list[int]:
    return sorted({s.source_line for s in sessions if s.source_line})


def _file(sessions: Sequence[GradingPeriod]) -> str:
    return sessions[0].source_file if sessions else "academicSessions.csv"


def pick_sessions(sessions: Sequence[GradingPeriod], school: str) -> list[GradingPeriod]:
    """The school's own sessions, else the district-wide ones, of one school year."""
    own = [s for s in sessions if s.school_source_id == school]
    pool = own or [s for s in sessions if s.school_source_id is None]
    if not pool:
        return []
    years = {s.source_id: s for s in pool if _kind(s) in _YEAR}

    def year_of(s: GradingPeriod) -> int | None:
        if s.school_year is not None:
            return s.school_year
        parent = years.get(s.parent_id or "")
        if parent is not None and parent.school_year is not None:
            return parent.school_year
        for y in years.values():
            if y.school_year is not None and y.start <= s.start and s.end <= y.end:
                return y.school_year
        return None

    labels = {year_of(s) for s in pool} - {None}
    if len(labels) <= 1:
        return pool
    latest = max(label for label in labels if label is not None)
    chosen = [s for s in pool if year_of(s) == latest]
    first, last = min(s.start for s in chosen), max(s.end for s in chosen)
    return chosen + [s for s in pool if year_of(s) is None and first <= s.start <= last]


def _school_weeks(spans: Sequence[Span]) -> list[list[date]]:
    """The weekdays inside `spans`, grouped by calendar week (Monday first), in order."""
    weeks: dict[date, list[date]] = {}
    for start, end in spans:
        for n in range((end - start).days + 1):
            day = start + timedelta(days=n)
            if day.weekday() < 5:
                weeks.setdefault(day - timedelta(days=day.weekday()), []).append(day)
    return [sorted(days) for _, days in sorted(weeks.items())]


def _split(spans: Sequence[Span], parts: int, what: str, lines: list[int], file: str) -> list[Span]:
    """`spans` (periods of one run, in order) cut into `parts` runs of whole school weeks, as
    equal as possible (earlier runs get the extra week)."""
    weeks = _school_weeks(spans)
    if len(weeks) < parts:
        raise SessionCalendarError(
            f"{what} has {len(weeks)} school week(s): too short to split into {parts} quarters",
            file,
            lines,
        )
    out: list[Span] = []
    taken = 0
    for i in range(parts):
        size = len(weeks) // parts + (1 if i < len(weeks) % parts else 0)
        chunk = weeks[taken : taken + size]
        taken += size
        first = spans[0][0] if i == 0 else chunk[0][0]
        last = spans[-1][1] if i == parts - 1 else chunk[-1][-1]
        out.append((first, last))
    return out


def _join(periods: Sequence[GradingPeriod]) -> Span:
    return periods[0].start, periods[-1].end


def _quarters(periods: list[GradingPeriod], kind: str, file: str) -> list[Span]:
    n = len(periods)
    lines = _lines(periods)
    spans = [(p.start, p.end) for p in periods]
    if n == 4:
        return spans
    if n in (8, 12):
        size = n // 4
        return [_join(periods[i : i + size]) for i in range(0, n, size)]
    if n == 6:
        return [_join(periods[0:2]), spans[2], _join(periods[3:5]), spans[5]]
    if n == 3:
        return [spans[0], spans[1], *_split(spans[2:], 2, f"{kind} 3", lines, file)]
    if n == 2:
        return [
            *_split(spans[:1], 2, f"{kind} 1", lines, file),
            *_split(spans[1:], 2, f"{kind} 2", lines, file),
        ]
    if n == 1 and kind == "school year":
        return _split(spans, 4, "the school year", lines, file)
    raise SessionCalendarError(
        f"cannot make four quarters from {n} {kind}(s): expected 4, 6, 8 or 12 grading "
        "periods, 3 trimesters, 2 semesters or a school year",
        file,
        lines,
    )


def _check_order(periods: list[GradingPeriod], kind: str, file: str) -> None:
    for a, b in zip(periods, periods[1:], strict=False):
        if b.start <= a.end:
            raise SessionCalendarError(
                f"{kind}s overlap: {b.title or b.source_id!r} ({b.start} to {b.end}) starts "
                f"before {a.title or a.source_id!r} ({a.start} to {a.end}) ends",
                file,
                _lines([a, b]),
            )


def _breaks(quarters: list[Span], periods: list[GradingPeriod]) -> set[date]:
    """Weekdays inside a quarter that no period covers (a break between two periods)."""
    covered = [(p.start, p.end) for p in periods]
    out: set[date] = set()
    for start, end in quarters:
        for n in range((end - start).days + 1):
            day = start + timedelta(days=n)
            if day.weekday() < 5 and not any(a <= day <= b for a, b in covered):
                out.add(day)
    return out


def calendar_from_feed_sessions(
    sessions: Sequence[GradingPeriod],
    school: str,
    *,
    timezone: str,
    holidays: Iterable[Any] = (),
    rejected_lines: Sequence[int] = (),
) -> dict[str, Any] | None:
    """The calendar mapping (`lifecycle.calendar.calendar_to_mapping` form) the feed's sessions
    give `school`; None when the feed has no sessions for it. `holidays` (ISO dates or
    [first, last] ranges) outside the feed's year are dropped. `rejected_lines` are session
    rows the parser refused: with any, the sessions cannot be trusted to give the year's shape.
    Raises SessionCalendarError."""
    chosen = pick_sessions(sessions, school)
    if not chosen and not rejected_lines:
        return None
    file = _file(chosen)
    if rejected_lines:
        raise SessionCalendarError(
            "rejected session rows leave the school year incomplete: fix them or configure "
            "the school's calendar in its school file",
            file,
            rejected_lines,
        )
    by_kind: dict[str, list[GradingPeriod]] = {"grading": [], "term": [], "semester": []}
    year_sessions: list[GradingPeriod] = []
    for s in chosen:
        k = _kind(s)
        if k in _GRADING:
            by_kind["grading"].append(s)
        elif k in _TERM:
            by_kind["term"].append(s)
        elif k in _SEMESTER:
            by_kind["semester"].append(s)
        elif k in _YEAR:
            year_sessions.append(s)
    names = {"grading": "grading period", "term": "term", "semester": "semester"}
    kind = next((k for k in ("grading", "term", "semester") if by_kind[k]), None)
    if kind is None:
        if len(year_sessions) != 1:
            raise SessionCalendarError(
                "no grading periods, terms or semesters, and not exactly one school year",
                file,
                _lines(chosen),
            )
        periods, label = year_sessions, "school year"
    else:
        periods = sorted(by_kind[kind], key=lambda s: (s.start, s.end))
        label = names[kind]
        _check_order(periods, label, file)
    quarters = _quarters(periods, label, file)
    semesters = sorted(by_kind["semester"], key=lambda s: s.start)
    if len(semesters) == 2:
        _check_order(semesters, "semester", file)
    year_start = min([quarters[0][0], *(y.start for y in year_sessions)])
    year_end = max([quarters[3][1], *(y.end for y in year_sessions)])
    kept: list[Any] = []
    for h in holidays:
        first, last = (h[0], h[1]) if isinstance(h, list | tuple) else (h, h)
        first, last = _as_date(first), _as_date(last)
        if year_start <= first and last <= year_end:
            kept.append([first, last] if first != last else first)
    kept.extend(sorted(_breaks(quarters, periods)))
    data: dict[str, Any] = {
        "timezone": timezone,
        "year_start": year_start,
        "year_end": year_end,
        "quarters": [list(q) for q in quarters],
        "semesters": [[s.start, s.end] for s in semesters] if len(semesters) == 2 else None,
        "holidays": kept,
    }
    try:
        return calendar_to_mapping(calendar_from_mapping(data))
    except CalendarError as e:
        raise SessionCalendarError(str(e), file, _lines(periods + year_sessions)) from None


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
