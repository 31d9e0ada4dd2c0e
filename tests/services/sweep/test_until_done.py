"""Notified until done: a year of sweeps, real DB, real Apprise, real sink. No open overdue
required step may go longer than the repeat cadence without a message to someone."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from config.schools import school_rules
from lifecycle.calendar import SchoolCalendar, school_days_overdue
from lifecycle.types import Role, StepStatus
from models.db import session_scope
from models.tables import School, Staff, Step
from tests.services.sweep.conftest import District, local

START = date(2026, 8, 17)
FIGURE = Path(__file__).parent / "artifacts" / "longest_silence.txt"


def local_day(moment: datetime) -> date:
    import pendulum

    return moment.astimezone(pendulum.timezone("America/Chicago")).date()


def longest_silence(
    calendar: SchoolCalendar,
    steps: list[tuple[int, date, date | None]],
    messaged: dict[int, set[date]],
    last_day: date,
) -> tuple[int, int | None, date | None]:
    """(school days, step id, day): the longest gap, in school days, between an open overdue
    step's messages (or its due date) and its next message, checked on every school day from
    the day after its due date until it was completed or the year ended. A step messaged every
    5 school days measures 5."""
    worst: tuple[int, int | None, date | None] = (0, None, None)
    for step_id, due, completed in steps:
        days = sorted(messaged.get(step_id, ()))
        day = due + timedelta(days=1)
        end = min(completed, last_day + timedelta(days=1)) if completed else last_day
        while day < end or (completed is None and day == end):
            if calendar.is_school_day(day):
                before = [m for m in days if m < day]  # a message on `day` closes the gap
                since = max(before[-1], due) if before else due  # overdue from the due date
                silence = school_days_overdue(calendar, since, day)
                if silence > worst[0]:
                    worst = (silence, step_id, day)
            day += timedelta(days=1)
    return worst


@pytest.mark.timeout(300)
def test_no_overdue_step_is_silent_longer_than_the_cadence(district: District) -> None:
    d = district
    d.add_school()
    d.add_staff("teacher", Role.TEACHER)
    d.add_staff("tina", Role.TEACHER)  # leaves in November
    d.add_staff("coord", Role.ILP_COORDINATOR)
    d.add_staff("principal", Role.PRINCIPAL)
    d.add_staff("rvp", Role.REGIONAL_VP, school_id=None)
    before = local(date(2026, 8, 14), 12)
    d.add_student("Ana", START, plan_now=before)  # untouched all year
    d.add_student("Ben", START, teacher=None, plan_now=before)  # no teacher: the coordinator
    d.add_student("Cal", date(2026, 10, 5), plan_now=before)  # starts mid-quarter
    d.add_student("Dee", date(2027, 1, 11), plan_now=before)  # starts in Q3
    d.add_student("Eve", START, grade=10, plan_now=before)  # graduation plan: no counselor
    d.add_student("Fay", START, teacher="tina", plan_now=before)  # owner disabled mid-year
    cal_note = d.step_id("Cal", "welcome_note")

    def disable_tina(at: datetime) -> None:
        with session_scope(d.url) as s:
            s.execute(sa.update(Staff).where(Staff.id == d.staff["tina"]).values(active=False))

    def complete_cal_note(at: datetime) -> None:
        with session_scope(d.url) as s:
            s.execute(
                sa.update(Step)
                .where(Step.id == cal_note)
                .values(status=StepStatus.COMPLETED.value, completed_on=at.date())
            )

    actions = {date(2026, 11, 2): disable_tina, date(2026, 11, 17): complete_cal_note}
    day = date(2026, 8, 14)
    while day <= date(2027, 6, 4):
        d.sweep(local(day, 7))
        if day in actions:
            actions[day](local(day, 10))
        d.sweep(local(day, 17, 30))
        day += timedelta(days=1)

    with session_scope(d.url) as s:
        school = s.get(School, d.school_id)
        calendar, policy = school_rules(school.calendar, school.policy)
        steps = [
            (row.id, row.due, row.completed_on)
            for row in s.execute(
                sa.select(Step.id, Step.due, Step.completed_on).where(
                    Step.required.is_(True), Step.status != StepStatus.CANCELLED.value
                )
            )
        ]
    messaged: dict[int, set[date]] = defaultdict(set)
    for sent in d.sent:
        for step_id, _, _ in sent.items:
            messaged[step_id].add(local_day(sent.window))
    last_day = calendar.year_end
    silence, step_id, on = longest_silence(calendar, steps, messaged, last_day)
    cadence = policy.repeat_every_school_days
    line = f"longest silence of an overdue step: {silence} school days (cadence {cadence})"
    print(line, f"step {step_id} on {on}")
    FIGURE.parent.mkdir(exist_ok=True)
    FIGURE.write_text(line + "\n")

    assert cadence == 5
    assert 0 < silence <= cadence
    # Ana's welcome note, untouched: the last message is on the year's last weeks, at level 4
    ana_note = d.step_id("Ana", "welcome_note")
    assert max(messaged[ana_note]) > date(2027, 5, 20)
    # Cal's note stops once completed; Fay's steps go on reaching someone after Tina left
    assert max(messaged[cal_note]) < date(2026, 11, 17)
    fay_call = d.step_id("Fay", "welcome_note")
    coord_days = {
        local_day(s.window)
        for s in d.sent
        if s.staff_id == d.staff["coord"] and any(i[0] == fay_call for i in s.items)
    }
    assert any(day > date(2026, 11, 2) for day in coord_days)
    assert not any(
        local_day(s.window) > date(2026, 11, 2) for s in d.sent if s.staff_id == d.staff["tina"]
    )


def test_the_silence_measure_sees_a_gap() -> None:
    """The measure itself: a step messaged on its due date and then 8 school days later."""
    from lifecycle.calendar import calendar_from_mapping
    from tests.lifecycle.conftest import SAMPLE

    calendar = calendar_from_mapping(SAMPLE)
    due = date(2027, 2, 1)  # a Monday
    steps = [(1, due, date(2027, 2, 16))]
    assert longest_silence(calendar, steps, {1: {due, date(2027, 2, 11)}}, calendar.year_end)[
        :2
    ] == (8, 1)


def test_a_replan_resumes_a_ladder_that_ended_before_repeats(district: District) -> None:
    """A database from before repeats: the ladder ran out and the step left the sweep's list
    (next_action_at NULL). Re-planning the enrollment puts its next repeat back."""
    from lifecycle.escalation import repeat_rungs
    from models.tables import escalations_from_json
    from services.planning import plan_enrollments

    d = district
    d.add_school()
    d.add_staff("teacher", Role.TEACHER)
    d.add_student("Ana", START, plan_now=local(date(2026, 8, 14), 12))
    note = d.step_id("Ana", "welcome_note")
    with session_scope(d.url) as s:
        step = s.get(Step, note)
        ladder = escalations_from_json(step.escalation_schedule)
        step.rungs_sent, step.next_action_at = len(ladder), None
        school = s.get(School, d.school_id)
        calendar, policy = school_rules(school.calendar, school.policy)
    with session_scope(d.url) as s:
        counts = plan_enrollments(s, [d.students["Ana"]], now=local(date(2026, 10, 1), 12))
    assert counts.steps_updated == 1
    with session_scope(d.url) as s:
        step = s.get(Step, note)
        first_repeat = repeat_rungs(ladder, calendar, policy)[0]
        assert step.rungs_sent == len(ladder)
        assert step.next_action_at.replace(tzinfo=first_repeat.at.tzinfo) == first_repeat.at
    with session_scope(d.url) as s:  # and a second re-plan changes nothing
        assert plan_enrollments(s, [d.students["Ana"]]).steps_updated == 0
