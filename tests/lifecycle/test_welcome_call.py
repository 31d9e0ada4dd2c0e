"""The welcome-call silence rule and the ladder's meaning of "overdue"."""

from datetime import UTC, date, datetime, timedelta

from lifecycle.calendar import SchoolCalendar
from lifecycle.escalation import LadderState
from lifecycle.policy import DEFAULT_LADDER, LadderLevel, SchoolPolicy
from lifecycle.types import Escalation, Role, StepStatus
from lifecycle.welcome_call import AttemptCount, attempts_done, decide_step

CALENDAR = SchoolCalendar(
    timezone="UTC",
    year_start=date(2026, 8, 17),
    year_end=date(2027, 5, 28),
    quarters=(
        (date(2026, 8, 17), date(2026, 10, 16)),
        (date(2026, 10, 19), date(2026, 12, 18)),
        (date(2027, 1, 4), date(2027, 3, 12)),
        (date(2027, 3, 15), date(2027, 5, 28)),
    ),
)
MORNING = datetime(2026, 8, 31, 9, tzinfo=UTC)


def schedule() -> tuple[Escalation, ...]:
    attempt = Escalation(
        level=0, at=MORNING - timedelta(days=1), notify=(Role.TEACHER,), attempt_day=7
    )
    due = Escalation(level=1, at=MORNING - timedelta(hours=1), notify=(Role.TEACHER,))
    later = Escalation(level=2, at=MORNING + timedelta(days=2), notify=(Role.TEACHER,))
    return (attempt, due, later)


def state(rungs: int = 0) -> LadderState:
    return LadderState(status=StepStatus.OPEN, rungs_sent=rungs)


def test_attempt_reminders_fall_silent_once_the_attempts_are_done() -> None:
    policy = SchoolPolicy()
    open_call = decide_step(schedule(), state(), MORNING, CALENDAR, policy)
    assert open_call.send is not None and open_call.send.level == 1
    done = decide_step(schedule(), state(), MORNING, CALENDAR, policy, attempts_done=True)
    assert done.send is not None and done.send.attempt_day is None and done.send.level == 1
    assert done.rungs_sent == open_call.rungs_sent == 2
    only_attempt = decide_step(
        schedule()[:1], state(), MORNING, CALENDAR, policy, attempts_done=True
    )
    assert only_attempt.send is None and only_attempt.rungs_sent == 1


MON, TUE = date(2026, 8, 31), date(2026, 9, 1)


def test_attempts_done() -> None:
    assert attempts_done([MON] * 3 + [TUE] * 2, False, 5, 2) and attempts_done([], True, 5, 2)
    assert not attempts_done([MON, TUE, MON, TUE], False, 5, 2)
    # five attempts within seconds of each other are one day's effort
    assert not attempts_done([MON] * 5, False, 5, 2)
    assert attempts_done([MON] * 5, False, 5, 1)


def test_attempt_count_says_what_is_missing() -> None:
    assert AttemptCount.of([MON, MON, TUE]) == AttemptCount(attempts=3, days=2)
    assert AttemptCount.of([]).shortfall(5, 2) == (
        "needs at least 5 failed contact attempts on at least 2 different days; 0 are logged"
    )
    assert AttemptCount.of([MON] * 6).shortfall(5, 2) == (
        "needs at least 5 failed contact attempts on at least 2 different days; "
        "6 are logged, on 1 day"
    )
    assert AttemptCount.of([MON]).shortfall(5, 1) == (
        "needs at least 5 failed contact attempts; 1 is logged, on 1 day"
    )
    assert AttemptCount.of([MON, TUE] * 3).shortfall(5, 2) is None
    # a school asking for more days than attempts needs one attempt a day
    assert AttemptCount.of([MON, TUE]).enough(2, 3)


def test_overdue_is_what_the_ladder_puts_after_the_due_date() -> None:
    default = SchoolPolicy()
    assert [default.is_overdue_level(lv.level) for lv in DEFAULT_LADDER] == [
        False,
        False,
        True,
        True,
        True,
    ]
    late_school = SchoolPolicy(
        ladder=(LadderLevel(0, 0, ("owner",)), LadderLevel(1, 1, ("owner",)))
    )
    assert late_school.is_overdue_level(1) and not late_school.is_overdue_level(0)
