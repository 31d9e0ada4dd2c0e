"""The welcome call's own rule: once contact succeeded or enough attempts are logged, its attempt
reminders and the coordinator's day-10 check fall silent (ILP_RULES, "Welcome call")."""

from __future__ import annotations

from datetime import datetime

from lifecycle.calendar import SchoolCalendar
from lifecycle.escalation import LadderDecision, LadderState, decide, full_schedule
from lifecycle.policy import SchoolPolicy
from lifecycle.types import Escalation


def attempts_done(failed_or_logged: int, succeeded: bool, min_attempts: int) -> bool:
    """Contact made, or at least `min_attempts` attempts logged."""
    return succeeded or failed_or_logged >= min_attempts


def decide_step(
    schedule: tuple[Escalation, ...],
    state: LadderState,
    now: datetime,
    calendar: SchoolCalendar,
    policy: SchoolPolicy,
    *,
    attempts_done: bool = False,
) -> LadderDecision:
    """`decide`, plus the welcome-call rule: with the attempts done, attempt-day rungs still
    count as handled but send nothing; the regular due/overdue rungs are unaffected."""
    decision = decide(schedule, state, now, calendar, policy)
    if decision.send is None or not attempts_done or decision.send.attempt_day is None:
        return decision
    handled = full_schedule(schedule, calendar, policy)[state.rungs_sent : decision.rungs_sent]
    regular = [rung for rung in handled if rung.attempt_day is None]
    send = max(regular, key=lambda rung: (rung.level, rung.at)) if regular else None
    return LadderDecision(send, decision.rungs_sent, decision.next_action_at)
