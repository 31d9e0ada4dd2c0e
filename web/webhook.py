"""POST /enrollments: the JSON webhook. Same validation as the feeds, per-item results.

Accepted enrollments are stored first, then one ilp.enrollment.* event each starts the
lifecycle flow through its deployment trigger. If the event is lost, reconciliation plans it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

router = APIRouter()


def accept_enrollments(payload: Any, *, today: date | None = None) -> tuple[int, dict[str, Any]]:
    """Store the items; return (HTTP status, body). No Prefect import unless events are sent."""
    from ilp.schools import load_school_configs
    from ilp.settings import get_settings
    from intake.records import FeedError, ParsedFeed
    from intake.webhook import parse_enrollment_items
    from models.db import session_scope
    from models.feeds import apply_feed, finish_feed_run, start_feed_run
    from models.tables import Enrollment

    if isinstance(payload, dict) and isinstance(payload.get("enrollments"), list):
        payload = payload["enrollments"]
    try:
        records, rejections = parse_enrollment_items(payload)
    except FeedError as exc:
        return 400, {"error": str(exc)}
    feed = ParsedFeed(kind="json", bulk=False, enrollments=records, rejections=rejections)
    configs = load_school_configs(get_settings().schools_dir)
    with session_scope() as session:
        run_id = start_feed_run(session, "webhook", "json")
    with session_scope() as session:
        result = apply_feed(session, feed, run_id, configs, today=today or date.today())
        finish_feed_run(session, result)
        ids = {
            source_id: enrollment_id
            for source_id, enrollment_id in session.execute(
                Enrollment.__table__.select()  # type: ignore[attr-defined]
                .with_only_columns(Enrollment.source_id, Enrollment.id)  # type: ignore[arg-type]
                .where(Enrollment.source_id.in_([r.source_id for r in records]))  # type: ignore[attr-defined]
            )
        }

    created, changed = set(result.created_ids), set(result.changed_ids)
    errors: dict[int, list[dict[str, str]]] = {}
    for r in result.rejections:
        errors.setdefault(r.line, []).append({"field": r.column, "reason": r.reason})
    items = []
    count = (
        len(payload) if isinstance(payload, list) else len(payload.get("enrollments", [payload]))
    )
    by_line = {r.source_line: r for r in records}
    for line in range(1, count + 1):
        record = by_line.get(line)
        enrollment_id = ids.get(record.source_id) if record else None
        if line in errors or enrollment_id is None:
            items.append({"item": line, "status": "rejected", "errors": errors.get(line, [])})
            continue
        status = (
            "created"
            if enrollment_id in created
            else "changed"
            if enrollment_id in changed
            else "unchanged"
        )
        items.append({"item": line, "status": status, "enrollment_id": enrollment_id})

    events = 0
    if created or changed:
        from tasks.planning import emit_enrollment_events

        events = emit_enrollment_events.fn(sorted(created), sorted(changed))
    accepted = sum(1 for i in items if i["status"] != "rejected")
    body = {
        "feed_run_id": run_id,
        "accepted": accepted,
        "rejected": len(items) - accepted,
        "events": events,
        "items": items,
    }
    return (200 if accepted or not items else 422), body


@router.post("/enrollments", tags=["feeds"])
def post_enrollments(payload: Any = Body(...)) -> JSONResponse:  # noqa: B008
    """One enrollment object, a list of them, or {"enrollments": [...]}."""
    status, body = accept_enrollments(payload)
    return JSONResponse(body, status_code=status)
