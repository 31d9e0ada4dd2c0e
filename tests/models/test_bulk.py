"""models.bulk stores exactly what the ORM would, on SQLite and on PostgreSQL (COPY there)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from models.bulk import insert_many
from models.db import get_sessionmaker, init_db
from models.tables import School

AWKWARD = [
    "back\\slash",
    "tab\there",
    "two\nlines",
    "carriage\rreturn",
    "\\N",  # COPY's own NULL marker, as text
    "quote ' and \" and , and ;",
    "Zoë Ñúñez 李",
    "",
]
STAMP = datetime(2026, 8, 17, 12, 30, 15, 123456, tzinfo=UTC)


def school_rows() -> list[dict[str, object]]:
    return [
        {
            "source_id": f"org-{n}",
            "name": name,
            "timezone": "America/Denver",
            "calendar": {"note": name, "first_day": "2026-08-17"} if n % 2 else {},
            "policy": {},
            "default_returning": n % 2 == 0,
            "default_english_learner": None,
            "default_start": date(2026, 8, 17) if n % 3 else None,
            "created_at": STAMP,
            "updated_at": STAMP,
        }
        for n, name in enumerate(AWKWARD)
    ]


def check_bulk_round_trip(url: str) -> None:
    init_db(url)
    rows = school_rows()
    with get_sessionmaker(url)() as session:
        insert_many(session.connection(), School.__table__, rows)  # type: ignore[attr-defined]
        session.commit()
    with get_sessionmaker(url)() as session:
        stored = session.execute(sa.select(School).order_by(School.id)).scalars().all()
    assert [
        (
            s.source_id,
            s.name,
            s.calendar,
            s.default_returning,
            s.default_english_learner,
            s.default_start,
            s.created_at,
        )
        for s in stored
    ] == [
        (
            r["source_id"],
            r["name"],
            r["calendar"],
            r["default_returning"],
            None,
            r["default_start"],
            STAMP,
        )
        for r in rows
    ]


def test_bulk_insert_round_trips_on_sqlite(sqlite_url):
    check_bulk_round_trip(sqlite_url)


@pytest.mark.postgres
def test_bulk_insert_round_trips_on_postgres_copy(postgres_db_url):
    check_bulk_round_trip(postgres_db_url)
