"""Round trips, uniqueness and the sweep index on SQLite."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import StatementError
from sqlmodel import Session

from lifecycle.types import Escalation, Role, StepKind
from models.db import get_engine, get_sessionmaker, session_scope
from models.tables import (
    Enrollment,
    Step,
    escalations_from_json,
    escalations_to_json,
)

from .factories import make_graph
from .roundtrip import (
    NOW,
    assert_roundtrip,
    assert_sweep_results,
    assert_unique_constraints,
    seed_steps,
    sweep_query,
)


def test_every_table_round_trips(db_url):
    assert_roundtrip(get_sessionmaker(db_url))


def test_unique_constraints_hold(db_url):
    assert_unique_constraints(get_sessionmaker(db_url))


def test_sweep_query_returns_due_rows_in_order(session: Session):
    seed_steps(session, NOW)
    assert_sweep_results(session, NOW)


def test_sweep_query_uses_the_partial_index(db_url, session: Session):
    seed_steps(session, NOW)
    compiled = sweep_query(NOW).compile(get_engine(db_url))
    with get_engine(db_url).connect() as conn:
        conn.execute(text("ANALYZE"))
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(compiled), tuple(compiled.params.values())
        ).all()
    details = " | ".join(row[-1] for row in plan)
    assert "USING INDEX ix_step_next_action_at" in details, details
    assert "SCAN step" not in details.replace("USING INDEX", ""), details
    assert "TEMP B-TREE" not in details, details  # the index also gives the order


def test_unplanned_enrollment_query_uses_its_index(db_url, session: Session):
    make_graph(session)
    with get_engine(db_url).connect() as conn:
        plan = conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT id FROM enrollment WHERE planned_fingerprint IS NULL "
            "ORDER BY updated_at LIMIT 100"
        ).all()
    details = " | ".join(row[-1] for row in plan)
    assert "ix_enrollment_unplanned" in details, details


def test_naive_datetimes_are_refused(db_url, session: Session):
    ids = make_graph(session)
    step = session.get(Step, ids["step"])
    step.next_action_at = datetime(2025, 9, 2, 12, 0)  # naive: ambiguous, refused
    with pytest.raises(StatementError, match="timezone"):
        session.commit()


def test_unknown_enum_values_are_refused(db_url, session: Session):
    ids = make_graph(session)
    session.add(
        Step(
            enrollment_id=ids["enrollment"],
            kind="not_a_step",
            due=date(2025, 9, 15),
            owner_role=Role.TEACHER,
            opens=date(2025, 9, 2),
        )
    )
    with pytest.raises(StatementError, match="not_a_step"):
        session.commit()


def test_session_scope_commits_and_rolls_back(db_url):
    with session_scope(db_url) as s:
        ids = make_graph(s)
    with pytest.raises(RuntimeError):
        with session_scope(db_url) as s:
            s.get(Enrollment, ids["enrollment"]).grade = 11
            s.flush()
            raise RuntimeError("boom")
    with session_scope(db_url) as s:
        enr = s.get(Enrollment, ids["enrollment"])
        assert enr.grade == 10
        enr.planned_fingerprint = enr.fingerprint
    with session_scope(db_url) as s:
        assert s.get(Enrollment, ids["enrollment"]).planned_fingerprint == "f" * 64


def test_initials_and_escalation_codec():
    ladder = (
        Escalation(level=1, at=NOW, notify=(Role.TEACHER,)),
        Escalation(level=0, at=NOW, notify=(Role.TEACHER,), attempt_day=3),
    )
    data = escalations_to_json(ladder)
    assert data[0] == {"level": 1, "at": "2025-09-20T15:00Z", "notify": ["teacher"]}
    assert data[1]["attempt_day"] == 3
    assert escalations_from_json(data) == ladder
    with pytest.raises(ValueError):
        escalations_to_json([Escalation(level=0, at=datetime(2025, 1, 1), notify=())])
    assert StepKind("welcome_call") is StepKind.WELCOME_CALL
