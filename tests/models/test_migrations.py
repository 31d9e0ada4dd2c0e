"""Migrations build exactly the tables of models/tables.py, both ways, on SQLite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

import models.documents  # noqa: F401
import models.tables  # noqa: F401
from models.db import alembic_config, downgrade_db, get_engine, init_db

REPO = Path(__file__).resolve().parents[2]

EXPECTED_TABLES = {
    "school",
    "student",
    "staff",
    "assignment",
    "enrollment",
    "step",
    "contact_attempt",
    "note",
    "delivery",
    "audit_event",
    "feed_run",
    # issue 18: models/documents.py
    "export_cursor",
    "el_ilp_version",
    "parent_copy",
    # issue 12 point 3 / issue 18: guardians and learning coaches from the feed
    "contact",
    "student_contact",
}

EXPECTED_INDEXES = {
    "step": {"ix_step_next_action_at", "ix_step_owner_status"},
    "enrollment": {
        "ix_enrollment_unplanned",
        "ix_enrollment_student_id",
        "ix_enrollment_school_id",
        "ix_enrollment_feed_run_id",
        "ix_enrollment_pending_on",
    },
    "assignment": {"ix_assignment_student_role"},
    "delivery": {"ix_delivery_recipient_staff_id", "ix_delivery_status_created_at"},
    "staff": {"ix_staff_email", "ix_staff_school_id"},
    "contact_attempt": {"ix_contact_attempt_step_id"},
    "note": {"ix_note_step_id"},
    "audit_event": {"ix_audit_event_at", "ix_audit_event_step_id"},
    "feed_run": {"ix_feed_run_started_at"},
    "el_ilp_version": {"ix_el_ilp_version_enrollment_id"},
    "parent_copy": {"ix_parent_copy_step_id"},
    "student_contact": {"ix_student_contact_student_id", "ix_student_contact_contact_id"},
}

EXPECTED_UNIQUES = {
    "school": {("source_id",)},
    "student": {("source_id",)},
    "staff": {("source_id",)},
    "enrollment": {("source_id",)},
    "assignment": {("staff_id", "student_id", "role")},
    "step": {("enrollment_id", "kind", "seq")},
    "delivery": {("idempotency_key",)},
    "export_cursor": {("target",)},
    "el_ilp_version": {("student_id", "version")},
    "contact": {("source_id",)},
    "student_contact": {("student_id", "contact_id")},
}


def check_schema(url: str) -> None:
    engine = create_engine(url)
    try:
        insp = inspect(engine)
        assert set(insp.get_table_names()) == EXPECTED_TABLES | {"alembic_version"}
        assert set(SQLModel.metadata.tables) == EXPECTED_TABLES
        for table, names in EXPECTED_INDEXES.items():
            indexes = insp.get_indexes(table)  # PostgreSQL lists unique constraints' indexes too
            found = {ix["name"] for ix in indexes if not ix.get("duplicates_constraint")}
            assert found == names, table
        for table in EXPECTED_TABLES:
            uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints(table)}
            assert uniques == EXPECTED_UNIQUES.get(table, set()), table
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
        assert diff == [], f"models and migrations disagree: {diff}"
    finally:
        engine.dispose()


def test_fresh_sqlite_migrates_to_head(db_url):
    check_schema(db_url)
    with get_engine(db_url).connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert version == ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()


def test_init_db_is_idempotent(db_url):
    init_db(db_url)
    check_schema(db_url)


def test_downgrade_to_base_then_upgrade(db_url):
    downgrade_db(db_url, "base")
    engine = create_engine(db_url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    init_db(db_url)
    check_schema(db_url)


def test_in_memory_sqlite_is_migrated_in_place():
    url = "sqlite://"
    init_db(url)
    assert EXPECTED_TABLES <= set(inspect(get_engine(url)).get_table_names())


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(db_url):
    with get_engine(db_url).connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 5000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_engine_is_cached_per_url(tmp_path):
    a = f"sqlite:///{tmp_path / 'a.db'}"
    b = f"sqlite:///{tmp_path / 'b.db'}"
    assert get_engine(a) is get_engine(a)
    assert get_engine(a) is not get_engine(b)


def test_operator_cli_and_lazy_import(tmp_path):
    """`alembic -c models/alembic.ini upgrade head` works; importing builds no engine."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    env = {"ILP_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    alembic = Path(sys.executable).parent / "alembic"
    run = subprocess.run(
        [str(alembic), "-c", "models/alembic.ini", "upgrade", "head"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    check_schema(url)
    probe = "import models.db as d, models.tables; assert not d._engines; print('ok')"
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.stdout.strip() == "ok", run.stderr


def test_migrating_creates_the_sqlite_folder(tmp_path):
    """A fresh checkout has no var/ yet: `ilp migrate` must create it, not fail."""
    from models.db import dispose_engines, init_db

    url = f"sqlite:///{tmp_path / 'not' / 'yet' / 'ilp.db'}"
    init_db(url)
    assert (tmp_path / "not" / "yet" / "ilp.db").exists()
    dispose_engines()
