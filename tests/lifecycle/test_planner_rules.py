"""One test per line of ILP_RULES.md (steps, English learners, withdrawal and changes)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from lifecycle.calendar import SchoolCalendar, calendar_from_mapping
from lifecycle.planner import PlanError, enrollment_quarter, plan_enrollment, within_weeks
from lifecycle.policy import SchoolPolicy
from lifecycle.types import (
    CompletedStep,
    EnglishLearner,
    PlannedStep,
    Role,
    StepKind,
    StepStatus,
)
from tests.lifecycle.conftest import IN_QUARTER, SAMPLE, enrollment

K = StepKind


def by_kind(steps: tuple[PlannedStep, ...]) -> dict[StepKind, PlannedStep]:
    return {s.kind: s for s in steps}


# --- calendar terms -------------------------------------------------------------------------


def test_within_first_two_weeks_counts_the_start_as_day_one() -> None:
    assert within_weeks(date(2026, 9, 1), 2) == date(2026, 9, 14)
    assert within_weeks(date(2026, 8, 17), 9) == date(2026, 10, 18)


@pytest.mark.parametrize("quarter", [1, 2, 3, 4])
def test_enrollment_quarter_is_the_quarter_containing_the_start(calendar, quarter) -> None:
    assert enrollment_quarter(enrollment(IN_QUARTER[quarter]), calendar) == quarter


def test_start_before_q1_counts_as_q1_and_starts_on_q1s_first_day(calendar, policy) -> None:
    steps = by_kind(plan_enrollment(enrollment(date(2026, 8, 1)), calendar, policy))
    assert steps[K.WELCOME_NOTE].due == date(2026, 8, 30)  # Aug 17 + 13
    assert steps[K.Q1_NOTE].required is False


def test_start_in_a_break_between_quarters_belongs_to_the_next_quarter(calendar) -> None:
    assert enrollment_quarter(enrollment(date(2026, 12, 28)), calendar) == 3


def test_start_after_the_year_ends_is_an_input_error(calendar, policy) -> None:
    with pytest.raises(PlanError, match="after the school year ends"):
        plan_enrollment(enrollment(date(2027, 6, 1)), calendar, policy)


def test_school_days_skip_weekends_holidays_and_breaks(calendar) -> None:
    assert calendar.is_school_day(date(2026, 9, 8))
    assert not calendar.is_school_day(date(2026, 9, 7))  # listed holiday
    assert not calendar.is_school_day(date(2026, 9, 12))  # Saturday
    assert not calendar.is_school_day(date(2026, 12, 22))  # winter break between quarters
    assert calendar.shift_school_days(date(2026, 11, 24), 2) == date(2026, 11, 30)


def test_semesters_default_to_q1_q2_and_q3_q4(calendar) -> None:
    data = {k: v for k, v in SAMPLE.items() if k != "semesters"}
    plain = calendar_from_mapping(data)
    assert plain.semester_spans() == (
        (date(2026, 8, 17), date(2026, 12, 18)),
        (date(2027, 1, 5), date(2027, 5, 28)),
    )


# --- the seed's table -----------------------------------------------------------------------

TABLE = {  # enrolled in: (q1, q2, q3) with True required, False optional, None absent
    1: (False, True, True),
    2: (None, False, True),
    3: (None, None, False),
    4: (None, None, None),
}


@pytest.mark.parametrize("quarter", [1, 2, 3, 4])
@pytest.mark.parametrize("grade", [0, 5, 8, 9, 12])
def test_seed_table_quarter_notes(calendar, policy, quarter, grade) -> None:
    steps = by_kind(plan_enrollment(enrollment(IN_QUARTER[quarter], grade), calendar, policy))
    for kind, expected in zip((K.Q1_NOTE, K.Q2_NOTE, K.Q3_NOTE), TABLE[quarter], strict=True):
        if expected is None:
            assert kind not in steps
        else:
            assert steps[kind].required is expected
    assert steps[K.WELCOME_NOTE].required and steps[K.SYNOPSIS].required


@pytest.mark.parametrize("n", [1, 2, 3])
def test_quarter_note_due_on_the_last_day_of_its_quarter_by_a_teacher(calendar, policy, n) -> None:
    steps = by_kind(plan_enrollment(enrollment(date(2026, 8, 17)), calendar, policy))
    note = steps[(K.Q1_NOTE, K.Q2_NOTE, K.Q3_NOTE)[n - 1]]
    assert note.due == calendar.quarters[n - 1][1]
    assert note.owner is Role.TEACHER


def test_welcome_call_and_note_due_within_two_weeks_by_the_teacher(calendar, policy) -> None:
    steps = by_kind(plan_enrollment(enrollment(date(2026, 11, 2)), calendar, policy))
    for kind in (K.WELCOME_CALL, K.WELCOME_NOTE):
        assert steps[kind].due == date(2026, 11, 15)
        assert steps[kind].owner is Role.TEACHER and steps[kind].required


def test_welcome_steps_never_due_after_the_year(calendar, policy) -> None:
    steps = by_kind(plan_enrollment(enrollment(date(2027, 5, 24)), calendar, policy))
    assert steps[K.WELCOME_NOTE].due == date(2027, 5, 28)


def test_synopsis_due_last_day_of_q4_for_every_start(calendar, policy) -> None:
    for quarter in (1, 2, 3, 4):
        steps = by_kind(plan_enrollment(enrollment(IN_QUARTER[quarter]), calendar, policy))
        assert steps[K.SYNOPSIS].due == date(2027, 5, 28)
        assert steps[K.SYNOPSIS].owner is Role.TEACHER


@pytest.mark.parametrize("grade", [0, 1, 8])
def test_no_graduation_plan_below_grade_nine(calendar, policy, grade) -> None:
    steps = by_kind(plan_enrollment(enrollment(date(2026, 8, 17), grade), calendar, policy))
    assert K.GRADUATION_PLAN not in steps


@pytest.mark.parametrize("grade", [9, 10, 11, 12])
def test_returning_high_schooler_graduation_plan_within_nine_weeks(calendar, policy, grade) -> None:
    e = enrollment(date(2026, 8, 17), grade, returning=True)
    plan = by_kind(plan_enrollment(e, calendar, policy))[K.GRADUATION_PLAN]
    assert plan.due == date(2026, 10, 18)
    assert plan.owner is Role.COUNSELOR


@pytest.mark.parametrize(
    ("start", "due"),
    [(date(2026, 9, 1), date(2026, 12, 18)), (date(2027, 2, 1), date(2027, 5, 28))],
)
def test_new_high_schooler_graduation_plan_by_end_of_start_semester(
    calendar, policy, start, due
) -> None:
    plan = by_kind(plan_enrollment(enrollment(start, 10), calendar, policy))[K.GRADUATION_PLAN]
    assert plan.due == due


def test_returning_student_starting_after_nine_weeks_is_treated_as_new(calendar, policy) -> None:
    e = enrollment(date(2026, 11, 2), 11, returning=True)
    plan = by_kind(plan_enrollment(e, calendar, policy))[K.GRADUATION_PLAN]
    assert plan.due == date(2026, 12, 18)


# --- English learners -----------------------------------------------------------------------


@pytest.mark.parametrize("category", list(EnglishLearner))
def test_every_english_learner_category_gets_an_ilp(calendar, policy, category) -> None:
    e = enrollment(date(2026, 9, 1), english_learner=category)
    steps = by_kind(plan_enrollment(e, calendar, policy))
    assert steps[K.EL_ILP].due == date(2026, 9, 14)
    assert steps[K.EL_ILP].owner is Role.ESL_TEACHER
    assert steps[K.EL_ILP_REVIEW].due == date(2026, 9, 14) + timedelta(days=63)
    assert steps[K.EL_ILP_REVIEW].seq == 1


def test_non_english_learner_gets_no_el_steps(calendar, policy) -> None:
    kinds = {s.kind for s in plan_enrollment(enrollment(date(2026, 9, 1)), calendar, policy)}
    assert kinds.isdisjoint({K.EL_ILP, K.EL_ILP_REVIEW, K.PARENT_COPY})


def test_el_review_rolls_from_the_last_completed_update(calendar, policy) -> None:
    done = (
        CompletedStep(K.EL_ILP, date(2026, 9, 14), date(2026, 9, 10)),
        CompletedStep(K.EL_ILP_REVIEW, date(2026, 11, 12), date(2026, 11, 1), seq=1),
    )
    e = enrollment(date(2026, 9, 1), english_learner=EnglishLearner.ESL, completed=done)
    steps = plan_enrollment(e, calendar, policy)
    open_reviews = [s for s in steps if s.kind is K.EL_ILP_REVIEW and s.status is StepStatus.OPEN]
    assert [(s.seq, s.due) for s in open_reviews] == [(2, date(2026, 11, 1) + timedelta(days=63))]


def test_no_el_review_due_after_the_last_day(calendar, policy) -> None:
    e = enrollment(date(2027, 4, 5), english_learner=EnglishLearner.MONITORED)
    kinds = {s.kind for s in plan_enrollment(e, calendar, policy)}
    assert K.EL_ILP in kinds and K.EL_ILP_REVIEW not in kinds


def test_each_completed_update_gets_a_parent_copy_seven_days_later(calendar, policy) -> None:
    done = (CompletedStep(K.EL_ILP, date(2026, 9, 14), date(2026, 9, 10)),)
    e = enrollment(date(2026, 9, 1), english_learner=EnglishLearner.WAIVED, completed=done)
    copy = by_kind(plan_enrollment(e, calendar, policy))[K.PARENT_COPY]
    assert copy.due == date(2026, 9, 17) and copy.owner is Role.ILP_COORDINATOR and copy.seq == 0


# --- withdrawal and changes ------------------------------------------------------------------


def test_withdrawal_cancels_later_steps_and_keeps_overdue_ones_as_missed(calendar, policy) -> None:
    e = enrollment(date(2026, 8, 17), withdrawn=date(2026, 11, 1))
    steps = by_kind(plan_enrollment(e, calendar, policy))
    assert steps[K.WELCOME_NOTE].status is StepStatus.MISSED
    assert steps[K.Q1_NOTE].status is StepStatus.CANCELLED  # optional: not missed
    assert steps[K.Q2_NOTE].status is StepStatus.CANCELLED
    assert steps[K.SYNOPSIS].status is StepStatus.CANCELLED
    assert all(not s.escalations for s in steps.values())


def test_withdrawal_keeps_completed_steps(calendar, policy) -> None:
    done = (CompletedStep(K.WELCOME_NOTE, date(2026, 8, 30), date(2026, 8, 20)),)
    e = enrollment(date(2026, 8, 17), withdrawn=date(2026, 11, 1), completed=done)
    steps = by_kind(plan_enrollment(e, calendar, policy))
    assert steps[K.WELCOME_NOTE].status is StepStatus.COMPLETED


def test_withdrawal_before_start_is_an_input_error(calendar, policy) -> None:
    with pytest.raises(PlanError, match="before the start"):
        plan_enrollment(enrollment(date(2026, 9, 1), withdrawn=date(2026, 8, 20)), calendar, policy)


def test_same_enrollment_planned_twice_is_identical(calendar, policy) -> None:
    e = enrollment(date(2026, 9, 1), 10, english_learner=EnglishLearner.ESL)
    assert plan_enrollment(e, calendar, policy) == plan_enrollment(e, calendar, policy)


def test_changed_start_replans_open_steps_and_keeps_completed(calendar, policy) -> None:
    done = (
        CompletedStep(K.WELCOME_CALL, date(2026, 9, 14), date(2026, 9, 3), opens=date(2026, 9, 1)),
    )
    before = by_kind(
        plan_enrollment(enrollment(date(2026, 9, 1), completed=done), calendar, policy)
    )
    after = by_kind(
        plan_enrollment(enrollment(date(2026, 11, 2), completed=done), calendar, policy)
    )
    assert after[K.WELCOME_CALL] == before[K.WELCOME_CALL]
    assert after[K.WELCOME_CALL].status is StepStatus.COMPLETED
    assert after[K.WELCOME_NOTE].due == date(2026, 11, 15)
    assert K.Q1_NOTE not in after and after[K.Q2_NOTE].required is False


def test_changed_grade_adds_the_graduation_plan(calendar, policy) -> None:
    assert K.GRADUATION_PLAN not in by_kind(
        plan_enrollment(enrollment(date(2026, 9, 1), 8), calendar, policy)
    )
    assert K.GRADUATION_PLAN in by_kind(
        plan_enrollment(enrollment(date(2026, 9, 1), 9), calendar, policy)
    )


def test_bad_grade_is_refused(calendar: SchoolCalendar, policy: SchoolPolicy) -> None:
    with pytest.raises(PlanError, match="not K-12"):
        plan_enrollment(enrollment(date(2026, 9, 1), 13), calendar, policy)
