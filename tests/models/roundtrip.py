"""Shared assertions: every table round-trips (used for SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from lifecycle.types import EnglishLearner, Role, StepKind, StepStatus
from models.tables import (
    Assignment,
    AuditEvent,
    ContactAttempt,
    ContactMethod,
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentStatus,
    FeedRun,
    FeedRunStatus,
    Note,
    School,
    Staff,
    Step,
    Student,
    escalations_from_json,
)

from .factories import T0, make_graph


def assert_roundtrip(factory) -> None:
    with factory() as s:
        ids = make_graph(s)
    with factory() as s:
        feed = s.get(FeedRun, ids["feed"])
        assert feed.status is FeedRunStatus.SUCCEEDED
        assert (feed.new, feed.changed, feed.rejected) == (1, 0, 1)
        assert feed.rejections[0]["column"] == "grades"
        assert feed.finished_at == T0 + timedelta(minutes=1)

        school = s.get(School, ids["school"])
        assert school.calendar["holidays"] == ["2025-09-01"]
        assert school.policy == {"sending_window": ["07:00", "17:00"]}
        assert school.default_english_learner is EnglishLearner.MONITORED
        assert school.default_returning is True
        assert school.default_start == date(2025, 8, 25)

        student = s.get(Student, ids["student"])
        assert student.initials == "A.D."
        assert student.external == {"state_id": "0012345"}
        assert student.grade == 10

        teacher = s.get(Staff, ids["teacher"])
        assert teacher.roles == ["teacher"] and teacher.has_role(Role.TEACHER)
        assert teacher.active is True
        assert s.get(Staff, ids["rvp"]).school_id is None

        assignment = s.get(Assignment, ids["assignment"])
        assert assignment.role is Role.TEACHER

        enr = s.get(Enrollment, ids["enrollment"])
        assert enr.returning is True
        assert enr.english_learner is EnglishLearner.ESL
        assert enr.status is EnrollmentStatus.ACTIVE
        assert enr.planned_fingerprint is None
        assert enr.created_at.tzinfo is not None

        step = s.get(Step, ids["step"])
        assert step.kind is StepKind.WELCOME_CALL
        assert step.status is StepStatus.OPEN
        assert step.owner_role is Role.TEACHER
        assert step.rungs_sent == 0
        assert step.required is True and step.seq == 0
        assert step.next_action_at == T0 and step.next_action_at.utcoffset() == timedelta(0)
        assert step.acknowledged_until == T0 + timedelta(days=2)
        assert step.snoozed_until == date(2025, 9, 10)
        assert escalations_from_json(step.escalation_schedule) == ids["ladder"]

        attempt = s.get(ContactAttempt, ids["attempt"])
        assert attempt.method is ContactMethod.PHONE and attempt.succeeded is False
        assert attempt.at == T0

        note = s.get(Note, ids["note"])
        assert note.kind is StepKind.WELCOME_NOTE
        assert note.answers["resources"] == "d"
        assert note.variant == "contact_unsuccessful"

        delivery = s.get(Delivery, ids["delivery"])
        assert delivery.status is DeliveryStatus.SENT
        assert delivery.step_ids == [ids["step"]]
        assert delivery.window_start == T0 and delivery.sent_at == T0

        audit = s.get(AuditEvent, ids["audit"])
        assert audit.after["acknowledged_until"].startswith("2025-09-04")
        assert audit.at == T0

        # Updates: initials follow the name, updated_at moves, statuses change.
        before = step.updated_at
        student.given_name = "Beatriz"
        step.status = StepStatus.COMPLETED
        step.completed_on = date(2025, 9, 3)
        step.completed_by = teacher.id
        step.next_action_at = None
        s.commit()
    with factory() as s:
        assert s.get(Student, ids["student"]).initials == "B.D."
        step = s.get(Step, ids["step"])
        assert step.status is StepStatus.COMPLETED and step.next_action_at is None
        assert step.updated_at >= before


def assert_unique_constraints(factory) -> None:
    with factory() as s:
        ids = make_graph(s)

    def rejected(row_factory) -> None:
        with factory() as s:
            s.add(row_factory())
            with pytest.raises(IntegrityError):
                s.commit()

    rejected(
        lambda: Enrollment(
            source_id="enr-1",
            student_id=ids["student"],
            school_id=ids["school"],
            start_date=date(2025, 9, 2),
            grade=10,
            fingerprint="x",
        )
    )
    rejected(
        lambda: Step(
            enrollment_id=ids["enrollment"],
            kind=StepKind.WELCOME_CALL,
            seq=0,
            due=date(2025, 9, 15),
            owner_role=Role.TEACHER,
            opens=date(2025, 9, 2),
        )
    )
    rejected(lambda: Assignment(staff_id=ids["teacher"], student_id=ids["student"], role="teacher"))
    rejected(
        lambda: Delivery(
            idempotency_key="t-1:2025-09-02T13:00Z",
            recipient_staff_id=ids["teacher"],
            level=1,
            window_start=T0,
        )
    )
    rejected(lambda: School(source_id="org-1", name="dup"))
    rejected(lambda: Student(source_id="stu-1", given_name="a", family_name="b", grade=1))
    rejected(lambda: Staff(source_id="t-1", given_name="a", family_name="b"))
    # Foreign keys are enforced (SQLite too: PRAGMA foreign_keys=ON).
    rejected(lambda: ContactAttempt(step_id=999_999, succeeded=True, method="email"))

    # What is allowed: the same step kind with another seq, the same staff in another role.
    with factory() as s:
        s.add(
            Step(
                enrollment_id=ids["enrollment"],
                kind=StepKind.WELCOME_CALL,
                seq=1,
                due=date(2025, 9, 15),
                owner_role=Role.TEACHER,
                opens=date(2025, 9, 2),
            )
        )
        s.add(Assignment(staff_id=ids["teacher"], student_id=ids["student"], role=Role.COUNSELOR))
        s.commit()
        n = len(s.exec(select(Step).where(Step.enrollment_id == ids["enrollment"])).all())
        assert n == 2


def seed_steps(s: Session, now: datetime, n: int = 60) -> None:
    """n steps: a third due before now, one due exactly now, the rest later or with nothing due."""
    ids = make_graph(s)
    for i in range(n):
        if i % 3 == 0:
            at = now - timedelta(minutes=i + 1)
        elif i % 3 == 1:
            at = now + timedelta(minutes=i + 1)
        else:
            at = None
        s.add(
            Step(
                enrollment_id=ids["enrollment"],
                kind=StepKind.EL_ILP_REVIEW,
                seq=i + 1,
                due=date(2025, 10, 1),
                owner_role=Role.ESL_TEACHER,
                opens=date(2025, 9, 2),
                next_action_at=at,
            )
        )
    s.add(
        Step(
            enrollment_id=ids["enrollment"],
            kind=StepKind.PARENT_COPY,
            due=date(2025, 10, 1),
            owner_role=Role.ILP_COORDINATOR,
            opens=date(2025, 9, 2),
            next_action_at=now,
        )
    )
    s.commit()


def sweep_query(now: datetime, limit: int = 500):
    return (
        select(Step)
        .where(Step.next_action_at <= now)
        .order_by(Step.next_action_at, Step.id)
        .limit(limit)
    )


def assert_sweep_results(s: Session, now: datetime) -> None:
    due = s.exec(sweep_query(now)).all()
    # 20 early steps, the one exactly at now, and the graph's welcome call (at T0 < now).
    assert len(due) == 22
    times = [d.next_action_at for d in due]
    assert times == sorted(times)
    assert all(t <= now for t in times)
    assert any(t == now for t in times)


NOW = datetime(2025, 9, 20, 15, 0, tzinfo=UTC)
