"""A hand-built district for the compliance report: every step placed by hand, so each bucket's
count is known exactly (see `EXPECTED`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from config.schools import load_school_configs
from lifecycle.types import Role, StepKind, StepStatus
from models.db import dispose_engines, init_db, session_scope
from models.tables import Enrollment, School, Staff, Step, Student

ROOT = Path(__file__).resolve().parents[3]
DEFAULTS = load_school_configs(ROOT / "deployments" / "config" / "schools").default
# 10:00 in Chicago on Thu 1 Oct 2026: the schools' local "today" is 2026-10-01.
NOW = datetime(2026, 10, 1, 15, 0, tzinfo=UTC)
D = date.fromisoformat


@dataclass
class Built:
    url: str
    staff: dict[str, int] = field(default_factory=dict)
    schools: dict[str, int] = field(default_factory=dict)
    steps: dict[int, int] = field(default_factory=dict)  # scenario number -> step id


# (number, school, owner, kind, due, status, completed_on, required)
SCENARIO: list[tuple[int, str, str | None, StepKind, str, StepStatus, str | None, bool]] = [
    (
        1,
        "sch-a",
        "t1",
        StepKind.WELCOME_CALL,
        "2026-09-01",
        StepStatus.COMPLETED,
        "2026-08-30",
        True,
    ),
    (
        2,
        "sch-a",
        "t1",
        StepKind.WELCOME_NOTE,
        "2026-09-01",
        StepStatus.COMPLETED,
        "2026-09-01",
        True,
    ),
    (3, "sch-a", "t1", StepKind.Q1_NOTE, "2026-10-16", StepStatus.OPEN, None, True),
    (
        4,
        "sch-a",
        "t1",
        StepKind.GRADUATION_PLAN,
        "2026-09-20",
        StepStatus.COMPLETED,
        "2026-09-25",
        True,
    ),
    (5, "sch-a", "t1", StepKind.WELCOME_NOTE, "2026-09-30", StepStatus.OPEN, None, True),
    (6, "sch-a", "t1", StepKind.Q1_NOTE, "2026-10-01", StepStatus.OPEN, None, True),
    (7, "sch-a", "t1", StepKind.SYNOPSIS, "2026-09-10", StepStatus.CANCELLED, None, True),
    (8, "sch-a", "t1", StepKind.Q1_NOTE, "2026-10-16", StepStatus.COMPLETED, "2026-09-10", False),
    (9, "sch-a", "t2", StepKind.WELCOME_CALL, "2026-09-15", StepStatus.MISSED, None, True),
    (
        10,
        "sch-a",
        "t2",
        StepKind.WELCOME_NOTE,
        "2026-09-15",
        StepStatus.COMPLETED,
        "2026-10-05",
        True,
    ),
    (
        11,
        "sch-b",
        "t3",
        StepKind.WELCOME_CALL,
        "2026-09-10",
        StepStatus.COMPLETED,
        "2026-09-12",
        True,
    ),
    (12, "sch-b", None, StepKind.EL_ILP, "2026-09-10", StepStatus.OPEN, None, True),
    (13, "sch-b", "t3", StepKind.PARENT_COPY, "2026-10-20", StepStatus.OPEN, None, True),
]
# As of NOW (local 2026-10-01). Step 10 was completed on 10-05, after "today": still overdue.
EXPECTED = {
    "total": dict(on_time=2, late=2, overdue=3, missed=1, open=3),
    "sch-a": dict(on_time=2, late=1, overdue=2, missed=1, open=2),
    "sch-b": dict(on_time=0, late=1, overdue=1, missed=0, open=1),
    "t1": dict(on_time=2, late=1, overdue=1, missed=0, open=2),
    "t2": dict(on_time=0, late=0, overdue=1, missed=1, open=0),
    "t3": dict(on_time=0, late=1, overdue=0, missed=0, open=1),
    "none": dict(on_time=0, late=0, overdue=1, missed=0, open=0),
    "welcome_call": dict(on_time=1, late=1, overdue=0, missed=1, open=0),
    "welcome_note": dict(on_time=1, late=0, overdue=2, missed=0, open=0),
    "q1_note": dict(on_time=0, late=0, overdue=0, missed=0, open=2),
    "graduation_plan": dict(on_time=0, late=1, overdue=0, missed=0, open=0),
    "el_ilp": dict(on_time=0, late=0, overdue=1, missed=0, open=0),
    "parent_copy": dict(on_time=0, late=0, overdue=0, missed=0, open=1),
    "optional": dict(on_time=1, late=0, overdue=0, missed=0, open=0),
}


def counts(c: Any) -> dict[str, int]:
    return {b: getattr(c, b) for b in ("on_time", "late", "overdue", "missed", "open")}


def build(url: str) -> Built:
    built = Built(url)
    cal = DEFAULTS.calendar
    with session_scope(url) as s:
        for source in ("sch-a", "sch-b"):
            school = School(
                source_id=source,
                name=f"School {source[-1].upper()}",
                timezone=cal["timezone"],
                calendar=cal,
                policy=DEFAULTS.policy,
            )
            s.add(school)
            s.flush()
            built.schools[source] = int(school.id)  # type: ignore[arg-type]
        people = [
            ("t1", "Tess", "One", [Role.TEACHER], "sch-a"),
            ("t2", "Theo", "Two", [Role.TEACHER], "sch-a"),
            ("t3", "Tara", "Three", [Role.TEACHER], "sch-b"),
            ("coord-a", "Cora", "Coordinator", [Role.ILP_COORDINATOR], "sch-a"),
            ("prn-b", "Pat", "Principal", [Role.PRINCIPAL], "sch-b"),
            ("rvp", "Rae", "Regional", [Role.REGIONAL_VP], None),
        ]
        for source, given, family, roles, school_source in people:
            staff = Staff(
                source_id=source,
                given_name=given,
                family_name=family,
                roles=[r.value for r in roles],
                school_id=built.schools[school_source] if school_source else None,
            )
            s.add(staff)
            s.flush()
            built.staff[source] = int(staff.id)  # type: ignore[arg-type]
        for number, school, owner, kind, due, status, done, required in SCENARIO:
            student = Student(
                source_id=f"stu-{number}", given_name="Sam", family_name=f"S{number}", grade=10
            )
            s.add(student)
            s.flush()
            enrollment = Enrollment(
                source_id=f"enr-{number}",
                student_id=student.id,  # type: ignore[arg-type]
                school_id=built.schools[school],
                start_date=D("2026-08-17"),
                grade=10,
                fingerprint=f"fp-{number}",
            )
            s.add(enrollment)
            s.flush()
            step = Step(
                enrollment_id=enrollment.id,  # type: ignore[arg-type]
                kind=kind,
                due=D(due),
                opens=D("2026-08-17"),
                required=required,
                owner_role=Role.TEACHER,
                owner_staff_id=built.staff[owner] if owner else None,
                status=status,
                completed_on=D(done) if done else None,
            )
            s.add(step)
            s.flush()
            built.steps[number] = int(step.id)  # type: ignore[arg-type]
    return built


@pytest.fixture
def built(tmp_path: Path) -> Iterator[Built]:
    url = f"sqlite:///{tmp_path / 'report.db'}"
    init_db(url)
    try:
        yield build(url)
    finally:
        dispose_engines()
