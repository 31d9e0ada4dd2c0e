"""Issue 14's examples, with its dates: the ladder counts school days exactly as ILP_RULES.md says.

The year is 2021 (`YEAR_2021`): Sun 5 Sep 2021, then Labor Day on Mon 6 Sep. Each test states the
dates the planner gave before the fix, so the difference stays visible.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest

from lifecycle.calendar import SchoolCalendar, nth_school_day, school_days_overdue
from lifecycle.escalation import LadderState, acknowledge_pause_until, decide
from lifecycle.planner import attempt_school_day, plan_enrollment
from lifecycle.policy import SchoolPolicy
from lifecycle.types import (
    CompletedStep,
    EnglishLearner,
    PlannedStep,
    Role,
    StepKind,
    StepStatus,
)
from tests.lifecycle.conftest import enrollment

K = StepKind
SUN_5_SEP = date(2021, 9, 5)
START = date(2021, 8, 23)  # Monday: the welcome call and note are due Sun 5 Sep (start + 13)


def step_of(kind: StepKind, steps: tuple[PlannedStep, ...]) -> PlannedStep:
    return next(s for s in steps if s.kind is kind)


def ladder_days(calendar: SchoolCalendar, step: PlannedStep) -> dict[int, date]:
    """Level -> local date, for the due/overdue ladder (not the welcome-call attempt rungs)."""
    return {e.level: calendar.local_date(e.at) for e in step.escalations if e.attempt_day is None}


def at_local(calendar: SchoolCalendar, day: date, hour: int) -> datetime:
    return calendar.local_instant(day, time(hour))


# --- counting school days ------------------------------------------------------------------


def test_counting_starts_from_the_due_date_itself_even_on_a_sunday(year_2021) -> None:
    """Tue 7 Sep is the 1st school day after Sun 5 Sep (Mon 6 is Labor Day)."""
    assert not year_2021.is_school_day(SUN_5_SEP)
    assert not year_2021.is_school_day(date(2021, 9, 6))
    after = {n: nth_school_day(year_2021, SUN_5_SEP, n) for n in (1, 2, 5, 10)}
    assert after == {
        1: date(2021, 9, 7),
        2: date(2021, 9, 8),  # Wednesday (was Thursday 9 Sep)
        5: date(2021, 9, 13),  # Monday (was Tuesday 14 Sep)
        10: date(2021, 9, 20),  # Monday (was Tuesday 21 Sep)
    }
    assert nth_school_day(year_2021, SUN_5_SEP, -3) == date(2021, 9, 1)  # Fri 3, Thu 2, Wed 1
    assert nth_school_day(year_2021, SUN_5_SEP, 0) == date(2021, 9, 7)  # due: next window


def test_counting_from_a_school_day_excludes_it(year_2021) -> None:
    tue = date(2021, 9, 7)
    assert nth_school_day(year_2021, tue, 0) == tue
    assert nth_school_day(year_2021, tue, 1) == date(2021, 9, 8)
    assert nth_school_day(year_2021, tue, -1) == date(2021, 9, 3)  # back over Labor Day weekend


def test_overdue_count_is_the_same_count(year_2021) -> None:
    counts = {
        day: school_days_overdue(year_2021, SUN_5_SEP, day)
        for day in (date(2021, 9, 6), date(2021, 9, 7), date(2021, 9, 8), date(2021, 9, 13))
    }
    assert counts == {
        date(2021, 9, 6): 0,
        date(2021, 9, 7): 1,
        date(2021, 9, 8): 2,
        date(2021, 9, 13): 5,
    }
    assert school_days_overdue(year_2021, SUN_5_SEP, date(2021, 9, 20)) == 10
    assert school_days_overdue(year_2021, SUN_5_SEP, SUN_5_SEP) == 0
    assert school_days_overdue(year_2021, SUN_5_SEP, date(2021, 9, 1)) == 0  # not yet due


# --- the ladder for steps due on a day that is not a school day ----------------------------


def test_welcome_note_due_sunday_before_labor_day(year_2021, policy) -> None:
    """Was: level 2 Thu 9, level 3 Tue 14, level 4 Tue 21 Sep."""
    note = step_of(K.WELCOME_NOTE, plan_enrollment(enrollment(START), year_2021, policy))
    assert note.due == SUN_5_SEP
    assert ladder_days(year_2021, note) == {
        0: date(2021, 9, 1),  # 3 school days before: Fri 3, Thu 2, Wed 1
        1: date(2021, 9, 7),  # due Sunday; Monday a holiday: the next sending window
        2: date(2021, 9, 8),
        3: date(2021, 9, 13),
        4: date(2021, 9, 20),
    }
    # A message's "overdue (N school days)" on the day of level k says what level k means.
    levels = {lv.level: lv.offset_school_days for lv in policy.ladder}
    for level, day in ladder_days(year_2021, note).items():
        if level >= 2:
            assert school_days_overdue(year_2021, note.due, day) == levels[level]


def test_welcome_call_ladder_follows_the_same_dates(year_2021, policy) -> None:
    call = step_of(K.WELCOME_CALL, plan_enrollment(enrollment(START), year_2021, policy))
    assert ladder_days(year_2021, call) == {
        1: date(2021, 9, 7),
        2: date(2021, 9, 8),
        3: date(2021, 9, 13),
        4: date(2021, 9, 20),
    }


def test_graduation_plan_due_on_a_sunday(year_2021, policy) -> None:
    """Returning 9th grader: within the first 9 weeks of Mon 23 Aug = Sun 24 Oct 2021.
    Was: level 2 Wed 27 Oct, level 3 Mon 1 Nov, level 4 Mon 8 Nov."""
    steps = plan_enrollment(enrollment(START, 9, returning=True), year_2021, policy)
    plan = step_of(K.GRADUATION_PLAN, steps)
    assert plan.due == date(2021, 10, 24)
    assert ladder_days(year_2021, plan) == {
        0: date(2021, 10, 20),
        1: date(2021, 10, 25),
        2: date(2021, 10, 26),
        3: date(2021, 10, 29),
        4: date(2021, 11, 5),
    }


def test_el_review_due_on_thanksgiving(year_2021, policy) -> None:
    """Initial ILP completed Thu 23 Sep: the review is due 63 days later, Thanksgiving (Thu 25
    Nov), with Fri 26 Nov off too. Was: level 2 Wed 1 Dec, level 3 Mon 6, level 4 Mon 13 Dec."""
    done = CompletedStep(K.EL_ILP, SUN_5_SEP, date(2021, 9, 23), opens=START)
    learner = enrollment(START, english_learner=EnglishLearner.ESL, completed=(done,))
    review = step_of(K.EL_ILP_REVIEW, plan_enrollment(learner, year_2021, policy))
    assert review.due == date(2021, 11, 25)
    assert ladder_days(year_2021, review) == {
        0: date(2021, 11, 22),
        1: date(2021, 11, 29),
        2: date(2021, 11, 30),
        3: date(2021, 12, 3),
        4: date(2021, 12, 10),
    }


# --- welcome-call attempt reminders count school days --------------------------------------


def test_attempt_reminders_on_school_days_1_3_7_10(year_2021, policy) -> None:
    """Day 7 is Tue 31 Aug (was Mon 30 Aug, calendar day 7 = Sun 29 held to Monday); day 10 and
    the coordinator notice are Fri 3 Sep (was Wed 1 Sep)."""
    call = step_of(K.WELCOME_CALL, plan_enrollment(enrollment(START), year_2021, policy))
    reminders = [
        (e.attempt_day, year_2021.local_date(e.at)) for e in call.escalations if e.level == 0
    ]
    assert reminders == [
        (1, date(2021, 8, 23)),
        (3, date(2021, 8, 25)),
        (7, date(2021, 8, 31)),
        (10, date(2021, 9, 3)),
    ]
    (coordinator,) = [e for e in call.escalations if e.attempt_day is not None and e.level == 2]
    assert coordinator.attempt_day == 10
    assert year_2021.local_date(coordinator.at) == date(2021, 9, 3)
    assert coordinator.notify == (Role.TEACHER, Role.ILP_COORDINATOR)
    # the attempt reminders replace the call's level 0
    assert [e.level for e in call.escalations if e.attempt_day is None] == [1, 2, 3, 4]


def test_a_start_that_is_not_a_school_day_makes_the_next_school_day_day_1(year_2021) -> None:
    days = {n: attempt_school_day(year_2021, SUN_5_SEP, n) for n in (1, 3, 7, 10)}
    assert days == {
        1: date(2021, 9, 7),
        3: date(2021, 9, 9),
        7: date(2021, 9, 15),
        10: date(2021, 9, 20),
    }


# --- acknowledging -------------------------------------------------------------------------


def test_acknowledge_wednesday_noon_resumes_monday_morning(year_2021, policy) -> None:
    """The rest of Wed 8, then Thu 9 and Fri 10: resumes Mon 13 Sep 07:00 (was Fri 10 07:00,
    1.5 school days)."""
    until = acknowledge_pause_until(at_local(year_2021, date(2021, 9, 8), 12), year_2021, policy)
    assert until == at_local(year_2021, date(2021, 9, 13), 7)


@pytest.mark.parametrize(
    ("acked", "resumes"),
    [
        (date(2021, 11, 24), date(2021, 12, 1)),  # Wed before Thanksgiving: Mon 29, Tue 30 off
        (date(2021, 12, 16), date(2022, 1, 5)),  # Thu before winter break: Fri 17, Tue 4 Jan
        (date(2021, 9, 4), date(2021, 9, 9)),  # Saturday (chosen): Tue 7 and Wed 8 Sep
    ],
)
def test_acknowledge_pause_skips_holidays_and_breaks(year_2021, policy, acked, resumes) -> None:
    until = acknowledge_pause_until(at_local(year_2021, acked, 15), year_2021, policy)
    assert until == at_local(year_2021, resumes, 7)


def test_a_rung_that_came_due_during_the_pause_is_sent_when_it_ends(year_2021, policy) -> None:
    """The graduation plan (due Sun 24 Oct) had levels 0-2 sent; acknowledged Wed 27 Oct at noon.
    Level 3 (the principal) comes due Fri 29 Oct, inside the pause: held, then sent Mon 1 Nov."""
    steps = plan_enrollment(enrollment(START, 9, returning=True), year_2021, policy)
    plan = step_of(K.GRADUATION_PLAN, steps)
    until = acknowledge_pause_until(at_local(year_2021, date(2021, 10, 27), 12), year_2021, policy)
    assert until == at_local(year_2021, date(2021, 11, 1), 7)
    state = LadderState(StepStatus.OPEN, rungs_sent=3, acknowledged_until=until)
    friday = decide(
        plan.escalations, state, at_local(year_2021, date(2021, 10, 29), 9), year_2021, policy
    )
    assert friday.send is None and friday.next_action_at == until
    monday = decide(plan.escalations, state, until, year_2021, policy)
    assert monday.send is not None and monday.send.level == 3
    assert Role.PRINCIPAL in monday.send.notify
    assert monday.rungs_sent == 4
    assert year_2021.local_date(monday.send.at) == date(2021, 10, 29)


def test_a_longer_pause_sends_only_the_highest_rung(year_2021, policy) -> None:
    """With a 10-school-day pause over levels 3 and 4, one message at level 4 when it ends."""
    long_pause = SchoolPolicy(ack_pause_school_days=10)
    plan = step_of(
        K.GRADUATION_PLAN,
        plan_enrollment(enrollment(START, 9, returning=True), year_2021, long_pause),
    )
    acked = at_local(year_2021, date(2021, 10, 27), 12)
    until = acknowledge_pause_until(acked, year_2021, long_pause)
    assert year_2021.local_date(until) == date(2021, 11, 11)  # 11th school day after Wed 27 Oct
    state = LadderState(StepStatus.OPEN, rungs_sent=3, acknowledged_until=until)
    resumed = decide(plan.escalations, state, until + timedelta(minutes=1), year_2021, policy)
    assert resumed.send is not None and resumed.send.level == 4 and resumed.rungs_sent == 5
