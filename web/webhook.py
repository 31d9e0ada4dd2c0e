"""POST /enrollments: the JSON webhook. Same validation as the feeds, per-item results.

Accepted enrollments are stored first, then one ilp.enrollment.* event each starts the
lifecycle flow through its deployment trigger. If the event is lost, reconciliation plans it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

if TYPE_CHECKING:
    from config.settings import Settings
    from intake.records import ParsedFeed, StudentEnrollmentRecord
    from services.feed_store import FeedResult
    from services.planning import EnrollmentLabel
    from tasks.events import EnrollmentEventKind

router = APIRouter()


def accept_enrollments(
    payload: Any,
    *,
    settings: Settings | None = None,
    db_url: str | None = None,
    today: date | None = None,
    flush: bool = True,
) -> tuple[int, dict[str, Any]]:
    """Store the items; return (HTTP status, body). No Prefect import unless events are sent.
    `flush=False` (the web server): leave the events to Prefect's background worker instead of
    draining it inside the request, so a busy Prefect server never holds a caller's answer."""
    from intake.records import FeedError, ParsedFeed
    from intake.webhook import parse_enrollment_items

    if isinstance(payload, dict) and isinstance(payload.get("enrollments"), list):
        payload = payload["enrollments"]
    try:
        records, rejections = parse_enrollment_items(payload)
    except FeedError as exc:
        return 400, {"error": str(exc)}
    feed = ParsedFeed(kind="json", bulk=False, enrollments=records, rejections=rejections)
    stored = store_enrollments(feed, settings, db_url, today or date.today())
    items = answer_items(item_count(payload), stored)
    events = announce(stored.labels, stored.created, stored.changed, flush=flush)
    accepted = sum(1 for i in items if i["status"] != "rejected")
    body = {
        "feed_run_id": stored.result.feed_run_id,
        "accepted": accepted,
        "rejected": len(items) - accepted,
        "events": events,
        "items": items,
    }
    return (200 if accepted or not items else 422), body


@dataclass(frozen=True)
class StoredItems:
    """A webhook call after the store: what to answer per item and whom to announce."""

    result: FeedResult
    records: list[StudentEnrollmentRecord]
    labels: dict[int, EnrollmentLabel | None]
    ids: dict[str, int]

    @property
    def created(self) -> set[int]:
        return set(self.result.created_ids)

    @property
    def changed(self) -> set[int]:
        """Changed enrollments, and those whose teachers changed (re-planned for owners)."""
        return set(self.result.changed_ids) | set(self.result.reowned_ids)


def store_enrollments(
    feed: ParsedFeed, settings: Settings | None, db_url: str | None, today: date
) -> StoredItems:
    """The same use case as a feed import, then the ids needed to answer item by item."""
    from config.schools import load_school_configs
    from config.settings import get_settings
    from models.db import session_factory
    from services.intake import receive_feed
    from services.planning import describe_enrollment, enrollment_ids_by_source

    records = feed.enrollments
    settings = settings or get_settings()
    sessions = session_factory(db_url)
    result = receive_feed(
        sessions,
        feed,
        source="webhook",
        today=today,
        configs=load_school_configs(settings.schools_dir),
    )
    with sessions() as session:
        labels = {
            i: describe_enrollment(session, i)
            for i in (*result.created_ids, *result.changed_ids, *result.reowned_ids)
        }
        ids = enrollment_ids_by_source(session, [r.source_id for r in records])
    return StoredItems(result, records, labels, ids)


def item_count(payload: Any) -> int:
    """How many items the caller sent (a single object counts as one)."""
    if isinstance(payload, list):
        return len(payload)
    return len(payload.get("enrollments", [payload]))


def answer_items(count: int, stored: StoredItems) -> list[dict[str, Any]]:
    """One answer per item, in the caller's order: rejected (with errors), created, changed
    or unchanged."""
    errors: dict[int, list[dict[str, str]]] = {}
    for r in stored.result.rejections:
        errors.setdefault(r.line, []).append({"field": r.column, "reason": r.reason})
    created, changed = stored.created, stored.changed
    by_line = {r.source_line: r for r in stored.records}
    items: list[dict[str, Any]] = []
    for line in range(1, count + 1):
        record = by_line.get(line)
        enrollment_id = stored.ids.get(record.source_id) if record else None
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
    return items


def announce(
    labels: dict[int, EnrollmentLabel | None],
    created: set[int],
    changed: set[int],
    *,
    flush: bool = True,
) -> int:
    """One ilp.enrollment.* event per stored enrollment; the trigger plans it. Returns how many
    were queued (0 when Prefect is unreachable: reconciliation plans them instead)."""
    if not labels:
        return 0
    from tasks.events import emit_enrollment_event, flush_events

    sent = 0
    for enrollment_id, label in sorted(labels.items()):
        if label is None:
            continue
        kind: EnrollmentEventKind = "created" if enrollment_id in created else "changed"
        sent += emit_enrollment_event(kind, enrollment_id, label.school)
    if sent and flush:
        flush_events()
    return sent


def webhook_refusal(settings: Settings, authorization: str | None) -> JSONResponse | None:
    """SIS callers present `Authorization: Bearer <token>`: ILP_WEBHOOK_TOKEN, or the one
    generated into the data dir (`ilp up` prints it). Strict parsing, constant-time compare."""
    from web.security import bearer_token, same_secret

    if not same_secret(bearer_token(authorization), settings.webhook_bearer):
        return JSONResponse(
            {"error": "missing or wrong bearer token"},
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="ilp"'},
        )
    return None


def _too_large(what: str) -> JSONResponse:
    return JSONResponse({"error": f"request too large: {what}"}, status_code=413)


@router.post("/enrollments", tags=["feeds"])
async def post_enrollments(request: Request) -> JSONResponse:
    """One enrollment object, a list of them, or {"enrollments": [...]}.

    The token is checked before a byte of the body is read; then the body is read up to
    ILP_WEBHOOK_MAX_BYTES and its items counted against ILP_WEBHOOK_MAX_ITEMS (413 beyond).
    """
    from starlette.concurrency import run_in_threadpool

    from web.security import BodyTooLarge, read_body

    settings: Settings | None = getattr(request.app.state, "settings", None)
    if settings is None:
        from config.settings import get_settings

        settings = get_settings()
    refusal = webhook_refusal(settings, request.headers.get("authorization"))
    if refusal is not None:
        return refusal
    try:
        raw = await read_body(request, settings.webhook_max_bytes)
    except BodyTooLarge:
        return _too_large(f"the body is over {settings.webhook_max_bytes} bytes")
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):
        return JSONResponse({"error": "the body is not JSON"}, status_code=400)
    if not isinstance(payload, (dict, list)):
        return JSONResponse(
            {"error": "request body must be a JSON object or a list of objects"}, status_code=400
        )
    items = payload.get("enrollments") if isinstance(payload, dict) else payload
    if (len(items) if isinstance(items, list) else 1) > settings.webhook_max_items:
        return _too_large(f"more than {settings.webhook_max_items} items")
    status, body = await run_in_threadpool(
        accept_enrollments,
        payload,
        settings=settings,
        db_url=getattr(request.app.state, "db_url", None),
        flush=False,
    )
    return JSONResponse(body, status_code=status)
