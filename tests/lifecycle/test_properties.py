"""Property tests: for any valid calendar and start date, the planner's promises hold."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.calendar import SchoolCalendar, calendar_from_mapping
from lifecycle.planner import plan_enrollment
from lifecycle.policy import SchoolPolicy
from lifecycle.types import CompletedStep, EnglishLearner, Enrollment, StepKind, StepStatus

ZONES = [
    "America/Chicago",
    "America/New_York",
    "America/Denver",
    "Pacific/Honolulu",
    "UTC",
    "Europe/London",
    "America/Phoenix",
]
POLICY = SchoolPolicy()


@st.composite
def calendars(draw: st.DrawFn) -> SchoolCalendar:
    year = draw(st.integers(2020, 2035))
    start = date(year, 8, 1) + timedelta(days=draw(st.integers(0, 40)))
    quarters = []
    cursor = start
    for _ in range(4):
        length = draw(st.integers(35, 70))
        quarters.append([cursor, cursor + timedelta(days=length)])
        cursor = cursor + timedelta(days=length + 1 + draw(st.integers(0, 16)))
    end = quarters[-1][1] + timedelta(days=draw(st.integers(0, 5)))
    holidays = draw(
        st.lists(st.integers(0, (end - start).days), max_size=12).map(
            lambda offsets: [start + timedelta(days=o) for o in offsets]
        )
    )
    return calendar_from_mapping(
        {
            "timezone": draw(st.sampled_from(ZONES)),
            "year_start": start,
            "year_end": end,
            "quarters": quarters,
            "holidays": holidays,
        }
    )


@st.composite
def cases(draw: st.DrawFn) -> tuple[SchoolCalendar, Enrollment]:
    calendar = draw(calendars())
    last = calendar.quarters[3][1]
    start = (
        calendar.year_start
        - timedelta(days=20)
        + timedelta(days=draw(st.integers(0, (last - calendar.year_start).days + 20)))
    )
    enrollment = Enrollment(
        start=start,
        grade=draw(st.integers(0, 12)),
        returning=draw(st.booleans()),
        english_learner=draw(st.none() | st.sampled_from(list(EnglishLearner))),
    )
    return calendar, enrollment


@settings(max_examples=50, deadline=None)
@given(cases())
def test_no_due_date_before_the_start_or_after_the_year(case) -> None:
    calendar, enrollment = case
    for step in plan_enrollment(enrollment, calendar, POLICY):
        assert enrollment.start <= step.due <= calendar.year_end


@settings(max_examples=50, deadline=None)
@given(cases())
def test_required_optional_matrix_holds(case) -> None:
    calendar, enrollment = case
    steps = {s.kind: s for s in plan_enrollment(enrollment, calendar, POLICY)}
    quarter = calendar.quarter_of(max(enrollment.start, calendar.quarters[0][0]))
    for n, kind in enumerate((StepKind.Q1_NOTE, StepKind.Q2_NOTE, StepKind.Q3_NOTE), start=1):
        if n < quarter:
            assert kind not in steps
        else:
            assert steps[kind].required is (n > quarter)
    assert steps[StepKind.WELCOME_NOTE].required and steps[StepKind.SYNOPSIS].required
    assert (StepKind.GRADUATION_PLAN in steps) is (enrollment.grade >= 9)
    assert (StepKind.EL_ILP in steps) is (enrollment.english_learner is not None)


@settings(max_examples=50, deadline=None)
@given(cases())
def test_plans_are_deterministic(case) -> None:
    calendar, enrollment = case
    assert plan_enrollment(enrollment, calendar, POLICY) == plan_enrollment(
        enrollment, calendar, POLICY
    )


@settings(max_examples=50, deadline=None)
@given(cases(), st.data())
def test_replanning_keeps_completed_steps(case, data) -> None:
    calendar, enrollment = case
    first = plan_enrollment(enrollment, calendar, POLICY)
    chosen = data.draw(st.lists(st.sampled_from(first), unique_by=lambda s: s.key, max_size=4))
    completed = tuple(
        CompletedStep(s.kind, s.due, s.due, s.seq, opens=s.opens, required=s.required)
        for s in chosen
    )
    moved = enrollment.start + timedelta(days=data.draw(st.integers(0, 30)))
    if moved > calendar.quarters[3][1]:
        moved = enrollment.start
    again = plan_enrollment(
        Enrollment(
            moved,
            enrollment.grade,
            enrollment.returning,
            enrollment.english_learner,
            completed=completed,
        ),
        calendar,
        POLICY,
    )
    kept = {s.key: s for s in again}
    for done in completed:
        step = kept[(done.kind, done.seq)]
        assert step.status is StepStatus.COMPLETED
        assert (step.due, step.completed_on, step.opens) == (
            done.due,
            done.completed_on,
            done.opens,
        )


@settings(max_examples=50, deadline=None)
@given(cases())
def test_escalations_fall_on_school_days_inside_the_sending_window(case) -> None:
    calendar, enrollment = case
    for step in plan_enrollment(enrollment, calendar, POLICY):
        instants = [e.at for e in step.escalations]
        assert instants == sorted(instants)
        for instant in instants:
            local_day = calendar.local_date(instant)
            assert calendar.is_school_day(local_day)
            opens = calendar.local_instant(local_day, POLICY.window_start)
            closes = calendar.local_instant(local_day, POLICY.window_end)
            assert opens <= instant < closes


def naive_shift(calendar: SchoolCalendar, day: date, count: int) -> date:
    """The definition, one day at a time: the oracle for the indexed version."""

    last = calendar.quarters[3][1]
    while not calendar.is_school_day(last):
        last -= timedelta(days=1)

    def counts(d: date) -> bool:
        return calendar.is_school_day(d) or (d > last and d.weekday() < 5)

    probe = day
    while count >= 0 and not counts(probe):
        probe += timedelta(days=1)
    remaining, direction = abs(count), (1 if count >= 0 else -1)
    while remaining:
        probe += timedelta(days=direction)
        if probe < calendar.year_start - timedelta(days=400):
            break
        if counts(probe):
            remaining -= 1
    if count < 0 and probe < calendar.next_school_day(calendar.year_start):
        return calendar.next_school_day(calendar.year_start)
    return probe


@settings(max_examples=50, deadline=None)
@given(calendars(), st.integers(-30, 400), st.integers(-12, 12))
def test_school_day_shift_matches_its_definition(calendar, offset, count) -> None:
    day = calendar.year_start + timedelta(days=offset)
    assert calendar.shift_school_days(day, count) == naive_shift(calendar, day, count)
