"""The escalation policy at run time: given a step's ladder, its state and `now`, what to send.

The sweep stores, per step, how many rungs of the ladder it has handled. Everything else (pauses,
snoozes, the sending window) is decided here from plain values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache

from lifecycle.calendar import SchoolCalendar, nth_school_day, school_days_overdue
from lifecycle.policy import SchoolPolicy
from lifecycle.types import Escalation, StepStatus


@dataclass(frozen=True)
class LadderState:
    status: StepStatus
    rungs_sent: int = 0
    acknowledged_until: datetime | None = None
    snoozed_until: datetime | None = None
    withdrawn: bool = False


@dataclass(frozen=True)
class LadderDecision:
    """`send` is the one rung to notify now (the highest of those due), or None.

    `rungs_sent` is the new count of handled rungs; `next_action_at` is when to look again
    (None: never, the ladder is finished or the step is closed).
    """

    send: Escalation | None
    rungs_sent: int
    next_action_at: datetime | None


def in_sending_window(now: datetime, calendar: SchoolCalendar, policy: SchoolPolicy) -> bool:
    local_day = calendar.local_date(now)
    if not calendar.is_school_day(local_day):
        return False
    opens = calendar.local_instant(local_day, policy.window_start)
    closes = calendar.local_instant(local_day, policy.window_end)
    return opens <= now < closes


def next_window_start(now: datetime, calendar: SchoolCalendar, policy: SchoolPolicy) -> datetime:
    """`now` if it is inside a sending window, else the opening of the next one."""
    if in_sending_window(now, calendar, policy):
        return now
    day = calendar.local_date(now)
    if calendar.is_school_day(day) and now < calendar.local_instant(day, policy.window_start):
        return calendar.local_instant(day, policy.window_start)
    return calendar.local_instant(
        calendar.next_school_day(day + timedelta(days=1)), policy.window_start
    )


def current_window(now: datetime, calendar: SchoolCalendar, policy: SchoolPolicy) -> datetime:
    """The opening instant of the sending window `now` falls in (or waits for): the digest's
    window identity, so one recipient gets one digest per window."""
    start = next_window_start(now, calendar, policy)
    return calendar.local_instant(calendar.local_date(start), policy.window_start)


def acknowledge_pause_until(
    acknowledged_at: datetime, calendar: SchoolCalendar, policy: SchoolPolicy
) -> datetime:
    """Acknowledging on day d pauses the rest of d and the next N school days, so staff get N
    whole school days; escalation resumes at the window opening of the (N+1)-th school day after
    d. A rung that came due meanwhile is sent then (`decide` sends the highest)."""
    day = calendar.local_date(acknowledged_at)
    resume = nth_school_day(calendar, day, policy.ack_pause_school_days + 1)
    return calendar.local_instant(resume, policy.window_start)


def snooze_until(
    requested: date, due: date, calendar: SchoolCalendar, policy: SchoolPolicy
) -> datetime:
    """Reminders are held until the chosen date, never past the due date."""
    day = calendar.next_school_day(min(requested, due))
    return calendar.local_instant(day, policy.window_start)


def repeat_rungs(
    schedule: tuple[Escalation, ...], calendar: SchoolCalendar, policy: SchoolPolicy
) -> tuple[Escalation, ...]:
    """The top level again every `repeat_every_school_days` school days after it fires, to the
    same roles, on every such school day left in the year (ILP_RULES: notified until done).

    Derived from the stored ladder's last rung instead of stored per step: a year of repeats for
    every step would dwarf the ladder, and a changed cadence applies without a re-plan."""
    every = policy.repeat_every_school_days
    if every <= 0 or not schedule:
        return ()
    top = schedule[-1]
    if top.attempt_day is not None or top.repeat or top.level != policy.top_level:
        return ()
    return _repeats(top, calendar, every, policy.window_start)


@lru_cache(maxsize=4096)
def _repeats(
    top: Escalation, calendar: SchoolCalendar, every: int, opens: time
) -> tuple[Escalation, ...]:
    first = calendar.local_date(top.at)
    out: list[Escalation] = []
    while True:
        day = nth_school_day(calendar, first, every * (len(out) + 1))
        if not calendar.is_school_day(day):  # past the last school day: the year is over
            return tuple(out)
        at = calendar.local_instant(day, opens)
        out.append(replace(top, at=at, repeat=len(out) + 1))


def full_schedule(
    schedule: tuple[Escalation, ...], calendar: SchoolCalendar, policy: SchoolPolicy
) -> tuple[Escalation, ...]:
    """The stored ladder followed by its repeats: what `rungs_sent` counts through."""
    return schedule + repeat_rungs(schedule, calendar, policy)


def next_rung_at(
    schedule: tuple[Escalation, ...],
    rungs_sent: int,
    calendar: SchoolCalendar,
    policy: SchoolPolicy,
) -> datetime | None:
    """When the first rung not yet handled fires (None: nothing left this year)."""
    rest = full_schedule(schedule, calendar, policy)[rungs_sent:]
    return rest[0].at if rest else None


def escalated_school_days(
    due: date, today: date, calendar: SchoolCalendar, policy: SchoolPolicy
) -> int | None:
    """How many school days an open step has been escalated as of `today`: counted from its
    first overdue rung (the coordinator's), with the message's school-day count; None before."""
    first = policy.first_overdue_offset
    if first is None:
        return None
    escalated = school_days_overdue(calendar, due, today) - first
    return escalated if escalated >= 0 else None


def decide(
    schedule: tuple[Escalation, ...],
    state: LadderState,
    now: datetime,
    calendar: SchoolCalendar,
    policy: SchoolPolicy,
) -> LadderDecision:
    """What the sweep does for one step at `now`.

    Closed steps and withdrawn students get nothing. An acknowledgment or snooze holds every
    rung until it ends. Rungs that came due together (a sweep that was down, a pause that ended)
    collapse into one message at the highest (latest) of them. After the ladder, its top level
    repeats (`repeat_rungs`), so an open step is never silent for long.
    """
    if state.status is not StepStatus.OPEN or state.withdrawn:
        return LadderDecision(None, state.rungs_sent, None)
    schedule = full_schedule(schedule, calendar, policy)
    pending = schedule[state.rungs_sent :]
    if not pending:
        return LadderDecision(None, state.rungs_sent, None)
    holds = [t for t in (state.acknowledged_until, state.snoozed_until) if t and t > now]
    if holds:
        return LadderDecision(None, state.rungs_sent, max(max(holds), pending[0].at))
    due = [rung for rung in pending if rung.at <= now]
    if not due:
        return LadderDecision(None, state.rungs_sent, pending[0].at)
    if not in_sending_window(now, calendar, policy):
        opens = next_window_start(now, calendar, policy)
        if not calendar.is_school_day(calendar.local_date(opens)):
            return LadderDecision(None, state.rungs_sent, None)  # the year is over
        return LadderDecision(None, state.rungs_sent, opens)
    rungs_sent = state.rungs_sent + len(due)
    later = schedule[rungs_sent:]
    highest = max(due, key=lambda rung: (rung.level, rung.at))
    return LadderDecision(highest, rungs_sent, later[0].at if later else None)
