"""Property tests for counting school days (ILP_RULES.md, "Counting school days"): over random
calendars, with due dates drawn from the days that are not school days (weekends, holidays,
breaks between quarters), every rung, every "overdue (N school days)" and every pause agrees with
the one definition."""

from __future__ import annotations

from datetime import date, time, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from lifecycle.calendar import SchoolCalendar, _school_days, nth_school_day, school_days_overdue
from lifecycle.escalation import LadderState, acknowledge_pause_until, decide
from lifecycle.planner import attempt_school_day, escalation_schedule
from lifecycle.policy import SchoolPolicy
from lifecycle.types import PlannedStep, Role, StepKind, StepStatus
from tests.lifecycle.test_properties import calendars

POLICY = SchoolPolicy()
OFFSETS = {level.level: level.offset_school_days for level in POLICY.ladder}


def last_school_day(calendar: SchoolCalendar) -> date:
    day = calendar.quarters[3][1]
    while not calendar.is_school_day(day):
        day -= timedelta(days=1)
    return day


def first_school_day(calendar: SchoolCalendar) -> date:
    day = calendar.quarters[0][0]
    while not calendar.is_school_day(day):
        day += timedelta(days=1)
    return day


def naive_nth(calendar: SchoolCalendar, day: date, n: int) -> date:
    """The rule, one calendar day at a time: the oracle for the indexed version."""
    last = last_school_day(calendar)

    def counts(d: date) -> bool:  # past the last school day, weekdays count
        return calendar.is_school_day(d) or (d > last and d.weekday() < 5)

    probe = day
    if n == 0:
        while not counts(probe):
            probe += timedelta(days=1)
        return probe
    step, remaining = (1, n) if n > 0 else (-1, -n)
    first = first_school_day(calendar)
    while remaining:
        probe += timedelta(days=step)
        if step < 0 and probe < first:
            return first  # counting back stops at the first school day of the year
        if counts(probe):
            remaining -= 1
    return probe


@st.composite
def non_school_days(draw: st.DrawFn) -> tuple[SchoolCalendar, date, str]:
    """A calendar and a day of its year that is not a school day, by kind, before its last
    school day (after it, every weekday counts: see `nth_school_day`)."""
    calendar = draw(calendars())
    last = _school_days(calendar)[-1]
    year = [
        calendar.year_start + timedelta(days=n) for n in range((last - calendar.year_start).days)
    ]
    in_quarter = {d for start, end in calendar.quarters for d in year if start <= d <= end}
    kinds = {
        "weekend": [d for d in year if d.weekday() >= 5],
        "holiday": [d for d in year if d in calendar.holidays and d.weekday() < 5],
        "break": [d for d in year if d not in in_quarter and d.weekday() < 5],
    }
    kind = draw(st.sampled_from(sorted(k for k, days in kinds.items() if days)))
    return calendar, draw(st.sampled_from(kinds[kind])), kind


@settings(max_examples=100, deadline=None)
@given(calendars(), st.integers(-30, 400), st.integers(-12, 12))
def test_nth_school_day_matches_the_rule(calendar, offset, n) -> None:
    day = calendar.year_start + timedelta(days=offset)
    assert nth_school_day(calendar, day, n) == naive_nth(calendar, day, n)


@settings(max_examples=100, deadline=None)
@given(non_school_days(), st.integers(1, 15))
def test_counting_after_a_day_that_is_not_a_school_day(case, n) -> None:
    calendar, due, _ = case
    day = nth_school_day(calendar, due, n)
    assert day > due
    assert nth_school_day(calendar, due, n + 1) > day  # strictly increasing in n
    assert school_days_overdue(calendar, due, day) == n  # the message says the rung's count
    assert school_days_overdue(calendar, due, day - timedelta(days=1)) == n - 1
    assert nth_school_day(calendar, due, 0) == nth_school_day(calendar, due, 1)


@settings(max_examples=100, deadline=None)
@given(non_school_days())
def test_ladder_for_a_step_due_on_a_day_that_is_not_a_school_day(case) -> None:
    calendar, due, _ = case
    opens = max(calendar.year_start, due - timedelta(days=13))
    step = PlannedStep(StepKind.WELCOME_NOTE, due, True, Role.TEACHER, opens)
    schedule = escalation_schedule(step, opens, calendar, POLICY)
    days = {rung.level: calendar.local_date(rung.at) for rung in schedule}
    assert len(days) == len(schedule)  # one rung per level
    last = last_school_day(calendar)
    for level, offset in OFFSETS.items():
        expected = max(nth_school_day(calendar, due, offset), calendar.next_school_day(opens))
        if expected > last:  # no school day left to send on: dropped
            assert level not in days
            continue
        assert days[level] == expected
        assert calendar.is_school_day(days[level])
        assert schedule[[r.level for r in schedule].index(level)].at == calendar.local_instant(
            expected, POLICY.window_start
        )
        if offset > 0:  # level 2, 3, 4: "overdue (N school days)" on its day says N = offset
            assert school_days_overdue(calendar, due, days[level]) == offset
    if 1 in days:  # due on a day without a window: the first school day after it
        assert days[1] == nth_school_day(calendar, due, 1)
    ladder = [days[level] for level in sorted(days) if level >= 1]
    assert ladder == sorted(set(ladder))  # levels 1-4 on strictly later days
    if 0 in days:  # before the due date, unless the step opens later than that
        assert days[0] < due or days[0] == calendar.next_school_day(opens)


@settings(max_examples=100, deadline=None)
@given(calendars(), st.data())
def test_attempt_reminders_count_school_days_of_the_window(calendar, data) -> None:
    span = (calendar.quarters[3][1] - calendar.year_start).days
    start = calendar.year_start + timedelta(days=data.draw(st.integers(0, span)))
    day_one = attempt_school_day(calendar, start, 1)
    assert day_one == calendar.next_school_day(start)
    for k in POLICY.welcome_call_reminder_days:
        day = attempt_school_day(calendar, start, k)
        if day <= last_school_day(calendar):
            assert calendar.is_school_day(day)
            assert school_days_overdue(calendar, day_one, day) == k - 1


@settings(max_examples=100, deadline=None)
@given(calendars(), st.data())
def test_acknowledge_pauses_the_rest_of_the_day_and_two_school_days(calendar, data) -> None:
    last = last_school_day(calendar)
    span = (last - calendar.year_start).days
    day = calendar.year_start + timedelta(days=data.draw(st.integers(0, span)))
    acked = calendar.local_instant(day, time(data.draw(st.integers(0, 23)), 30))
    until = acknowledge_pause_until(acked, calendar, POLICY)
    resume = calendar.local_date(until)
    assert until == calendar.local_instant(resume, POLICY.window_start)
    assert school_days_overdue(calendar, calendar.local_date(acked), resume) == 3
    if resume <= last:
        assert calendar.is_school_day(resume)


@settings(max_examples=100, deadline=None)
@given(non_school_days(), st.data())
def test_a_rung_due_during_a_pause_is_sent_when_it_ends(case, data) -> None:
    calendar, due, _ = case
    opens = max(calendar.year_start, due - timedelta(days=13))
    step = PlannedStep(StepKind.WELCOME_NOTE, due, True, Role.TEACHER, opens)
    schedule = escalation_schedule(step, opens, calendar, POLICY)
    if not schedule:
        return
    first, final = schedule[0].at, schedule[-1].at
    minutes = int((final - first).total_seconds() // 60)
    acked = first + timedelta(minutes=data.draw(st.integers(0, minutes)))
    sent = sum(1 for rung in schedule if rung.at <= acked)  # each sent when it came
    until = acknowledge_pause_until(acked, calendar, POLICY)
    assume(calendar.local_date(until) <= last_school_day(calendar))  # else no window is left
    state = LadderState(StepStatus.OPEN, rungs_sent=sent, acknowledged_until=until)
    during = [rung for rung in schedule[sent:] if rung.at <= until]
    for rung in during:  # held while paused
        if rung.at < until:
            assert decide(schedule, state, max(rung.at, acked), calendar, POLICY).send is None
    resumed = decide(schedule, state, until, calendar, POLICY)
    if during:
        assert resumed.send == max(during, key=lambda rung: rung.level)
        assert resumed.rungs_sent == sent + len(during)
    else:
        assert resumed.send is None
