"""A school year on a virtual clock: the sample district, the real sweep, simulated staff.

    from ilp.simulate import SimulationConfig, simulate
    result = simulate(SimulationConfig(start=date(2026, 8, 17), end=date(2027, 5, 28)))

What happens (no Prefect, nothing sleeps; `now` is an argument everywhere):

1. A fresh SQLite database under ``out`` (default ``var/simulation/ilp.db``), filled from the
   deterministic sample OneRoster district (``intake.generate.write_sample_district``) through
   the same service path as ``ilp import``: parse, record the feed run, apply, plan.
2. For every day from ``start`` to ``end`` that is a school day at some school:
   - the escalation sweep (``services.sweep.run_sweep``) runs at each school's sending-window
     opening (07:00 local by default), and with ``midday`` once more at 12:00;
   - staff react to the digests they just received (some acknowledge an overdue item, some
     snooze a reminder until its due date) and then work through their open steps at 10:00
     local through ``services.actions`` (``complete`` with the step's real form,
     ``log_contact_attempt`` for welcome calls), exactly as the web app would.
   - on the day after a school's last instructional day, when its file configures a next
     year, the year rollover (``services.rollover``) runs as the ``year-rollover`` deployment
     would: the old year's open steps close, returning students are planned on the new
     year's calendar, and the days go on in the new year;
3. At the end of every week (Sunday 23:59 local) the compliance report
   (``services.report.compliance_report``) is taken: the timeline. The chart is written as an SVG
   inside a self-contained HTML page (``timeline.html``) and, when Chromium is installed, as a
   PNG screenshot of that page (``timeline.png``); the table as ``timeline.csv`` and JSON.

How staff behave (seeded; every choice is a pure function of the seed and the step id, so a
re-run with the same seed does the same thing):

| persona (per step) | share | what they do |
| --- | --- | --- |
| early | 35% | complete on a school day between the step opening and its due date |
| on the due date | 25% | complete on the last school day on or before the due date |
| late | 25% | complete 2 to 20 days after the due date, after the overdue messages |
| never | 15% | never complete it (it stays overdue) |

Welcome calls: 65% of families are reached on attempt 1-3, 20% never answer (five failed
attempts are logged, which completes the call; the welcome note is then filed as "contact
unsuccessful"), 10% of teachers never call, 5% start two weeks late. Attempts are 1-2 school
days apart. Of the digests received, 30% of overdue items (level 2+) are acknowledged and 10% of
reminders (level 0) are snoozed until the due date. About 4% of students (``withdraw_rate``)
withdraw on a seeded day of the year, sent as a delta feed through the feed store like any
other withdrawal, so their overdue steps become **missed** and their later steps cancelled.

Delivery: by default every digest goes through real Apprise (``notifications.sender``) to a real
local sink (``notifications.sink`` in its own process on a free port, messages in
``out/sink/messages.jsonl``). ``deliver=False`` (``--no-deliver``) counts digests with a
recording sender instead (no HTTP), for speed.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import logging
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import col

from lifecycle.calendar import SchoolCalendar
from lifecycle.policy import SchoolPolicy
from lifecycle.types import StepKind, StepStatus
from notifications.sink import sink_process, sink_state
from services.report import BUCKETS, Counts, compliance_report

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from rich.progress import Progress
    from sqlmodel import Session

    from models.tables import ContactMethod, Step
    from notifications.deliver import DeliveryResult
    from services.actions import Actor
    from services.sweep import DeliveryOutcome, Outgoing, Sender, SweepConfig

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = Path("var/simulation")
ACT_AT = dtime(10, 0)  # when simulated staff work, local time
MIDDAY = dtime(12, 0)
COLORS = {
    "on_time": "#1e7b45",
    "late": "#e0a100",
    "overdue": "#d9480f",
    "missed": "#7a1f1f",
    "open": "#b8c2cf",
}
LABELS = {
    "on_time": "on time",
    "late": "late",
    "overdue": "overdue (open, past due)",
    "missed": "missed (withdrawn)",
    "open": "open (not yet due)",
}


# --- configuration and results ----------------------------------------------------------------


@dataclass(frozen=True)
class SimulationConfig:
    start: date = date(2026, 8, 17)
    end: date = date(2027, 5, 28)
    students: int = 1000
    schools: int = 3
    seed: int = 2026
    out: Path = DEFAULT_OUT
    deliver: bool = True  # real Apprise to a real local sink; False: count only
    midday: bool = False  # a second sweep at 12:00 local
    png: bool = True  # render timeline.png with headless Chromium when available
    progress: bool = True  # a rich progress bar on stderr
    sink_url: str | None = None  # an already running sink (http://host:port); default: start one
    schools_dir: Path | None = None  # school TOML configs; default: the repository's
    withdraw_rate: float = 0.04  # share of students who withdraw during the simulated span


@dataclass(frozen=True)
class WeekRow:
    week_start: date  # Monday
    week_end: date  # Sunday (or the simulation's last day)
    counts: Counts  # required steps, as of week_end 23:59 local
    optional: Counts
    steps_in_db: int  # required, non-cancelled steps in the database at that moment
    digests: int  # digests delivered during the week
    actions: int  # staff actions done during the week

    def as_dict(self) -> dict[str, Any]:
        return {
            "week_start": self.week_start.isoformat(),
            "week_end": self.week_end.isoformat(),
            **{b: getattr(self.counts, b) for b in BUCKETS},
            "total": self.counts.total,
            "steps_in_db": self.steps_in_db,
            "optional_total": self.optional.total,
            "digests": self.digests,
            "actions": self.actions,
        }


@dataclass
class SimulationResult:
    config: SimulationConfig
    db_url: str
    weeks: list[WeekRow] = field(default_factory=list)
    school_days: int = 0
    sweeps: int = 0
    digests: int = 0  # delivered (sent or via fallback)
    failed: int = 0
    sink_messages: int | None = None  # messages the sink stored (None when not delivering)
    actions: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0  # the whole run: generate, import, the year, outputs (not the PNG)
    year_seconds: float = 0.0  # the day loop alone
    chart_html: Path | None = None
    chart_png: Path | None = None
    timeline_csv: Path | None = None
    rollovers: list[dict[str, Any]] = field(default_factory=list)  # tasks.rollover.summary
    # each school year's compliance at the end of the run: {year: {bucket: count}}
    years: dict[str, dict[str, int]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.config.start.isoformat(),
            "end": self.config.end.isoformat(),
            "students": self.config.students,
            "seed": self.config.seed,
            "deliver": self.config.deliver,
            "db_url": self.db_url,
            "school_days": self.school_days,
            "sweeps": self.sweeps,
            "digests": self.digests,
            "failed": self.failed,
            "sink_messages": self.sink_messages,
            "actions": dict(sorted(self.actions.items())),
            "seconds": round(self.seconds, 2),
            "year_seconds": round(self.year_seconds, 2),
            "chart_html": str(self.chart_html) if self.chart_html else None,
            "chart_png": str(self.chart_png) if self.chart_png else None,
            "timeline_csv": str(self.timeline_csv) if self.timeline_csv else None,
            "weeks": [w.as_dict() for w in self.weeks],
            "rollovers": self.rollovers,
            "years": self.years,
        }


# --- seeded choices ---------------------------------------------------------------------------


def unit(seed: int, *parts: Any) -> float:
    """A uniform number in [0, 1) fixed by the seed and the parts (stable across runs)."""
    text = ":".join(str(p) for p in (seed, *parts)).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big") / 2**64


@dataclass(frozen=True)
class Persona:
    kind: str  # early | due | late | never
    fraction: float  # where in its range the chosen day falls


def persona_for(seed: int, step_id: int) -> Persona:
    u = unit(seed, "persona", step_id)
    f = unit(seed, "when", step_id)
    if u < 0.35:
        return Persona("early", f)
    if u < 0.60:
        return Persona("due", f)
    if u < 0.85:
        return Persona("late", f)
    return Persona("never", f)


def target_day(persona: Persona, opens: date, due: date, calendar: SchoolCalendar) -> date | None:
    """The first day the owner will complete the step (acting on the first school day on or
    after it), or None for never."""
    if persona.kind == "never":
        return None
    if persona.kind == "early":
        span = max((due - opens).days - 1, 0)
        return opens + timedelta(days=int(persona.fraction * span))
    if persona.kind == "due":
        day = due
        while day > opens and not calendar.is_school_day(day):
            day -= timedelta(days=1)
        return day
    return due + timedelta(days=2 + int(persona.fraction * 18))


@dataclass
class CallState:
    """One welcome call as the simulated teacher works it."""

    persona: str  # reach | unreachable | never | slow
    success_on: int  # the attempt that reaches the family (reach / slow)
    next_day: date | None
    attempts: int = 0
    done: bool = False


def call_state(seed: int, step_id: int, opens: date) -> CallState:
    u = unit(seed, "call", step_id)
    first = opens + timedelta(days=int(unit(seed, "first", step_id) * 3))
    n = 1 + int(unit(seed, "n", step_id) * 3)
    if u < 0.65:
        return CallState("reach", n, first)
    if u < 0.85:
        return CallState("unreachable", 99, first)
    if u < 0.95:
        return CallState("never", 99, None)
    return CallState("slow", n, opens + timedelta(days=14))


FORMS: dict[str, dict[str, str]] = {
    StepKind.Q1_NOTE.value: {
        "action": "Weekly check-in on reading goals",
        "communicated": "Call with student and learning coach",
        "follow_up": "Teacher follows up in two weeks",
        "resources": "Small-group reading intervention",
    },
    StepKind.SYNOPSIS.value: {
        "support": "Reading intervention, weekly check-ins",
        "successes": "Reading level up one band",
        "continuing_goals": "Fluency practice",
    },
    StepKind.GRADUATION_PLAN.value: {"external_ref": "GP-SIM"},
}
FORMS[StepKind.Q2_NOTE.value] = FORMS[StepKind.Q3_NOTE.value] = FORMS[StepKind.Q1_NOTE.value]
CONFIRM = {"confirm": "yes"}


def form_for(kind: str, step_id: int, unsuccessful: bool) -> dict[str, str]:
    if kind == StepKind.WELCOME_NOTE.value:
        if unsuccessful:
            return {"variant": "contact_unsuccessful"}
        return {"variant": "contact_made", "note": "Introduced myself and the ILP; agreed goals."}
    if kind == StepKind.GRADUATION_PLAN.value:
        return {"external_ref": f"GP-SIM-{step_id}"}
    return FORMS.get(kind, CONFIRM)


# --- the sink and senders ---------------------------------------------------------------------


class CountingSender:
    """`--no-deliver`: accepts every digest without sending it (counted by the sweep report)."""

    def __call__(self, outgoing: Outgoing) -> DeliveryResult:
        from notifications.deliver import DeliveryResult

        return DeliveryResult(True, 1, False, None, f"staff-{outgoing.recipient.staff_id}")


# --- the district -----------------------------------------------------------------------------


def build_district(config: SimulationConfig, url: str) -> int:
    """Generate the sample feed and import it (parse, feed run, apply, plan). Enrollments."""
    from config.schools import load_school_configs
    from intake.generate import write_sample_district
    from intake.oneroster import parse_oneroster
    from models.db import init_db, session_factory
    from services.intake import receive_and_plan

    out = config.out
    zip_path = write_sample_district(
        out / "district.zip", students=config.students, schools=config.schools, seed=config.seed
    )
    init_db(url)
    received = receive_and_plan(
        session_factory(url),
        parse_oneroster(zip_path),
        source=str(zip_path),
        today=config.start,
        now=datetime.combine(config.start - timedelta(days=1), dtime(12), tzinfo=UTC),
        configs=load_school_configs(config.schools_dir or _schools_dir()),
    )
    return len(received.result.to_plan)


def _schools_dir() -> Path:
    from config.settings import get_settings

    configured = get_settings().schools_dir
    return configured if configured.is_dir() else ROOT / "deployments" / "config" / "schools"


@dataclass(frozen=True)
class SchoolInfo:
    id: int
    calendar: SchoolCalendar
    policy: SchoolPolicy
    coordinator: int | None


def load_schools(url: str) -> dict[int, SchoolInfo]:
    from config.schools import school_rules
    from lifecycle.types import Role
    from models.db import session_scope
    from models.tables import School, Staff

    out: dict[int, SchoolInfo] = {}
    with session_scope(url) as session:
        coordinators: dict[int, int] = {}
        for staff in session.execute(sa.select(Staff).order_by(col(Staff.id))).scalars():
            if staff.school_id is not None and staff.has_role(Role.ILP_COORDINATOR):
                coordinators.setdefault(staff.school_id, int(staff.id or 0))
        for school in session.execute(sa.select(School)).scalars():
            calendar, policy = school_rules(school.calendar, school.policy)
            sid = int(school.id or 0)
            out[sid] = SchoolInfo(sid, calendar, policy, coordinators.get(sid))
    return out


def withdrawal_days(url: str, config: SimulationConfig) -> dict[date, set[str]]:
    """{day: student source ids withdrawing that day}, seeded: `withdraw_rate` of the students,
    on a day after their start date within the simulated span."""
    from models.db import session_scope
    from models.tables import Enrollment, Student

    span = (config.end - config.start).days
    out: dict[date, set[str]] = {}
    if span < 1 or config.withdraw_rate <= 0:
        return out
    with session_scope(url) as session:
        rows = session.execute(
            sa.select(col(Student.source_id), col(Enrollment.start_date)).join(
                Enrollment, col(Enrollment.student_id) == col(Student.id)
            )
        ).all()
    for source_id, start in rows:
        if unit(config.seed, "withdraw", source_id) >= config.withdraw_rate:
            continue
        first = max(start, config.start) + timedelta(days=1)
        if first > config.end:
            continue
        day = first + timedelta(
            days=int(unit(config.seed, "wday", source_id) * (config.end - first).days)
        )
        out.setdefault(day, set()).add(source_id)
    return out


def withdraw(url: str, students: set[str], day: date, schools_dir: Path) -> int:
    """Apply a delta feed marking these students gone as of `day`, then re-plan them (the
    import path: feed run, apply, plan). Returns the enrollments withdrawn."""
    from config.schools import load_school_configs
    from intake.records import ParsedFeed
    from models.db import session_factory
    from services.intake import receive_and_plan

    received = receive_and_plan(
        session_factory(url),
        ParsedFeed(kind="oneroster-1.1", bulk=False, withdrawn_ids=set(students)),
        source=f"simulation withdrawals {day}",
        today=day,
        now=datetime.combine(day, dtime(6), tzinfo=UTC),
        configs=load_school_configs(schools_dir),
    )
    return received.result.withdrawn


# --- staff at work ------------------------------------------------------------------------------


class Staffroom:
    """Every simulated staff decision, kept deterministic by the seed."""

    def __init__(self, seed: int, schools: dict[int, SchoolInfo]) -> None:
        self.seed = seed
        self.schools = schools
        self.personas: dict[int, Persona] = {}
        self.calls: dict[int, CallState] = {}
        self.unreachable: set[int] = set()  # enrollments whose call closed after 5 failures

    def persona(self, step_id: int) -> Persona:
        found = self.personas.get(step_id)
        if found is None:
            found = self.personas[step_id] = persona_for(self.seed, step_id)
        return found

    def react(
        self,
        session: Session,
        deliveries: list[DeliveryOutcome],
        now: datetime,
        tally: Counter[str],
    ) -> None:
        """Acknowledge some overdue items and snooze some reminders just received."""
        from models.tables import Step
        from services import actions

        for d in deliveries:
            if d.status not in ("sent", "fallback_sent"):
                continue
            for step_id in d.step_ids:
                u = unit(self.seed, "react", step_id, d.delivery_id)
                actor = actions.Actor(staff_id=d.recipient_staff_id, now=now)
                try:
                    if d.level >= 2 and u < 0.30:
                        outcome = actions.acknowledge(session, step_id, actor)
                        tally["acknowledged" if outcome.changed else "ack_noop"] += 1
                    elif d.level == 0 and u < 0.10:
                        step = session.get(Step, step_id)
                        if step is None or step.status != StepStatus.OPEN:
                            continue
                        school = self._school_of(session, step)
                        today = school.calendar.local_date(now)
                        if step.due < today:
                            continue
                        outcome = actions.snooze(session, step_id, actor, step.due)
                        tally["snoozed" if outcome.changed else "snooze_noop"] += 1
                except actions.ActionError:
                    tally["refused"] += 1

    def _school_of(self, session: Session, step: Step) -> SchoolInfo:
        from models.tables import Enrollment

        enrollment = session.get(Enrollment, step.enrollment_id)
        assert enrollment is not None  # a step's enrollment is never deleted
        return self.schools[int(enrollment.school_id)]

    def work(self, session: Session, school: SchoolInfo, day: date, tally: Counter[str]) -> None:
        """The day's work at one school: contact attempts, then completions."""
        from models.tables import ContactMethod, Enrollment, EnrollmentStatus, Step
        from services import actions

        s = Step.__table__  # type: ignore[attr-defined]
        e = Enrollment.__table__  # type: ignore[attr-defined]
        now = school.calendar.local_instant(day, ACT_AT)
        rows = session.execute(
            sa.select(s.c.id, s.c.enrollment_id, s.c.kind, s.c.due, s.c.opens, s.c.owner_staff_id)
            .select_from(s.join(e, e.c.id == s.c.enrollment_id))
            .where(
                e.c.school_id == school.id,
                e.c.status == EnrollmentStatus.ACTIVE.value,
                s.c.status == StepStatus.OPEN.value,
                s.c.opens <= day,
            )
            .order_by(s.c.id)
        ).all()
        calls_open = {r.enrollment_id: r.id for r in rows if r.kind == StepKind.WELCOME_CALL.value}
        for row in rows:
            actor_id = row.owner_staff_id or school.coordinator
            if actor_id is None:
                continue
            actor = actions.Actor(staff_id=actor_id, now=now)
            try:
                if row.kind == StepKind.WELCOME_CALL.value:
                    self._call(session, row, actor, day, school, tally, ContactMethod)
                    continue
                unsuccessful = row.enrollment_id in self.unreachable
                if row.kind == StepKind.WELCOME_NOTE.value and row.enrollment_id in calls_open:
                    state = self.calls.get(calls_open[row.enrollment_id])
                    if state is not None and state.persona == "unreachable":
                        continue  # waits for the fifth failed attempt
                target = target_day(self.persona(row.id), row.opens, row.due, school.calendar)
                if target is None or target > day:
                    continue
                outcome = actions.complete(
                    session, row.id, actor, form_for(row.kind, row.id, unsuccessful)
                )
                if outcome.changed:
                    tally["completed"] += 1
            except actions.ActionError as exc:
                tally["refused"] += 1
                logger.debug("step %s: %s", row.id, exc)

    def _call(
        self,
        session: Session,
        row: sa.Row[Any],
        actor: Actor,
        day: date,
        school: SchoolInfo,
        tally: Counter[str],
        methods: type[ContactMethod],
    ) -> None:
        from services import actions

        state = self.calls.get(row.id)
        if state is None:
            state = self.calls[row.id] = call_state(self.seed, row.id, row.opens)
        if state.done or state.next_day is None or day < state.next_day:
            return
        state.attempts += 1
        succeeded = state.attempts >= state.success_on
        method = methods.PHONE if unit(self.seed, "m", row.id, state.attempts) < 0.8 else "email"
        outcome = actions.log_contact_attempt(
            session, row.id, actor, succeeded=succeeded, method=method
        )
        tally["attempt_ok" if succeeded else "attempt_failed"] += 1
        gap = 1 + int(unit(self.seed, "gap", row.id, state.attempts) * 2)
        state.next_day = school.calendar.shift_school_days(day, gap)
        if outcome.completed:
            state.done = True
            if not succeeded:
                self.unreachable.add(row.enrollment_id)


# --- the clock ----------------------------------------------------------------------------------


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _required_steps(session: Session) -> int:
    from models.tables import Step

    s = Step.__table__  # type: ignore[attr-defined]
    return int(
        session.execute(
            sa.select(sa.func.count()).where(
                s.c.status != StepStatus.CANCELLED.value, s.c.required.is_(True)
            )
        ).scalar_one()
    )


def _progress(enabled: bool, total: int) -> AbstractContextManager[Progress | None]:
    if not enabled:
        return nullcontext(None)
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def simulate(
    config: SimulationConfig, *, on_week: Callable[[WeekRow], None] | None = None
) -> SimulationResult:
    """Run the simulation described in the module docstring; returns counts and the timeline."""
    from models.db import get_engine

    if config.end < config.start:
        raise ValueError("--to is before --from")
    started = time.perf_counter()
    url, sink_dir = _fresh_output(config)
    result = SimulationResult(config=config, db_url=url)

    build_district(config, url)
    district = _District.load(config, url)
    with sink_process(sink_dir, config.sink_url) if config.deliver else nullcontext(None) as base:
        before = int(sink_state(base)["count"]) if base is not None else 0
        sweep_config, sender = _sweeping(base)
        year_started = time.perf_counter()
        _run_year(district, result, sender, sweep_config, on_week)
        result.year_seconds = time.perf_counter() - year_started
        result.years = year_compliance(url, datetime.combine(config.end, dtime(23), tzinfo=UTC))
        if base is not None:
            result.sink_messages = int(sink_state(base)["count"]) - before
    get_engine(url).dispose()  # close the simulation database's connections (other engines stay)
    result.seconds = time.perf_counter() - started
    write_outputs(result)
    if config.png and result.chart_html is not None:
        png = result.chart_html.with_suffix(".png")
        if render_png(result.chart_html, png):
            result.chart_png = png
            write_outputs(result)
    return result


def _fresh_output(config: SimulationConfig) -> tuple[str, Path]:
    """(database URL, sink folder): a new database each run, and a new sink when we start one."""
    out = config.out
    out.mkdir(parents=True, exist_ok=True)
    db_path = (out / "ilp.db").resolve()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    sink_dir = out / "sink"
    if config.deliver and not config.sink_url:
        shutil.rmtree(sink_dir, ignore_errors=True)
    return f"sqlite:///{db_path}", sink_dir


def _sweeping(base: str | None) -> tuple[SweepConfig, Sender]:
    """Digests go to the sink at `base` as staff webhooks, or are only counted without one."""
    from config.secrets import generate_secret
    from services.sweep import SweepConfig

    if base is None:
        return SweepConfig(secret_key=generate_secret()), CountingSender()
    from notifications.sender import AppriseSender

    host = base.split("://", 1)[1]
    sweep_config = SweepConfig(
        secret_key=generate_secret(),
        base_url="http://127.0.0.1:8700",
        default_notify_url=f"json://{host}/staff/{{staff_id}}",
        attempts=2,
        backoff=0.0,
    )
    return sweep_config, AppriseSender(sweep_config, sleep=lambda _s: None)


@dataclass(frozen=True)
class _District:
    """The built district as the daily loop needs it."""

    config: SimulationConfig
    url: str
    schools: dict[int, SchoolInfo]
    staff: Staffroom
    days: list[date]
    leaving: dict[date, set[str]]
    schools_dir: Path

    @classmethod
    def load(cls, config: SimulationConfig, url: str) -> _District:
        schools = load_schools(url)
        return cls(
            config=config,
            url=url,
            schools=schools,
            staff=Staffroom(config.seed, schools),
            days=list(_days(config.start, config.end)),
            leaving=withdrawal_days(url, config),
            schools_dir=config.schools_dir or _schools_dir(),
        )


@dataclass
class _Week:
    """The week being tallied for the timeline (weeks end on Sunday or on the last day)."""

    start: date
    digests: int = 0
    actions: int = 0


def _run_year(
    district: _District,
    result: SimulationResult,
    sender: Sender,
    sweep_config: SweepConfig,
    on_week: Callable[[WeekRow], None] | None,
) -> None:
    """Every day of the span: withdrawals, then (on school days) sweeps and staff work."""
    config, url, schools = district.config, district.url, district.schools
    week = _Week(start=config.start - timedelta(days=config.start.weekday()))
    with _progress(config.progress, len(district.days)) as progress:
        task = (
            progress.add_task("simulating", total=len(district.days), info="")
            if progress is not None
            else None
        )
        for day in district.days:
            if any(day > sc.calendar.year_end for sc in schools.values()):
                _roll_over(district, day, result)
            if day in district.leaving:
                result.actions["withdrawn"] += withdraw(
                    url, district.leaving[day], day, district.schools_dir
                )
            todays = [sc for sc in schools.values() if sc.calendar.is_school_day(day)]
            if todays:
                _school_day(district, day, todays, result, week, sender, sweep_config)
            if day.weekday() == 6 or day == config.end:
                row = _snapshot(url, week.start, day, schools, week.digests, week.actions)
                result.weeks.append(row)
                if on_week is not None:
                    on_week(row)
                week = _Week(start=day + timedelta(days=1))
            if progress is not None and task is not None:
                progress.update(
                    task,
                    advance=1,
                    description=f"{day:%a %d %b %Y}",
                    info=f"{result.digests} digests · {sum(result.actions.values())} actions",
                )


def _roll_over(district: _District, day: date, result: SimulationResult) -> None:
    """The year-rollover deployment's run on the day after the last instructional day: schools
    whose year is over and whose file has a next year move into it (idempotent: a school with
    no next year is skipped every day)."""
    from config.schools import load_school_configs
    from models.db import session_scope
    from services.rollover import rollover
    from tasks.rollover import summary

    school = next(iter(district.schools.values()))
    now = school.calendar.local_instant(day, dtime(6))
    with session_scope(district.url) as session:
        done = rollover(session, None, now=now, configs=load_school_configs(district.schools_dir))
    if done.changed:
        closed = {s.from_year for s in done.schools}
        at_rollover = {
            year: counts
            for year, counts in year_compliance(district.url, now).items()
            if year in closed
        }
        result.rollovers.append(
            {"day": day.isoformat(), **summary(done), "closed_years": at_rollover}
        )
        district.schools.update(load_schools(district.url))


def year_compliance(url: str, now: datetime) -> dict[str, dict[str, int]]:
    """Each school year's compliance report totals as of `now`: a closed year's never change."""
    from models.db import session_scope
    from models.tables import SchoolYear

    with session_scope(url) as session:
        labels = sorted(set(session.execute(sa.select(col(SchoolYear.label))).scalars()))
        out = {}
        for label in labels:
            total = compliance_report(session, now, year=label).total
            if total.total:
                out[label] = {**{b: getattr(total, b) for b in BUCKETS}, "total": total.total}
    return out


def _school_day(
    district: _District,
    day: date,
    todays: list[SchoolInfo],
    result: SimulationResult,
    week: _Week,
    sender: Sender,
    sweep_config: SweepConfig,
) -> None:
    """A sweep at each open school's window start (and at midday), staff reacting to what they
    received, then the day's work at each school."""
    from models.db import session_factory, session_scope
    from services.sweep import run_sweep

    url = district.url
    result.school_days += 1
    times = sorted({sc.calendar.local_instant(day, sc.policy.window_start) for sc in todays})
    if district.config.midday:
        times += sorted({sc.calendar.local_instant(day, MIDDAY) for sc in todays})
    tally: Counter[str] = Counter()
    for now in times:
        report = run_sweep(session_factory(url), now, sender, sweep_config)
        result.sweeps += 1
        result.digests += report.sent
        result.failed += len(report.failed)
        week.digests += report.sent
        if report.deliveries:
            with session_scope(url) as session:
                district.staff.react(session, report.deliveries, now, tally)
    with session_scope(url) as session:
        for school in todays:
            district.staff.work(session, school, day, tally)
    result.actions.update(tally)
    week.actions += sum(v for k, v in tally.items() if not k.endswith("noop") and k != "refused")


def _snapshot(
    url: str,
    week_start: date,
    week_end: date,
    schools: dict[int, SchoolInfo],
    digests: int,
    actions: int,
) -> WeekRow:
    from models.db import session_scope

    calendar = next(iter(schools.values())).calendar
    now = calendar.local_instant(week_end, dtime(23, 59))
    with session_scope(url) as session:
        report = compliance_report(session, now)
        steps = _required_steps(session)
    return WeekRow(week_start, week_end, report.total, report.optional, steps, digests, actions)


# --- outputs: CSV, JSON, the chart --------------------------------------------------------------


def write_outputs(result: SimulationResult) -> None:
    out = result.config.out
    csv_path = out / "timeline.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as fh:
        rows = [w.as_dict() for w in result.weeks]
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["week_start"])
        writer.writeheader()
        writer.writerows(rows)
    result.timeline_csv = csv_path
    html_path = out / "timeline.html"
    html_path.write_text(timeline_html(result), encoding="utf-8")
    result.chart_html = html_path
    (out / "simulation.json").write_text(json.dumps(result.as_dict(), indent=2), encoding="utf-8")


def timeline_svg(weeks: list[WeekRow], width: int = 1100, height: int = 460) -> str:
    """Stacked bars, one per week: on time, late, missed, overdue at the bottom; open on top."""
    left, right, top, bottom = 64, 16, 20, 70
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((w.counts.total for w in weeks), default=0) or 1
    step = _nice_step(peak)
    ymax = step * -(-peak // step)
    n = max(len(weeks), 1)
    slot = plot_w / n
    bar = max(slot * 0.78, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
    ]
    for y_val in range(0, ymax + 1, step):
        y = top + plot_h - plot_h * y_val / ymax
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e7ed"/>'
            f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" fill="#5b6576">{y_val}</text>'
        )
    order = ("on_time", "late", "missed", "overdue", "open")
    for i, w in enumerate(weeks):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        for b in order:
            v = getattr(w.counts, b)
            if not v:
                continue
            h = plot_h * v / ymax
            y -= h
            title = f"week of {w.week_start}: {v} {LABELS[b]}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{COLORS[b]}"><title>{html.escape(title)}</title></rect>'
            )
        if i % max(1, n // 14) == 0:
            cx = left + i * slot + slot / 2
            parts.append(
                f'<text x="{cx:.1f}" y="{top + plot_h + 16}" text-anchor="end" fill="#5b6576" '
                f'transform="rotate(-40 {cx:.1f} {top + plot_h + 16})">'
                f"{w.week_start:%d %b}</text>"
            )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        'stroke="#5b6576"/>'
        f'<text x="16" y="{top + plot_h / 2:.0f}" fill="#5b6576" '
        f'transform="rotate(-90 16 {top + plot_h / 2:.0f})" text-anchor="middle">'
        "required ILP steps</text>"
    )
    lx = left
    for b in order:
        parts.append(
            f'<rect x="{lx}" y="{height - 18}" width="12" height="12" fill="{COLORS[b]}"/>'
            f'<text x="{lx + 17}" y="{height - 8}" fill="#1d2430">{LABELS[b]}</text>'
        )
        lx += 30 + 7 * len(LABELS[b])
    parts.append("</svg>")
    return "\n".join(parts)


def _nice_step(peak: int) -> int:
    raw = max(peak / 6, 1)
    magnitude = 10 ** (len(str(int(raw))) - 1)
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * magnitude:
            return max(int(m * magnitude), 1)
    return int(10 * magnitude)


def timeline_html(result: SimulationResult) -> str:
    c = result.config
    rows = "\n".join(
        "<tr><td>{}</td>{}<td>{}</td><td>{}</td><td>{}</td></tr>".format(
            w.week_start.isoformat(),
            "".join(f"<td>{getattr(w.counts, b)}</td>" for b in BUCKETS),
            w.counts.total,
            w.digests,
            w.actions,
        )
        for w in result.weeks
    )
    head = "".join(f"<th>{html.escape(LABELS[b])}</th>" for b in BUCKETS)
    last = result.weeks[-1].counts if result.weeks else Counts()
    rate = last.on_time_rate
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>ILP compliance timeline {c.start} to {c.end}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; color: #1d2430; margin: 24px; background: #f4f6f9; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }}
p.sub {{ color: #5b6576; margin: 0 0 12px; }}
.card {{ background: #fff; border: 1px solid #dde2ea; border-radius: 8px; padding: 12px;
  width: max-content; }}
table {{ border-collapse: collapse; margin-top: 16px; background: #fff; }}
th, td {{ border: 1px solid #dde2ea; padding: 3px 8px; text-align: right; }}
th {{ background: #eef1f5; }}
</style></head><body>
<h1>ILP compliance timeline: {c.start:%d %b %Y} to {c.end:%d %b %Y}</h1>
<p class="sub">Sample district, {c.students} students, seed {c.seed}. Required steps per week
(as of Sunday night): {result.digests} digests delivered, {sum(result.actions.values())} staff
actions, {result.school_days} school days. Final on-time rate of due steps:
{"-" if rate is None else f"{rate:.0%}"}.</p>
<div class="card">{timeline_svg(result.weeks)}</div>
<table><thead><tr><th>week of</th>{head}<th>total</th><th>digests</th><th>actions</th></tr>
</thead><tbody>
{rows}
</tbody></table>
</body></html>
"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def render_png(html_path: Path, png_path: Path, *, width: int = 1200, height: int = 820) -> bool:
    """Screenshot the page with headless Chromium. False when Chromium is missing or failed."""
    browser = find_chromium()
    if browser is None:
        return False
    png_path.unlink(missing_ok=True)
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
        f"--screenshot={png_path.resolve()}",
        f"--window-size={width},{height}",
        html_path.resolve().as_uri(),
    ]
    try:
        subprocess.run(command, capture_output=True, timeout=90, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return png_path.is_file() and png_path.stat().st_size > 0


def timeline_table(weeks: list[WeekRow]) -> list[list[str]]:
    """Rows for the end-of-run table: week, the five buckets, total, digests."""
    return [
        [
            w.week_start.isoformat(),
            *(str(getattr(w.counts, b)) for b in BUCKETS),
            str(w.counts.total),
            str(w.digests),
            str(w.actions),
        ]
        for w in weeks
    ]


__all__ = [
    "SimulationConfig",
    "SimulationResult",
    "WeekRow",
    "render_png",
    "simulate",
    "timeline_html",
    "timeline_svg",
]
