"""Bulk links of any size: a digest's "acknowledge all" signs its delivery row (a selector),
not a list of step ids, so it works for 6 steps or 600 and the link stays short.

`GET /a/{token}` shows how many of the digest's steps are still open and one button (no card
per step: a regional VP's digest may name hundreds); `POST` acknowledges every one the person
may act on (`services.actions.acknowledge`, one audit row each) and says how many.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from models.db import session_scope
from models.tables import Delivery, Enrollment, EnrollmentStatus, Step
from notifications.tokens import TokenClaims
from services import actions
from services.actions import ActionOutcome, NotPermitted, StepNotFound
from web import views
from web.pages import PageError, WebConfig, page_root, request_actor, staff_of

CHUNK = 900


def is_bulk(claims: TokenClaims) -> bool:
    return bool(claims.selector)


def selected_steps(session: Session, claims: TokenClaims) -> tuple[Delivery, list[int]]:
    """The digest a bulk token names, and its step ids: only the recipient's own digest."""
    delivery_id = claims.selects("delivery")
    row = session.get(Delivery, delivery_id) if delivery_id is not None else None
    if row is None:
        raise PageError(404, "Not found", "The message this link came from no longer exists.")
    if row.recipient_staff_id != claims.staff_id:
        raise PageError(403, "Not allowed", "This link is for someone else. Nothing was changed.")
    return row, [int(i) for i in row.step_ids]


def open_steps(session: Session, step_ids: Sequence[int]) -> list[int]:
    """Which of these steps are still open (student still enrolled), in one query per chunk."""
    s = Step.__table__  # type: ignore[attr-defined]
    e = Enrollment.__table__  # type: ignore[attr-defined]
    found: list[int] = []
    for start in range(0, len(step_ids), CHUNK):
        chunk = list(step_ids[start : start + CHUNK])
        query = (
            sa.select(s.c.id)
            .select_from(s.join(e, e.c.id == s.c.enrollment_id))
            .where(
                s.c.id.in_(chunk),
                s.c.status == "open",
                e.c.status != EnrollmentStatus.WITHDRAWN.value,
            )
        )
        found.extend(session.execute(query).scalars())
    return sorted(found)


def _sent_text(row: Delivery) -> str:
    moment = row.window_start
    return f"{moment:%a} {moment.day} {moment:%b %Y}"


def show(request: Request, config: WebConfig, token: str, claims: TokenClaims) -> Response:
    """What the button will do; changes nothing (mail scanners fetch links)."""
    with session_scope(config.db_url) as session:
        staff_of(session, claims)
        row, step_ids = selected_steps(session, claims)
        still_open = len(open_steps(session, step_ids))
        sent = _sent_text(row)
        session.rollback()
    root = page_root(request)
    return views.render(
        "bulk.html.j2",
        title=f"Acknowledge all: {still_open} items",
        total=len(step_ids),
        open_count=still_open,
        sent=sent,
        form_action=f"{root}/a/{token}",
        root=root,
    )


def act(
    request: Request, config: WebConfig, claims: TokenClaims, form: dict[str, str]
) -> tuple[Response, list[ActionOutcome]]:
    """Acknowledge every open step of the digest the person may act on, in one transaction.
    Returns the page and the outcomes to emit events for after the response."""
    now: datetime = config.clock()
    actor = request_actor(request, claims, now, form)
    outcomes: list[ActionOutcome] = []
    refused = 0
    with session_scope(config.db_url) as session:
        staff_of(session, claims)
        _, step_ids = selected_steps(session, claims)
        for step_id in open_steps(session, step_ids):
            try:
                outcomes.append(actions.acknowledge(session, step_id, actor))
            except (NotPermitted, StepNotFound):
                refused += 1
    changed = sum(1 for o in outcomes if o.changed)
    closed = len(step_ids) - len(outcomes) - refused
    parts = [f"Acknowledged {changed} item{'s' if changed != 1 else ''}."]
    if len(outcomes) - changed:
        parts.append(f"{len(outcomes) - changed} were already acknowledged.")
    if closed:
        parts.append(f"{closed} are no longer open.")
    if refused:
        parts.append(f"{refused} are no longer yours to act on.")
    parts.append("Reminders and escalation pause, then resume for whatever is still open.")
    response = views.render(
        "message.html.j2",
        title="Done" if changed else "Already done",
        heading="Done" if changed else "Already done",
        message=" ".join(parts),
        tone="info",
        root=page_root(request),
    )
    return response, [o for o in outcomes if o.event]
