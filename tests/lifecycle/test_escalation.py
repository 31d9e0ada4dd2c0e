"""The communication plan's ladder: levels, welcome-call reminders, pauses, snoozes, windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from lifecycle.calendar import nth_school_day, school_days_overdue
from lifecycle.escalation import (
    LadderState,
    acknowledge_pause_until,
    current_window,
    decide,
    escalated_school_days,
    in_sending_window,
    next_window_start,
    repeat_rungs,
    snooze_until,
)
from lifecycle.planner import plan_enrollment
from lifecycle.policy import PolicyError, policy_from_mapping
from lifecycle.types import PlannedStep, Role, StepKind, StepStatus
from tests.lifecycle.conftest import enrollment

K = StepKind


def step_of(kind: StepKind, steps: tuple[PlannedStep, ...]) -> PlannedStep:
    return next(s for s in steps if s.kind is kind)


def local(calendar, instant: datetime) -> datetime:
    import pendulum

    return pendulum.instance(instant).in_timezone(calendar.timezone)


def test_ladder_levels_fire_at_the_configured_school_day_offsets(calendar, policy) -> None:
    steps = plan_enrollment(enrollment(date(2026, 8, 17)), calendar, policy)
    q2 = step_of(K.Q2_NOTE, steps)  # due Fri 2026-12-18, winter break follows
    days = {e.level: local(calendar, e.at).date() for e in q2.escalations}
    assert days == {
        0: date(2026, 12, 15),  # 3 school days before
        1: date(2026, 12, 18),  # due date
        2: date(2027, 1, 6),  # 2 school days after, skipping the break
        3: date(2027, 1, 11),
        4: date(2027, 1, 18),
    }
    notify = {e.level: e.notify for e in q2.escalations}
    assert notify[1] == (Role.TEACHER,)
    assert notify[2] == (Role.TEACHER, Role.ILP_COORDINATOR)
    assert notify[3] == (Role.TEACHER, Role.ILP_COORDINATOR, Role.PRINCIPAL)
    assert notify[4][-1] is Role.REGIONAL_VP


def test_reminder_fires_when_the_step_opens_if_that_is_later(calendar, policy) -> None:
    steps = plan_enrollment(enrollment(date(2026, 12, 16)), calendar, policy)
    q2 = step_of(K.Q2_NOTE, steps)  # optional: no escalation by default
    assert q2.escalations == ()
    grad = step_of(
        K.GRADUATION_PLAN, plan_enrollment(enrollment(date(2026, 12, 16), 9), calendar, policy)
    )
    assert local(calendar, grad.escalations[0].at).date() == date(2026, 12, 16)


def test_welcome_call_attempt_reminders_on_days_1_3_7_10_then_coordinator(calendar, policy) -> None:
    steps = plan_enrollment(enrollment(date(2026, 9, 1)), calendar, policy)  # a Tuesday
    call = step_of(K.WELCOME_CALL, steps)
    reminders = [
        (e.attempt_day, local(calendar, e.at).date()) for e in call.escalations if e.level == 0
    ]
    assert reminders == [  # school days: Labor Day (Mon Sep 7) is not one
        (1, date(2026, 9, 1)),
        (3, date(2026, 9, 3)),
        (7, date(2026, 9, 10)),
        (10, date(2026, 9, 15)),
    ]
    coordinator = [e for e in call.escalations if e.attempt_day == 10 and e.level == 2]
    assert coordinator and Role.ILP_COORDINATOR in coordinator[0].notify
    assert local(calendar, coordinator[0].at).date() == date(2026, 9, 15)
    assert [e.level for e in call.escalations if e.attempt_day is None] == [1, 2, 3, 4]


def test_rungs_open_the_sending_window_in_local_time(calendar, policy) -> None:
    for s in plan_enrollment(enrollment(date(2026, 9, 1), 10), calendar, policy):
        for e in s.escalations:
            assert local(calendar, e.at).time() == time(7, 0)


def test_policy_numbers_are_configuration(calendar) -> None:
    policy = policy_from_mapping(
        {
            "ladder": [
                {"level": 1, "offset": 0, "notify": ["owner"]},
                {"level": 2, "offset": 1, "notify": ["owner", "principal"]},
            ],
            "sending_window": ["08:30", "15:00"],
        }
    )
    q2 = step_of(K.Q2_NOTE, plan_enrollment(enrollment(date(2026, 8, 17)), calendar, policy))
    assert [e.level for e in q2.escalations] == [1, 2]
    assert local(calendar, q2.escalations[0].at).time() == time(8, 30)


def test_bad_policy_is_refused() -> None:
    with pytest.raises(PolicyError, match="unknown role"):
        policy_from_mapping({"ladder": [{"level": 0, "offset": 0, "notify": ["janitor"]}]})
    with pytest.raises(PolicyError, match="end must be after start"):
        policy_from_mapping({"sending_window": ["17:00", "07:00"]})


# --- decide(): what the sweep sends ------------------------------------------------------------


@pytest.fixture
def q2(calendar, policy) -> PlannedStep:
    return step_of(K.Q2_NOTE, plan_enrollment(enrollment(date(2026, 8, 17)), calendar, policy))


def at_local(calendar, day: date, hour: int, minute: int = 0) -> datetime:
    return calendar.local_instant(day, time(hour, minute))


def test_nothing_is_sent_before_the_first_rung(calendar, policy, q2) -> None:
    d = decide(
        q2.escalations,
        LadderState(StepStatus.OPEN),
        q2.escalations[0].at - timedelta(seconds=1),
        calendar,
        policy,
    )
    assert d.send is None and d.next_action_at == q2.escalations[0].at


def test_each_rung_is_sent_once_in_order(calendar, policy, q2) -> None:
    state = LadderState(StepStatus.OPEN)
    sent = []
    for rung in q2.escalations:
        d = decide(q2.escalations, state, rung.at + timedelta(minutes=5), calendar, policy)
        assert d.send == rung
        sent.append(d.send.level)
        state = LadderState(StepStatus.OPEN, rungs_sent=d.rungs_sent)
        again = decide(q2.escalations, state, rung.at + timedelta(minutes=10), calendar, policy)
        assert again.send is None
    assert sent == [0, 1, 2, 3, 4]
    assert (
        decide(
            q2.escalations, state, datetime(2027, 6, 1, tzinfo=UTC), calendar, policy
        ).next_action_at
        is None
    )


def test_rungs_due_together_collapse_into_the_highest(calendar, policy, q2) -> None:
    late = at_local(calendar, date(2027, 1, 11), 9)  # levels 0-3 all due
    d = decide(q2.escalations, LadderState(StepStatus.OPEN), late, calendar, policy)
    assert d.send is not None and d.send.level == 3 and d.rungs_sent == 4


def test_complete_ends_the_ladder_and_withdrawn_students_get_nothing(calendar, policy, q2) -> None:
    late = at_local(calendar, date(2027, 1, 11), 9)
    assert (
        decide(q2.escalations, LadderState(StepStatus.COMPLETED), late, calendar, policy).send
        is None
    )
    d = decide(q2.escalations, LadderState(StepStatus.OPEN, withdrawn=True), late, calendar, policy)
    assert d.send is None and d.next_action_at is None


def test_acknowledge_pauses_two_school_days_then_resumes(calendar, policy, q2) -> None:
    acked = at_local(calendar, date(2026, 12, 18), 10)  # Friday, due day
    until = acknowledge_pause_until(acked, calendar, policy)
    # the rest of Friday, then Tue 5 and Wed 6 Jan across the break: resumes Thu 7 Jan 07:00
    assert local(calendar, until) == local(calendar, at_local(calendar, date(2027, 1, 7), 7))
    state = LadderState(StepStatus.OPEN, rungs_sent=2, acknowledged_until=until)
    paused = decide(  # level 2 came due Wed 6 Jan, inside the pause: held
        q2.escalations, state, at_local(calendar, date(2027, 1, 6), 9), calendar, policy
    )
    assert paused.send is None and paused.next_action_at == until
    resumed = decide(q2.escalations, state, until + timedelta(minutes=1), calendar, policy)
    assert resumed.send is not None and resumed.send.level == 2


def test_snooze_never_holds_past_the_due_date(calendar, policy, q2) -> None:
    held = snooze_until(date(2027, 2, 1), q2.due, calendar, policy)
    assert local(calendar, held).date() == date(2026, 12, 18)
    assert local(
        calendar, snooze_until(date(2026, 12, 16), q2.due, calendar, policy)
    ).date() == date(2026, 12, 16)


def test_sending_window_holds_after_hours_weekends_and_holidays(calendar, policy, q2) -> None:
    rung = q2.escalations[1]  # due-day rung, Fri 2026-12-18 07:00
    evening = at_local(calendar, date(2026, 12, 18), 18)
    d = decide(
        q2.escalations, LadderState(StepStatus.OPEN, rungs_sent=1), evening, calendar, policy
    )
    assert d.send is None
    assert local(calendar, d.next_action_at).date() == date(2027, 1, 5)  # after the break
    assert rung.at <= evening
    thanksgiving = at_local(calendar, date(2026, 11, 26), 9)
    assert not in_sending_window(thanksgiving, calendar, policy)
    assert local(calendar, next_window_start(thanksgiving, calendar, policy)).date() == date(
        2026, 11, 30
    )


def test_current_window_names_one_window_per_school_day(calendar, policy) -> None:
    morning = at_local(calendar, date(2026, 9, 8), 7, 5)
    afternoon = at_local(calendar, date(2026, 9, 8), 16, 55)
    night = at_local(calendar, date(2026, 9, 8), 22)
    assert current_window(morning, calendar, policy) == current_window(afternoon, calendar, policy)
    assert local(calendar, current_window(night, calendar, policy)).date() == date(2026, 9, 9)


# --- until done: the top level repeats ----------------------------------------------------------


def test_top_level_repeats_every_n_school_days_until_the_year_ends(calendar, policy, q2) -> None:
    top = q2.escalations[-1]  # level 4, Mon 18 Jan 2027
    repeats = repeat_rungs(q2.escalations, calendar, policy)
    assert policy.repeat_every_school_days == 5
    days = [local(calendar, r.at).date() for r in repeats]
    assert days[:3] == [date(2027, 1, 25), date(2027, 2, 1), date(2027, 2, 8)]
    assert days[-1] <= calendar.year_end and len(days) == len(set(days))
    previous = local(calendar, top.at).date()
    for n, rung in enumerate(repeats, start=1):
        assert (rung.level, rung.notify, rung.repeat, rung.attempt_day) == (
            top.level,
            top.notify,
            n,
            None,
        )
        day = local(calendar, rung.at).date()
        assert school_days_overdue(calendar, previous, day) == 5  # exactly the cadence
        assert local(calendar, rung.at).time() == policy.window_start
        previous = day
    # the next one would fall after the last school day
    assert not calendar.is_school_day(nth_school_day(calendar, previous, 5))


def test_decide_keeps_notifying_after_the_ladder(calendar, policy, q2) -> None:
    ladder = len(q2.escalations)
    repeats = repeat_rungs(q2.escalations, calendar, policy)
    state = LadderState(StepStatus.OPEN, rungs_sent=ladder)
    d = decide(q2.escalations, state, q2.escalations[-1].at + timedelta(hours=1), calendar, policy)
    assert d.send is None and d.next_action_at == repeats[0].at
    d = decide(q2.escalations, state, repeats[0].at + timedelta(minutes=1), calendar, policy)
    assert d.send == repeats[0] and d.rungs_sent == ladder + 1
    assert d.next_action_at == repeats[1].at
    # a sweep that was down for weeks sends one message (the latest repeat), then goes on
    late = repeats[4].at + timedelta(hours=2)
    d = decide(q2.escalations, state, late, calendar, policy)
    assert d.send == repeats[4] and d.next_action_at == repeats[5].at
    # the last repeat ends it
    state = LadderState(StepStatus.OPEN, rungs_sent=ladder + len(repeats) - 1)
    d = decide(q2.escalations, state, repeats[-1].at + timedelta(minutes=1), calendar, policy)
    assert d.send == repeats[-1] and d.next_action_at is None
    # done or withdrawn: nothing, ever
    closed = LadderState(StepStatus.COMPLETED, rungs_sent=ladder)
    assert decide(q2.escalations, closed, late, calendar, policy).send is None


def test_acknowledge_holds_a_repeat_too(calendar, policy, q2) -> None:
    repeats = repeat_rungs(q2.escalations, calendar, policy)
    acked = repeats[0].at + timedelta(hours=3)
    until = acknowledge_pause_until(acked, calendar, policy)
    state = LadderState(
        StepStatus.OPEN, rungs_sent=len(q2.escalations) + 1, acknowledged_until=until
    )
    d = decide(q2.escalations, state, acked + timedelta(hours=1), calendar, policy)
    assert d.send is None and d.next_action_at == max(until, repeats[1].at)


def test_repeat_cadence_is_configuration(calendar, q2) -> None:
    off = policy_from_mapping({"repeat_every_school_days": 0})
    assert repeat_rungs(q2.escalations, calendar, off) == ()
    state = LadderState(StepStatus.OPEN, rungs_sent=len(q2.escalations))
    later = q2.escalations[-1].at + timedelta(days=30)
    assert decide(q2.escalations, state, later, calendar, off).next_action_at is None
    daily = policy_from_mapping({"repeat_every_school_days": 1})
    days = [local(calendar, r.at).date() for r in repeat_rungs(q2.escalations, calendar, daily)]
    assert days[:2] == [date(2027, 1, 19), date(2027, 1, 20)]
    assert len(days) == len(set(days)) and all(calendar.is_school_day(d) for d in days)
    with pytest.raises(PolicyError, match="repeat_every_school_days"):
        policy_from_mapping({"repeat_every_school_days": -1})


def test_no_repeats_without_a_top_level_or_school_days_left(calendar, policy) -> None:
    synopsis = step_of(K.SYNOPSIS, plan_enrollment(enrollment(date(2026, 8, 17)), calendar, policy))
    assert repeat_rungs(synopsis.escalations, calendar, policy) == ()  # due on the last day
    assert repeat_rungs((), calendar, policy) == ()


def test_escalated_school_days_count_from_the_first_overdue_rung(calendar, policy, q2) -> None:
    # due Fri 18 Dec; level 2 (the coordinator) on Wed 6 Jan, the 2nd school day after
    assert escalated_school_days(q2.due, date(2027, 1, 5), calendar, policy) is None
    assert escalated_school_days(q2.due, date(2027, 1, 6), calendar, policy) == 0
    assert escalated_school_days(q2.due, date(2027, 1, 13), calendar, policy) == 5
