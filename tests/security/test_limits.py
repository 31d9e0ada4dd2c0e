"""Issue 15, point 4: one validation for every backend. Field limits are checked per item before
the database, so SQLite and PostgreSQL take the good items, reject the bad ones with a reason,
and close the feed run either way."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from config.settings import Settings
from intake.limits import FIELD_LIMITS, ID_LIMIT, field_problem
from intake.webhook import parse_enrollment_items
from models.db import dispose_engines, get_engine, init_db
from models.tables import Enrollment, School, Staff, Student
from tests.postgres import postgres_db_url, postgres_server_url  # noqa: F401

REPO = Path(__file__).resolve().parents[2]


def item(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "student_id": f"lim-{n}",
        "school_id": "sch-lim",
        "given_name": "Ana",
        "family_name": f"Lim{n}",
        "grade": "10",
        "start_date": "2026-09-01",
        **extra,
    }


BAD = {
    2: ({"given_name": "N" * 256}, "given_name", "at most 255"),
    3: ({"student_id": "s" * 300}, "student_id", "at most 255"),
    4: ({"family_name": "Nul\x00l"}, "family_name", "NUL"),
    5: ({"given_name": "Bell\x07"}, "given_name", "control character"),
    6: ({"given_name": "x" * 5_000_000}, "given_name", "at most 255"),
    7: ({"student_id": "s" * 200, "school_id": "c" * 60}, "student_id", "enrollment id"),
    8: ({"teacher_id": ["t-1", "t" * 256]}, "teacher_id", "at most 255"),
}


def payload() -> list[dict[str, Any]]:
    items = [item(1)]
    for n, (extra, _field, _reason) in sorted(BAD.items()):
        items.append(item(n, **extra))
    items.append(item(9))
    return items


def test_limits_are_the_tables_max_lengths() -> None:
    def width(column: Any) -> int:
        return int(column.type.length)

    assert ID_LIMIT == width(Enrollment.__table__.c.source_id)  # type: ignore[attr-defined]
    assert FIELD_LIMITS["student_id"] == width(Student.__table__.c.source_id)  # type: ignore[attr-defined]
    assert FIELD_LIMITS["school_id"] == width(School.__table__.c.source_id)  # type: ignore[attr-defined]
    assert FIELD_LIMITS["given_name"] == width(Student.__table__.c.given_name)  # type: ignore[attr-defined]
    assert FIELD_LIMITS["family_name"] == width(Student.__table__.c.family_name)  # type: ignore[attr-defined]
    assert FIELD_LIMITS["teacher_id"] == width(Staff.__table__.c.source_id)  # type: ignore[attr-defined]
    assert FIELD_LIMITS["teacher_email"] == width(Staff.__table__.c.email)  # type: ignore[attr-defined]


def test_field_problem() -> None:
    assert field_problem("given_name", "Ana María") is None
    assert field_problem("given_name", "x" * 255) is None
    assert "256" in (field_problem("given_name", "x" * 256) or "")
    assert "NUL" in (field_problem("grade", "1\x000") or "")
    assert "U+001B" in (field_problem("family_name", "a\x1b[31m") or "")
    assert field_problem("teacher_id", ",".join(["t" * 200] * 3)) is None  # each id counts


def test_parser_rejects_bad_items_only() -> None:
    records, rejections = parse_enrollment_items(payload())
    assert [r.student_source_id for r in records] == ["lim-1", "lim-9"]
    by_line = {r.line: r for r in rejections}
    for index, (n, (_extra, field, reason)) in enumerate(sorted(BAD.items()), 2):
        assert by_line[index].column == field and reason in by_line[index].reason, n
        assert len(by_line[index].reason) < 200  # the value is never echoed back


def post_and_check(url: str, tmp_path: Path) -> None:
    from web.webhook import accept_enrollments

    init_db(url)
    with Session(get_engine(url)) as session:
        session.add(School(source_id="sch-lim", name="Limits High", timezone="America/Chicago"))
        session.commit()
    settings = Settings(  # type: ignore[call-arg]
        database_url=url,
        data_dir=tmp_path,
        schools_dir=REPO / "deployments" / "config" / "schools",
        _env_file=None,
    )
    status, body = accept_enrollments(
        payload(), settings=settings, db_url=url, today=date(2026, 9, 1)
    )
    assert status == 200, body
    statuses = [(i["item"], i["status"]) for i in body["items"]]
    assert statuses == [(1, "created")] + [(n, "rejected") for n in range(2, 9)] + [(9, "created")]
    for entry in body["items"][1:-1]:
        assert entry["errors"], entry
    assert (body["accepted"], body["rejected"]) == (2, 7)
    with get_engine(url).connect() as conn:
        runs = conn.execute(sa.text("SELECT status FROM feed_run")).scalars().all()
        stored = (
            conn.execute(sa.text("SELECT source_id FROM enrollment ORDER BY 1")).scalars().all()
        )
    assert runs == ["succeeded"]  # ended, not left "running"
    assert stored == ["lim-1@sch-lim", "lim-9@sch-lim"]


def test_webhook_on_sqlite(tmp_path: Path) -> None:
    try:
        post_and_check(f"sqlite:///{tmp_path / 'ilp.db'}", tmp_path)
    finally:
        dispose_engines()


@pytest.mark.postgres
def test_webhook_on_postgres(postgres_db_url: str, tmp_path: Path) -> None:  # noqa: F811
    try:
        post_and_check(postgres_db_url, tmp_path)
    finally:
        dispose_engines()
