"""The scale path: the same import, planning and sweep code on PostgreSQL (psycopg2's named
parameters in the bulk inserts, FOR UPDATE SKIP LOCKED in the sweep's claim)."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from config.settings import get_settings
from models.db import dispose_engines, get_engine, init_db, session_factory, session_scope
from notifications.sink import start_sink
from services.planning import unplanned_enrollment_ids
from services.sweep import run_sweep
from tests.postgres import postgres_db_url, postgres_server_url  # noqa: F401
from tests.services.feeds.helpers import dump, import_path, steps_of

pytestmark = pytest.mark.postgres
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oneroster"
REPO = FIXTURES.parents[2]


@pytest.fixture
def pg_env(postgres_db_url, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("ILP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ILP_DATABASE_URL", postgres_db_url)
    monkeypatch.setenv("ILP_SCHOOLS_DIR", str(REPO / "deployments" / "config" / "schools"))
    get_settings.cache_clear()
    init_db()
    yield postgres_db_url
    dispose_engines()
    get_settings.cache_clear()


def test_import_plan_and_reimport_on_postgres(pg_env) -> None:
    result = import_path(FIXTURES / "clean-1.1")
    assert (result.new, result.rejected) == (4, 0)
    with session_scope() as session:
        assert unplanned_enrollment_ids(session) == []
    steps = steps_of("s-3")
    assert steps["graduation_plan"].due == date(2027, 5, 28)
    assert steps["welcome_call"].next_action_at.tzinfo is not None
    before = dump("student", "enrollment", "step", "assignment")
    again = import_path(FIXTURES / "clean-1.1")
    assert again.unchanged == 4 and dump("student", "enrollment", "step", "assignment") == before


def test_sweep_claims_and_delivers_on_postgres(pg_env, tmp_path, monkeypatch) -> None:
    import_path(FIXTURES / "clean-1.1")
    sink = start_sink(tmp_path / "sink")
    try:
        monkeypatch.setenv("ILP_SINK_PORT", str(sink.port))
        get_settings.cache_clear()
        morning = datetime(2026, 8, 25, 12, 0, tzinfo=UTC)  # Tue 07:00 in Chicago
        report = run_sweep(session_factory(pg_env), morning)
        assert report.sent >= 1 and report.sent == len(report.deliveries)
        assert sink.count() == report.sent
        again = run_sweep(
            session_factory(pg_env), morning
        )  # same window: nothing new, nothing doubled
        assert again.sent == 0 and sink.count() == report.sent
    finally:
        sink.stop()
    with get_engine().connect() as conn:
        statuses = conn.execute(sa.text("SELECT status, count(*) FROM delivery GROUP BY 1")).all()
    assert {s for s, _ in statuses} == {"sent"}


def test_quarters_come_from_the_feeds_grading_periods(tmp_path, monkeypatch, pg_env) -> None:
    feed = tmp_path / "feed"
    shutil.copytree(FIXTURES / "clean-1.1", feed)
    sessions = (feed / "academicSessions.csv").read_text()
    (feed / "academicSessions.csv").write_text(sessions.replace("2026-10-16", "2026-10-14"))
    import_path(feed)
    with get_engine().connect() as conn:
        quarters = conn.execute(sa.text("SELECT calendar FROM school LIMIT 1")).scalar_one()
    assert ["2026-08-17", "2026-10-14"] in quarters["quarters"]
    assert steps_of("s-1")["q1_note"].due == date(2026, 10, 14)
