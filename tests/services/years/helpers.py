"""A small two-school district over two school years, fed as simple CSV."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from config.schools import load_school_configs
from config.settings import get_settings
from models.db import session_scope
from models.tables import Enrollment, School, Step, Student
from services.rollover import RolloverResult, rollover
from tests.services.feeds.helpers import import_path

HEADER = (
    "student_id,school_id,given_name,family_name,grade,start_date,returning,english_learner,"
    "teacher_id,teacher_email,withdrawn_date\n"
)
# The day after the sample year's last instructional day (Fri 2027-05-28), 06:00 Chicago.
ROLLOVER_NOW = datetime(2027, 5, 29, 11, 0, tzinfo=UTC)


def add_schools(folder: Path, *names: str) -> None:
    """Each school gets the default file (two years) as its own, so a simple CSV may name it."""
    for name in names:
        shutil.copy(folder / "default.toml", folder / f"{name}.toml")


def feed(
    tmp: Path, name: str, rows: list[str], today: date = date(2026, 9, 1), **kwargs: Any
) -> Any:
    path = tmp / f"{name}.csv"
    path.write_text(HEADER + "".join(r + "\n" for r in rows))
    return import_path(path, today=today, **kwargs)


def roll(to: str | None = "2027-2028", **kwargs: Any) -> RolloverResult:
    configs = load_school_configs(get_settings().schools_dir)
    with session_scope() as session:
        return rollover(session, to, now=kwargs.pop("now", ROLLOVER_NOW), configs=configs, **kwargs)


def enrollments(student: str) -> list[Any]:
    e, st = Enrollment.__table__, Student.__table__  # type: ignore[attr-defined]
    with session_scope() as session:
        return list(
            session.execute(
                sa.select(e)
                .join(st, st.c.id == e.c.student_id)
                .where(st.c.source_id == student)
                .order_by(e.c.school_year, e.c.id)
            )
        )


def steps(student: str, year: str) -> dict[str, Any]:
    s, e, st = Step.__table__, Enrollment.__table__, Student.__table__  # type: ignore[attr-defined]
    with session_scope() as session:
        rows = session.execute(
            sa.select(s.c.kind, s.c.seq, s.c.due, s.c.status, s.c.required)
            .join(e, e.c.id == s.c.enrollment_id)
            .join(st, st.c.id == e.c.student_id)
            .where(st.c.source_id == student, e.c.school_year == year)
            .order_by(s.c.due, s.c.kind)
        ).all()
    return {(r.kind.value if not r.seq else f"{r.kind.value}#{r.seq}"): r for r in rows}


def school_calendar_label(school: str) -> str:
    from services.school_years import year_label

    sc = School.__table__  # type: ignore[attr-defined]
    with session_scope() as session:
        calendar = session.execute(
            sa.select(sc.c.calendar).where(sc.c.source_id == school)
        ).scalar_one()
    return year_label(calendar)
