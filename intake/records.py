"""Normalized records produced by every intake parser (OneRoster, simple CSV, webhook JSON).

All records are plain frozen dataclasses holding text, dates, ints and `lifecycle.types` enums.
Values are kept verbatim as text (no formula escaping); only exports use `intake.safety.csv_safe`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Final, Literal

from lifecycle.types import EnglishLearner, Role

#: `StudentEnrollmentRecord.english_learner` when the feed said nothing (column absent or blank).
#: `None` means the feed explicitly said "not an English learner".
UNSET: Final = "unset"

FeedKind = Literal["oneroster-1.1", "oneroster-1.2", "simple-csv", "json"]
ELValue = EnglishLearner | None | Literal["unset"]


class FeedError(Exception):
    """The input is not a feed at all (binary, empty, wrong headers, unsafe zip). Nothing parsed."""


@dataclass(frozen=True, slots=True)
class Rejection:
    """One bad row or value. `line` is the 1-based physical line in `file` (header = line 1);
    for webhook items `file` is "request" and `line` the 1-based item index."""

    file: str
    line: int
    column: str
    reason: str


@dataclass(frozen=True, slots=True)
class SchoolRecord:
    """An org of type school (OneRoster `orgs.csv`)."""

    source_id: str
    name: str
    identifier: str = ""
    parent_id: str | None = None  # usually the district
    deleted: bool = False  # status=tobedeleted in a delta


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """A staff user with at least one ILP role. `school_ids` are the schools among the user's orgs
    (a district-level user, e.g. a regional VP, may have none)."""

    source_id: str
    school_ids: tuple[str, ...]
    given_name: str
    family_name: str
    email: str
    roles: tuple[Role, ...]
    enabled: bool = True  # False when enabledUser=false or status=tobedeleted
    #: (school, its roles) when the feed gives roles per org (1.2 roles.csv); `roles` is the union
    school_roles: tuple[tuple[str, tuple[Role, ...]], ...] = ()


@dataclass(frozen=True, slots=True)
class ContactRecord:
    """A guardian, parent or relative (OneRoster role): a learning coach of `student_ids`,
    linked by agentSourcedIds from either side. Stored as a contact of those students
    (services/feed_store.py); `deleted` (status=tobedeleted or enabledUser=false) unlinks it."""

    source_id: str
    student_ids: tuple[str, ...]
    given_name: str
    family_name: str
    email: str
    phone: str
    relationship: str  # guardian | parent | relative
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class StudentEnrollmentRecord:
    """One student's enrollment at one school: what the planner needs, plus provenance.

    - `source_id` is the enrollment's stable identity: f"{student_source_id}@{school_source_id}".
    - `start` is None when the feed gives no start date (the caller applies a per-school default).
    - `end` is the withdrawal date when known (enrollment endDate / withdrawn_date).
    - `withdrawn` is True when the student left: status=tobedeleted, enabledUser=false, an
      end date, or a withdrawn_date. Disappearing from a bulk feed is detected by the caller
      from `ParsedFeed.students_seen`.
    - `returning` None = not stated. `english_learner` UNSET = not stated, None = stated "none".
    - `teacher_ids` are the teachers of the student's classes at that school (sorted, unique).
    """

    source_id: str
    student_source_id: str
    school_source_id: str
    given_name: str
    family_name: str
    grade: int  # 0 = K
    start: date | None
    end: date | None
    returning: bool | None
    english_learner: ELValue
    withdrawn: bool
    teacher_ids: tuple[str, ...]
    counselor_id: str | None
    esl_teacher_id: str | None
    source_file: str
    source_line: int
    teacher_email: str | None = None  # simple CSV / webhook only
    #: the feed marks the student deleted or disabled (or every enrollment here deleted), not
    #: merely ended: a student never stored is not created from such a record
    gone: bool = False
    #: non-empty when neither the row nor the student's classes name a grade (why, as a
    #: rejection reason): `grade` is then a placeholder the store replaces with the school's
    #: `[defaults] grade`, or rejects the row with this reason
    grade_unknown: str = ""


@dataclass(frozen=True, slots=True)
class GradingPeriod:
    """An academic session: `kind` is schoolYear, semester, term or gradingPeriod (quarters).
    `school_source_id` is None when the session applies district-wide (always so in 1.1)."""

    source_id: str
    school_source_id: str | None
    title: str
    kind: str
    start: date
    end: date
    school_year: int | None  # e.g. 2027 for 2026-2027
    parent_id: str | None = None
    source_file: str = "academicSessions.csv"
    source_line: int = 0


@dataclass(slots=True)
class ParsedFeed:
    """Everything one feed said, plus every row it refused.

    `bulk` is True when the users file is a full snapshot (manifest `file.users,bulk` or no
    manifest); only then may a student missing from `students_seen` be treated as withdrawn.
    `students_seen` holds every student sourcedId present in the users file, including rows
    that were rejected (a bad row is not a departure).
    """

    kind: FeedKind
    bulk: bool
    schools: list[SchoolRecord] = field(default_factory=list)
    staff: list[StaffRecord] = field(default_factory=list)
    contacts: list[ContactRecord] = field(default_factory=list)
    enrollments: list[StudentEnrollmentRecord] = field(default_factory=list)
    sessions: list[GradingPeriod] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    students_seen: set[str] = field(default_factory=set)
    #: students the users file marks as gone (status=tobedeleted or enabledUser=false), even when
    #: the rest of their row was rejected
    withdrawn_ids: set[str] = field(default_factory=set)
    file_modes: dict[str, str] = field(default_factory=dict)  # manifest: file -> bulk|delta|absent
    #: file -> first line with a structural error (wrong cell count, open quote, duplicate or
    #: missing header column). Such a file may have lost rows, so absence proves nothing.
    broken_files: dict[str, int] = field(default_factory=dict)
    #: user sourcedId -> the agentSourcedIds its own users.csv row names (non-empty cells only):
    #: a row naming its agents states that user's whole set of links, a blank cell states none
    agents_named: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: what the parse decided on the feed's behalf, counted ("grade taken from the student's
    #: classes": 3); shown with the import's counts
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def rejected_session_lines(self) -> list[int]:
        """Lines of academicSessions.csv that were rejected: a calendar built without them
        could have the wrong shape (three quarters read as trimesters)."""
        return sorted({r.line for r in self.rejections if r.file.lower() == "academicsessions.csv"})

    @property
    def absence_withdraws(self) -> bool:
        """Whether a stored student missing from `students_seen` has left: only for a bulk feed
        whose every file was read without a structural error."""
        return self.bulk and not self.broken_files
