"""The system of record: every table the engine keeps.

Conventions
-----------
* **Datetimes are timezone-aware UTC in Python.** Every ``datetime`` column uses SQLModel's
  ``UTCDateTime`` (``DateTime(timezone=True)``): it refuses naive datetimes with a ``ValueError``,
  converts aware ones to UTC, and always returns aware UTC datetimes. PostgreSQL stores
  ``timestamptz``; SQLite stores the UTC wall time as text (``YYYY-MM-DD HH:MM:SS.ffffff``), which
  sorts and compares correctly. Use :func:`utcnow`, never ``datetime.utcnow()``.
* **Dates** (``due``, ``opens``, ``start_date``...) are plain ``date`` values, local to the school.
* **Enumerations** (step kind, role, statuses) are stored as short strings (``VARCHAR(32)``), not
  native database enums, so adding a value needs no migration. Reading gives the ``StrEnum`` member;
  writing accepts the member or its string value and rejects anything else.
* **JSON columns** hold plain dicts/lists. In-place mutation is not tracked: assign a new value.
* Nothing is deleted: withdrawals cancel, completions complete, so foreign keys have no cascades.
"""

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import JSON, Index, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from lifecycle.students import initials
from lifecycle.types import EnglishLearner, Escalation, Role, StepKind, StepStatus

# Deterministic constraint names: needed for SQLite batch migrations and readable errors.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only kind the tables accept)."""
    return datetime.now(UTC)


class StrEnumType(sa.types.TypeDecorator[StrEnum]):
    """A ``StrEnum`` stored as ``VARCHAR(length)``; unknown values fail on write."""

    impl = sa.String(32)
    cache_ok = True

    def __init__(self, enum_cls: type[StrEnum], length: int = 32) -> None:
        super().__init__(length)
        self.enum_cls = enum_cls
        self.length = length

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        if value is None:
            return None
        return self.enum_cls(value).value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> StrEnum | None:
        if value is None:
            return None
        return self.enum_cls(value)

    def __repr__(self) -> str:
        return f"StrEnumType({self.enum_cls.__name__}, length={self.length})"


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"
    # The school year ended (rolled over): the record stays as it was, never re-planned.
    ENDED = "ended"
    # Moved to another school of the district mid-year: open steps closed as transferred.
    TRANSFERRED = "transferred"


class ContactMethod(StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    TEXT = "text"
    VIDEO = "video"
    IN_PERSON = "in_person"
    OTHER = "other"


class DeliveryStatus(StrEnum):
    RECORDED = "recorded"  # written before Apprise is called
    SENT = "sent"
    FAILED = "failed"
    FALLBACK_SENT = "fallback_sent"
    # Recorded but never sent in its window (the sweep died); a later digest carried its items.
    SUPERSEDED = "superseded"


class FeedRunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


def _enum(enum_cls: type[StrEnum]) -> StrEnumType:
    return StrEnumType(enum_cls)


def _json() -> JSON:
    return JSON()


class School(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    source_id: str = Field(unique=True, max_length=255)  # the feed's org sourcedId
    name: str = Field(max_length=255)
    timezone: str = Field(default="UTC", max_length=64)  # IANA name, e.g. America/Denver
    # The calendar as a dict (first/last day, quarters, holidays...), dates as ISO strings.
    calendar: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    # Per-school policy overrides (escalation numbers, sending window...).
    policy: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    # Defaults for ILP facts the feed lacks.
    default_returning: bool = False
    default_english_learner: EnglishLearner | None = Field(
        default=None, sa_type=_enum(EnglishLearner)
    )
    default_start: date | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})


class SchoolYear(SQLModel, table=True):
    """One school year of one school, with its own calendar. The school's ``calendar`` is its
    current year's; earlier and later years live here, so a past year keeps its calendar."""

    __tablename__ = "school_year"
    __table_args__ = (UniqueConstraint("school_id", "label"),)

    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id")
    label: str = Field(max_length=16)  # "2026-2027": first and last instructional day's years
    first_day: date
    last_day: date
    calendar: dict[str, Any] = Field(default_factory=dict, sa_type=_json())
    rolled_over_at: datetime | None = None  # when the year was closed by `ilp rollover`
    created_at: datetime = Field(default_factory=utcnow)


class Student(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    source_id: str = Field(unique=True, max_length=255)
    given_name: str = Field(max_length=255)
    family_name: str = Field(max_length=255)
    # Derived from the names on every insert/update (see the listener below).
    initials: str = Field(default="", max_length=16)
    grade: int  # 0 = K
    # Other feed fields (state ID, student number, ...) kept verbatim as text: {name: value}.
    external: dict[str, str] = Field(default_factory=dict, sa_type=_json())
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})


@event.listens_for(Student, "before_insert")
@event.listens_for(Student, "before_update")
def _derive_initials(
    mapper: sa.orm.Mapper[Student], connection: sa.Connection, target: Student
) -> None:
    target.initials = initials(target.given_name, target.family_name)


class Staff(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    source_id: str = Field(unique=True, max_length=255)
    given_name: str = Field(max_length=255)
    family_name: str = Field(max_length=255)
    email: str | None = Field(default=None, index=True, max_length=320)
    roles: list[str] = Field(default_factory=list, sa_type=_json())  # Role values
    # {school id: [Role values]} when the feed gives roles per school (1.2 roles.csv); access
    # checks read a role named here at those schools only. `roles` stays the union.
    school_roles: dict[str, list[str]] = Field(default_factory=dict, sa_type=_json())
    school_id: int | None = Field(default=None, foreign_key="school.id", index=True)  # NULL: RVP
    notify_url: str | None = None  # Apprise URL
    fallback_url: str | None = None
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})

    def has_role(self, role: Role | str) -> bool:
        return Role(role).value in self.roles


class Contact(SQLModel, table=True):
    """A guardian, parent or relative from the feed: a student's learning coach. Shown behind a
    signed link on the student's steps and used for the parent copy; never in a message."""

    id: int | None = Field(default=None, primary_key=True)
    source_id: str = Field(unique=True, max_length=255)  # the feed's user sourcedId
    given_name: str = Field(default="", max_length=255)
    family_name: str = Field(default="", max_length=255)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=64)
    relationship: str = Field(default="guardian", max_length=32)  # its OneRoster role
    active: bool = True  # False once deleted or disabled in a feed (its links are removed)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})


class StudentContact(SQLModel, table=True):
    """A contact of a student, as the feed links them (agentSourcedIds, from either side)."""

    __tablename__ = "student_contact"
    __table_args__ = (UniqueConstraint("student_id", "contact_id"),)

    id: int | None = Field(default=None, primary_key=True)
    student_id: int = Field(foreign_key="student.id", index=True)
    contact_id: int = Field(foreign_key="contact.id", index=True)
    relationship: str = Field(default="guardian", max_length=32)  # guardian | parent | relative
    created_at: datetime = Field(default_factory=utcnow)


class Assignment(SQLModel, table=True):
    """A staff member's responsibility for a student (teacher, counselor, esl_teacher)."""

    __table_args__ = (
        UniqueConstraint("staff_id", "student_id", "role"),
        Index("ix_assignment_student_role", "student_id", "role"),
    )

    id: int | None = Field(default=None, primary_key=True)
    staff_id: int = Field(foreign_key="staff.id")
    student_id: int = Field(foreign_key="student.id")
    role: Role = Field(sa_type=_enum(Role))
    created_at: datetime = Field(default_factory=utcnow)


class Enrollment(SQLModel, table=True):
    __table_args__ = (
        # Reconciliation: "which enrollments were never planned?" touches only those rows.
        Index(
            "ix_enrollment_unplanned",
            "updated_at",
            sqlite_where=sa.text("planned_fingerprint IS NULL"),
            postgresql_where=sa.text("planned_fingerprint IS NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    # The feed's identity ("student@school"): idempotency key. A later school year's row of the
    # same identity is stored as "student@school#2027-2028" (services/school_years.py).
    source_id: str = Field(unique=True, max_length=255)
    student_id: int = Field(foreign_key="student.id", index=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    # The school year the enrollment belongs to (SchoolYear.label); its steps, notes, attempts,
    # deliveries and audit events belong to that year through it.
    school_year: str = Field(default="", max_length=16, index=True)
    start_date: date
    grade: int  # 0 = K
    # RETURNING is an SQLite keyword that SQLAlchemy's SQLite dialect does not quote by itself.
    returning: bool = Field(default=False, sa_column_kwargs={"name": "returning", "quote": True})
    english_learner: EnglishLearner | None = Field(default=None, sa_type=_enum(EnglishLearner))
    withdrawn_on: date | None = None
    status: EnrollmentStatus = Field(
        default=EnrollmentStatus.ACTIVE, sa_type=_enum(EnrollmentStatus)
    )
    # Hash of the planner-relevant fields; planned_fingerprint is the one last planned
    # (NULL = never planned).
    fingerprint: str = Field(max_length=64)
    planned_fingerprint: str | None = Field(default=None, max_length=64)
    planned_at: datetime | None = None
    # How many times a plan was written (a new enrollment planned once has 1): duplicate
    # planning shows here. planned_by names the run that last planned it (a lifecycle run's
    # name, "import", "reconcile") so an operator can find that run in Prefect.
    plan_count: int = Field(
        default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0")
    )
    planned_by: str | None = Field(default=None, max_length=128)
    # A lifecycle run's claim: who is planning it, until when. An expired claim (a crashed
    # run) is free to take again.
    plan_claimed_by: str | None = Field(default=None, max_length=128)
    plan_claimed_until: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})
    feed_run_id: int | None = Field(default=None, foreign_key="feed_run.id", index=True)
    # Which feed owns the row ("oneroster:<district>", "csv", "webhook"): a bulk feed withdraws
    # by absence only its own enrollments.
    source: str = Field(default="", max_length=255)
    # A dated change not yet in effect ({"withdrawn_on": ISO, "start_date": ISO}); the sweep
    # applies it on `pending_on` (the earliest of its dates).
    pending: dict[str, str] = Field(default_factory=dict, sa_type=_json())
    pending_on: date | None = Field(default=None, index=True)


class Step(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("enrollment_id", "kind", "seq"),
        # The sweep's hot query: WHERE next_action_at <= :now ORDER BY next_action_at.
        # Partial, so rows with nothing left to send are not in the index at all.
        Index(
            "ix_step_next_action_at",
            "next_action_at",
            "id",
            sqlite_where=sa.text("next_action_at IS NOT NULL"),
            postgresql_where=sa.text("next_action_at IS NOT NULL"),
        ),
        # A staff member's task list.
        Index("ix_step_owner_status", "owner_staff_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    enrollment_id: int = Field(foreign_key="enrollment.id")
    kind: StepKind = Field(sa_type=_enum(StepKind))
    seq: int = 0
    due: date
    required: bool = True
    owner_role: Role = Field(sa_type=_enum(Role))
    owner_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    opens: date
    status: StepStatus = Field(default=StepStatus.OPEN, sa_type=_enum(StepStatus))
    completed_on: date | None = None
    completed_by: int | None = Field(default=None, foreign_key="staff.id")
    # [{level, at (ISO UTC), notify: [roles], attempt_day}], see escalations_to_json.
    escalation_schedule: list[dict[str, Any]] = Field(default_factory=list, sa_type=_json())
    rungs_sent: int = 0  # how many rungs of escalation_schedule the sweep has handled
    next_action_at: datetime | None = None  # NULL: nothing more to send
    acknowledged_until: datetime | None = None  # escalation paused until this instant (UTC)
    snoozed_until: date | None = None  # reminders held until this local date
    external_ref: str | None = None  # graduation plan URL/ID
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, sa_column_kwargs={"onupdate": utcnow})


class ContactAttempt(SQLModel, table=True):
    __tablename__ = "contact_attempt"

    id: int | None = Field(default=None, primary_key=True)
    step_id: int = Field(foreign_key="step.id", index=True)
    at: datetime = Field(default_factory=utcnow)  # when the attempt was made (the form's time)
    succeeded: bool  # follows from the outcome: only "reached" is contact made
    method: ContactMethod = Field(sa_type=_enum(ContactMethod))
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    notes: str | None = None
    # reached / no_answer / left_message / bad_contact (lifecycle.forms.CONTACT_OUTCOMES)
    outcome: str = Field(default="no_answer", max_length=32)
    logged_at: datetime | None = None  # when it was logged (None: rows from before 0006)


class Note(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    step_id: int = Field(foreign_key="step.id", index=True)
    kind: StepKind = Field(sa_type=_enum(StepKind))
    # Quarter notes: the four template answers; synopsis: support/successes/continuing_goals.
    answers: dict[str, str] = Field(default_factory=dict, sa_type=_json())
    variant: str | None = Field(default=None, max_length=64)  # e.g. "contact_unsuccessful"
    author_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """One notification (a digest), recorded before it is sent."""

    __table_args__ = (Index("ix_delivery_status_created_at", "status", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True, max_length=255)
    recipient_staff_id: int = Field(foreign_key="staff.id", index=True)
    step_ids: list[int] = Field(default_factory=list, sa_type=_json())
    level: int
    window_start: datetime
    status: DeliveryStatus = Field(default=DeliveryStatus.RECORDED, sa_type=_enum(DeliveryStatus))
    attempts: int = 0
    last_error: str | None = None
    target: str | None = None  # the Apprise URL (or tag) actually used
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    actor_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    action: str = Field(max_length=64)
    step_id: int | None = Field(default=None, foreign_key="step.id", index=True)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = None
    before: dict[str, Any] | None = Field(default=None, sa_type=_json())
    after: dict[str, Any] | None = Field(default=None, sa_type=_json())
    detail: str | None = None


class FeedRun(SQLModel, table=True):
    __tablename__ = "feed_run"

    id: int | None = Field(default=None, primary_key=True)
    source: str  # a path, or "webhook"
    kind: str = Field(max_length=32)  # e.g. "oneroster", "csv", "webhook"
    started_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = None
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    rejected: int = 0
    # [{file, line, column, reason}]
    rejections: list[dict[str, Any]] = Field(default_factory=list, sa_type=_json())
    status: FeedRunStatus = Field(default=FeedRunStatus.RUNNING, sa_type=_enum(FeedRunStatus))


TABLES: tuple[type[SQLModel], ...] = (
    School,
    SchoolYear,
    Student,
    Staff,
    Contact,
    StudentContact,
    Assignment,
    Enrollment,
    Step,
    ContactAttempt,
    Note,
    Delivery,
    AuditEvent,
    FeedRun,
)


def escalations_to_json(
    escalations: tuple[Escalation, ...] | list[Escalation],
) -> list[dict[str, Any]]:
    """The planner's ladder as stored in ``Step.escalation_schedule``.

    Compact on purpose (a district stores millions of these): ``at`` is UTC to the minute
    (rungs fire at the opening of a sending window), ``attempt_day`` only when set.
    """
    out: list[dict[str, Any]] = []
    for e in escalations:
        if e.at.utcoffset() is None:
            raise ValueError("escalation times must be timezone-aware")
        rung: dict[str, Any] = {
            "level": e.level,
            "at": e.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ"),
            "notify": [Role(r).value for r in e.notify],
        }
        if e.attempt_day is not None:
            rung["attempt_day"] = e.attempt_day
        out.append(rung)
    return out


def escalations_from_json(data: list[dict[str, Any]]) -> tuple[Escalation, ...]:
    """Inverse of :func:`escalations_to_json`; times come back as aware UTC datetimes."""
    return tuple(
        Escalation(
            level=int(d["level"]),
            at=datetime.fromisoformat(d["at"]).astimezone(UTC),
            notify=tuple(Role(r) for r in d.get("notify", ())),
            attempt_day=d.get("attempt_day"),
        )
        for d in data
    )
