"""Import a feed the way the import_feed flow does, minus Prefect."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel

from config.schools import load_school_configs
from config.settings import get_settings
from models.db import get_engine, session_scope
from services.feed_store import FeedResult, apply_feed, finish_feed_run, start_feed_run
from services.planning import plan_enrollments
from tasks.intake import detect_and_parse


def import_path(
    path: Path,
    today: date = date(2026, 9, 1),
    date_order: str | None = None,
    *,
    bulk: bool = False,
    origin: str | None = None,
) -> FeedResult:
    feed = detect_and_parse(path, date_order)
    with session_scope() as session:
        run_id = start_feed_run(session, str(path), feed.kind)
    with session_scope() as session:
        result = apply_feed(
            session,
            feed,
            run_id,
            load_school_configs(get_settings().schools_dir),
            today=today,
            bulk=bulk,
            origin=origin,
        )
        finish_feed_run(session, result)
    with session_scope() as session:
        plan_enrollments(session, result.to_plan)
    return result


def dump(*tables: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the given tables, without timestamps that move on a no-op."""
    out = {}
    with get_engine().connect() as conn:
        for name in tables:
            table = SQLModel.metadata.tables[name]
            cols = [c for c in table.c if c.name not in ("updated_at", "created_at", "planned_at")]
            out[name] = sorted(map(tuple, conn.execute(sa.select(*cols))), key=repr)
    return out


def steps_of(student_source_id: str) -> dict[str, Any]:
    from models.tables import Enrollment, Step, Student

    query = (
        sa.select(
            Step.kind,
            Step.seq,
            Step.due,
            Step.status,
            Step.required,
            Step.next_action_at,
            Step.owner_staff_id,
        )
        .join(Enrollment, Enrollment.id == Step.enrollment_id)
        .join(Student, Student.id == Enrollment.student_id)
        .where(Student.source_id == student_source_id)
        .order_by(Step.due)
    )
    with session_scope() as session:
        rows = session.execute(query).all()
    return {(r.kind.value if not r.seq else f"{r.kind.value}#{r.seq}"): r for r in rows}


def post_items(items: list[dict[str, Any]], today: date = date(2026, 9, 1)) -> FeedResult:
    """What POST /enrollments stores (minus the events): a webhook delta, then its plans."""
    from intake.records import ParsedFeed
    from intake.webhook import parse_enrollment_items
    from models.db import session_factory
    from services.intake import receive_feed

    records, rejections = parse_enrollment_items(items)
    feed = ParsedFeed(kind="json", bulk=False, enrollments=records, rejections=rejections)
    result = receive_feed(session_factory(), feed, source="webhook", today=today)
    with session_scope() as session:
        plan_enrollments(session, result.to_plan)
    return result
