"""The year boundary: close a school's finished year and start its next one.

`rollover(session, "2027-2028", now=...)`, for every school that has that year:
- the old year's open steps close: required ones as missed (they count in the old year's
  compliance report), optional ones as cancelled; each closing is audited;
- its enrollments that were still active end (``ended``): never re-planned, never changed again;
- every student still enrolled becomes a returning student of the new year, planned with the new
  year's calendar: grade + 1, the same EL status (until a feed says otherwise), the graduation
  plan within the first 9 weeks. A student in grade 12 (graduated), withdrawn, transferred or
  with a withdrawal pending is not re-planned. A student who already has an enrollment in the new
  year (a feed of the new year came first) keeps it: the order of feed and rollover does not
  change the result;
- the school's current calendar becomes the new year's.

Idempotent: a second run finds nothing to close, nobody to create and the calendar already set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from config.schools import SchoolConfigs
from lifecycle.types import EnglishLearner, StepStatus
from models.tables import (
    AuditEvent,
    Enrollment,
    EnrollmentStatus,
    School,
    SchoolYear,
    Step,
    Student,
)
from services import school_years
from services.feed_store import fingerprint
from services.planning import PlanCounts, plan_enrollments
from services.report import local_date
from services.school_years import SchoolYearError, Year

ROLLOVER = "year.rollover"  # the audit action of a step closed by the year's end
LAST_GRADE = 12


@dataclass
class SchoolRollover:
    school: str  # sourcedId
    from_year: str
    to_year: str
    closed_missed: int = 0
    closed_cancelled: int = 0
    ended: int = 0
    returning: int = 0  # new-year enrollments created
    already_enrolled: int = 0  # had a new-year enrollment already (a feed came first)
    graduated: int = 0
    left: int = 0  # withdrawn, transferred or leaving: not re-planned
    moved_calendar: bool = False

    @property
    def changed(self) -> bool:
        return bool(
            self.closed_missed
            or self.closed_cancelled
            or self.ended
            or self.returning
            or self.moved_calendar
        )


@dataclass
class RolloverResult:
    to_year: str | None
    schools: list[SchoolRollover] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # school -> why not
    planned: PlanCounts = field(default_factory=PlanCounts)
    new_enrollment_ids: list[int] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.schools)


def rollover(
    session: Session,
    to_year: str | None,
    *,
    now: datetime,
    configs: SchoolConfigs | None = None,
    school: str | None = None,
    force: bool = False,
) -> RolloverResult:
    """Roll every school (or one) into `to_year` (None: each school whose current year is over
    into its next one). A school whose year has not ended by `now` (local date) is skipped
    unless `force`. The caller commits."""
    label = school_years.normalize_label(to_year) if to_year else None
    result = RolloverResult(label)
    sc = School.__table__  # type: ignore[attr-defined]
    query = sa.select(sc).order_by(sc.c.source_id)
    if school is not None:
        query = query.where(sc.c.source_id == school)
    schools = list(session.execute(query))
    if school is not None and not schools:
        raise SchoolYearError(f"no school {school!r}")
    for row in schools:
        if configs is not None:
            school_years.ensure_years(session, row.id, configs.for_school(row.source_id).years)
    years = school_years.school_years(session, [r.id for r in schools])
    for row in schools:
        own = years.get(row.id, [])
        current = school_years.find(own, school_years.year_label(row.calendar))
        if label is None:
            later = [y for y in own if current is None or y.first_day > current.first_day]
            target = later[0] if later else None
            if target is None:
                result.skipped[row.source_id] = "no next school year is configured"
                continue
            if current is not None and local_date(now, row.timezone) <= current.last_day:
                continue  # the scheduled run before the year is over: nothing to do yet
        else:
            target = school_years.find(own, label)
            if target is None:
                result.skipped[row.source_id] = f"no calendar for school year {label}"
                continue
        earlier = [y for y in own if y.first_day < target.first_day]
        if not earlier:
            result.skipped[row.source_id] = f"{target.label} is its first school year"
            continue
        last = earlier[-1]
        today = local_date(now, row.timezone)
        if today <= last.last_day and not force:
            raise SchoolYearError(
                f"school {row.source_id}: school year {last.label} ends {last.last_day}; "
                "roll over after its last instructional day (or --force)"
            )
        result.schools.append(_roll_school(session, row, earlier, target, now, result))
    if result.new_enrollment_ids:
        result.planned = plan_enrollments(session, result.new_enrollment_ids, now=now)
    return result


def _roll_school(
    session: Session,
    school: Any,
    earlier: Sequence[Year],
    target: Year,
    now: datetime,
    result: RolloverResult,
) -> SchoolRollover:
    e = Enrollment.__table__  # type: ignore[attr-defined]
    s = Step.__table__  # type: ignore[attr-defined]
    y = SchoolYear.__table__  # type: ignore[attr-defined]
    sc = School.__table__  # type: ignore[attr-defined]
    labels = [year.label for year in earlier]
    out = SchoolRollover(school.source_id, earlier[-1].label, target.label)

    # 1. The old years' open steps close; required ones count as missed in their year.
    open_steps = session.execute(
        sa.select(s.c.id, s.c.required, s.c.due, e.c.school_year)
        .join(e, e.c.id == s.c.enrollment_id)
        .where(
            e.c.school_id == school.id,
            e.c.school_year.in_(labels),
            s.c.status == StepStatus.OPEN.value,
        )
        .order_by(s.c.id)
    ).all()
    audits = []
    for step in open_steps:
        status = StepStatus.MISSED if step.required else StepStatus.CANCELLED
        session.execute(
            sa.update(s)
            .where(s.c.id == step.id)
            .values(status=status.value, next_action_at=None, updated_at=now)
        )
        audits.append(
            {
                "at": now,
                "action": ROLLOVER,
                "step_id": step.id,
                "before": {"status": StepStatus.OPEN.value},
                "after": {"status": status.value},
                "detail": f"school year {step.school_year} closed; not done",
            }
        )
        if step.required:
            out.closed_missed += 1
        else:
            out.closed_cancelled += 1
    if audits:
        session.execute(sa.insert(AuditEvent.__table__), audits)  # type: ignore[attr-defined]

    # 2. Who carries over: the old years' still-active enrollments.
    active = session.execute(
        sa.select(e)
        .where(
            e.c.school_id == school.id,
            e.c.school_year.in_(labels),
            e.c.status == EnrollmentStatus.ACTIVE.value,
        )
        .order_by(e.c.id)
    ).all()
    student_ids = [r.student_id for r in active]
    in_new_year = set(
        session.execute(
            sa.select(e.c.student_id).where(
                e.c.student_id.in_(student_ids), e.c.school_year == target.label
            )
        ).scalars()
    )
    new_rows = []
    for row in active:
        leaving = row.withdrawn_on is not None or "withdrawn_on" in (row.pending or {})
        if row.student_id in in_new_year:
            out.already_enrolled += 1
        elif leaving:
            out.left += 1
        elif row.grade >= LAST_GRADE:
            out.graduated += 1
        else:
            new_rows.append(_returning(row, school, target, now))
            in_new_year.add(row.student_id)
    if active:
        session.execute(
            sa.update(e)
            .where(e.c.id.in_([r.id for r in active]))
            .values(
                status=EnrollmentStatus.ENDED.value,
                planned_fingerprint=e.c.fingerprint,
                updated_at=now,
            )
        )
        out.ended = len(active)
    if new_rows:
        session.execute(sa.insert(e), new_rows)
        created = session.execute(
            sa.select(e.c.id, e.c.student_id, e.c.grade).where(
                e.c.source_id.in_([r["source_id"] for r in new_rows])
            )
        ).all()
        result.new_enrollment_ids += [r.id for r in created]
        st = Student.__table__  # type: ignore[attr-defined]
        for r in created:
            session.execute(sa.update(st).where(st.c.id == r.student_id).values(grade=r.grade))
        out.returning = len(new_rows)

    # 3. The school moves into the new year; the old years are closed for good.
    if school.calendar != target.calendar:
        session.execute(
            sa.update(sc)
            .where(sc.c.id == school.id)
            .values(calendar=target.calendar, timezone=target.calendar["timezone"], updated_at=now)
        )
        out.moved_calendar = True
    session.execute(
        sa.update(y)
        .where(y.c.school_id == school.id, y.c.label.in_(labels), y.c.rolled_over_at.is_(None))
        .values(rolled_over_at=now)
    )
    return out


def _returning(row: Any, school: Any, target: Year, now: datetime) -> dict[str, Any]:
    """Last year's enrollment as this year's: a returning student one grade up, from the first
    day, with the same EL status."""
    start: date = target.first_day
    grade = row.grade + 1
    el = EnglishLearner(row.english_learner) if row.english_learner else None
    return {
        "source_id": school_years.stored_source_id(
            school_years.base_source_id(row.source_id), target.label
        ),
        "student_id": row.student_id,
        "school_id": school.id,
        "school_year": target.label,
        "start_date": start,
        "grade": grade,
        "returning": True,
        "english_learner": el.value if el else None,
        "withdrawn_on": None,
        "status": EnrollmentStatus.ACTIVE.value,
        "fingerprint": fingerprint(school.id, start, grade, True, el, None),
        "planned_fingerprint": None,
        "source": row.source,
        "pending": {},
        "pending_on": None,
        "created_at": now,
        "updated_at": now,
    }
