"""Apply a parsed feed to the system of record, in one transaction, idempotently.

The feed run is recorded (and committed) before any row is applied, so a crash mid-import
still leaves a trace. Enrollments are keyed on the feed's identity; a fingerprint of the
planner-relevant fields tells new, changed and unchanged apart, so a re-run changes nothing.

A feed changes only what it says:
- a field the feed does not carry (a simple CSV or the webhook has no school name, no staff
  names) is never written; a blank cell in a carried column means "unknown", not "erase";
- a bulk feed withdraws by absence only the enrollments of its own source, and only when it
  says it is bulk (OneRoster manifest `file.users,bulk`, or `bulk=True` from `ilp import --bulk`);
- a withdrawal or a new start date later than `today` is stored as pending and applied on its
  day by `apply_due_changes` (the sweep calls it), so the steps stay open until then;
- a teacher, counselor or ESL teacher id that no feed defined rejects the row, or (school config
  `[intake] unknown_staff = "coordinator"`) is accepted with a warning and that role's steps go
  to the school's ILP coordinator;
- contacts (guardians, parents, relatives: the learning coaches) are stored with their links to
  students. A users.csv row whose agentSourcedIds cell names agents states that user's whole
  set of links (links it no longer names are removed); a blank cell keeps them. A contact
  deleted or disabled keeps its row, inactive, and loses its links. A feed without contacts
  changes none.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from config.schools import SchoolConfig, SchoolConfigs
from intake.calendars import SessionCalendarError, calendar_from_feed_sessions
from intake.records import (
    UNSET,
    ContactRecord,
    ParsedFeed,
    Rejection,
    StaffRecord,
    StudentEnrollmentRecord,
)
from lifecycle.calendar import SchoolCalendar, calendar_from_mapping
from lifecycle.planner import PlanError, validate
from lifecycle.students import initials
from lifecycle.types import EnglishLearner, Role, StepStatus
from lifecycle.types import Enrollment as PlannerEnrollment
from models.bulk import insert_many, insert_rows
from models.tables import (
    Assignment,
    Contact,
    Enrollment,
    EnrollmentStatus,
    FeedRun,
    FeedRunStatus,
    School,
    Staff,
    Step,
    Student,
    StudentContact,
    utcnow,
)
from services import school_years
from services.school_years import year_label
from services.transfers import apply_transfers

# Enrollments whose record is closed (a year rolled over, a transfer): feeds leave them be.
FROZEN = (EnrollmentStatus.ENDED.value, EnrollmentStatus.TRANSFERRED.value)

CHUNK = 900  # stays under SQLite's bound-parameter limit
Row = Any  # a SQLAlchemy result row


@dataclass
class FeedResult:
    feed_run_id: int
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    #: dated changes stored for later (a future withdrawal or start date)
    scheduled: int = 0
    skipped: int = 0  # deleted or disabled at first sight: not created
    notes: dict[str, int] = field(default_factory=dict)  # decisions made for the feed, counted
    rejections: list[Rejection] = field(default_factory=list)
    #: accepted rows with something to know (an unknown staff id routed to the coordinator)
    warnings: list[Rejection] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)
    changed_ids: list[int] = field(default_factory=list)
    #: enrollments closed because the student moved to another school of the district
    transferred_ids: list[int] = field(default_factory=list)
    #: unchanged rows never planned (an import killed between storing and planning)
    unplanned_ids: list[int] = field(default_factory=list)
    #: stored values this feed changed, per "table.column" (new rows not counted)
    fields: Counter[str] = field(default_factory=Counter)
    # unchanged enrollments whose staff changed (teachers, or an owner disabled/re-enabled):
    # re-planned only so their open steps follow the new owner
    reowned_ids: list[int] = field(default_factory=list)
    #: guardians, parents and relatives: new, changed, unchanged, deactivated contacts and
    #: links added / removed (only what the feed carried)
    contacts: Counter[str] = field(default_factory=Counter)

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    @property
    def to_plan(self) -> list[int]:
        planned = self.created_ids + self.changed_ids + self.unplanned_ids
        seen = set(planned)
        return planned + [i for i in self.reowned_ids if i not in seen]


@lru_cache(maxsize=65536)  # a feed repeats the same few (school, start, grade, ...) often
def fingerprint(
    school_id: int,
    start: date,
    grade: int,
    returning: bool,
    english_learner: EnglishLearner | None,
    withdrawn_on: date | None,
) -> str:
    """What the planner sees of an enrollment; equal fingerprints mean an unchanged plan."""
    text = "|".join(
        str(v)
        for v in (school_id, start, grade, returning, english_learner or "", withdrawn_on or "")
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def feed_origin(feed: ParsedFeed, csv_source: str | None = None) -> str:
    """The source an enrollment belongs to: the OneRoster district, a CSV source name, or the
    webhook. Bulk withdrawal by absence stays inside one source."""
    if feed.kind.startswith("oneroster"):
        districts = sorted({s.parent_id for s in feed.schools if s.parent_id})
        return f"oneroster:{districts[0]}" if districts else "oneroster"
    if feed.kind == "json":
        return "webhook"
    return f"csv:{csv_source}" if csv_source else "csv"


def withdraws_by_absence(feed: ParsedFeed, bulk: bool) -> bool:
    """Only an explicit bulk feed: `--bulk`, or a OneRoster manifest saying `file.users,bulk`.
    A manifest saying delta wins over `--bulk`; the webhook is never bulk."""
    if feed.kind == "json":
        return False
    mode = feed.file_modes.get("users")
    if mode == "delta":
        return False
    return bulk or mode == "bulk"


def start_feed_run(session: Session, source: str, kind: str) -> int:
    run = FeedRun(source=source, kind=kind)
    session.add(run)
    session.flush()
    assert run.id is not None
    return run.id


def finish_feed_run(session: Session, result: FeedResult, *, failed: str | None = None) -> None:
    run = session.get(FeedRun, result.feed_run_id)
    assert run is not None
    run.new, run.changed, run.unchanged = result.new, result.changed, result.unchanged
    run.withdrawn, run.rejected = result.withdrawn, result.rejected
    run.rejections = [_rejection(r) for r in result.rejections]
    run.status = FeedRunStatus.FAILED if failed else FeedRunStatus.SUCCEEDED
    run.finished_at = utcnow()
    session.add(run)


def _rejection(r: Rejection) -> dict[str, Any]:
    return {"file": r.file, "line": r.line, "column": r.column, "reason": r.reason}


def _chunks(items: list[Any], size: int = CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _table(model: Any) -> sa.Table:
    table: sa.Table = model.__table__
    return table


SCAN_THRESHOLD = 5000  # above this many keys, one pass over the table beats IN-list batches


def _ids_by_source(
    session: Session, table: sa.Table, source_ids: Iterable[str], columns: Sequence[str] = ()
) -> dict[str, Row]:
    """Stored rows by feed identity (all columns, or only `columns` plus id and source_id)."""
    found: dict[str, Row] = {}
    wanted = set(source_ids)
    selected: list[Any] = (
        [table.c.id, table.c.source_id, *(table.c[c] for c in columns)] if columns else [table]
    )
    if len(wanted) > SCAN_THRESHOLD:
        for row in session.execute(sa.select(*selected)):
            if row.source_id in wanted:
                found[row.source_id] = row
        return found
    for chunk in _chunks(list(wanted)):
        for row in session.execute(sa.select(*selected).where(table.c.source_id.in_(chunk))):
            found[row.source_id] = row
    return found


@dataclass
class _Apply:
    """One feed being applied: its settings and the result being filled in."""

    feed: ParsedFeed
    configs: SchoolConfigs
    result: FeedResult
    today: date
    now: datetime
    origin: str
    bulk: bool = False  # lists every current student of `origin`

    @property
    def oneroster(self) -> bool:
        return self.feed.kind.startswith("oneroster")


def apply_feed(
    session: Session,
    feed: ParsedFeed,
    feed_run_id: int,
    configs: SchoolConfigs,
    *,
    today: date,
    bulk: bool = False,
    origin: str | None = None,
) -> FeedResult:
    """Upsert schools, staff, students, assignments and enrollments from one parsed feed."""
    result = FeedResult(feed_run_id=feed_run_id, rejections=list(feed.rejections))
    bulk = withdraws_by_absence(feed, bulk)
    run = _Apply(feed, configs, result, today, utcnow(), origin or feed_origin(feed), bulk)
    no_calendar: dict[str, Any] = {}  # school -> why it has no calendar (str or error)
    schools = _upsert_schools(session, run, no_calendar)
    result.rejections += _session_rejections(feed, no_calendar)
    toggled: set[int] = set()  # staff whose `active` changed
    staff_ids = _upsert_staff(session, run, schools, toggled)
    records = [r for r in feed.enrollments if _school_known(r, schools, result, no_calendar)]
    records = _skip_first_sight_departures(session, records, result)
    records = _grades_left_to_the_school(records, configs, result)
    records = _drop_closed_years(session, run, records, schools)
    records, routed = _check_references(run, records, staff_ids)
    student_ids = _upsert_students(session, run, records)
    routed_ids = _coordinator_routes(session, routed, schools, student_ids)
    moved = _replace_assignments(session, run, records, student_ids, staff_ids, routed_ids)
    _upsert_enrollments(session, run, records, schools, student_ids)
    result.transferred_ids = apply_transfers(session, result.created_ids, run.now)
    listed = {r.student_source_id for r in records}
    gone = feed.withdrawn_ids - listed  # marked gone, with no usable row of their own
    if run.bulk:
        gone |= _missing_from_bulk(session, run, schools)
    _withdraw_students(session, run, gone)
    _upsert_contacts(session, run)
    result.reowned_ids = _reowned(session, moved, toggled)
    return result


def _reowned(session: Session, students: set[int], toggled: set[int]) -> list[int]:
    """Enrollments of students whose assignments changed, or who are assigned to (or have open
    steps owned by) a staff member disabled or re-enabled: their owners are re-evaluated."""
    if not students and not toggled:
        return []
    a = _table(Assignment)
    e = _table(Enrollment)
    s = _table(Step)
    students = set(students)
    ids: set[int] = set()
    for chunk in _chunks(sorted(toggled)):
        students.update(
            session.execute(sa.select(a.c.student_id).where(a.c.staff_id.in_(chunk))).scalars()
        )
        ids.update(
            session.execute(
                sa.select(s.c.enrollment_id).where(
                    s.c.owner_staff_id.in_(chunk), s.c.status == StepStatus.OPEN.value
                )
            ).scalars()
        )
    for chunk in _chunks(sorted(students)):
        ids.update(session.execute(sa.select(e.c.id).where(e.c.student_id.in_(chunk))).scalars())
    return sorted(ids)


def _school_known(
    record: StudentEnrollmentRecord,
    schools: dict[str, Row],
    result: FeedResult,
    no_calendar: dict[str, Any],
) -> bool:
    if record.school_source_id in schools:
        return True
    reason = no_calendar.get(record.school_source_id)
    result.rejections.append(
        Rejection(
            record.source_file,
            record.source_line,
            "schoolSourcedId",
            f"no calendar for school {record.school_source_id!r}: {reason}"
            if reason
            else f"unknown school {record.school_source_id!r}",
        )
    )
    return False


def _skip_first_sight_departures(
    session: Session, records: list[StudentEnrollmentRecord], result: FeedResult
) -> list[StudentEnrollmentRecord]:
    """A student the feed first shows already deleted or disabled is not created: creating and
    withdrawing them would only count missed steps."""
    gone = [r for r in records if r.gone]
    if not gone:
        return records
    t = _table(Enrollment)
    stored = _ids_by_source(session, t, (r.source_id for r in gone), columns=("id",))
    skip = {r.source_id for r in gone if r.source_id not in stored}
    result.skipped += len(skip)
    return [r for r in records if r.source_id not in skip]


def _grades_left_to_the_school(
    records: list[StudentEnrollmentRecord], configs: SchoolConfigs, result: FeedResult
) -> list[StudentEnrollmentRecord]:
    """A student whose row and classes name no grade takes the school's `[defaults] grade`;
    without one the row is rejected with the parser's reason."""
    out: list[StudentEnrollmentRecord] = []
    for r in records:
        if r.grade_unknown:
            grade = configs.for_school(r.school_source_id).default_grade
            if grade is None:
                result.rejections.append(
                    Rejection(r.source_file, r.source_line, "grades", r.grade_unknown)
                )
                continue
            r = dataclasses.replace(r, grade=grade, grade_unknown="")
            note = "grade taken from the school's default"
            result.notes[note] = result.notes.get(note, 0) + 1
        out.append(r)
    return out


def _session_rejections(feed: ParsedFeed, no_calendar: dict[str, Any]) -> list[Rejection]:
    """The sessions at fault, once per line (a line the parse rejected is not counted twice),
    for the schools left without a calendar."""
    out: dict[tuple[str, int], Rejection] = {}
    done = {(r.file, r.line) for r in feed.rejections}
    for error in no_calendar.values():
        for line in getattr(error, "lines", ()):
            key = (error.file, line)
            if key not in done:
                out.setdefault(key, Rejection(*key, "startDate", str(error)))
    return list(out.values())


# -- schools ----------------------------------------------------------------------------------


def _upsert_schools(session: Session, run: _Apply, no_calendar: dict[str, Any]) -> dict[str, Row]:
    """OneRoster names schools (orgs.csv); a simple CSV or the webhook only refers to them by
    id, so they never rename one, nor reset a calendar taken from a OneRoster feed's grading
    periods to the default file's."""
    t = _table(School)
    feed, configs = run.feed, run.configs
    names = {s.source_id: s.name for s in feed.schools if not s.deleted} if run.oneroster else {}
    wanted = set(names) | {r.school_source_id for r in feed.enrollments}
    existing = _ids_by_source(session, t, wanted)
    years: dict[str, list[dict[str, Any]]] = {}  # school -> the years this feed knows of
    for source_id in sorted(wanted):
        config = configs.for_school(source_id)
        own = source_id in configs.by_school and config.calendar is not None
        from_feed = None
        if not own:
            try:
                from_feed = _calendar_from_feed(feed, source_id, config)
            except SessionCalendarError as exc:
                no_calendar[source_id] = exc
                continue
        row = existing.get(source_id)
        name = names.get(source_id, "")
        if row is None:
            calendar = config.calendar if own else (from_feed or config.calendar)
            known = bool(name) if run.oneroster else source_id in configs.by_school
            if calendar is None and known:
                no_calendar[source_id] = (
                    "the feed has no academic sessions for it and no school file configures one"
                )
            if calendar is None or not known:
                continue  # unknown school: its rows are rejected below
            years[source_id] = school_years.merged(config.years, calendar)
            calendar = school_years.current_calendar(years[source_id], run.today) or calendar
            session.execute(sa.insert(t).values(**_new_school(source_id, name, calendar, run)))
            continue
        # A OneRoster feed carries calendars (academic sessions, else the default file's); a
        # simple CSV or the webhook carries none, so it keeps what is stored (a school stored
        # with no calendar at all takes the configured one).
        fallback = config.calendar if run.oneroster or not row.calendar else None
        calendar = config.calendar if own else (from_feed or fallback)
        changes: dict[str, Any] = {}
        if name and name != row.name:
            changes["name"] = name
        years[source_id] = school_years.merged(config.years, calendar)
        if calendar and row.calendar and not school_years.same_year(calendar, row.calendar):
            calendar = None  # another year's: stored as that year; `ilp rollover` moves on
        if calendar and calendar != row.calendar:
            changes["calendar"], changes["timezone"] = calendar, calendar["timezone"]
        if config.policy != row.policy:
            changes["policy"] = config.policy
        if changes:
            run.result.fields.update(f"school.{k}" for k in changes)
            session.execute(
                sa.update(t).where(t.c.id == row.id).values(**changes, updated_at=run.now)
            )
    found = _ids_by_source(session, t, wanted)
    for source_id, calendars in years.items():
        if source_id in found and source_id not in no_calendar:
            school_years.ensure_years(session, found[source_id].id, calendars)
    return {k: v for k, v in found.items() if k not in no_calendar}


def _calendar_from_feed(
    feed: ParsedFeed, school: str, config: SchoolConfig
) -> dict[str, Any] | None:
    """The calendar the feed's sessions give the school (`intake.calendars`), with the school
    configuration's time zone and holidays; None when the feed has no sessions for it."""
    base = config.calendar or {}
    return calendar_from_feed_sessions(
        feed.sessions,
        school,
        timezone=config.timezone or base.get("timezone") or "UTC",
        holidays=base.get("holidays") or (),
        rejected_lines=feed.rejected_session_lines,
    )


def _new_school(source_id: str, name: str, calendar: dict[str, Any], run: _Apply) -> dict[str, Any]:
    config = run.configs.for_school(source_id)
    el = config.default_english_learner
    return {
        "source_id": source_id,
        "name": name or source_id,
        "timezone": calendar["timezone"],
        "calendar": calendar,
        "policy": config.policy,
        "default_returning": config.default_returning,
        "default_english_learner": el.value if el else None,
        "default_start": config.default_start,
        "created_at": run.now,
        "updated_at": run.now,
    }


# -- staff ------------------------------------------------------------------------------------


def _defined_staff(run: _Apply) -> list[StaffRecord]:
    """Staff the feed defines. OneRoster: every ILP user of users.csv. A simple CSV or the
    webhook only names ids; a teacher id with a teacher_email defines that teacher."""
    if run.oneroster:
        return list(run.feed.staff)
    return [s for s in run.feed.staff if s.email]


def _school_roles(record: StaffRecord, schools: dict[str, Row]) -> dict[str, list[str]]:
    """{school id: roles} from the record's per-school roles, for schools on file."""
    return {
        str(schools[s].id): sorted(r.value for r in roles)
        for s, roles in record.school_roles
        if s in schools
    }


def _staff_values(
    record: StaffRecord,
    row: Row,
    run: _Apply,
    school: int | None,
    schools: dict[str, Row] | None = None,
) -> dict[str, Any]:
    """The carried, non-blank fields of one staff record that differ from the stored row."""
    values: dict[str, Any] = {}
    if record.email and record.email != row.email:
        values["email"] = record.email
    if run.oneroster:
        per_school = _school_roles(record, schools or {})
        if per_school != (row.school_roles or {}):
            values["school_roles"] = per_school
        roles = sorted(r.value for r in record.roles)
        for key, value in (("given_name", record.given_name), ("family_name", record.family_name)):
            if value and value != getattr(row, key):
                values[key] = value
        if school is not None and school != row.school_id:
            values["school_id"] = school
        if record.enabled != row.active:
            values["active"] = record.enabled
    else:  # ids named in a row add roles and a school; they remove nothing
        roles = sorted(set(row.roles or []) | {r.value for r in record.roles})
        if row.school_id is None and school is not None:
            values["school_id"] = school
    if roles != sorted(row.roles or []):
        values["roles"] = roles
    return values


def _upsert_staff(
    session: Session, run: _Apply, schools: dict[str, Row], toggled: set[int] | None = None
) -> dict[str, int]:
    """Insert or update the staff the feed defines; return ids of every staff member the feed
    defines or refers to that is on file (an undefined, unstored id is left out). Staff whose
    `active` flag changed are added to `toggled`."""
    t = _table(Staff)
    defined = _defined_staff(run)
    referenced = {
        x
        for r in run.feed.enrollments
        for x in (*r.teacher_ids, r.counselor_id, r.esl_teacher_id)
        if x
    }
    existing = _ids_by_source(session, t, {s.source_id for s in defined} | referenced)
    inserts = []
    for record in defined:
        school = next((schools[i].id for i in record.school_ids if i in schools), None)
        row = existing.get(record.source_id)
        if row is None:
            inserts.append(_new_staff(record, school, run.now, _school_roles(record, schools)))
            continue
        values = _staff_values(record, row, run, school, schools)
        if values:
            run.result.fields.update(f"staff.{k}" for k in values)
            session.execute(
                sa.update(t).where(t.c.id == row.id).values(**values, updated_at=run.now)
            )
            if toggled is not None and "active" in values:
                toggled.add(row.id)
    if inserts:
        insert_many(session.connection(), t, inserts)
    wanted = {s.source_id for s in defined} | referenced
    return {k: v.id for k, v in _ids_by_source(session, t, wanted, columns=("id",)).items()}


def _new_staff(
    record: StaffRecord,
    school: int | None,
    now: datetime,
    school_roles: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    named = record.given_name or record.family_name
    return {
        "source_id": record.source_id,
        "given_name": record.given_name,
        "family_name": record.family_name if named else record.source_id,
        "email": record.email or None,
        "roles": sorted(r.value for r in record.roles),
        "school_roles": school_roles or {},
        "school_id": school,
        "active": record.enabled,
        "created_at": now,
        "updated_at": now,
    }


# -- references -------------------------------------------------------------------------------

_REF_COLUMNS = {
    Role.TEACHER: ("teacher", "teacher_id"),
    Role.COUNSELOR: ("metadata.ilp.counselorSourcedId", "counselor_id"),
    Role.ESL_TEACHER: ("metadata.ilp.eslTeacherSourcedId", "esl_teacher_id"),
}


def _unknown_refs(
    record: StudentEnrollmentRecord, staff_ids: dict[str, int]
) -> list[tuple[Role, str]]:
    refs = [(Role.TEACHER, t) for t in record.teacher_ids]
    refs += [(Role.COUNSELOR, record.counselor_id)] if record.counselor_id else []
    refs += [(Role.ESL_TEACHER, record.esl_teacher_id)] if record.esl_teacher_id else []
    return [(role, ref) for role, ref in refs if ref not in staff_ids]


def _check_references(
    run: _Apply, records: list[StudentEnrollmentRecord], staff_ids: dict[str, int]
) -> tuple[list[StudentEnrollmentRecord], list[tuple[str, str, Role]]]:
    """Rows naming staff nobody defined: rejected, or (school config) kept without the unknown
    ids, with that role routed to the ILP coordinator. Returns the rows kept and the routes
    (student source id, school source id, role)."""
    kept: list[StudentEnrollmentRecord] = []
    routed: list[tuple[str, str, Role]] = []
    for record in records:
        unknown = _unknown_refs(record, staff_ids)
        if not unknown:
            kept.append(record)
            continue
        route = run.configs.for_school(record.school_source_id).unknown_staff == "coordinator"
        target = run.result.warnings if route else run.result.rejections
        for role, ref in unknown:
            column = _REF_COLUMNS[role][0 if run.oneroster else 1]
            reason = f"unknown {role.value.replace('_', ' ')} {ref!r}: no feed defines this id"
            if route:
                reason += "; the steps go to the ILP coordinator"
            target.append(Rejection(record.source_file, record.source_line, column, reason))
        if not route:
            continue
        student, school = record.student_source_id, record.school_source_id
        routed += [(student, school, role) for role in {r for r, _ in unknown}]
        kept.append(_without(record, {ref for _, ref in unknown}))
    return kept, routed


def _without(record: StudentEnrollmentRecord, refs: set[str]) -> StudentEnrollmentRecord:
    return dataclasses.replace(
        record,
        teacher_ids=tuple(t for t in record.teacher_ids if t not in refs),
        counselor_id=None if record.counselor_id in refs else record.counselor_id,
        esl_teacher_id=None if record.esl_teacher_id in refs else record.esl_teacher_id,
    )


def _coordinator_routes(
    session: Session,
    routed: list[tuple[str, str, Role]],
    schools: dict[str, Row],
    student_ids: dict[str, int],
) -> dict[tuple[int, str], int]:
    """(student id, role) -> the ILP coordinator of the row's school, for routed roles."""
    if not routed:
        return {}
    coordinators: dict[int, int] = {}
    t = _table(Staff)
    query = sa.select(t.c.id, t.c.school_id, t.c.roles).where(t.c.school_id.is_not(None))
    for staff_id, school_id, roles in session.execute(query.order_by(t.c.id)):
        if Role.ILP_COORDINATOR.value in (roles or []):
            coordinators.setdefault(school_id, staff_id)
    out: dict[tuple[int, str], int] = {}
    for student, school, role in routed:
        coordinator = coordinators.get(schools[school].id)
        if coordinator is not None:  # none on file: the step has no owner; the report says so
            out[(student_ids[student], role.value)] = coordinator
    return out


# -- students and assignments -----------------------------------------------------------------


STUDENT_COLUMNS = (
    "source_id",
    "given_name",
    "family_name",
    "grade",
    "initials",
    "external",
    "created_at",
    "updated_at",
)


def _upsert_students(
    session: Session, run: _Apply, records: list[StudentEnrollmentRecord]
) -> dict[str, int]:
    t = _table(Student)
    existing = _ids_by_source(session, t, (r.student_source_id for r in records))
    inserts: dict[str, tuple[Any, ...]] = {}  # rows in STUDENT_COLUMNS order (no dict each)
    for r in records:
        values: dict[str, Any] = {
            "given_name": r.given_name,
            "family_name": r.family_name,
            "grade": r.grade,
        }
        row = existing.get(r.student_source_id)
        if row is None:
            inserts[r.student_source_id] = (
                r.student_source_id,
                r.given_name,
                r.family_name,
                r.grade,
                initials(r.given_name, r.family_name),
                {},
                run.now,
                run.now,
            )
            continue
        changes = {k: v for k, v in values.items() if v != "" and getattr(row, k) != v}
        if changes:
            first = changes.get("given_name", row.given_name)
            changes["initials"] = initials(first, changes.get("family_name", row.family_name))
            run.result.fields.update(f"student.{k}" for k in changes if k != "initials")
            session.execute(
                sa.update(t).where(t.c.id == row.id).values(**changes, updated_at=run.now)
            )
    insert_rows(session.connection(), t, STUDENT_COLUMNS, list(inserts.values()))
    ids = _ids_by_source(session, t, (r.student_source_id for r in records), columns=("id",))
    return {k: v.id for k, v in ids.items()}


def _wanted_assignments(
    records: list[StudentEnrollmentRecord],
    student_ids: dict[str, int],
    staff_ids: dict[str, int],
    routed: dict[tuple[int, str], int],
) -> dict[tuple[int, str], list[int]]:
    """(student id, role) -> the staff the feed names, in the feed's order without repeats: a
    list, not a set (a feed has hundreds of thousands of them; most name one person)."""
    wanted: dict[tuple[int, str], list[int]] = {}
    teacher, counselor, esl = Role.TEACHER.value, Role.COUNSELOR.value, Role.ESL_TEACHER.value
    for r in records:
        student = student_ids[r.student_source_id]
        for role, refs in (
            (teacher, r.teacher_ids),
            (counselor, (r.counselor_id,)),
            (esl, (r.esl_teacher_id,)),
        ):
            for source_id in refs:
                found = staff_ids.get(source_id) if source_id else None
                if found is not None:
                    have = wanted.get((student, role))
                    if have is None:
                        wanted[(student, role)] = [found]
                    elif found not in have:
                        have.append(found)
    for key, coordinator in routed.items():
        have = wanted.setdefault(key, [])
        if coordinator not in have:
            have.append(coordinator)
    return wanted


def _as_set(staff: list[int]) -> set[int]:
    """The set built by adding `staff` in order: the same iteration order as ever (the order of
    the assignment rows inserted)."""
    out: set[int] = set()
    for s in staff:
        out.add(s)
    return out


def _replace_assignments(
    session: Session,
    run: _Apply,
    records: list[StudentEnrollmentRecord],
    student_ids: dict[str, int],
    staff_ids: dict[str, int],
    routed: dict[tuple[int, str], int],
) -> set[int]:
    """A record that names a student's teachers (or counselor, ESL teacher) replaces that role's
    assignments; one that names none keeps what is stored (delta feeds, blank cells). Returns
    the students whose assignments changed."""
    t = _table(Assignment)
    wanted = _wanted_assignments(records, student_ids, staff_ids, routed)
    if not wanted:
        return set()
    current: dict[tuple[int, str], dict[int, int]] = {}
    students = {s for s, _ in wanted}
    columns = (t.c.id, t.c.student_id, t.c.role, t.c.staff_id)
    queries = (
        [sa.select(*columns)]
        if len(students) > SCAN_THRESHOLD
        else [sa.select(*columns).where(t.c.student_id.in_(c)) for c in _chunks(list(students))]
    )
    for query in queries:
        for row in session.execute(query):
            if row.student_id in students:
                current.setdefault((row.student_id, row.role), {})[row.staff_id] = row.id
    inserts: list[tuple[int, int, str, datetime]] = []
    stale: list[int] = []
    moved: set[int] = set()
    nothing: dict[int, int] = {}
    for (student, role), listed in wanted.items():
        staff = listed if len(listed) == 1 else _as_set(listed)
        have = current.get((student, role), nothing)
        added = [(s, student, role, run.now) for s in staff if s not in have]
        inserts += added
        gone = [row_id for s, row_id in have.items() if s not in staff]
        stale += gone
        if added or gone:
            moved.add(student)
        if have and set(have) != set(staff):
            run.result.fields[f"assignment.{role}"] += 1
    insert_rows(session.connection(), t, ("staff_id", "student_id", "role", "created_at"), inserts)
    for chunk in _chunks(stale):
        session.execute(sa.delete(t).where(t.c.id.in_(chunk)))
    return moved


# -- enrollments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Effective:
    """An enrollment as this feed leaves it: values in effect now, and dated changes."""

    start: date
    returning: bool
    english_learner: EnglishLearner | None
    withdrawn: date | None
    pending: dict[str, str]
    student_id: int = 0

    @property
    def final(self) -> tuple[date, date | None]:
        """Start and withdrawal once every pending change is in effect."""
        start = self.pending.get("start_date")
        withdrawn = self.pending.get("withdrawn_on")
        return (
            date.fromisoformat(start) if start else self.start,
            date.fromisoformat(withdrawn) if withdrawn else self.withdrawn,
        )


def _stated_withdrawal(
    r: StudentEnrollmentRecord, row: Row, run: _Apply
) -> tuple[bool, date | None]:
    """(does the feed state the withdrawal, the date). OneRoster states it on every row; a blank
    withdrawn_date in a simple CSV or webhook item is "unknown" for a stored enrollment, unless
    the row's start date comes after the stored withdrawal (a re-enrollment)."""
    if r.withdrawn:
        return True, r.end or run.today
    if run.oneroster or row is None:
        return True, None
    stored = row.pending.get("withdrawn_on") if row.pending else None
    last = row.withdrawn_on or (date.fromisoformat(stored) if stored else None)
    if r.start is not None and last is not None and r.start > last:
        return True, None
    return False, None


def _effective(
    r: StudentEnrollmentRecord,
    school: Row,
    row: Row,
    run: _Apply,
    year: school_years.Year | None = None,
    previous: Row = None,
    student_id: int = 0,
) -> _Effective:
    """Blank or absent values keep the stored ones (or, for a new enrollment, the school's
    defaults; for a student the school had last year, returning and last year's EL status);
    a date after today is kept pending for its day."""
    first_day = year.first_day if year else date.fromisoformat(school.calendar["year_start"])
    default_start = school.default_start
    if default_start is None or (year is not None and not year.first_day <= default_start):
        default_start = first_day
    start = r.start or (row.start_date if row is not None else default_start)
    if r.returning is not None:
        returning = r.returning
    elif row is None and previous is not None:
        returning = True
    else:
        returning = bool(row.returning if row is not None else school.default_returning)
    el: EnglishLearner | None
    if r.english_learner != UNSET:
        el = r.english_learner
    elif row is not None or previous is not None:
        kept = row if row is not None else previous
        el = EnglishLearner(kept.english_learner) if kept.english_learner else None
    else:
        default = school.default_english_learner
        el = EnglishLearner(default) if default else None
    pending: dict[str, str] = {}
    stated, withdrawn = _stated_withdrawal(r, row, run)
    if not stated:
        withdrawn = row.withdrawn_on
        if row.pending and "withdrawn_on" in row.pending:
            pending["withdrawn_on"] = row.pending["withdrawn_on"]
    elif withdrawn is not None and withdrawn > run.today:
        pending["withdrawn_on"], withdrawn = withdrawn.isoformat(), None
    if r.start is None and row is not None and row.pending and "start_date" in row.pending:
        pending["start_date"] = row.pending["start_date"]  # a blank cell keeps it
    begun = row is not None and row.start_date <= run.today
    if begun and start != row.start_date and start > run.today:
        pending["start_date"], start = start.isoformat(), row.start_date
    return _Effective(start, returning, el, withdrawn, pending, student_id)


def _enrollment_values(
    r: StudentEnrollmentRecord, school: Row, row: Row, eff: _Effective, run: _Apply
) -> dict[str, Any]:
    """The stored values. The source is the feed that created the row; a bulk feed that lists
    it takes it over (it will withdraw it by absence from then on)."""
    el = eff.english_learner
    pending_on = min(date.fromisoformat(d) for d in eff.pending.values()) if eff.pending else None
    return {
        "student_id": eff.student_id,
        "school_id": school.id,
        "start_date": eff.start,
        "grade": r.grade,
        "returning": eff.returning,
        "english_learner": el.value if el else None,
        "withdrawn_on": eff.withdrawn,
        "status": (EnrollmentStatus.WITHDRAWN if eff.withdrawn else EnrollmentStatus.ACTIVE).value,
        "fingerprint": fingerprint(school.id, eff.start, r.grade, eff.returning, el, eff.withdrawn),
        "source": run.origin if row is None or run.bulk else row.source,
        "pending": eff.pending,
        "pending_on": pending_on,
    }


_COMPARED = (
    "school_id",
    "start_date",
    "grade",
    "returning",
    "english_learner",
    "withdrawn_on",
    "source",
    "pending",
)


def _valid(
    r: StudentEnrollmentRecord, eff: _Effective, calendar: SchoolCalendar, run: _Apply
) -> bool:
    """The enrollment as it will be once its dated changes apply must be plannable."""
    start, withdrawn = eff.final
    try:
        validate(
            PlannerEnrollment(start, r.grade, eff.returning, eff.english_learner, withdrawn),
            calendar,
        )
    except PlanError as exc:
        column = "endDate" if "withdrawal" in str(exc) else "beginDate"
        run.result.rejections.append(Rejection(r.source_file, r.source_line, column, str(exc)))
        return False
    return True


def _record_change(run: _Apply, row: Row, values: dict[str, Any]) -> bool:
    """Count what changed on a stored enrollment; True when the plan must be redone."""
    result = run.result
    diff = [k for k in _COMPARED if _stored(row, k) != values[k]]
    if not diff:
        result.unchanged += 1
        if row.planned_fingerprint != row.fingerprint:
            result.unplanned_ids.append(row.id)
        return False
    result.fields.update(f"enrollment.{k}" for k in diff)
    if values["pending"] and values["pending"] != (row.pending or {}):
        result.scheduled += 1
    if values["withdrawn_on"] and not row.withdrawn_on:
        result.withdrawn += 1
    else:
        result.changed += 1
    return True


def _stored(row: Row, key: str) -> Any:
    value = getattr(row, key)
    if key == "pending":
        return value or {}
    if key == "returning":
        return bool(value)
    return value


def _upsert_enrollments(
    session: Session,
    run: _Apply,
    records: list[StudentEnrollmentRecord],
    schools: dict[str, Row],
    student_ids: dict[str, int],
) -> None:
    years = school_years.school_years(session, {s.id for s in schools.values()})
    labels = {y.label for rows in years.values() for y in rows}
    stored = school_years.enrollment_rows(session, (r.source_id for r in records), labels)
    calendars: dict[tuple[int, str], SchoolCalendar] = {}
    inserts: list[tuple[Any, ...]] = []  # rows in `columns` order (a dict each costs memory)
    columns: tuple[str, ...] = ()
    updates: list[tuple[int, dict[str, Any], bool]] = []
    for r in records:
        school = schools[r.school_source_id]
        year = _year_of(r, school, years.get(school.id, []))
        rows = stored.get(r.source_id, [])
        row = next((x for x in rows if x.school_year == year.label), None) if year else None
        if year is None and rows:
            row = rows[-1]
        if row is not None and row.status in FROZEN:  # ended or transferred: a closed record
            run.result.unchanged += 1
            continue
        previous = next(
            (x for x in reversed(rows) if x.school_year < (year.label if year else "")), None
        )
        student_id = student_ids[r.student_source_id]
        eff = _effective(r, school, row, run, year, previous, student_id)
        label = year.label if year else year_label(school.calendar)
        if (school.id, label) not in calendars:
            calendars[(school.id, label)] = calendar_from_mapping(
                year.calendar if year else school.calendar
            )
        if not _valid(r, eff, calendars[(school.id, label)], run):
            continue
        values = _enrollment_values(r, school, row, eff, run)
        values["school_year"] = label
        if row is None:
            source_id = school_years.stored_source_id(r.source_id, label) if rows else r.source_id
            inserts.append(_new_enrollment(r, values, run, source_id))
            columns = columns or ("source_id", *values, "feed_run_id", "created_at", "updated_at")
        elif _record_change(run, row, values):
            updates.append((row.id, values, row.fingerprint != values["fingerprint"]))
    _write_enrollments(session, run, columns, inserts, updates)


def _year_of(
    r: StudentEnrollmentRecord, school: Row, years: list[school_years.Year]
) -> school_years.Year | None:
    """The school year a feed row belongs to: the one its start date falls in (a summer date
    belongs to the next year); with no start date, the school's current year."""
    if r.start is not None:
        return school_years.year_of(years, r.start)
    return school_years.find(years, year_label(school.calendar))


def _drop_closed_years(
    session: Session, run: _Apply, records: list[StudentEnrollmentRecord], schools: dict[str, Row]
) -> list[StudentEnrollmentRecord]:
    """A rolled-over year is the record of that year: a late feed row for it changes nothing
    (not the student, not the enrollment); it is rejected, saying why."""
    years = school_years.school_years(session, {s.id for s in schools.values()})
    kept = []
    for r in records:
        school = schools[r.school_source_id]
        year = _year_of(r, school, years.get(school.id, []))
        if year is None or not year.closed:
            kept.append(r)
            continue
        run.result.rejections.append(
            Rejection(
                r.source_file,
                r.source_line,
                "beginDate",
                f"school year {year.label} is closed (rolled over); its record is not changed",
            )
        )
    return kept


def _new_enrollment(
    r: StudentEnrollmentRecord, values: dict[str, Any], run: _Apply, source_id: str
) -> tuple[Any, ...]:
    """The row to insert: source_id, `values` in their order, feed_run_id, created, updated."""
    run.result.new += 1
    run.result.scheduled += bool(values["pending"])
    run.result.withdrawn += bool(values["withdrawn_on"])
    return (source_id, *values.values(), run.result.feed_run_id, run.now, run.now)


def _write_enrollments(
    session: Session,
    run: _Apply,
    columns: Sequence[str],
    inserts: list[tuple[Any, ...]],
    updates: list[tuple[int, dict[str, Any], bool]],
) -> None:
    t = _table(Enrollment)
    result = run.result
    if inserts:
        insert_rows(session.connection(), t, columns, inserts)
        created = _ids_by_source(session, t, (i[0] for i in inserts), columns=("id",))
        result.created_ids = sorted(row.id for row in created.values())
    for row_id, values, _ in updates:
        session.execute(
            sa.update(t)
            .where(t.c.id == row_id)
            .values(**values, feed_run_id=result.feed_run_id, updated_at=run.now)
        )
    result.changed_ids = [row_id for row_id, _, replan in updates if replan]


# -- withdrawal by absence, dated changes -----------------------------------------------------


def _missing_from_bulk(session: Session, run: _Apply, schools: dict[str, Row]) -> set[str]:
    """Students with an active enrollment of this feed's source, at a school the bulk feed
    covers, but not in it. Other sources' enrollments (the webhook, another CSV) are left be."""
    t = _table(Enrollment)
    st = _table(Student)
    if run.feed.broken_files:  # a file with a structural error may have lost rows
        return set()
    rows = session.execute(
        sa.select(st.c.source_id)
        .join(t, st.c.id == t.c.student_id)
        .where(
            t.c.school_id.in_([s.id for s in schools.values()]),
            t.c.withdrawn_on.is_(None),
            t.c.status == EnrollmentStatus.ACTIVE.value,
            t.c.source.in_(_own_sources(run)),
        )
    ).scalars()
    return {source_id for source_id in rows if source_id not in run.feed.students_seen}


def _own_sources(run: _Apply) -> list[str]:
    """Rows stored before sources were recorded ("") count as the OneRoster district's: the
    migration gave the webhook's and the CSVs' rows their source."""
    return [run.origin, ""] if run.oneroster else [run.origin]


def _withdraw(
    session: Session, row: Row, withdrawn_on: date, feed_run_id: int | None, now: datetime
) -> None:
    t = _table(Enrollment)
    el = EnglishLearner(row.english_learner) if row.english_learner else None
    values: dict[str, Any] = {
        "withdrawn_on": withdrawn_on,
        "status": EnrollmentStatus.WITHDRAWN.value,
        "fingerprint": fingerprint(
            row.school_id, row.start_date, row.grade, bool(row.returning), el, withdrawn_on
        ),
        "updated_at": now,
    }
    if feed_run_id is not None:
        values["feed_run_id"] = feed_run_id
    session.execute(sa.update(t).where(t.c.id == row.id).values(**values))


def _withdraw_students(session: Session, run: _Apply, students: set[str]) -> None:
    """Withdraw every active enrollment of these students as of `today` (or their start)."""
    if not students:
        return
    t = _table(Enrollment)
    st = _table(Student)
    for chunk in _chunks(sorted(students)):
        rows = session.execute(
            sa.select(t)
            .join(st, st.c.id == t.c.student_id)
            .where(
                st.c.source_id.in_(chunk),
                t.c.withdrawn_on.is_(None),
                t.c.status == EnrollmentStatus.ACTIVE.value,
            )
        ).all()
        for row in rows:
            _withdraw(session, row, max(run.today, row.start_date), run.result.feed_run_id, run.now)
            run.result.withdrawn += 1
            run.result.changed_ids.append(row.id)


def apply_due_changes(session: Session, now: datetime) -> list[int]:
    """Put into effect every dated change whose day has come in its school's time zone (a
    withdrawal, a new start date). Returns the enrollments to re-plan. Idempotent."""
    t = _table(Enrollment)
    sc = _table(School)
    horizon = now.date().toordinal() + 1  # no time zone is more than a day ahead of UTC
    rows = session.execute(
        sa.select(t, sc.c.timezone.label("school_timezone"))
        .join(sc, sc.c.id == t.c.school_id)
        .where(t.c.pending_on.is_not(None), t.c.pending_on <= date.fromordinal(horizon))
    ).all()
    changed = []
    for row in rows:
        today = now.astimezone(ZoneInfo(row.school_timezone or "UTC")).date()
        if row.pending_on > today:
            continue
        due = {k: date.fromisoformat(v) for k, v in row.pending.items()}
        later = {k: v.isoformat() for k, v in due.items() if v > today}
        start = due["start_date"] if "start_date" in due and "start_date" not in later else None
        withdrawn = due.get("withdrawn_on") if "withdrawn_on" not in later else None
        session.execute(
            sa.update(t)
            .where(t.c.id == row.id)
            .values(
                pending=later,
                pending_on=min(map(date.fromisoformat, later.values())) if later else None,
                **({"start_date": start} if start else {}),
            )
        )
        fresh = session.execute(sa.select(t).where(t.c.id == row.id)).one()
        if withdrawn is not None:
            _withdraw(session, fresh, max(withdrawn, fresh.start_date), None, utcnow())
        elif start is not None:
            _refingerprint(session, fresh)
        changed.append(row.id)
    return changed


def _refingerprint(session: Session, row: Row) -> None:
    t = _table(Enrollment)
    el = EnglishLearner(row.english_learner) if row.english_learner else None
    fp = fingerprint(
        row.school_id, row.start_date, row.grade, bool(row.returning), el, row.withdrawn_on
    )
    session.execute(
        sa.update(t).where(t.c.id == row.id).values(fingerprint=fp, updated_at=utcnow())
    )


# -- contacts (learning coaches) --------------------------------------------------------------


def _contact_values(record: ContactRecord, row: Row) -> dict[str, Any]:
    """The carried, non-blank fields of a contact that differ from the stored row."""
    values: dict[str, Any] = {}
    for key in ("given_name", "family_name", "email", "phone", "relationship"):
        value = getattr(record, key)
        if value and value != getattr(row, key):
            values[key] = value
    if row.active == record.deleted:
        values["active"] = not record.deleted
    return values


def _upsert_contacts(session: Session, run: _Apply) -> None:
    """Store the feed's contacts and the links it states. Links go only to students and
    contacts on file; a feed that carries no contacts and names no agents changes none."""
    feed, counts = run.feed, run.result.contacts
    t, st = _table(Contact), _table(Student)
    gone_ids = set(feed.withdrawn_ids)  # a delta deletion without its role may be a contact
    if not feed.contacts and not feed.agents_named and not gone_ids:
        return
    records = {c.source_id: c for c in feed.contacts}
    existing = _ids_by_source(session, t, records)
    inserts = []
    for sid, record in records.items():
        row = existing.get(sid)
        if row is None:
            if record.deleted:
                counts["skipped (deleted at first sight)"] += 1
                continue
            inserts.append(
                {
                    "source_id": sid,
                    "given_name": record.given_name,
                    "family_name": record.family_name,
                    "email": record.email or None,
                    "phone": record.phone or None,
                    "relationship": record.relationship,
                    "active": True,
                    "created_at": run.now,
                    "updated_at": run.now,
                }
            )
            counts["new"] += 1
            continue
        values = _contact_values(record, row)
        if not values:
            counts["unchanged"] += 1
            continue
        counts["deactivated" if values.get("active") is False else "changed"] += 1
        run.result.fields.update(f"contact.{k}" for k in values)
        session.execute(sa.update(t).where(t.c.id == row.id).values(**values, updated_at=run.now))
    insert_many(session.connection(), t, inserts)
    # who is who: every user the links may name, as stored now
    named = set(feed.agents_named) | {a for v in feed.agents_named.values() for a in v}
    named |= {s for c in feed.contacts for s in c.student_ids} | gone_ids | set(records)
    contacts = _ids_by_source(session, t, named, columns=("active", "relationship"))
    students = {k: v.id for k, v in _ids_by_source(session, st, named, columns=()).items()}
    gone = {contacts[s].id for s in gone_ids if s in contacts}
    gone |= {contacts[s].id for s, r in records.items() if r.deleted and s in contacts}
    if gone_ids & set(contacts):
        stale = [s for s in gone_ids if s in contacts and contacts[s].active]
        for chunk in _chunks(stale):
            session.execute(
                sa.update(t)
                .where(t.c.source_id.in_(chunk))
                .values(active=False, updated_at=run.now)
            )
        if stale:
            counts["deactivated"] += len(stale)
    wanted, stated = _stated_links(feed, contacts, students, gone)
    _replace_links(session, run, wanted, stated, gone)


def _stated_links(
    feed: ParsedFeed, contacts: dict[str, Row], students: dict[str, int], gone: set[int]
) -> tuple[dict[tuple[int, int], str], tuple[set[int], set[int]]]:
    """({(student id, contact id): relationship} the feed links, (students, contacts) whose whole
    set of links the feed states: their own row names its agents)."""
    relationship = {c.source_id: c.relationship for c in feed.contacts}
    wanted: dict[tuple[int, int], str] = {}

    def link(student: str, contact: str) -> None:
        c, s = contacts.get(contact), students.get(student)
        if c is not None and s is not None and c.id not in gone:
            wanted[(s, c.id)] = relationship.get(contact) or c.relationship

    for record in feed.contacts:
        for student in record.student_ids:
            link(student, record.source_id)
    for user, agents in feed.agents_named.items():
        for agent in agents:
            if user in students:
                link(user, agent)
            elif user in contacts:
                link(agent, user)
    stated_students = {students[u] for u in feed.agents_named if u in students}
    stated_contacts = {contacts[u].id for u in feed.agents_named if u in contacts}
    return wanted, (stated_students, stated_contacts)


def _replace_links(
    session: Session,
    run: _Apply,
    wanted: dict[tuple[int, int], str],
    stated: tuple[set[int], set[int]],
    gone: set[int],
) -> None:
    lt = _table(StudentContact)
    stated_students, stated_contacts = stated
    students = {s for s, _ in wanted} | stated_students
    contacts = {c for _, c in wanted} | stated_contacts | gone
    current: dict[tuple[int, int], Row] = {}
    columns = (lt.c.id, lt.c.student_id, lt.c.contact_id, lt.c.relationship)
    for chunk in _chunks(sorted(students)):
        for row in session.execute(sa.select(*columns).where(lt.c.student_id.in_(chunk))):
            current[(row.student_id, row.contact_id)] = row
    for chunk in _chunks(sorted(contacts)):
        for row in session.execute(sa.select(*columns).where(lt.c.contact_id.in_(chunk))):
            current[(row.student_id, row.contact_id)] = row
    counts = run.result.contacts
    inserts = [
        {"student_id": s, "contact_id": c, "relationship": rel, "created_at": run.now}
        for (s, c), rel in sorted(wanted.items())
        if (s, c) not in current
    ]
    insert_many(session.connection(), lt, inserts)
    if inserts:
        counts["links added"] += len(inserts)
    for key, rel in wanted.items():
        link = current.get(key)
        if link is not None and link.relationship != rel:
            session.execute(sa.update(lt).where(lt.c.id == link.id).values(relationship=rel))
            run.result.fields["student_contact.relationship"] += 1
    stale = [
        row.id
        for key, row in current.items()
        if key not in wanted
        and (key[1] in gone or key[0] in stated_students or key[1] in stated_contacts)
    ]
    for chunk in _chunks(stale):
        session.execute(sa.delete(lt).where(lt.c.id.in_(chunk)))
    if stale:
        counts["links removed"] += len(stale)
