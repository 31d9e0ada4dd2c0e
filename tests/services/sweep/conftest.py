"""A small real district in a temp SQLite file, a real sink on a free port, and helpers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from config.schools import load_school_configs
from lifecycle.types import Role
from models.db import dispose_engines, init_db, session_factory, session_scope
from models.tables import Assignment, Delivery, Enrollment, School, Staff, Step, Student
from notifications.sender import AppriseSender
from notifications.sink import SinkServer, start_sink
from services.planning import plan_enrollments
from services.sweep import SweepConfig, SweepReport, run_sweep

ROOT = Path(__file__).resolve().parents[3]
DEFAULTS = load_school_configs(ROOT / "deployments" / "config" / "schools").default
SECRET = "test-secret-for-sweep"


@dataclass(frozen=True)
class Sent:
    """One digest Apprise accepted: when (the sweep's now), to whom, which items at what level."""

    now: datetime
    window: datetime
    staff_id: int
    items: tuple[tuple[int, int, int | None], ...]  # (step id, level, attempt day)
    tag: str | None


class RecordingSender:
    """The real Apprise sender, plus a note of every digest it delivered (not a mock)."""

    def __init__(self, inner: AppriseSender) -> None:
        self.inner = inner
        self.sent: list[Sent] = []

    def __call__(self, outgoing: Any) -> Any:
        result = self.inner(outgoing)
        if result.ok:
            d = outgoing.digest
            items = tuple(sorted((i.step_id, i.level, i.attempt_day) for i in d.items))
            self.sent.append(
                Sent(
                    outgoing.now, d.window_start, d.recipient_staff_id, items, result.delivered_tag
                )
            )
        return result


@dataclass
class District:
    url: str
    sink: SinkServer
    config: SweepConfig
    tmp: Path
    school_id: int = 0
    staff: dict[str, int] = field(default_factory=dict)  # name -> staff id
    students: dict[str, int] = field(default_factory=dict)  # name -> enrollment id
    _sender: RecordingSender | None = None

    # -- building ---------------------------------------------------------------------------
    def add_school(
        self,
        source_id: str = "sch-1",
        calendar: dict[str, Any] | None = None,
        policy: dict[str, Any] | None = None,
    ) -> int:
        cal = calendar or DEFAULTS.calendar
        with session_scope(self.url) as s:
            school = School(
                source_id=source_id,
                name=f"School {source_id}",
                timezone=cal["timezone"],
                calendar=cal,
                policy=policy if policy is not None else DEFAULTS.policy,
            )
            s.add(school)
            s.flush()
            self.school_id = int(school.id)  # type: ignore[arg-type]
        return self.school_id

    def add_staff(self, name: str, *roles: Role, school_id: int | None = -1, **kw: Any) -> int:
        school = self.school_id if school_id == -1 else school_id
        with session_scope(self.url) as s:
            row = Staff(
                source_id=f"staff-{name}",
                given_name=name.capitalize(),
                family_name="Staff",
                roles=[r.value for r in roles],
                school_id=school,
                **kw,
            )
            s.add(row)
            s.flush()
            self.staff[name] = int(row.id)  # type: ignore[arg-type]
        return self.staff[name]

    def add_student(
        self,
        name: str,
        start: date,
        *,
        teacher: str | None = "teacher",
        grade: int = 5,
        school_id: int | None = None,
        plan_now: datetime | None = None,
    ) -> int:
        school = school_id or self.school_id
        with session_scope(self.url) as s:
            student = Student(
                source_id=f"stu-{name}", given_name=name, family_name="Example", grade=grade
            )
            s.add(student)
            s.flush()
            if teacher is not None:
                teacher_id = self.staff[teacher]
                s.add(Assignment(staff_id=teacher_id, student_id=student.id, role=Role.TEACHER))
            enrollment = Enrollment(
                source_id=f"enr-{name}",
                student_id=student.id,  # type: ignore[arg-type]
                school_id=school,
                start_date=start,
                grade=grade,
                fingerprint=f"fp-{name}",
            )
            s.add(enrollment)
            s.flush()
            plan_enrollments(s, [int(enrollment.id)], now=plan_now)  # type: ignore[arg-type]
            self.students[name] = int(enrollment.id)  # type: ignore[arg-type]
        return self.students[name]

    # -- running ----------------------------------------------------------------------------
    def sweep(self, now: datetime) -> SweepReport:
        return run_sweep(session_factory(self.url), now, self.sender, self.config)

    @property
    def sender(self) -> RecordingSender:
        if self._sender is None:
            self._sender = RecordingSender(AppriseSender(self.config, sleep=lambda _s: None))
        return self._sender

    @property
    def sent(self) -> list[Sent]:
        return self.sender.sent

    def step_id(self, student: str, kind: str) -> int:
        with session_scope(self.url) as s:
            return int(
                s.execute(
                    sa.select(Step.id).where(
                        Step.enrollment_id == self.students[student], Step.kind == kind
                    )
                ).scalar_one()
            )

    def deliveries(self) -> list[Delivery]:
        with session_scope(self.url) as s:
            return list(s.execute(sa.select(Delivery).order_by(Delivery.id)).scalars())

    def inbox(self, name: str) -> list[dict[str, Any]]:
        return self.sink.messages(f"/staff/{self.staff[name]}")


def local(day: date, hour: int, minute: int = 0, zone: str = "America/Chicago") -> datetime:
    import pendulum

    return datetime.combine(day, time(hour, minute), tzinfo=pendulum.timezone(zone)).astimezone(UTC)


def sweep_config(sink: SinkServer, tmp: Path, **kw: Any) -> SweepConfig:
    yaml_path = tmp / "apprise.yaml"
    yaml_path.write_text(
        f"version: 1\nurls:\n  - json://127.0.0.1:{sink.port}/fallback:\n      - tag: fallback\n"
    )
    values: dict[str, Any] = {
        "secret_key": SECRET,
        "base_url": "http://ilp.test",
        "apprise_config": str(yaml_path),
        "default_notify_url": f"json://127.0.0.1:{sink.port}/staff/{{staff_id}}",
        "attempts": 2,
        "backoff": 0.0,
        "lease": timedelta(minutes=10),
    }
    values.update(kw)
    return SweepConfig(**values)


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SinkServer]:
    server = start_sink(tmp_path / "sink")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def district(tmp_path: Path, sink: SinkServer) -> Iterator[District]:
    url = f"sqlite:///{tmp_path / 'ilp.db'}"
    init_db(url)
    d = District(url=url, sink=sink, config=sweep_config(sink, tmp_path), tmp=tmp_path)
    yield d
    dispose_engines()
