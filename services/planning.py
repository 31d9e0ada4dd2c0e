"""Store plans: run the pure planner over enrollment rows and write Step rows, in batches.

Shared by the per-enrollment lifecycle flow, the bulk feed import and reconciliation, so every
path plans the same way. Re-planning keeps completed steps, updates open ones in place, adds new
ones and cancels open ones the new plan no longer has. Nothing is deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from config.schools import school_rules
from lifecycle.calendar import SchoolCalendar
from lifecycle.escalation import next_rung_at
from lifecycle.planner import plan_enrollment, plan_key, validate
from lifecycle.policy import SchoolPolicy
from lifecycle.students import student_ref
from lifecycle.types import (
    UNPLANNED_KINDS,
    CompletedStep,
    PlannedStep,
    Role,
    StepKind,
    StepStatus,
)
from lifecycle.types import (
    Enrollment as PlannerEnrollment,
)
from models.bulk import BulkInsert, exact_id_filters, id_filters
from models.db import SessionFactory, session_factory
from models.tables import (
    Assignment,
    AuditEvent,
    Enrollment,
    EnrollmentStatus,
    School,
    Staff,
    Step,
    escalations_from_json,
    escalations_to_json,
    utcnow,
)
from services.school_years import enrollment_rows, year_calendars

BATCH = 5000
PLAN_LEASE = timedelta(minutes=5)  # a claim outlives a run that died by this much
FROZEN = (EnrollmentStatus.ENDED.value, EnrollmentStatus.TRANSFERRED.value)
REASSIGNED = "step.reassigned"  # the audit action of a coordinator's delegation
COORDINATOR = Role.ILP_COORDINATOR.value
CLOSED = (StepStatus.COMPLETED.value,)


@dataclass(frozen=True)
class PlanOutcome:
    enrollment_id: int
    steps: tuple[PlannedStep, ...]


@dataclass
class PlanCounts:
    enrollments: int = 0
    steps_inserted: int = 0
    steps_updated: int = 0
    steps_cancelled: int = 0


def _step_template(step: PlannedStep) -> dict[str, Any]:
    """Column values of a planned step, built once per distinct step and shared (read-only)."""
    return {
        "kind": step.kind.value,
        "seq": step.seq,
        "due": step.due,
        "required": step.required,
        "owner_role": step.owner.value,
        "opens": step.opens,
        "status": step.status.value,
        "escalation_schedule": escalations_to_json(step.escalations),
        "next_action_at": step.escalations[0].at if step.escalations else None,
    }


# Plans come memoized from the planner, so students with the same plan share one object; their
# step templates (and the driver values of each template) are built once per process. Entries
# hold the plan itself, so an id() is never reused while cached.
_templates: dict[int, tuple[tuple[PlannedStep, ...], list[dict[str, Any]]]] = {}
_driver_values: dict[tuple[str, int], tuple[dict[str, Any], tuple[Any, ...]]] = {}
CACHE_LIMIT = 50_000


def _plan_templates(plan: tuple[PlannedStep, ...]) -> list[dict[str, Any]]:
    cached = _templates.get(id(plan))
    if cached is None:
        if len(_templates) > CACHE_LIMIT:
            _templates.clear()
            _driver_values.clear()
            _roles.clear()
        cached = _templates[id(plan)] = (plan, [_step_template(step) for step in plan])
    return cached[1]


def _plan_roles(plan: tuple[PlannedStep, ...]) -> list[tuple[dict[str, Any], str]]:
    """(template, owner role) of each step of a plan, built once per plan."""
    cached = _roles.get(id(plan))
    if cached is None or cached[0] is not plan:
        roles = [step.owner.value for step in plan]
        cached = _roles[id(plan)] = (plan, list(zip(_plan_templates(plan), roles, strict=True)))
    return cached[1]


_roles: dict[int, tuple[tuple[PlannedStep, ...], list[tuple[dict[str, Any], str]]]] = {}


Candidates = list[tuple[int, bool]]  # (staff id, active), active ones first


def _owners(session: Session, rows: Sequence[Any]) -> dict[tuple[int, str], Candidates]:
    """(student_id, role) -> the assigned staff, active ones first (then by staff id)."""
    wanted = {r.student_id for r in rows}
    owners: dict[tuple[int, str], Candidates] = defaultdict(list)
    a = Assignment.__table__  # type: ignore[attr-defined]
    t = Staff.__table__  # type: ignore[attr-defined]
    for where in id_filters(a.c.student_id, wanted):
        result = session.execute(
            sa.select(a.c.student_id, sa.type_coerce(a.c.role, sa.String), a.c.staff_id, t.c.active)
            .select_from(a.join(t, t.c.id == a.c.staff_id))
            .where(where)
            .order_by(t.c.active.desc(), a.c.staff_id)
        )
        for student_id, role, staff_id, active in result:
            if student_id in wanted:  # the stored role value, as the planner names it
                owners[(student_id, role)].append((staff_id, bool(active)))
    return owners


def _coordinators(session: Session, school_ids: Iterable[int]) -> dict[int, Candidates]:
    coordinators: dict[int, Candidates] = defaultdict(list)
    t = Staff.__table__  # type: ignore[attr-defined]
    result = session.execute(
        sa.select(t.c.id, t.c.school_id, t.c.roles, t.c.active)
        .where(
            t.c.school_id.in_(list(set(school_ids))),
            # a cheap filter on the stored JSON text; the roles are checked below
            sa.cast(t.c.roles, sa.String).contains(Role.ILP_COORDINATOR.value),
        )
        .order_by(t.c.active.desc(), t.c.id)
    )
    for staff_id, school_id, roles, active in result:
        if Role.ILP_COORDINATOR.value in (roles or []):
            coordinators[school_id].append((staff_id, bool(active)))
    return coordinators


def choose_owner(candidates: Candidates, current: int | None) -> int | None:
    """The current owner while still an active candidate (no churn when a second teacher comes
    and goes), else the first active one, else an inactive one: kept so the report can say
    "owner inactive" while the sweep sends the owner's rungs to the ILP coordinator."""
    if current is not None and (current, True) in candidates:
        return current
    return candidates[0][0] if candidates else None


def _delegated(session: Session, step_ids: Sequence[int]) -> dict[int, int]:
    """Step id -> the active staff member a coordinator last reassigned it to (services.actions
    `reassign`, read from its audit events): a delegation the school's records do not undo."""
    ev = AuditEvent.__table__  # type: ignore[attr-defined]
    t = Staff.__table__  # type: ignore[attr-defined]
    latest: dict[int, tuple[int, int | None]] = {}
    for chunk in _chunks(list(step_ids), 900):
        query = sa.select(ev.c.id, ev.c.step_id, ev.c.after).where(
            ev.c.step_id.in_(chunk), ev.c.action == REASSIGNED
        )
        for row in session.execute(query):
            target = (row.after or {}).get("owner_staff_id")
            if row.step_id not in latest or row.id > latest[row.step_id][0]:
                latest[row.step_id] = (row.id, target)
    targets = {target for _, target in latest.values() if target is not None}
    active: set[int] = set()
    for chunk in _chunks(sorted(targets), 900):
        query = sa.select(t.c.id).where(t.c.id.in_(chunk), t.c.active.is_(True))
        active.update(session.execute(query).scalars())
    return {
        sid: target
        for sid, (_, target) in latest.items()
        if target is not None and target in active
    }


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def planner_input(row: Any, completed: Sequence[Any]) -> PlannerEnrollment:
    """An enrollment row and its completed step rows, as the planner's frozen input."""
    return PlannerEnrollment(
        start=row.start_date,
        grade=row.grade,
        returning=bool(row.returning),
        english_learner=row.english_learner,
        withdrawn=row.withdrawn_on,
        completed=()
        if not completed
        else tuple(
            sorted(
                (
                    CompletedStep(
                        kind=StepKind(s.kind),
                        due=s.due,
                        completed_on=s.completed_on,
                        seq=s.seq,
                        opens=s.opens,
                        required=s.required,
                    )
                    for s in completed
                    if StepKind(s.kind) not in UNPLANNED_KINDS
                ),
                key=lambda c: (c.kind.value, c.seq),
            )
        ),
    )


def plan_enrollments(
    session: Session,
    enrollment_ids: Sequence[int],
    *,
    now: datetime | None = None,
    planned_by: str | None = None,
) -> PlanCounts:
    """Plan (or re-plan) these enrollments and store their steps. Idempotent.

    The caller owns the transaction; work is done in batches so memory stays flat.
    `planned_by` (a run's name) is stored on each enrollment for operators.
    """
    counts = PlanCounts()
    for chunk in _chunks(list(enrollment_ids), BATCH):
        batch = _prepare_batch(session, chunk, now or utcnow())
        if batch is not None:
            _write_batch(session, batch, counts, planned_by)
    return counts


def plan_enrollments_in_batches(
    enrollment_ids: Sequence[int],
    *,
    sessions: SessionFactory | None = None,
    now: datetime | None = None,
    batch_size: int = BATCH,
    planned_by: str | None = None,
    claim: bool = False,
) -> PlanCounts:
    """`plan_enrollments` for a whole feed, committing every `batch_size` enrollments, so a
    crash keeps what was planned and memory stays flat. (Preparing the next batch in a second
    thread while one is written was measured slower: the two threads fight over the GIL.)

    `claim`: plan only what no other run holds a claim on, claiming it in the batch's own
    transaction (a feed import, while a lifecycle run may be planning the same enrollments).
    """
    sessions = sessions or session_factory()
    counts = PlanCounts()
    now = now or utcnow()
    for chunk in _chunks(list(enrollment_ids), batch_size):
        with sessions() as session:
            if claim:
                chunk = claim_unclaimed(session, chunk, planned_by or "planner")
            batch = _prepare_batch(session, chunk, now) if chunk else None
            if batch is not None:
                _write_batch(session, batch, counts, planned_by)
    return counts


def claim_unclaimed(
    session: Session,
    enrollment_ids: Sequence[int],
    claimer: str,
    lease: timedelta = PLAN_LEASE,
) -> list[int]:
    """Claim these enrollments where no live claim is held; the ids claimed. The lease runs on
    the wall clock (not a planner's `now`, which may be a simulated school day)."""
    e = Enrollment.__table__  # type: ignore[attr-defined]
    wall = utcnow()
    claimed: list[int] = []
    for where in exact_id_filters(e.c.id, enrollment_ids):  # a feed's: one contiguous run
        statement = (
            sa.update(e)
            .where(where, is_unclaimed(e, wall))
            .values(plan_claimed_by=claimer, plan_claimed_until=wall + lease)
            .returning(e.c.id)
        )
        claimed.extend(session.execute(statement).scalars())
    return sorted(claimed)


def is_unclaimed(e: Any, wall: datetime) -> Any:
    return sa.or_(e.c.plan_claimed_until.is_(None), e.c.plan_claimed_until < wall)


@dataclass
class _Batch:
    """What one batch will write: computed from reads, applied in one transaction."""

    now: datetime
    enrollment_ids: list[int]
    inserts: list[tuple[dict[str, Any], int, int | None]]
    updates: list[dict[str, Any]]
    cancels: list[int]
    # open steps whose owner the school's records would change: applied unless delegated
    owner_moves: list[tuple[Any, dict[str, Any], tuple[SchoolCalendar, SchoolPolicy]]] = field(
        default_factory=list
    )


STEP_COLUMNS = (
    "id",
    "enrollment_id",
    "kind",
    "seq",
    "status",
    "due",
    "opens",
    "required",
    "completed_on",
    "escalation_schedule",
    "rungs_sent",
    "owner_staff_id",
    "next_action_at",
)


# What planning reads of an enrollment (not its JSON or timestamps: decoding those for every
# row of a feed cost more than the planner itself).
ENROLLMENT_COLUMNS = (
    "id",
    "status",
    "student_id",
    "school_id",
    "school_year",
    "start_date",
    "grade",
    "returning",
    "english_learner",
    "withdrawn_on",
)


def _load(
    session: Session, ids: Sequence[int]
) -> tuple[Sequence[Any], dict[int, Any], dict[int, list[Any]]]:
    """The enrollment rows, their schools and their stored steps."""
    e = Enrollment.__table__  # type: ignore[attr-defined]
    s = Step.__table__  # type: ignore[attr-defined]
    sc = School.__table__  # type: ignore[attr-defined]
    wanted = set(ids)
    rows = []
    for where in id_filters(e.c.id, wanted):
        query = sa.select(*(e.c[name] for name in ENROLLMENT_COLUMNS)).where(where)
        rows += [r for r in session.execute(query) if r.id in wanted]
    school_ids = {r.school_id for r in rows}
    schools = {r.id: r for r in session.execute(sa.select(sc).where(sc.c.id.in_(school_ids)))}
    existing: dict[int, list[Any]] = defaultdict(list)
    for where in id_filters(s.c.enrollment_id, wanted):
        query = sa.select(*(s.c[name] for name in STEP_COLUMNS)).where(where)
        for step in session.execute(query):
            if step.enrollment_id in wanted:
                existing[step.enrollment_id].append(step)
    return rows, schools, existing


def _prepare_batch(session: Session, ids: Sequence[int], now: datetime) -> _Batch | None:
    """Plan each enrollment (one planner call per distinct plan input) and diff the result
    against its stored steps: inserts, updates and cancellations to write."""
    rows, schools, existing = _load(session, ids)
    # A year that ended (or a school the student left) keeps its record as it was.
    rows = [r for r in rows if r.status not in FROZEN]
    if not rows:
        return None
    owners = _owners(session, rows)
    coordinators = _coordinators(session, schools)
    rules = _year_rules(session, rows, schools)
    batch = _Batch(now, [r.id for r in rows], [], [], [])
    plans: dict[tuple[tuple[int, str], PlannerEnrollment], tuple[PlannedStep, ...]] = {}
    for row in rows:
        calendar, policy = rules[(row.school_id, row.school_year)]
        current = existing.get(row.id, [])
        completed = [st for st in current if st.status == StepStatus.COMPLETED.value]
        enrollment = planner_input(row, completed)
        key = ((row.school_id, row.school_year), plan_key(enrollment))
        plan = plans.get(key)
        if plan is None:
            plan = plans[key] = plan_enrollment(enrollment, calendar, policy)
        else:
            validate(enrollment, calendar)

        def owner_of(role: str, current: int | None, row: Any = row) -> int | None:
            if role == COORDINATOR:
                return choose_owner(coordinators.get(row.school_id, []), current)
            return choose_owner(owners.get((row.student_id, role), []), current)

        _diff(batch, row.id, plan, current, owner_of, rules[(row.school_id, row.school_year)])
    _move_owners(session, batch)
    return batch


def _year_rules(
    session: Session, rows: Sequence[Any], schools: dict[int, Any]
) -> dict[tuple[int, str], tuple[SchoolCalendar, SchoolPolicy]]:
    """Each enrollment is planned on its own school year's calendar (the school's current one
    when the year has no stored calendar)."""
    keys = {(r.school_id, r.school_year) for r in rows}
    calendars = year_calendars(session, keys)
    return {
        (sid, label): school_rules(
            calendars.get((sid, label), schools[sid].calendar), schools[sid].policy
        )
        for sid, label in keys
    }


def _move_owners(session: Session, batch: _Batch) -> None:
    """Ownership follows the school's records (a new teacher, a staff member who left), except
    where a coordinator delegated the step to someone still active."""
    delegated = _delegated(session, [stored.id for stored, _, _ in batch.owner_moves])
    for stored, values, rules in batch.owner_moves:
        if delegated.get(stored.id) == stored.owner_staff_id:
            values["owner_staff_id"] = stored.owner_staff_id
        if _changed(stored, values):
            batch.updates.append(_update(stored, values, batch.now, rules))
    batch.owner_moves.clear()


def _diff(
    batch: _Batch,
    enrollment_id: int,
    plan: tuple[PlannedStep, ...],
    current: list[Any],
    owner_of: Callable[[str, int | None], int | None],
    rules: tuple[SchoolCalendar, SchoolPolicy],
) -> None:
    """New steps are inserted, changed open ones updated in place (keeping how far their
    ladder went when it is the same ladder), completed ones kept, dropped open ones cancelled."""
    if not current:  # a new enrollment (most of a feed): every step is inserted
        owners: dict[str, int | None] = {}
        for template, role in _plan_roles(plan):
            if role not in owners:
                owners[role] = owner_of(role, None)
            batch.inserts.append((template, enrollment_id, owners[role]))
        return
    by_key = {(StepKind(st.kind), st.seq): st for st in current}
    planned_keys = set()
    for step, template in zip(plan, _plan_templates(plan), strict=True):
        planned_keys.add(step.key)
        stored = by_key.get(step.key)
        if stored is not None and stored.status == StepStatus.COMPLETED.value:
            continue
        if stored is not None and step.status is not StepStatus.OPEN:
            owner = stored.owner_staff_id  # missed or cancelled: stays whose it was
        else:
            owner = owner_of(step.owner.value, stored.owner_staff_id if stored else None)
        if stored is None:
            batch.inserts.append((template, enrollment_id, owner))
            continue
        values = {**template, "owner_staff_id": owner}
        if stored.owner_staff_id is not None and stored.owner_staff_id != owner:
            batch.owner_moves.append((stored, values, rules))
        elif _changed(stored, values) or _resumes(stored, rules):
            batch.updates.append(_update(stored, values, batch.now, rules))
    for st in current:
        key = (StepKind(st.kind), st.seq)
        unplanned = key[0] in UNPLANNED_KINDS  # added by services, not the planner
        if key not in planned_keys and st.status == StepStatus.OPEN.value and not unplanned:
            batch.cancels.append(st.id)


def _resumes(stored: Any, rules: tuple[SchoolCalendar, SchoolPolicy]) -> bool:
    """An open step whose ladder ended before the top level repeated (next_action_at NULL)
    while a repeat is still ahead: a re-plan puts it back on the sweep's list."""
    if stored.status != StepStatus.OPEN.value or stored.next_action_at is not None:
        return False
    ladder = escalations_from_json(stored.escalation_schedule or [])
    return next_rung_at(ladder, stored.rungs_sent, *rules) is not None


def _update(
    stored: Any,
    values: dict[str, Any],
    now: datetime,
    rules: tuple[SchoolCalendar, SchoolPolicy],
) -> dict[str, Any]:
    same_ladder = stored.escalation_schedule == values["escalation_schedule"]
    values["rungs_sent"] = stored.rungs_sent if same_ladder else 0
    if same_ladder:  # the count may run past the stored ladder into its repeats
        ladder = escalations_from_json(values["escalation_schedule"])
        values["next_action_at"] = next_rung_at(ladder, stored.rungs_sent, *rules)
    values["updated_at"] = now
    values["_id"] = stored.id
    return values


def _write_batch(
    session: Session, batch: _Batch, counts: PlanCounts, planned_by: str | None = None
) -> None:
    e = Enrollment.__table__  # type: ignore[attr-defined]
    s = Step.__table__  # type: ignore[attr-defined]
    if batch.inserts:
        _insert_steps(session, s, batch.inserts, batch.now)
    for values in batch.updates:
        step_id = values.pop("_id")
        session.execute(sa.update(s).where(s.c.id == step_id).values(**values))
    for chunk in _chunks(batch.cancels, 900):
        session.execute(
            sa.update(s)
            .where(s.c.id.in_(chunk))
            .values(status=StepStatus.CANCELLED.value, next_action_at=None, updated_at=batch.now)
        )
    for where in exact_id_filters(e.c.id, batch.enrollment_ids):
        session.execute(
            sa.update(e)
            .where(where)
            .values(
                planned_fingerprint=e.c.fingerprint,
                planned_at=batch.now,
                plan_count=e.c.plan_count + 1,
                planned_by=planned_by,
                plan_claimed_by=None,
                plan_claimed_until=None,
            )
        )
    counts.enrollments += len(batch.enrollment_ids)
    counts.steps_inserted += len(batch.inserts)
    counts.steps_updated += len(batch.updates)
    counts.steps_cancelled += len(batch.cancels)


TEMPLATE_COLUMNS = (
    "kind",
    "seq",
    "due",
    "required",
    "owner_role",
    "opens",
    "status",
    "escalation_schedule",
    "next_action_at",
)
ROW_COLUMNS = ("enrollment_id", "owner_staff_id", "rungs_sent", "created_at", "updated_at")


def _insert_steps(
    session: Session,
    table: Any,
    inserts: list[tuple[dict[str, Any], int, int | None]],
    now: datetime,
) -> None:
    """New steps: each distinct template is converted once, each row is a tuple concat."""
    bulk = BulkInsert(session.connection(), table, TEMPLATE_COLUMNS + ROW_COLUMNS)
    stamp = bulk.process((now, now), start=len(TEMPLATE_COLUMNS) + 3)
    dialect = session.connection().dialect.name
    rows = []
    here: dict[int, tuple[Any, ...]] = {}  # the templates of this batch (alive: ids are unique)
    for template, enrollment_id, owner in inserts:
        values = here.get(id(template))
        if values is None:
            cached = _driver_values.get((dialect, id(template)))
            if cached is None or cached[0] is not template:  # ids are reused once one dies
                cached = (template, bulk.process([template[c] for c in TEMPLATE_COLUMNS]))
                _driver_values[(dialect, id(template))] = cached
            values = here[id(template)] = cached[1]
        rows.append((*values, enrollment_id, owner, 0, *stamp))
    bulk.execute(rows)


def _changed(stored: Any, values: dict[str, Any]) -> bool:
    return bool(
        stored.status != values["status"]
        or stored.due != values["due"]
        or stored.opens != values["opens"]
        or bool(stored.required) != values["required"]
        or stored.escalation_schedule != values["escalation_schedule"]
        or stored.owner_staff_id != values["owner_staff_id"]
    )


def unplanned_enrollment_ids(session: Session, limit: int = 10_000) -> list[int]:
    """Enrollments whose stored plan is missing or stale: what reconciliation picks up."""
    e = Enrollment.__table__  # type: ignore[attr-defined]
    query = sa.select(e.c.id).where(needs_plan(e)).order_by(e.c.id).limit(limit)
    return list(session.execute(query).scalars())


def needs_plan(e: Any) -> Any:
    """The stored plan is missing or stale (the enrollment changed since), in an open year."""
    return sa.and_(
        sa.or_(e.c.planned_fingerprint.is_(None), e.c.planned_fingerprint != e.c.fingerprint),
        e.c.status.notin_(FROZEN),
    )


@dataclass(frozen=True)
class EnrollmentLabel:
    """How operators see an enrollment: school and student IDs, never a name."""

    enrollment_id: int
    school: str  # the school's sourcedId
    student: str  # the student's sourcedId
    student_ref: str  # initials and internal ID, as in messages

    @property
    def run_name(self) -> str:
        return f"{self.school}-{self.student}"


def enrollment_ids_by_source(session: Session, source_ids: Sequence[str]) -> dict[str, int]:
    """Enrollment ids by the feed's identity (e.g. to answer a webhook item by item)."""
    rows = enrollment_rows(session, source_ids, _labels(session))
    return {base: found[-1].id for base, found in rows.items()}


def _labels(session: Session) -> set[str]:
    from models.tables import SchoolYear

    y = SchoolYear.__table__  # type: ignore[attr-defined]
    return set(session.execute(sa.select(y.c.label).distinct()).scalars())


def describe_enrollment(session: Session, enrollment_id: int) -> EnrollmentLabel | None:
    from models.tables import Student

    e = Enrollment.__table__  # type: ignore[attr-defined]
    sc = School.__table__  # type: ignore[attr-defined]
    st = Student.__table__  # type: ignore[attr-defined]
    row = session.execute(
        sa.select(sc.c.source_id, st.c.source_id, st.c.initials, st.c.id)
        .select_from(e.join(sc, sc.c.id == e.c.school_id).join(st, st.c.id == e.c.student_id))
        .where(e.c.id == enrollment_id)
    ).first()
    if row is None:
        return None
    school, student, initials, student_id = row
    return EnrollmentLabel(enrollment_id, school, student, student_ref(initials, student_id))


def stored_plan(session: Session, enrollment_id: int) -> list[dict[str, Any]]:
    """The enrollment's steps as stored, in due order (for artifacts and reports)."""
    s = Step.__table__  # type: ignore[attr-defined]
    rows = session.execute(
        sa.select(
            s.c.kind, s.c.seq, s.c.due, s.c.required, s.c.owner_role, s.c.status, s.c.next_action_at
        )
        .where(s.c.enrollment_id == enrollment_id)
        .order_by(s.c.due, s.c.id)
    )
    return [dict(r._mapping) for r in rows]


def planned_summary(session: Session, enrollment_ids: Sequence[int]) -> list[dict[str, Any]]:
    """One row per enrollment for a run's artifact: internal id, school, step count."""
    e = Enrollment.__table__  # type: ignore[attr-defined]
    sc = School.__table__  # type: ignore[attr-defined]
    s = Step.__table__  # type: ignore[attr-defined]
    steps = sa.select(sa.func.count()).where(s.c.enrollment_id == e.c.id).scalar_subquery()
    rows: list[dict[str, Any]] = []
    for chunk in _chunks(list(enrollment_ids), 900):
        query = (
            sa.select(e.c.id, sc.c.source_id, steps)
            .select_from(e.join(sc, sc.c.id == e.c.school_id))
            .where(e.c.id.in_(chunk))
        )
        rows.extend(
            {"enrollment": i, "school": school, "steps": n}
            for i, school, n in session.execute(query)
        )
    return sorted(rows, key=lambda r: r["enrollment"])
