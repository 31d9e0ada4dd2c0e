"""The planner: one enrollment, its school's calendar and policy in; the student's ILP year out.

Every rule here is a line of ILP_RULES.md. The planner is a pure function: the same inputs always
give the same plan, and re-planning keeps what staff already completed.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

from lifecycle.calendar import SchoolCalendar, nth_school_day
from lifecycle.policy import OWNER, SchoolPolicy
from lifecycle.types import (
    CompletedStep,
    EnglishLearner,
    Enrollment,
    Escalation,
    PlannedStep,
    Role,
    StepKind,
    StepStatus,
)

QUARTER_NOTES = (StepKind.Q1_NOTE, StepKind.Q2_NOTE, StepKind.Q3_NOTE)
EL_REVIEW_DAYS = 63  # "updated at least every 9 weeks"
PARENT_COPY_DAYS = 7
OWNERS = {
    StepKind.WELCOME_CALL: Role.TEACHER,
    StepKind.WELCOME_NOTE: Role.TEACHER,
    StepKind.Q1_NOTE: Role.TEACHER,
    StepKind.Q2_NOTE: Role.TEACHER,
    StepKind.Q3_NOTE: Role.TEACHER,
    StepKind.SYNOPSIS: Role.TEACHER,
    StepKind.GRADUATION_PLAN: Role.COUNSELOR,
    StepKind.EL_ILP: Role.ESL_TEACHER,
    StepKind.EL_ILP_REVIEW: Role.ESL_TEACHER,
    StepKind.PARENT_COPY: Role.ILP_COORDINATOR,
}
KIND_ORDER = {kind: number for number, kind in enumerate(StepKind)}


class PlanError(ValueError):
    """An enrollment the planner cannot plan; the message names the problem."""


def within_weeks(first_day: date, weeks: int) -> date:
    """Last day of "within the first N weeks of D": D + 7N - 1, D counting as day 1."""
    return first_day + timedelta(days=7 * weeks - 1)


def lifecycle_start(enrollment: Enrollment, calendar: SchoolCalendar) -> date:
    """A start before Q1 begins counts as Q1's first day."""
    return max(enrollment.start, calendar.quarters[0][0])


def enrollment_quarter(enrollment: Enrollment, calendar: SchoolCalendar) -> int:
    return calendar.quarter_of(lifecycle_start(enrollment, calendar))


def validate(enrollment: Enrollment, calendar: SchoolCalendar) -> None:
    if not 0 <= enrollment.grade <= 12:
        raise PlanError(f"grade {enrollment.grade} is not K-12")
    last_day = calendar.quarters[3][1]
    if enrollment.start > last_day:
        raise PlanError(f"start {enrollment.start} is after the school year ends ({last_day})")
    if enrollment.withdrawn is not None and enrollment.withdrawn < enrollment.start:
        raise PlanError(f"withdrawal {enrollment.withdrawn} is before the start {enrollment.start}")


def _required_steps(enrollment: Enrollment, calendar: SchoolCalendar) -> list[PlannedStep]:
    """The year's steps before completions and withdrawal are applied."""
    start = lifecycle_start(enrollment, calendar)
    year_end = calendar.year_end
    first_two_weeks = min(within_weeks(start, 2), year_end)
    quarter = calendar.quarter_of(start)

    def step(kind: StepKind, due: date, opens: date, required: bool = True) -> PlannedStep:
        return PlannedStep(kind, due, required, OWNERS[kind], opens=min(opens, due))

    steps = [
        step(StepKind.WELCOME_CALL, first_two_weeks, start),
        step(StepKind.WELCOME_NOTE, first_two_weeks, start),
    ]
    for number, kind in enumerate(QUARTER_NOTES, start=1):
        if number >= quarter:
            q_start, q_end = calendar.quarters[number - 1]
            steps.append(step(kind, q_end, max(start, q_start), required=number > quarter))
    steps.append(
        step(StepKind.SYNOPSIS, calendar.quarters[3][1], max(start, calendar.quarters[3][0]))
    )

    if enrollment.grade >= 9:
        nine_weeks = min(within_weeks(calendar.year_start, 9), year_end)
        if enrollment.returning and start <= nine_weeks:
            steps.append(step(StepKind.GRADUATION_PLAN, nine_weeks, start))
        else:  # new, or returning but starting after the 9-week date: treated as new
            steps.append(step(StepKind.GRADUATION_PLAN, calendar.semester_end_for(start), start))

    if enrollment.english_learner is not None:
        steps.extend(_english_learner_steps(enrollment, calendar, first_two_weeks, start))
    return steps


def _english_learner_steps(
    enrollment: Enrollment, calendar: SchoolCalendar, initial_due: date, start: date
) -> list[PlannedStep]:
    """Initial ILP, then one rolling review 63 days after the last update, and a parent copy
    7 days after each completed update."""
    done = {(c.kind, c.seq): c for c in enrollment.completed}
    steps = [PlannedStep(StepKind.EL_ILP, initial_due, True, Role.ESL_TEACHER, opens=start)]
    updates: list[tuple[int, date]] = []  # (seq, completed_on) of finished ILP updates
    initial = done.get((StepKind.EL_ILP, 0))
    last_update = initial_due
    if initial is not None:
        updates.append((0, initial.completed_on))
        last_update = initial.completed_on
    review_seq = 1
    while (StepKind.EL_ILP_REVIEW, review_seq) in done:
        review = done[(StepKind.EL_ILP_REVIEW, review_seq)]
        updates.append((review_seq, review.completed_on))
        last_update = review.completed_on
        review_seq += 1
    next_review = last_update + timedelta(days=EL_REVIEW_DAYS)
    if next_review <= calendar.year_end:
        steps.append(
            PlannedStep(
                StepKind.EL_ILP_REVIEW,
                next_review,
                True,
                Role.ESL_TEACHER,
                opens=max(start, min(last_update, next_review)),
                seq=review_seq,
            )
        )
    for seq, completed_on in updates:
        due = max(min(completed_on + timedelta(days=PARENT_COPY_DAYS), calendar.year_end), start)
        steps.append(
            PlannedStep(
                StepKind.PARENT_COPY,
                due,
                True,
                Role.ILP_COORDINATOR,
                opens=min(max(completed_on, start), due),
                seq=seq,
            )
        )
    return steps


def _apply_completed(
    steps: list[PlannedStep], completed: tuple[CompletedStep, ...]
) -> list[PlannedStep]:
    """Completed steps stay exactly as recorded, whatever the new plan would say."""
    by_key = {s.key: s for s in steps}
    for done in completed:
        by_key[(done.kind, done.seq)] = PlannedStep(
            kind=done.kind,
            due=done.due,
            required=done.required,
            owner=OWNERS[done.kind],
            opens=done.opens or min(done.due, done.completed_on),
            seq=done.seq,
            status=StepStatus.COMPLETED,
            completed_on=done.completed_on,
        )
    return list(by_key.values())


def _apply_withdrawal(steps: list[PlannedStep], withdrawn: date | None) -> list[PlannedStep]:
    """Open steps due on or after the withdrawal are cancelled; required ones already overdue are
    missed. An optional step left undone is simply cancelled."""
    if withdrawn is None:
        return steps
    result = []
    for s in steps:
        if s.status is StepStatus.OPEN:
            overdue = s.due < withdrawn and s.required
            status = StepStatus.MISSED if overdue else StepStatus.CANCELLED
            s = PlannedStep(s.kind, s.due, s.required, s.owner, s.opens, s.seq, status)
        result.append(s)
    return result


def attempt_school_day(calendar: SchoolCalendar, start: date, day: int) -> date:
    """School day `day` of the welcome-call window: the start date, or the first school day on
    or after it, is day 1. Attempt reminders count school days, not calendar days."""
    return nth_school_day(calendar, nth_school_day(calendar, start, 0), day - 1)


def escalation_schedule(
    step: PlannedStep, start: date, calendar: SchoolCalendar, policy: SchoolPolicy
) -> tuple[Escalation, ...]:
    """When each rung of the ladder fires for one open step, as UTC instants.

    Every rung counts school days from the due date with `nth_school_day` (the same count as a
    message's "overdue (N school days)") and lands at the opening of the sending window on a
    school day. Rungs that would fall after the last school day are dropped: there is no school
    day left to send on.
    """
    if step.status is not StepStatus.OPEN:
        return ()
    if not step.required and not policy.escalate_optional_steps:
        return ()
    opened = calendar.next_school_day(step.opens)
    rungs: list[tuple[date, int, tuple[Role, ...], int | None]] = []

    def notify(roles: tuple[str, ...]) -> tuple[Role, ...]:
        named = (step.owner if r == OWNER else Role(r) for r in roles)
        return tuple(dict.fromkeys(named))

    ladder = policy.ladder
    if step.kind is StepKind.WELCOME_CALL:  # attempt reminders replace the call's level 0
        for day in policy.welcome_call_reminder_days:
            rungs.append((attempt_school_day(calendar, start, day), 0, (step.owner,), day))
        check_day = policy.welcome_call_coordinator_day
        when = attempt_school_day(calendar, start, check_day)
        rungs.append((when, 2, (step.owner, Role.ILP_COORDINATOR), check_day))
        ladder = tuple(lv for lv in ladder if lv.offset_school_days >= 0)

    for level in ladder:
        when = max(nth_school_day(calendar, step.due, level.offset_school_days), opened)
        rungs.append((when, level.level, notify(level.notify), None))

    kept = [r for r in rungs if calendar.is_school_day(r[0])]
    kept.sort(key=lambda r: (r[0], r[1], r[3] or 0))
    return tuple(
        Escalation(level, calendar.local_instant(when, policy.window_start), roles, attempt_day)
        for when, level, roles, attempt_day in kept
    )


def plan_enrollment(
    enrollment: Enrollment, calendar: SchoolCalendar, policy: SchoolPolicy
) -> tuple[PlannedStep, ...]:
    """The ordered ILP year for one enrollment, each open step with its escalation schedule."""
    validate(enrollment, calendar)
    return _plan(plan_key(enrollment), calendar, policy)


def plan_key(enrollment: Enrollment) -> Enrollment:
    """The enrollment reduced to what changes its plan: the grade band (9-12 or not), whether
    a returning status matters (only for a graduation plan), and EL or not (every category
    gets the same steps). A district has far fewer such keys than students."""
    high_school = enrollment.grade >= 9
    return Enrollment(
        start=enrollment.start,
        grade=9 if high_school else 0,
        returning=enrollment.returning and high_school,
        english_learner=EnglishLearner.ESL if enrollment.english_learner else None,
        withdrawn=enrollment.withdrawn,
        completed=enrollment.completed,
    )


@lru_cache(maxsize=65536)
def _plan(
    enrollment: Enrollment, calendar: SchoolCalendar, policy: SchoolPolicy
) -> tuple[PlannedStep, ...]:
    steps = _required_steps(enrollment, calendar)
    steps = _apply_completed(steps, enrollment.completed)
    steps = _apply_withdrawal(steps, enrollment.withdrawn)
    start = lifecycle_start(enrollment, calendar)
    planned = [
        PlannedStep(
            s.kind,
            s.due,
            s.required,
            s.owner,
            s.opens,
            s.seq,
            s.status,
            s.completed_on,
            escalation_schedule(s, start, calendar, policy),
        )
        for s in steps
    ]
    planned.sort(key=lambda s: (s.due, KIND_ORDER[s.kind], s.seq))
    return tuple(planned)
