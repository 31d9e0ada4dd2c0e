"""The same migrations and tables on a throwaway PostgreSQL server (tests/postgres.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from models.db import downgrade_db, get_engine, get_sessionmaker, init_db

from .roundtrip import (
    NOW,
    assert_roundtrip,
    assert_sweep_results,
    assert_unique_constraints,
    seed_steps,
    sweep_query,
)
from .test_migrations import check_schema

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url(postgres_db_url: str) -> str:
    init_db(postgres_db_url)
    return postgres_db_url


def test_postgres_migrates_up_down_and_up(pg_url):
    check_schema(pg_url)
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        column_type = conn.execute(
            text(
                "SELECT data_type FROM information_schema.columns "
                "WHERE table_name = 'step' AND column_name = 'next_action_at'"
            )
        ).scalar()
        assert column_type == "timestamp with time zone"
        index_def = conn.execute(
            text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_step_next_action_at'")
        ).scalar()
        assert "WHERE (next_action_at IS NOT NULL)" in index_def
    downgrade_db(pg_url, "base")
    with engine.connect() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        assert set(tables) == {"alembic_version"}
    engine.dispose()
    init_db(pg_url)
    check_schema(pg_url)


def test_postgres_round_trip_and_uniques(pg_url, postgres_db_url):
    assert_roundtrip(get_sessionmaker(pg_url))
    downgrade_db(pg_url, "base")
    init_db(pg_url)
    assert_unique_constraints(get_sessionmaker(pg_url))


def test_postgres_sweep_uses_the_partial_index(pg_url):
    factory = get_sessionmaker(pg_url)
    with factory() as s:
        seed_steps(s, NOW)
        assert_sweep_results(s, NOW)
    compiled = sweep_query(NOW).compile(get_engine(pg_url))
    with get_engine(pg_url).connect() as conn:
        # The table is tiny, so force the planner's hand: the question is whether the partial
        # index is *usable* for `next_action_at <= :now` (its predicate must be implied).
        conn.execute(text("SET enable_seqscan = off"))
        plan = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).scalars().all()
    text_plan = "\n".join(plan)
    assert "ix_step_next_action_at" in text_plan, text_plan
    assert "Seq Scan" not in text_plan, text_plan
