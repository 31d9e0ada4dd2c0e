"""What every page handler shares: the error page, token checks and the app's configuration.

`web/app.py` (action pages, task list) and `web/report.py` (compliance report) both build on this,
so neither imports the other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from config.settings import Settings
from models.tables import Staff
from notifications.tokens import TokenClaims, TokenExpired, TokenTampered, verify_token
from services.actions import ActionOutcome, Actor
from web import views

logger = logging.getLogger(__name__)

MAX_TOKEN_CHARS = 4096
MAX_STEPS = 500  # step ids in one (digest) token
MAX_ID = 2**63 - 1  # database integer range

Clock = Callable[[], datetime]
Emitter = Callable[..., Any]


class PageError(Exception):
    """Stop and show an error page with this status."""

    def __init__(self, status_code: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.title = title
        self.message = message


@dataclass(frozen=True)
class WebConfig:
    settings: Settings
    db_url: str
    secret: str
    clock: Clock
    emit: Emitter | None


def page_root(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def wants_json(request: Request) -> bool:
    """API callers (the webhook) get JSON errors; people get pages."""
    ctype = request.headers.get("content-type", "")
    accept = request.headers.get("accept", "")
    return not request.url.path.startswith("/a/") and (
        "json" in ctype or ("json" in accept and "html" not in accept)
    )


def error_page(request: Request, exc: PageError) -> Response:
    if wants_json(request):
        return JSONResponse({"error": exc.message}, status_code=exc.status_code)
    return views.render(
        "message.html.j2",
        exc.status_code,
        title=exc.title,
        heading=exc.title,
        message=exc.message,
        tone="error",
        root=page_root(request),
    )


def guard(request: Request, fn: Callable[[], Response]) -> Response:
    try:
        return fn()
    except PageError as exc:
        return error_page(request, exc)


def verified_claims(config: WebConfig, token: str, now: datetime) -> TokenClaims:
    if len(token) > MAX_TOKEN_CHARS:
        raise PageError(400, "Link not valid", "This link is not valid (too long).")
    try:
        claims = verify_token(config.secret, token, now=now)
    except TokenExpired as exc:
        raise PageError(410, "Link expired", str(exc).capitalize()) from None
    except TokenTampered as exc:
        raise PageError(
            400, "Link not valid", f"{str(exc).capitalize()}. Nothing was changed."
        ) from None
    ids = (claims.staff_id, *claims.step_ids, *(value for _, value in claims.selector))
    if len(claims.step_ids) > MAX_STEPS or not all(0 < i <= MAX_ID for i in ids):
        raise PageError(400, "Link not valid", "This link is not valid (bad ids).")
    return claims


def request_actor(
    request: Request, claims: TokenClaims, now: datetime, form: dict[str, str]
) -> Actor:
    """Who acts, from where, and the form's one-time submission id: what every audit row keeps."""
    return Actor(
        staff_id=claims.staff_id,
        now=now,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        submission=form.get("_submission"),
    )


def staff_of(session: Session, claims: TokenClaims) -> Staff:
    staff = session.get(Staff, claims.staff_id)
    if staff is None or not staff.active:
        raise PageError(403, "Not allowed", "This link is not valid for any active staff member.")
    return staff


def emit_outcomes(config: WebConfig, outcomes: Sequence[ActionOutcome], staff_id: int) -> None:
    """After the commit (a background task after the response): one Prefect event per change.
    Emission never raises (tasks.events); the database already holds the truth."""
    if config.emit is None:
        return
    for outcome in outcomes:
        try:
            config.emit(
                outcome.event,
                outcome.step_id,
                enrollment_id=outcome.enrollment_id,
                school_id=outcome.school_source_id,
                actor=f"staff-{staff_id}",
                action=outcome.action,
                audit_id=outcome.audit_id,
            )
        except Exception:  # noqa: BLE001 - an event is only a trigger
            logger.warning("could not emit %s for step %s", outcome.event, outcome.step_id)
