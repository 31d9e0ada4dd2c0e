"""The escalation sweep's database side: due steps in, recorded deliveries out, steps advanced.

One loop (`sweep`) runs the three phases; `run_sweep(sessions, now, sender)` runs it without
Prefect, so tests and a year simulator can run it thousands of times, and `flows/escalation.py`
runs it with each phase a task.

1. **prepare** (one transaction): select due steps through the partial index
   ``ix_step_next_action_at`` (``next_action_at <= now``, never a scan), claim them (``FOR UPDATE
   SKIP LOCKED`` on PostgreSQL, a still-due check under the write lock on SQLite, plus a lease:
   ``next_action_at = now + lease``), run the pure
   ``lifecycle.escalation.decide`` per step, resolve each rung's roles to staff, group the items
   into one digest per recipient per sending window and INSERT a delivery row per digest
   (``status=recorded``, unique idempotency key). Commit: every message exists before it is sent.
2. **send**: each recorded (or earlier failed) digest of this window goes to the sender (Apprise);
   each delivery row is marked sent / fallback_sent / failed right after its send.
3. **advance** (one transaction): a step whose every digest of this window is sent gets its
   ``rungs_sent`` and ``next_action_at`` moved to the next rung; a step with a failed digest keeps
   its rung and is looked at again when the lease ends (the next sweep), so nothing is lost.

Why nothing is lost or doubled: a step only moves on once its messages are marked sent. A crash
after recording leaves the step due (after the lease); the next sweep in the same window derives
the same digest, finds the delivery row by its (recipient, window, steps) identity and sends it.
Items already covered by a sent row of the same recipient and window are never listed again. A
crash between Apprise accepting a message and the row being marked sent re-sends it once.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from config.schools import school_rules
from lifecycle.access import (
    ANY_TEACHER_KINDS,
    StaffMember,
    StepAddress,
    ladder_roles,
    may_act,
    rung_recipients,
)
from lifecycle.calendar import SchoolCalendar, school_days_overdue
from lifecycle.escalation import LadderDecision, LadderState, current_window, snooze_until
from lifecycle.policy import SchoolPolicy
from lifecycle.students import student_ref
from lifecycle.types import Escalation, Role, StepKind, StepStatus
from lifecycle.welcome_call import attempts_done, decide_step
from models.db import SQLITE_BUSY_TIMEOUT_MS, SessionFactory
from models.tables import (
    Assignment,
    ContactAttempt,
    Delivery,
    DeliveryStatus,
    Enrollment,
    EnrollmentStatus,
    School,
    Staff,
    Step,
    Student,
    escalations_from_json,
)
from notifications.digest import Digest, DigestItem, delivery_key, most_urgent_first

logger = logging.getLogger(__name__)

CHUNK = 900  # bound parameters per IN (...) list
SWEEP_LOCK_WAIT_MS = 60_000  # SQLite: how long a sweep waits for another's batch to be written
OK_STATUSES = (DeliveryStatus.SENT.value, DeliveryStatus.FALLBACK_SENT.value)
RETRY_STATUSES = (DeliveryStatus.RECORDED.value, DeliveryStatus.FAILED.value)


@contextmanager
def patient_writes(session: Session) -> Iterator[None]:
    """SQLite: this session's writes wait up to `SWEEP_LOCK_WAIT_MS` for the write lock, then
    back to the usual busy timeout. Another sweep holds the lock while it records a whole batch
    (seconds on a large district); a background sweep waits for it, where failing after the 5 s
    a web request waits would leave a sent message unmarked (tests/scale, four sweeps at once)."""
    if session.get_bind().dialect.name != "sqlite":
        yield
        return
    raw = session.connection().connection.dbapi_connection
    assert raw is not None
    raw.execute(f"PRAGMA busy_timeout = {SWEEP_LOCK_WAIT_MS}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


# -- configuration --------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepConfig:
    """What the sweep needs from settings (plain values, picklable for Prefect tasks)."""

    secret_key: str = ""  # no default: from_settings reads (or generates) the data dir's secret
    base_url: str = "http://127.0.0.1:8700"
    link_ttl_days: int = 30
    batch_size: int = 50_000  # a recipient with items in two batches gets two digests
    lease: timedelta = timedelta(minutes=10)
    apprise_config: str | None = None  # Apprise YAML path (tags staff-/role-/fallback)
    default_notify_url: str | None = None  # template with {staff_id}, for staff with no target
    attempts: int = 3
    backoff: float = 1.0
    backoff_factor: float = 2.0
    smtp_url: str | None = None  # e-mail to the feed's address (notifications/mail.py)
    mail_from: str = ""
    digest_max_items: int = 20

    @classmethod
    def from_settings(cls, settings: Any = None) -> SweepConfig:
        if settings is None:
            from config.settings import get_settings

            settings = get_settings()
        template = settings.default_notify_url or None
        if template:
            template = template.replace("{sink_port}", str(settings.sink_port))
        config_path = Path(settings.apprise_config)
        return cls(
            secret_key=settings.signing_secret,  # refuses a weak one outside dev mode
            base_url=settings.base_url,
            link_ttl_days=settings.link_ttl_days,
            batch_size=settings.sweep_batch_size,
            lease=timedelta(minutes=settings.sweep_lease_minutes),
            apprise_config=str(config_path) if config_path.is_file() else None,
            default_notify_url=template,
            attempts=settings.delivery_attempts,
            backoff=settings.delivery_backoff_seconds,
            backoff_factor=settings.delivery_backoff_factor,
            smtp_url=settings.smtp_url or None,
            mail_from=settings.mail_from,
            digest_max_items=settings.digest_max_items,
        )


# -- what the phases pass along -------------------------------------------------------------------
@dataclass(frozen=True)
class Recipient:
    staff_id: int
    name: str
    roles: tuple[str, ...]
    school_id: int | None
    notify_url: str | None
    fallback_url: str | None
    email: str | None = None  # from the feed; used when ILP_SMTP_URL is set


@dataclass(frozen=True)
class Outgoing:
    """One recorded digest to send. `digest` has no links yet: the sender signs them."""

    delivery_id: int
    key: str
    digest: Digest
    recipient: Recipient
    level: int
    now: datetime
    ack_pause_days: int = 2
    prior_attempts: int = 0


@dataclass(frozen=True)
class StepAdvance:
    """How a step moves on once all its digests of this window are sent."""

    step_id: int
    old_rungs: int
    rungs_sent: int
    next_action_at: datetime | None
    delivery_keys: tuple[str, ...]


@dataclass
class SweepBatch:
    """What `prepare` recorded: the digests to send and the steps waiting on them."""

    now: datetime
    steps_due: int = 0
    steps_held: int = 0  # decided "nothing to send now" (closed, paused, outside window...)
    items: int = 0  # (recipient, step) pairs decided this batch
    recorded: int = 0  # new delivery rows
    outgoing: list[Outgoing] = field(default_factory=list)
    advances: list[StepAdvance] = field(default_factory=list)
    already_sent: set[str] = field(default_factory=set)  # keys of rows sent earlier
    unresolved: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeliveryOutcome:
    delivery_id: int
    key: str
    recipient_staff_id: int
    step_ids: tuple[int, ...]
    level: int
    window_start: datetime
    status: str
    attempts: int
    error: str | None
    target: str | None


@dataclass
class SweepReport:
    now: datetime
    batches: int = 0
    steps_due: int = 0
    steps_held: int = 0
    steps_advanced: int = 0
    items: int = 0
    recorded: int = 0
    deliveries: list[DeliveryOutcome] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(1 for d in self.deliveries if d.status in OK_STATUSES)

    @property
    def fallback(self) -> int:
        return sum(1 for d in self.deliveries if d.status == DeliveryStatus.FALLBACK_SENT.value)

    @property
    def failed(self) -> list[DeliveryOutcome]:
        return [d for d in self.deliveries if d.status == DeliveryStatus.FAILED.value]

    def add(self, batch: SweepBatch, advanced: int, outcomes: Iterable[DeliveryOutcome]) -> None:
        self.batches += 1
        self.steps_due += batch.steps_due
        self.steps_held += batch.steps_held
        self.steps_advanced += advanced
        self.items += batch.items
        self.recorded += batch.recorded
        self.deliveries.extend(outcomes)
        self.unresolved.extend(batch.unresolved)

    def summary(self) -> dict[str, Any]:
        return {
            "now": self.now.isoformat(),
            "steps_due": self.steps_due,
            "steps_held": self.steps_held,
            "steps_advanced": self.steps_advanced,
            "items": self.items,
            "recorded": self.recorded,
            "sent": self.sent,
            "fallback": self.fallback,
            "failed": len(self.failed),
            "unresolved": len(self.unresolved),
        }


# -- pure helpers ---------------------------------------------------------------------------------


@lru_cache(maxsize=65536)
def _schedule(raw: str) -> tuple[Escalation, ...]:
    import json

    return escalations_from_json(json.loads(raw))


def _parse_schedule(value: Any) -> tuple[Escalation, ...]:
    if isinstance(value, str):
        return _schedule(value)
    return escalations_from_json(value or [])


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# -- phase 1: select, decide, record --------------------------------------------------------------
def _due_query(now: datetime, limit: int) -> sa.Select[Any]:
    s = Step.__table__  # type: ignore[attr-defined]
    e = Enrollment.__table__  # type: ignore[attr-defined]
    st = Student.__table__  # type: ignore[attr-defined]
    return (
        sa.select(
            s.c.id,
            s.c.kind,
            s.c.due,
            s.c.owner_role,
            s.c.owner_staff_id,
            s.c.status,
            sa.type_coerce(s.c.escalation_schedule, sa.Text).label("schedule"),
            s.c.rungs_sent,
            s.c.acknowledged_until,
            s.c.snoozed_until,
            e.c.school_id,
            e.c.student_id,
            e.c.withdrawn_on,
            e.c.status.label("enrollment_status"),
            st.c.initials,
        )
        .select_from(s.join(e, e.c.id == s.c.enrollment_id).join(st, st.c.id == e.c.student_id))
        # `IS NOT NULL` matches the partial index's predicate, so the planner may use it.
        .where(s.c.next_action_at.is_not(None), s.c.next_action_at <= now)
        .order_by(s.c.next_action_at, s.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=s)
    )


class _Directory:
    """Active staff for one batch (by id, by school and role, district-wide) and the batch's
    students' assignments: the `lifecycle.access.StaffLookup` that rung recipients come from."""

    def __init__(
        self, session: Session, school_ids: set[int], owner_ids: set[int], student_ids: set[int]
    ) -> None:
        self.session = session
        self.student_ids = student_ids
        self.by_id: dict[int, Recipient] = {}
        self.by_school_role: dict[tuple[int | None, str], list[int]] = defaultdict(list)
        t = Staff.__table__  # type: ignore[attr-defined]
        cols = (
            t.c.id,
            t.c.given_name,
            t.c.family_name,
            t.c.roles,
            t.c.school_id,
            t.c.notify_url,
            t.c.fallback_url,
            t.c.email,
            t.c.school_roles,
        )
        # Staff whose 1.2 roles.csv gives roles per school are indexed under each of those
        # schools, so a principal of a second school is on that school's ladder too.
        query = sa.select(*cols).where(
            t.c.active.is_(True),
            sa.or_(
                t.c.school_id.in_(sorted(school_ids)),
                t.c.school_id.is_(None),
                sa.cast(t.c.school_roles, sa.String) != "{}",
            ),
        )
        self._add(session.execute(query.order_by(t.c.id)))
        missing = sorted(owner_ids - set(self.by_id))
        for chunk in _chunks(missing):
            self._add(
                session.execute(sa.select(*cols).where(t.c.active.is_(True), t.c.id.in_(chunk))),
                index=False,
            )
        self._assigned: dict[tuple[int, str], list[int]] | None = None

    def _add(self, rows: Iterable[Any], index: bool = True) -> None:
        for row in rows:
            roles = tuple(row.roles or ())
            self.by_id[row.id] = Recipient(
                row.id,
                f"{row.given_name} {row.family_name}".strip(),
                roles,
                row.school_id,
                row.notify_url,
                row.fallback_url,
                row.email,
            )
            if not index:
                continue
            per_school = row.school_roles or {}
            for school, school_roles in per_school.items():
                for role in school_roles:
                    self.by_school_role[(int(school), role)].append(row.id)
            placed = {role for school_roles in per_school.values() for role in school_roles}
            for role in roles:
                if role not in placed:
                    self.by_school_role[(row.school_id, role)].append(row.id)

    def is_active(self, staff_id: int) -> bool:
        return staff_id in self.by_id

    def at_school(self, school_id: int, role: str) -> list[int]:
        return self.by_school_role.get((school_id, role), [])

    def district_wide(self, role: str) -> list[int]:
        return self.by_school_role.get((None, role), [])

    def assigned(self, student_id: int, role: str) -> list[int]:
        if self._assigned is None:
            self._assigned = defaultdict(list)
            a = Assignment.__table__  # type: ignore[attr-defined]
            for chunk in _chunks(sorted(self.student_ids)):
                query = sa.select(a.c.student_id, a.c.role, a.c.staff_id).where(
                    a.c.student_id.in_(chunk)
                )
                for sid, r, staff_id in self.session.execute(query):
                    self._assigned[(sid, Role(r).value)].append(staff_id)
        return [i for i in self._assigned.get((student_id, role), []) if i in self.by_id]


def _insert_ignore(session: Session, rows: list[dict[str, Any]]) -> None:
    table = Delivery.__table__  # type: ignore[attr-defined]
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:  # pragma: no cover - the two supported databases are above
        raise RuntimeError(f"unsupported database {dialect!r}")
    for chunk in _chunks(rows, 500):
        stmt = insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"])
        session.execute(stmt, list(chunk))


def _attempts_done(
    session: Session, step_ids: list[int], rules: dict[int, tuple[SchoolCalendar, SchoolPolicy]]
) -> set[int]:
    """Welcome-call steps whose contact succeeded or that have enough failed attempts (the
    school's minimum, on its minimum number of different local days)."""
    times: dict[int, list[datetime]] = {}
    succeeded: set[int] = set()
    c = ContactAttempt.__table__  # type: ignore[attr-defined]
    for chunk in _chunks(step_ids):
        query = sa.select(c.c.step_id, c.c.at, c.c.succeeded).where(c.c.step_id.in_(chunk))
        for step_id, at, ok in session.execute(query):
            if ok:
                succeeded.add(step_id)
            else:
                times.setdefault(step_id, []).append(at)
    done = set(succeeded)
    for step_id, moments in times.items():
        calendar, policy = rules[step_id]
        days = [calendar.local_date(at) for at in moments]
        minimum, spread = policy.welcome_call_min_attempts, policy.welcome_call_min_attempt_days
        if attempts_done(days, False, minimum, spread):
            done.add(step_id)
    return done


Group = tuple[
    int, datetime, int | None
]  # (recipient, window, step id if the school sends no digests)


@dataclass(frozen=True)
class _Sending:
    """A due step with something to send now, in the sending window `window`."""

    row: Any
    decision: LadderDecision
    window: datetime


@dataclass
class _Addressed:
    """Each recipient's items per group, which groups each step is in, each group's ack pause."""

    items: dict[Group, list[DigestItem]] = field(default_factory=lambda: defaultdict(list))
    step_groups: dict[int, list[Group]] = field(default_factory=lambda: defaultdict(list))
    ack_days: dict[Group, int] = field(default_factory=dict)


Rules = dict[int, tuple[SchoolCalendar, SchoolPolicy]]


def prepare(session: Session, now: datetime, config: SweepConfig) -> SweepBatch:
    """Phase 1 for up to `config.batch_size` due steps. The caller commits.

    Every selected step leaves the due set (advanced, held or leased), so calling this again
    after a commit returns the next batch, and an empty batch means the sweep is done.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    with patient_writes(session):
        return _prepare(session, now.astimezone(UTC), config, locked=False)


def _prepare(session: Session, now: datetime, config: SweepConfig, locked: bool) -> SweepBatch:
    batch = SweepBatch(now=now)
    rows = session.execute(_due_query(now, config.batch_size)).all()
    if not rows:
        return batch
    batch.steps_due = len(rows)
    rules = _school_rules(session, {r.school_id for r in rows})
    held, sending = _decide_all(rows, rules, _welcome_calls_done(session, rows, rules), now)
    batch.steps_held = len(held)
    directory = _Directory(
        session,
        {s.row.school_id for s in sending},
        {s.row.owner_staff_id for s in sending if s.row.owner_staff_id is not None},
        {s.row.student_id for s in sending},
    )
    addressed = _address(sending, rules, directory, batch, now, _school_names(session, rules))
    if not locked and not _still_due_under_write_lock(session, [r.id for r in rows], now):
        # Another sweep claimed some of them since the select: again, now that nobody can.
        return _prepare(session, now, config, locked=True)
    group_keys = _record_deliveries(session, addressed, directory, batch)
    for item in sending:
        row, decision = item.row, item.decision
        groups = addressed.step_groups.get(row.id, [])
        keys = tuple(dict.fromkeys(k for g in groups for k in group_keys[g]))
        batch.advances.append(
            StepAdvance(row.id, row.rungs_sent, decision.rungs_sent, decision.next_action_at, keys)
        )
    _hold_and_claim(session, held, [s.row.id for s in sending], now + config.lease)
    return batch


def _still_due_under_write_lock(session: Session, step_ids: list[int], now: datetime) -> bool:
    """SQLite has no FOR UPDATE: two sweeps can select the same due steps before either writes
    its lease, and both would send them (`ilp sweep` by hand while the scheduled one runs;
    tests/scale). So before the first write, take the database's write lock (a write that
    changes nothing: held until the commit) and check that every selected step is still due; if
    one is not, a sweep that held the lock before claimed it, and the caller starts over under
    the lock. The lock is taken after the select and the decisions, so web actions wait no
    longer than for the writes. PostgreSQL: SKIP LOCKED in `_due_query` instead (always True)."""
    if session.get_bind().dialect.name != "sqlite":
        return True
    s = Step.__table__  # type: ignore[attr-defined]
    # waits as long as `patient_writes` (prepare) lets it for another sweep's batch
    session.execute(sa.update(s).where(sa.false()).values(rungs_sent=s.c.rungs_sent))
    still = 0
    for chunk in _chunks(step_ids):
        still += session.execute(
            sa.select(sa.func.count()).where(
                s.c.id.in_(chunk), s.c.next_action_at.is_not(None), s.c.next_action_at <= now
            )
        ).scalar_one()
    return still == len(step_ids)


def _school_names(session: Session, school_ids: Iterable[int]) -> dict[int, str]:
    sc = School.__table__  # type: ignore[attr-defined]
    query = sa.select(sc.c.id, sc.c.name).where(sc.c.id.in_(sorted(school_ids)))
    return {school.id: school.name for school in session.execute(query)}


def _school_rules(session: Session, school_ids: set[int]) -> Rules:
    sc = School.__table__  # type: ignore[attr-defined]
    query = sa.select(sc.c.id, sc.c.calendar, sc.c.policy).where(sc.c.id.in_(school_ids))
    return {
        school.id: school_rules(school.calendar, school.policy) for school in session.execute(query)
    }


def _welcome_calls_done(session: Session, rows: Sequence[Any], rules: Rules) -> set[int]:
    welcome = [r.id for r in rows if StepKind(r.kind) is StepKind.WELCOME_CALL]
    if not welcome:
        return set()
    return _attempts_done(session, welcome, {r.id: rules[r.school_id] for r in rows})


def _ladder_state(row: Any, calendar: SchoolCalendar, policy: SchoolPolicy) -> LadderState:
    return LadderState(
        status=StepStatus(row.status),
        rungs_sent=row.rungs_sent,
        acknowledged_until=row.acknowledged_until,
        snoozed_until=(
            snooze_until(row.snoozed_until, row.due, calendar, policy)
            if row.snoozed_until
            else None
        ),
        withdrawn=row.withdrawn_on is not None
        or row.enrollment_status == EnrollmentStatus.WITHDRAWN.value,
    )


def _decide_all(
    rows: Sequence[Any], rules: Rules, attempts_done: set[int], now: datetime
) -> tuple[list[dict[str, Any]], list[_Sending]]:
    """Run the pure ladder over each row: steps to hold (with their next action) and to send."""
    held: list[dict[str, Any]] = []
    sending: list[_Sending] = []
    windows: dict[int, datetime] = {}  # per school: the sending window `now` is in
    for row in rows:
        calendar, policy = rules[row.school_id]
        decision = decide_step(
            _parse_schedule(row.schedule),
            _ladder_state(row, calendar, policy),
            now,
            calendar,
            policy,
            attempts_done=row.id in attempts_done,
        )
        if decision.send is None:
            held.append(
                {"b_id": row.id, "b_rungs": decision.rungs_sent, "b_next": decision.next_action_at}
            )
            continue
        if row.school_id not in windows:
            windows[row.school_id] = current_window(now, calendar, policy)
        sending.append(_Sending(row, decision, windows[row.school_id]))
    return held, sending


def _address(
    sending: list[_Sending],
    rules: Rules,
    directory: _Directory,
    batch: SweepBatch,
    now: datetime,
    school_names: dict[int, str] | None = None,
) -> _Addressed:
    """Who hears of each step at this rung, and in which digest (group) it goes."""
    out = _Addressed()
    names = school_names or {}
    for item in sending:
        row, rung = item.row, item.decision.send
        assert rung is not None
        calendar, policy = rules[row.school_id]
        address = StepAddress(row.school_id, row.student_id, row.owner_role, row.owner_staff_id)
        recipients = rung_recipients(rung.notify, address, directory)
        if not recipients:
            batch.unresolved.append(
                f"step {row.id} level {rung.level}: nobody holds "
                f"{', '.join(Role(r).value for r in rung.notify)} at school {row.school_id}"
            )
        overdue = policy.is_overdue_level(rung.level)
        owner = directory.by_id.get(row.owner_staff_id) if row.owner_staff_id else None
        digest_item = DigestItem(
            step_id=row.id,
            step_kind=StepKind(row.kind),
            student_ref=student_ref(row.initials, row.student_id),
            due=row.due,
            level=rung.level,
            attempt_day=rung.attempt_day,
            school_id=row.school_id,
            school_days_overdue=(
                school_days_overdue(calendar, row.due, calendar.local_date(now))
                if policy.is_due_or_later(rung.level)
                else None
            ),
            overdue=overdue,
            owner_staff_id=row.owner_staff_id,
            owner_name=owner.name if owner else "",
            school_name=names.get(row.school_id, ""),
        )
        today = calendar.local_date(now)
        for staff_id in recipients:
            group = (staff_id, item.window, None if policy.digest else row.id)
            offered = _offered(row, directory, staff_id, today)
            out.items[group].append(
                digest_item
                if offered == digest_item.actions
                else replace(digest_item, actions=offered)
            )
            out.step_groups[row.id].append(group)
            out.ack_days[group] = policy.ack_pause_school_days
        batch.items += len(recipients)
    return out


def _offered(row: Any, directory: _Directory, staff_id: int, today: date) -> tuple[str, ...]:
    """The actions the web app will accept from this recipient, so the digest offers no
    other: acknowledge and complete when `lifecycle.access.may_act` lets them act, snooze
    also only while the step is not past due (`services.actions.snooze` refuses later)."""
    person = directory.by_id.get(staff_id)
    if person is None:
        return ()
    member = StaffMember(staff_id, frozenset(person.roles), person.school_id)
    kind = StepKind(row.kind)
    teachers = (
        frozenset(directory.assigned(row.student_id, Role.TEACHER.value))
        if kind in ANY_TEACHER_KINDS
        else frozenset()
    )
    schedule = _parse_schedule(row.schedule)
    allowed = may_act(
        member,
        row.owner_staff_id,
        ladder_roles(rung.notify for rung in schedule),
        row.school_id,
        kind=kind,
        teachers=teachers,
    )
    if not allowed:
        return ()
    return (
        ("acknowledge", "complete", "snooze") if row.due >= today else ("acknowledge", "complete")
    )


def _record_deliveries(
    session: Session, addressed: _Addressed, directory: _Directory, batch: SweepBatch
) -> dict[Group, list[str]]:
    """Find or write the delivery row of every group's items; queue what is not sent yet.

    An item already in a row of the same recipient and window keeps that row (sent: nothing to
    do; recorded or failed: send it again); the rest make one new row per group. Returns each
    group's delivery keys."""
    existing = _existing_deliveries(session, addressed.items)
    new_rows: list[dict[str, Any]] = []
    group_keys: dict[Group, list[str]] = {}
    to_send: dict[str, tuple[Group, list[DigestItem], Any]] = {}
    for group, items in addressed.items.items():
        staff_id, window, _ = group
        covering = existing.get((staff_id, window), [])
        keys: list[str] = []
        uncovered: list[DigestItem] = []
        for item in items:
            row = next((d for d in covering if item.step_id in d.step_ids), None)
            if row is None:
                uncovered.append(item)
                continue
            keys.append(row.idempotency_key)
            if row.status in OK_STATUSES:
                batch.already_sent.add(row.idempotency_key)
            else:
                to_send.setdefault(row.idempotency_key, (group, [], row))[1].append(item)
        if uncovered:
            ordered = most_urgent_first(uncovered)
            key = delivery_key(
                staff_id, [i.step_id for i in ordered], [i.level for i in ordered], window
            )
            keys.append(key)
            new_rows.append(_delivery_row(key, staff_id, ordered, window, batch.now))
            to_send[key] = (group, list(ordered), None)
        group_keys[group] = keys
    if new_rows:
        _insert_ignore(session, new_rows)
        batch.recorded = len(new_rows)
    ids = _ids_by_key(session, [k for k, (_, _, row) in to_send.items() if row is None])
    for key, (group, items, row) in to_send.items():
        delivery_id, attempts = (row.id, row.attempts) if row is not None else ids[key]
        batch.outgoing.append(
            _outgoing(key, delivery_id, attempts, group, items, directory, addressed, batch.now)
        )
    return group_keys


def _delivery_row(
    key: str, staff_id: int, items: Sequence[DigestItem], window: datetime, now: datetime
) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "recipient_staff_id": staff_id,
        "step_ids": [i.step_id for i in items],
        "level": max(i.level for i in items),
        "window_start": window,
        "status": DeliveryStatus.RECORDED.value,
        "attempts": 0,
        "created_at": now,
    }


def _outgoing(
    key: str,
    delivery_id: int,
    attempts: int,
    group: Group,
    items: list[DigestItem],
    directory: _Directory,
    addressed: _Addressed,
    now: datetime,
) -> Outgoing:
    staff_id, window, _ = group
    ordered = most_urgent_first(items)
    return Outgoing(
        delivery_id=delivery_id,
        key=key,
        digest=Digest(
            staff_id,
            directory.by_id[staff_id].name,
            window,
            ordered,
            summarise_by=summarise_by(directory.by_id[staff_id].roles),
        ),
        recipient=directory.by_id[staff_id],
        level=max(i.level for i in ordered),
        now=now,
        ack_pause_days=addressed.ack_days[group],
        prior_attempts=attempts,
    )


def summarise_by(roles: Iterable[str]) -> str:
    """A regional VP's digest counts per school, a coordinator's or principal's per teacher;
    everyone else's lists their items."""
    held = set(roles)
    if Role.REGIONAL_VP.value in held:
        return "school"
    if held & {Role.ILP_COORDINATOR.value, Role.PRINCIPAL.value}:
        return "owner"
    return ""


def _hold_and_claim(
    session: Session, held: list[dict[str, Any]], claimed: list[int], lease_until: datetime
) -> None:
    """Held steps move to their next action; claimed ones are leased until they are sent."""
    s = Step.__table__  # type: ignore[attr-defined]
    if held:
        session.execute(
            sa.update(s)
            .where(s.c.id == sa.bindparam("b_id"))
            .values(rungs_sent=sa.bindparam("b_rungs"), next_action_at=sa.bindparam("b_next")),
            held,
        )
    for chunk in _chunks(claimed):
        session.execute(sa.update(s).where(s.c.id.in_(chunk)).values(next_action_at=lease_until))


def _existing_deliveries(
    session: Session, groups: Iterable[Group]
) -> dict[tuple[int, datetime], list[Any]]:
    """Delivery rows already written for these (recipient, window) pairs."""
    wanted = {(g[0], g[1]) for g in groups}
    if not wanted:
        return {}
    d = Delivery.__table__  # type: ignore[attr-defined]
    windows = sorted({w for _, w in wanted})
    found: dict[tuple[int, datetime], list[Any]] = defaultdict(list)
    for chunk in _chunks(sorted({r for r, _ in wanted})):
        query = sa.select(
            d.c.id,
            d.c.idempotency_key,
            d.c.recipient_staff_id,
            d.c.step_ids,
            d.c.window_start,
            d.c.status,
            d.c.attempts,
        ).where(d.c.recipient_staff_id.in_(chunk), d.c.window_start.in_(windows))
        for row in session.execute(query):
            pair = (row.recipient_staff_id, row.window_start)
            if pair in wanted:
                found[pair].append(row)
    return found


def _ids_by_key(session: Session, keys: list[str]) -> dict[str, tuple[int, int]]:
    d = Delivery.__table__  # type: ignore[attr-defined]
    out: dict[str, tuple[int, int]] = {}
    for chunk in _chunks(keys):
        for row in session.execute(
            sa.select(d.c.idempotency_key, d.c.id, d.c.attempts).where(
                d.c.idempotency_key.in_(chunk)
            )
        ):
            out[row.idempotency_key] = (row.id, row.attempts)
    return out


# -- phase 2: mark ---------------------------------------------------------------------------------
def outcome_for(outgoing: Outgoing, result: Any) -> DeliveryOutcome:
    """The delivery row's new state for a `notifications.deliver.DeliveryResult`."""
    if result.ok:
        sent = DeliveryStatus.FALLBACK_SENT if result.used_fallback else DeliveryStatus.SENT
        status = sent.value
    else:
        status = DeliveryStatus.FAILED.value
    return DeliveryOutcome(
        delivery_id=outgoing.delivery_id,
        key=outgoing.key,
        recipient_staff_id=outgoing.digest.recipient_staff_id,
        step_ids=outgoing.digest.step_ids,
        level=outgoing.level,
        window_start=outgoing.digest.window_start,
        status=status,
        attempts=outgoing.prior_attempts + int(result.attempts),
        error=result.error,
        target=result.delivered_tag,
    )


def mark_deliveries(session: Session, outcomes: Iterable[DeliveryOutcome], now: datetime) -> None:
    """Write each delivery's status, attempts, error and target. The caller commits."""
    d = Delivery.__table__  # type: ignore[attr-defined]
    params = [
        {
            "b_id": o.delivery_id,
            "b_status": o.status,
            "b_attempts": o.attempts,
            "b_error": o.error,
            "b_target": o.target,
            "b_sent_at": now if o.status in OK_STATUSES else None,
        }
        for o in outcomes
    ]
    if params:
        with patient_writes(session):
            session.execute(
                sa.update(d)
                .where(d.c.id == sa.bindparam("b_id"))
                .values(
                    status=sa.bindparam("b_status"),
                    attempts=sa.bindparam("b_attempts"),
                    last_error=sa.bindparam("b_error"),
                    target=sa.bindparam("b_target"),
                    sent_at=sa.bindparam("b_sent_at"),
                ),
                params,
            )


# -- phase 3: advance -----------------------------------------------------------------------------
def advance(session: Session, batch: SweepBatch, outcomes: Iterable[DeliveryOutcome]) -> int:
    """Move every step whose digests are all sent to its next rung. The caller commits.

    A step with a failed digest keeps its rung and its lease: the next sweep looks again (same
    window: the failed row is retried; a later window: a new digest, nothing lost). The update is
    guarded by the old rung count and `status = open`, so a step completed meanwhile stays so.
    """
    with patient_writes(session):
        return _advance(session, batch, outcomes)


def _advance(session: Session, batch: SweepBatch, outcomes: Iterable[DeliveryOutcome]) -> int:
    ok = set(batch.already_sent)
    ok.update(o.key for o in outcomes if o.status in OK_STATUSES)
    s = Step.__table__  # type: ignore[attr-defined]
    params = [
        {
            "b_id": a.step_id,
            "b_old": a.old_rungs,
            "b_rungs": a.rungs_sent,
            "b_next": a.next_action_at,
        }
        for a in batch.advances
        if all(k in ok for k in a.delivery_keys)
    ]
    if params:
        session.execute(
            sa.update(s)
            .where(
                s.c.id == sa.bindparam("b_id"),
                s.c.rungs_sent == sa.bindparam("b_old"),
                s.c.status == StepStatus.OPEN.value,
            )
            .values(rungs_sent=sa.bindparam("b_rungs"), next_action_at=sa.bindparam("b_next")),
            params,
        )
    supersede_stale(session, outcomes)
    return len(params)


def supersede_stale(session: Session, outcomes: Iterable[DeliveryOutcome]) -> int:
    """Close the rows a crash left `recorded` in a window that has passed.

    Such a row is never sent (a sweep sends only its own window's rows); its steps stayed due
    and went out in a later digest. Once that later digest to the same recipient is sent, the
    old row says so instead of looking like a message still in flight.
    """
    later: dict[int, DeliveryOutcome] = {}
    for o in outcomes:
        if o.status in OK_STATUSES:
            seen = later.get(o.recipient_staff_id)
            if seen is None or o.window_start > seen.window_start:
                later[o.recipient_staff_id] = o
    if not later:
        return 0
    d = Delivery.__table__  # type: ignore[attr-defined]
    stale = session.execute(
        sa.select(d.c.id, d.c.recipient_staff_id, d.c.window_start).where(
            d.c.status == DeliveryStatus.RECORDED.value
        )
    ).all()
    params = [
        {
            "b_id": row.id,
            "b_error": f"not sent in its window; its open items went out in delivery "
            f"{later[row.recipient_staff_id].delivery_id}",
        }
        for row in stale
        if row.recipient_staff_id in later
        and _utc(row.window_start) < _utc(later[row.recipient_staff_id].window_start)
    ]
    if params:
        with patient_writes(session):
            session.execute(
                sa.update(d)
                .where(d.c.id == sa.bindparam("b_id"), d.c.status == DeliveryStatus.RECORDED.value)
                .values(status=DeliveryStatus.SUPERSEDED.value, last_error=sa.bindparam("b_error")),
                params,
            )
    return len(params)


def _utc(moment: datetime) -> datetime:
    """SQLite hands back naive UTC datetimes; PostgreSQL aware ones."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- the whole sweep, without Prefect -------------------------------------------------------------
Sender = Callable[[Outgoing], Any]  # returns a notifications.deliver.DeliveryResult


@dataclass(frozen=True)
class SweepPhases:
    """How one sweep records, sends and advances a batch. `run_sweep` passes plain calls; the
    Prefect flow passes tasks, so operators see each phase. Either way the loop is `sweep`."""

    record: Callable[[], SweepBatch]
    send: Callable[[SweepBatch], list[DeliveryOutcome]]
    advance: Callable[[SweepBatch, list[DeliveryOutcome]], int]


def sweep(now: datetime, phases: SweepPhases) -> SweepReport:
    """Record, send and advance batch by batch until nothing is due at `now`."""
    report = SweepReport(now=now.astimezone(UTC))
    while True:
        batch = phases.record()
        if not batch.steps_due:
            break
        outcomes = phases.send(batch)
        report.add(batch, phases.advance(batch, outcomes), outcomes)
    for line in report.unresolved:
        logger.warning("unresolved recipient: %s", line)
    return report


def run_sweep(
    sessions: SessionFactory,
    now: datetime,
    sender: Sender | None = None,
    config: SweepConfig | None = None,
) -> SweepReport:
    """The sweep without Prefect: `sender` defaults to `AppriseSender(config)`. Each delivery
    row is marked right after its send, so a crash re-sends at most the one message in flight."""
    config = config or SweepConfig.from_settings()
    from services.intake import apply_dated_changes

    apply_dated_changes(sessions, now)  # withdrawals and start dates due today take effect first
    if sender is None:
        from notifications.sender import AppriseSender

        sender = AppriseSender(config)
    send_one = sender

    def record() -> SweepBatch:
        with sessions() as session:
            return prepare(session, now, config)

    def send(batch: SweepBatch) -> list[DeliveryOutcome]:
        outcomes = []
        for outgoing in batch.outgoing:
            outcome = outcome_for(outgoing, send_one(outgoing))
            with sessions() as session:
                mark_deliveries(session, [outcome], batch.now)
            outcomes.append(outcome)
        return outcomes

    def advance_batch(batch: SweepBatch, outcomes: list[DeliveryOutcome]) -> int:
        with sessions() as session:
            return advance(session, batch, outcomes)

    return sweep(now, SweepPhases(record, send, advance_batch))


def failed_rows(outcomes: Iterable[DeliveryOutcome]) -> list[dict[str, Any]]:
    """Failed deliveries as table rows for an artifact (no student data: ids only)."""
    return [
        {
            "delivery": o.delivery_id,
            "recipient staff id": o.recipient_staff_id,
            "steps": ", ".join(map(str, o.step_ids)),
            "level": o.level,
            "window (UTC)": o.window_start.astimezone(UTC).isoformat(timespec="minutes"),
            "attempts": o.attempts,
            "error": o.error or "",
        }
        for o in outcomes
        if o.status == DeliveryStatus.FAILED.value
    ]


__all__ = [
    "DeliveryOutcome",
    "Outgoing",
    "Recipient",
    "SweepBatch",
    "SweepConfig",
    "SweepReport",
    "advance",
    "failed_rows",
    "mark_deliveries",
    "outcome_for",
    "prepare",
    "run_sweep",
    "sweep",
    "SweepPhases",
    "supersede_stale",
]
