"""The welcome call's own rule: once contact succeeded or enough attempts are logged, its attempt
reminders and the coordinator's day-10 check fall silent (ILP_RULES, "Welcome call")."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from lifecycle.calendar import SchoolCalendar
from lifecycle.escalation import LadderDecision, LadderState, decide, full_schedule
from lifecycle.policy import SchoolPolicy
from lifecycle.types import Escalation


@dataclass(frozen=True)
class AttemptCount:
    """Failed contact attempts as the rule counts them: how many, and on how many local days.
    Five tries within a few seconds are five attempts on one day, not a documented effort."""

    attempts: int
    days: int

    @classmethod
    def of(cls, failed_days: Iterable[date]) -> AttemptCount:
        """From the local day of each failed attempt."""
        days = list(failed_days)
        return cls(len(days), len(set(days)))

    def enough(self, min_attempts: int, min_days: int) -> bool:
        """At least `min_attempts` failed attempts, spread over at least `min_days` days."""
        return self.attempts >= min_attempts and self.days >= min(min_days, min_attempts)

    def shortfall(self, min_attempts: int, min_days: int) -> str | None:
        """Why the attempts are not enough yet, in the teacher's words; None when they are."""
        if self.enough(min_attempts, min_days):
            return None
        logged = f"{self.attempts} {'is' if self.attempts == 1 else 'are'} logged"
        if self.attempts:
            logged += f", on {self.days} day{'s' if self.days != 1 else ''}"
        need_days = min(min_days, min_attempts)
        spread = f" on at least {need_days} different days" if need_days > 1 else ""
        return f"needs at least {min_attempts} failed contact attempts{spread}; {logged}"


def attempts_done(
    failed_days: Iterable[date], succeeded: bool, min_attempts: int, min_days: int = 1
) -> bool:
    """Contact made, or enough failed attempts (`min_attempts` on `min_days` different days)."""
    return succeeded or AttemptCount.of(failed_days).enough(min_attempts, min_days)


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
