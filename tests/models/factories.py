"""One valid row of every table, linked together, for round-trip tests (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from sqlmodel import Session

from lifecycle.types import EnglishLearner, Escalation, Role, StepKind, StepStatus
from models.tables import (
    Assignment,
    AuditEvent,
    ContactAttempt,
    ContactMethod,
    Delivery,
    DeliveryStatus,
    Enrollment,
    FeedRun,
    FeedRunStatus,
    Note,
    School,
    Staff,
    Step,
    Student,
    escalations_to_json,
)

T0 = datetime(2025, 9, 2, 14, 30, tzinfo=UTC)
MOUNTAIN = timezone(timedelta(hours=-6))


def make_graph(s: Session) -> dict[str, object]:
    feed = FeedRun(
        source="/feeds/2025-09-01.zip",
        kind="oneroster",
        started_at=T0,
        new=1,
        rejected=1,
        rejections=[{"file": "users.csv", "line": 7, "column": "grades", "reason": "bad grade"}],
    )
    school = School(
        source_id="org-1",
        name="Summit Virtual",
        timezone="America/Denver",
        calendar={"first_day": "2025-08-25", "holidays": ["2025-09-01"]},
        policy={"sending_window": ["07:00", "17:00"]},
        default_returning=True,
        default_english_learner=EnglishLearner.MONITORED,
        default_start=date(2025, 8, 25),
    )
    s.add_all([feed, school])
    s.flush()
    student = Student(
        source_id="stu-1",
        given_name="ana maría",
        family_name="de la Cruz",
        grade=10,
        external={"state_id": "0012345"},
    )
    teacher = Staff(
        source_id="t-1",
        given_name="Tess",
        family_name="Teacher",
        email="tess@example.org",
        roles=[Role.TEACHER.value],
        school_id=school.id,
        notify_url="mailto://tess@example.org",
    )
    rvp = Staff(source_id="rvp-1", given_name="Rita", family_name="Vp", roles=["regional_vp"])
    s.add_all([student, teacher, rvp])
    s.flush()
    enrollment = Enrollment(
        source_id="enr-1",
        student_id=student.id,
        school_id=school.id,
        start_date=date(2025, 9, 2),
        grade=10,
        returning=True,
        english_learner=EnglishLearner.ESL,
        fingerprint="f" * 64,
        feed_run_id=feed.id,
    )
    assignment = Assignment(staff_id=teacher.id, student_id=student.id, role=Role.TEACHER)
    s.add_all([enrollment, assignment])
    s.flush()
    ladder = (
        Escalation(level=0, at=T0, notify=(Role.TEACHER,), attempt_day=1),
        Escalation(level=2, at=T0 + timedelta(days=3), notify=(Role.TEACHER, Role.ILP_COORDINATOR)),
    )
    step = Step(
        enrollment_id=enrollment.id,
        kind=StepKind.WELCOME_CALL,
        due=date(2025, 9, 15),
        owner_role=Role.TEACHER,
        owner_staff_id=teacher.id,
        opens=date(2025, 9, 2),
        escalation_schedule=escalations_to_json(ladder),
        next_action_at=T0.astimezone(MOUNTAIN),  # any aware time; stored as UTC
        acknowledged_until=T0 + timedelta(days=2),
        snoozed_until=date(2025, 9, 10),
    )
    s.add(step)
    s.flush()
    attempt = ContactAttempt(
        step_id=step.id, at=T0, succeeded=False, method=ContactMethod.PHONE, staff_id=teacher.id
    )
    note = Note(
        step_id=step.id,
        kind=StepKind.WELCOME_NOTE,
        answers={"action": "a", "communicated": "b", "follow_up": "c", "resources": "d"},
        variant="contact_unsuccessful",
        author_staff_id=teacher.id,
    )
    delivery = Delivery(
        idempotency_key="t-1:2025-09-02T13:00Z",
        recipient_staff_id=teacher.id,
        step_ids=[step.id],
        level=0,
        window_start=T0,
        status=DeliveryStatus.SENT,
        attempts=1,
        target="mailto://tess@example.org",
        sent_at=T0,
    )
    audit = AuditEvent(
        at=T0,
        actor_staff_id=teacher.id,
        action="step.acknowledged",
        step_id=step.id,
        ip="203.0.113.5",
        user_agent="pytest",
        before={"status": StepStatus.OPEN.value},
        after={"status": StepStatus.OPEN.value, "acknowledged_until": "2025-09-04T14:30:00+00:00"},
    )
    feed.status = FeedRunStatus.SUCCEEDED
    feed.finished_at = T0 + timedelta(minutes=1)
    s.add_all([attempt, note, delivery, audit])
    s.commit()
    return {
        "feed": feed.id,
        "school": school.id,
        "student": student.id,
        "teacher": teacher.id,
        "rvp": rvp.id,
        "enrollment": enrollment.id,
        "assignment": assignment.id,
        "step": step.id,
        "attempt": attempt.id,
        "note": note.id,
        "delivery": delivery.id,
        "audit": audit.id,
        "ladder": ladder,
    }
