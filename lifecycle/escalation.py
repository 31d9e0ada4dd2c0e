"""The escalation policy at run time: given a step's ladder, its state and `now`, what to send.

The sweep stores, per step, how many rungs of the ladder it has handled. Everything else (pauses,
snoozes, the sending window) is decided here from plain values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from lifecycle.calendar import SchoolCalendar, nth_school_day
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
    collapse into one message at the highest of them.
    """
    if state.status is not StepStatus.OPEN or state.withdrawn:
        return LadderDecision(None, state.rungs_sent, None)
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
        return LadderDecision(None, state.rungs_sent, next_window_start(now, calendar, policy))
    rungs_sent = state.rungs_sent + len(due)
    later = schedule[rungs_sent:]
    highest = max(due, key=lambda rung: (rung.level, rung.at))
    return LadderDecision(highest, rungs_sent, later[0].at if later else None)
