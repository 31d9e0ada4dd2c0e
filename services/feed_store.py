"""Apply a parsed feed to the system of record, in one transaction, idempotently.

The feed run is recorded (and committed) before any row is applied, so a crash mid-import
still leaves a trace. Enrollments are keyed on the feed's identity; a fingerprint of the
planner-relevant fields tells new, changed and unchanged apart, so a re-run changes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from config.schools import SchoolConfig, SchoolConfigs
from intake.calendars import SessionCalendarError, calendar_from_feed_sessions
from intake.records import UNSET, ParsedFeed, Rejection, StudentEnrollmentRecord
from lifecycle.calendar import calendar_from_mapping
from lifecycle.planner import PlanError, validate
from lifecycle.types import EnglishLearner, Role, StepStatus
from lifecycle.types import Enrollment as PlannerEnrollment
from models.bulk import insert_many
from models.tables import (
    Assignment,
    Enrollment,
    EnrollmentStatus,
    FeedRun,
    FeedRunStatus,
    School,
    Staff,
    Step,
    Student,
    utcnow,
)

CHUNK = 900  # stays under SQLite's bound-parameter limit


@dataclass
class FeedResult:
    feed_run_id: int
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    skipped: int = 0  # deleted or disabled at first sight: not created
    notes: dict[str, int] = field(default_factory=dict)  # decisions made for the feed, counted
    rejections: list[Rejection] = field(default_factory=list)
    created_ids: list[int] = field(default_factory=list)
    changed_ids: list[int] = field(default_factory=list)
    # unchanged enrollments whose staff changed (teachers, or an owner disabled/re-enabled):
    # re-planned only so their open steps follow the new owner
    reowned_ids: list[int] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejections)

    @property
    def to_plan(self) -> list[int]:
        planned = self.created_ids + self.changed_ids
        seen = set(planned)
        return planned + [i for i in self.reowned_ids if i not in seen]


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


SCAN_THRESHOLD = 5000  # above this many keys, one pass over the table beats IN-list batches


def _ids_by_source(
    session: Session, table: Any, source_ids: Iterable[str], columns: Sequence[str] = ()
) -> dict[str, Any]:
    """Stored rows by feed identity (all columns, or only `columns` plus id and source_id)."""
    found: dict[str, Any] = {}
    wanted = set(source_ids)
    selected = (
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


def apply_feed(
    session: Session,
    feed: ParsedFeed,
    feed_run_id: int,
    configs: SchoolConfigs,
    *,
    today: date,
) -> FeedResult:
    """Upsert schools, staff, students, assignments and enrollments from one parsed feed."""
    result = FeedResult(feed_run_id=feed_run_id, rejections=list(feed.rejections))
    now = utcnow()
    no_calendar: dict[str, Any] = {}  # school -> why it has no calendar (str or error)
    schools = _upsert_schools(session, feed, configs, now, no_calendar)
    result.rejections += _session_rejections(feed, no_calendar)
    toggled: set[int] = set()  # staff whose `active` changed
    staff_ids = _upsert_staff(session, feed, schools, now, toggled)
    records = [r for r in feed.enrollments if _school_known(r, schools, result, no_calendar)]
    records = _skip_first_sight_departures(session, records, result)
    records = _grades_left_to_the_school(records, configs, result)
    student_ids = _upsert_students(session, records, now)
    moved = _replace_assignments(session, records, student_ids, staff_ids, now)
    _upsert_enrollments(session, records, schools, student_ids, configs, result, today, now)
    listed = {r.student_source_id for r in records}
    gone = feed.withdrawn_ids - listed  # marked gone, with no usable row of their own
    if feed.bulk and feed.kind.startswith("oneroster"):
        gone |= _missing_from_bulk(session, feed, schools)
    _withdraw_students(session, gone, result, today, now)
    result.reowned_ids = _reowned(session, moved, toggled)
    return result


def _reowned(session: Session, students: set[int], toggled: set[int]) -> list[int]:
    """Enrollments of students whose assignments changed, or who are assigned to (or have open
    steps owned by) a staff member disabled or re-enabled: their owners are re-evaluated."""
    if not students and not toggled:
        return []
    a = Assignment.__table__  # type: ignore[attr-defined]
    e = Enrollment.__table__  # type: ignore[attr-defined]
    s = Step.__table__  # type: ignore[attr-defined]
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
    schools: dict[str, Any],
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
    t = Enrollment.__table__  # type: ignore[attr-defined]
    stored = _ids_by_source(session, t, (r.source_id for r in gone), columns=("id",))
    skip = {r.source_id for r in gone if r.source_id not in stored}
    result.skipped += len(skip)
    return [r for r in records if r.source_id not in skip]


def _grades_left_to_the_school(
    records: list[StudentEnrollmentRecord], configs: SchoolConfigs, result: FeedResult
) -> list[StudentEnrollmentRecord]:
    """A student whose row and classes name no grade takes the school's `[defaults] grade`;
    without one the row is rejected with the parser's reason."""
    out = []
    for r in records:
        if r.grade_unknown:
            grade = configs.for_school(r.school_source_id).default_grade
            if grade is None:
                result.rejections.append(
                    Rejection(r.source_file, r.source_line, "grades", r.grade_unknown)
                )
                continue
            r = replace(r, grade=grade, grade_unknown="")
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


def _upsert_schools(
    session: Session,
    feed: ParsedFeed,
    configs: SchoolConfigs,
    now: Any,
    no_calendar: dict[str, str],
) -> dict[str, Any]:
    t = School.__table__  # type: ignore[attr-defined]
    wanted = {s.source_id: s.name for s in feed.schools if not s.deleted}
    for record in feed.enrollments:  # simple CSV / webhook name schools only by id
        wanted.setdefault(record.school_source_id, "")
    existing = _ids_by_source(session, t, wanted)
    for source_id, name in wanted.items():
        config = configs.for_school(source_id)
        if source_id in configs.by_school and config.calendar:
            calendar = config.calendar  # the school's own file wins
        else:
            try:
                from_feed = _calendar_from_feed(feed, source_id, config)
            except SessionCalendarError as exc:
                no_calendar[source_id] = exc  # type: ignore[assignment]
                continue
            calendar = from_feed or config.calendar
        row = existing.get(source_id)
        if row is None:
            # OneRoster defines schools in orgs.csv; other feeds may only use configured ones.
            known = (
                bool(name) if feed.kind.startswith("oneroster") else source_id in configs.by_school
            )
            if calendar is None and known:
                no_calendar[source_id] = (
                    "the feed has no academic sessions for it and no school file configures one"
                )
            if calendar is None or not known:
                continue  # unknown school: its rows are rejected below
            session.execute(
                sa.insert(t).values(
                    source_id=source_id,
                    name=name or source_id,
                    timezone=calendar["timezone"],
                    calendar=calendar,
                    policy=config.policy,
                    default_returning=config.default_returning,
                    default_english_learner=(
                        config.default_english_learner.value
                        if config.default_english_learner
                        else None
                    ),
                    default_start=config.default_start,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            changes: dict[str, Any] = {}
            if name and name != row.name:
                changes["name"] = name
            if calendar and calendar != row.calendar:
                changes["calendar"], changes["timezone"] = calendar, calendar["timezone"]
            if config.policy != row.policy:
                changes["policy"] = config.policy
            if changes:
                session.execute(
                    sa.update(t).where(t.c.id == row.id).values(**changes, updated_at=now)
                )
    found = _ids_by_source(session, t, wanted)
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


def _upsert_staff(
    session: Session,
    feed: ParsedFeed,
    schools: dict[str, Any],
    now: Any,
    toggled: set[int] | None = None,
) -> dict[str, int]:
    t = Staff.__table__  # type: ignore[attr-defined]
    referenced = {x for r in feed.enrollments for x in r.teacher_ids}
    existing = _ids_by_source(session, t, {s.source_id for s in feed.staff} | referenced)
    inserts = []
    for record in feed.staff:
        school = next((schools[i].id for i in record.school_ids if i in schools), None)
        values = {
            "given_name": record.given_name,
            "family_name": record.family_name,
            "email": record.email or None,
            "roles": sorted(r.value for r in record.roles),
            "school_id": school,
            "active": record.enabled,
        }
        row = existing.get(record.source_id)
        if row is None:
            inserts.append(
                {"source_id": record.source_id, **values, "created_at": now, "updated_at": now}
            )
        elif any(getattr(row, k) != v for k, v in values.items()):
            session.execute(sa.update(t).where(t.c.id == row.id).values(**values, updated_at=now))
            if toggled is not None and bool(row.active) != values["active"]:
                toggled.add(row.id)
    # Simple CSV / webhook rows may name a teacher only by id and email.
    known = set(existing) | {s.source_id for s in feed.staff}
    for record in feed.enrollments:
        for teacher in record.teacher_ids:
            if teacher in known:
                continue
            known.add(teacher)
            school = schools.get(record.school_source_id)
            inserts.append(
                {
                    "source_id": teacher,
                    "given_name": "",
                    "family_name": teacher,
                    "email": record.teacher_email,
                    "roles": [Role.TEACHER.value],
                    "school_id": school.id if school else None,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    if inserts:
        insert_many(session.connection(), t, inserts)
    wanted = {s.source_id for s in feed.staff} | {i["source_id"] for i in inserts}
    wanted |= {
        x for r in feed.enrollments for x in (*r.teacher_ids, r.counselor_id, r.esl_teacher_id) if x
    }
    return {k: v.id for k, v in _ids_by_source(session, t, wanted).items()}


def _upsert_students(
    session: Session, records: list[StudentEnrollmentRecord], now: Any
) -> dict[str, int]:
    t = Student.__table__  # type: ignore[attr-defined]
    existing = _ids_by_source(session, t, (r.student_source_id for r in records))
    inserts: dict[str, dict[str, Any]] = {}
    for r in records:
        initials = "".join(
            f"{p.strip()[0].upper()}." for p in (r.given_name, r.family_name) if p.strip()
        )
        values = {
            "given_name": r.given_name,
            "family_name": r.family_name,
            "grade": r.grade,
            "initials": initials,
        }
        row = existing.get(r.student_source_id)
        if row is None:
            inserts[r.student_source_id] = {
                "source_id": r.student_source_id,
                **values,
                "external": {},
                "created_at": now,
                "updated_at": now,
            }
        elif any(getattr(row, k) != v for k, v in values.items()):
            session.execute(sa.update(t).where(t.c.id == row.id).values(**values, updated_at=now))
    insert_many(session.connection(), t, list(inserts.values()))
    ids = _ids_by_source(session, t, (r.student_source_id for r in records), columns=("id",))
    return {k: v.id for k, v in ids.items()}


def _replace_assignments(
    session: Session,
    records: list[StudentEnrollmentRecord],
    student_ids: dict[str, int],
    staff_ids: dict[str, int],
    now: Any,
) -> set[int]:
    """A record that names a student's teachers (or counselor, ESL teacher) replaces that role's
    assignments; one that names none keeps what is stored (delta feeds). Returns the students
    whose assignments changed."""
    t = Assignment.__table__  # type: ignore[attr-defined]
    wanted: dict[tuple[int, str], set[int]] = {}
    staff_id = staff_ids.get
    teacher, counselor, esl = Role.TEACHER.value, Role.COUNSELOR.value, Role.ESL_TEACHER.value

    def want(student: int, role: str, source_id: str) -> None:
        found = staff_id(source_id)
        if found is not None:
            wanted.setdefault((student, role), set()).add(found)

    for r in records:
        student = student_ids[r.student_source_id]
        for source_id in r.teacher_ids:
            want(student, teacher, source_id)
        if r.counselor_id:
            want(student, counselor, r.counselor_id)
        if r.esl_teacher_id:
            want(student, esl, r.esl_teacher_id)
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
    inserts, stale, moved = [], [], set()
    for (student, role), staff in wanted.items():
        have = current.get((student, role), {})
        added = [
            {"staff_id": s, "student_id": student, "role": role, "created_at": now}
            for s in staff
            if s not in have
        ]
        gone = [row_id for s, row_id in have.items() if s not in staff]
        if added or gone:
            moved.add(student)
        inserts += added
        stale += gone
    insert_many(session.connection(), t, inserts)
    for chunk in _chunks(stale):
        session.execute(sa.delete(t).where(t.c.id.in_(chunk)))
    return moved


def _effective(
    r: StudentEnrollmentRecord, school: Any, today: date
) -> tuple[date, bool, EnglishLearner | None, date | None]:
    calendar = school.calendar
    start = r.start or school.default_start or date.fromisoformat(calendar["year_start"])
    returning = r.returning if r.returning is not None else bool(school.default_returning)
    if r.english_learner == UNSET:
        el = (
            EnglishLearner(school.default_english_learner)
            if school.default_english_learner
            else None
        )
    else:
        el = r.english_learner  # type: ignore[assignment]
    withdrawn = (r.end or today) if r.withdrawn else None
    return start, returning, el, withdrawn


def _upsert_enrollments(
    session: Session,
    records: list[StudentEnrollmentRecord],
    schools: dict[str, Any],
    student_ids: dict[str, int],
    configs: SchoolConfigs,
    result: FeedResult,
    today: date,
    now: Any,
) -> None:
    t = Enrollment.__table__  # type: ignore[attr-defined]
    existing = _ids_by_source(session, t, (r.source_id for r in records))
    calendars: dict[int, Any] = {}
    inserts: list[dict[str, Any]] = []
    changed: list[tuple[int, dict[str, Any]]] = []
    for r in records:
        school = schools[r.school_source_id]
        start, returning, el, withdrawn = _effective(r, school, today)
        if school.id not in calendars:
            calendars[school.id] = calendar_from_mapping(school.calendar)
        try:
            validate(
                PlannerEnrollment(start, r.grade, returning, el, withdrawn), calendars[school.id]
            )
        except PlanError as exc:
            column = "endDate" if "withdrawal" in str(exc) else "beginDate"
            result.rejections.append(Rejection(r.source_file, r.source_line, column, str(exc)))
            continue
        values = {
            "student_id": student_ids[r.student_source_id],
            "school_id": school.id,
            "start_date": start,
            "grade": r.grade,
            "returning": returning,
            "english_learner": el.value if el else None,
            "withdrawn_on": withdrawn,
            "status": (EnrollmentStatus.WITHDRAWN if withdrawn else EnrollmentStatus.ACTIVE).value,
            "fingerprint": fingerprint(school.id, start, r.grade, returning, el, withdrawn),
        }
        row = existing.get(r.source_id)
        if row is None:
            inserts.append(
                {
                    "source_id": r.source_id,
                    **values,
                    "feed_run_id": result.feed_run_id,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            result.new += 1
        elif row.fingerprint == values["fingerprint"]:
            result.unchanged += 1
        else:
            if withdrawn and not row.withdrawn_on:
                result.withdrawn += 1
            else:
                result.changed += 1
            changed.append((row.id, values))
    if inserts:
        insert_many(session.connection(), t, inserts)
        created = _ids_by_source(session, t, (i["source_id"] for i in inserts), columns=("id",))
        result.created_ids = sorted(row.id for row in created.values())
        result.withdrawn += sum(1 for i in inserts if i["withdrawn_on"])
    for row_id, values in changed:
        session.execute(
            sa.update(t)
            .where(t.c.id == row_id)
            .values(**values, feed_run_id=result.feed_run_id, updated_at=now)
        )
    result.changed_ids = [row_id for row_id, _ in changed]


def _missing_from_bulk(session: Session, feed: ParsedFeed, schools: dict[str, Any]) -> set[str]:
    """Students with an active enrollment at a school the bulk feed covers, but not in it."""
    if not feed.absence_withdraws:  # a file with a structural error may have lost rows
        return set()
    t = Enrollment.__table__  # type: ignore[attr-defined]
    st = Student.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        sa.select(st.c.source_id)
        .join(t, st.c.id == t.c.student_id)
        .where(t.c.school_id.in_([s.id for s in schools.values()]), t.c.withdrawn_on.is_(None))
    ).scalars()
    return {source_id for source_id in rows if source_id not in feed.students_seen}


def _withdraw_students(
    session: Session, students: set[str], result: FeedResult, today: date, now: Any
) -> None:
    """Withdraw every active enrollment of these students as of `today` (or their start)."""
    if not students:
        return
    t = Enrollment.__table__  # type: ignore[attr-defined]
    st = Student.__table__  # type: ignore[attr-defined]
    for chunk in _chunks(sorted(students)):
        rows = session.execute(
            sa.select(
                t.c.id, t.c.school_id, t.c.start_date, t.c.grade, t.c.returning, t.c.english_learner
            )
            .join(st, st.c.id == t.c.student_id)
            .where(st.c.source_id.in_(chunk), t.c.withdrawn_on.is_(None))
        ).all()
        for row in rows:
            withdrawn_on = max(today, row.start_date)
            el = EnglishLearner(row.english_learner) if row.english_learner else None
            session.execute(
                sa.update(t)
                .where(t.c.id == row.id)
                .values(
                    withdrawn_on=withdrawn_on,
                    status=EnrollmentStatus.WITHDRAWN.value,
                    fingerprint=fingerprint(
                        row.school_id,
                        row.start_date,
                        row.grade,
                        bool(row.returning),
                        el,
                        withdrawn_on,
                    ),
                    feed_run_id=result.feed_run_id,
                    updated_at=now,
                )
            )
            result.withdrawn += 1
            result.changed_ids.append(row.id)
