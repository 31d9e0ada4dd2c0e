"""Claims on waiting enrollments: a run plans what it claimed, never what another run holds,
and what a dead run held is free again once its lease ends."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from models.db import get_engine, session_factory, session_scope
from models.tables import utcnow
from services.plan_queue import any_waiting, claim_waiting, plan_waiting, release
from services.planning import claim_unclaimed, plan_enrollments_in_batches
from tests.services.feeds.helpers import import_path

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oneroster"


def unplan_all() -> list[int]:
    """Make every enrollment waiting again (as if a feed had just stored them)."""
    with get_engine().begin() as conn:
        conn.execute(sa.text("UPDATE enrollment SET planned_fingerprint = NULL, plan_count = 0"))
        return list(conn.execute(sa.text("SELECT id FROM enrollment ORDER BY id")).scalars())


def plans() -> dict[int, tuple[int, str | None]]:
    with get_engine().connect() as conn:
        rows = conn.execute(sa.text("SELECT id, plan_count, planned_by FROM enrollment"))
        return {r.id: (r.plan_count, r.planned_by) for r in rows}


def test_a_run_plans_what_it_claimed_and_clears_the_claim(ilp_env) -> None:
    import_path(FIXTURES / "clean-1.1")
    ids = unplan_all()
    with session_scope() as session:
        assert any_waiting(session)
    planned = plan_waiting("lifecycle:run-1")
    assert sorted(planned.enrollment_ids) == ids and not planned.failed
    assert set(plans().values()) == {(1, "lifecycle:run-1")}
    with session_scope() as session:
        assert not any_waiting(session)
        assert claim_waiting(session, "lifecycle:run-2") == []
    with get_engine().connect() as conn:
        held = conn.execute(
            sa.text("SELECT count(*) FROM enrollment WHERE plan_claimed_by IS NOT NULL")
        )
        assert held.scalar() == 0


def test_a_live_claim_is_skipped_and_an_expired_one_is_taken(ilp_env) -> None:
    import_path(FIXTURES / "clean-1.1")
    ids = unplan_all()
    now = utcnow()
    with session_scope() as session:
        assert claim_unclaimed(session, ids[:2], "feed-run-9") == ids[:2]
    with session_scope() as session:
        assert claim_waiting(session, "lifecycle:a", now=now) == ids[2:]
    with session_scope() as session:  # everything is held: nothing waiting, nothing to claim
        assert not any_waiting(session, now)
        assert claim_waiting(session, "lifecycle:b", now=now) == []
    later = now + timedelta(minutes=6)  # both leases (5 minutes) ended: the runs died
    with session_scope() as session:
        assert claim_waiting(session, "lifecycle:b", now=later) == ids
    with session_scope() as session:
        assert release(session, "lifecycle:b") == len(ids)
        assert claim_waiting(session, "lifecycle:c", now=now) == ids


def test_concurrent_runs_plan_each_enrollment_once(ilp_env) -> None:
    import_path(FIXTURES / "clean-1.1")
    ids = unplan_all()
    sessions = session_factory()
    results: dict[str, list[int]] = {}

    def run(name: str) -> None:
        results[name] = plan_waiting(name, sessions=sessions, limit=1).enrollment_ids

    threads = [threading.Thread(target=run, args=(f"lifecycle:{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = sorted(i for planned in results.values() for i in planned)
    assert everything == ids  # each planned by exactly one of the runs
    assert {count for count, _ in plans().values()} == {1}


def test_a_feed_plans_only_what_no_lifecycle_run_holds(ilp_env) -> None:
    import_path(FIXTURES / "clean-1.1")
    ids = unplan_all()
    with session_scope() as session:  # a lingering lifecycle run got there first
        assert claim_waiting(session, "lifecycle:early", limit=2) == ids[:2]
    counts = plan_enrollments_in_batches(ids, planned_by="feed-run-3", claim=True)
    assert counts.enrollments == len(ids) - 2
    stored = plans()
    assert {stored[i] for i in ids[2:]} == {(1, "feed-run-3")}
    assert {stored[i] for i in ids[:2]} == {(0, None)}  # left to the run that holds them
    plan_enrollments_in_batches(ids[:2], planned_by="lifecycle:early")
    assert {count for count, _ in plans().values()} == {1}  # each planned once
