"""The staff web app: the pages behind the links in messages, and the personal task list.

    GET|HEAD /a/{token}   shows what the link will do, with a confirm form. Changes nothing and
                          submits nothing by itself (no scripts at all: the Content-Security-Policy
                          forbids them), because mail scanners fetch links and run pages.
    POST     /a/{token}   does it: acknowledge / complete / snooze (steps/actions in
                          services/actions.py), commits, then emits the Prefect event.
    GET|HEAD /            a short "open a link from your message" page
    GET|HEAD /healthz     {"ok": true}
    GET|HEAD /report/{token}  the compliance report (web/report.py): coordinators, principals
                          and RVPs, with a "report" token from `ilp report --link STAFF_ID`
    GET|HEAD /static/app.css
    GET|HEAD|POST /ilp/{token}  the EL ILP form and versions / the parent copy (web/documents.py),
                          from a complete link of an el_ilp, el_ilp_review or parent_copy step
    POST     /enrollments from web/webhook.py, when that module exists

The token in the URL path is the only credential: forms carry it in their action URL and use no
cookies, so a POST cannot be forged without the link itself. Tokens are HMAC-signed, expiring,
and scoped to one staff member, one action and one step or one digest's steps ("tasks" tokens
name no step and open the task list, whose forms post to per-step tokens minted on the page).
Who may act on a step is `services.actions.may_act`: the owner, or a coordinator / principal /
RVP the step escalates to at that school.

Every malformed request gets a 4xx page, never a 500.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from config.settings import Settings, get_settings
from lifecycle.access import may_reassign
from models.db import session_scope
from models.tables import Enrollment, Staff, Step, utcnow
from notifications.tokens import (
    TokenClaims,
    TokenExpired,
    TokenTampered,
    verify_token,
)
from services import actions
from services.actions import ActionOutcome, Actor, InvalidInput, NotPermitted, StepNotFound
from web import bulk, tasklist, views
from web.pages import (
    MAX_TOKEN_CHARS,
    Clock,
    Emitter,
    PageError,
    WebConfig,
    emit_outcomes,
    error_page,
    guard,
    page_root,
    request_actor,
    staff_of,
    verified_claims,
    wants_json,
)
from web.security import FailedAttempts, GuardedFastAPI, install_log_redaction

logger = logging.getLogger(__name__)

MAX_FORM_BYTES = 256 * 1024
MAX_FIELDS = 64
# A task-list bulk post carries one field per ticked step (web/tasklist.py).
MAX_BULK_FIELDS = tasklist.MAX_BULK_STEPS + 32


def _default_emit(kind: str, step_id: int, **kwargs: Any) -> bool:
    from tasks.events import emit_step_event

    return emit_step_event(kind, step_id, **kwargs)  # type: ignore[arg-type]


def create_app(
    settings: Settings | None = None,
    *,
    db_url: str | None = None,
    clock: Clock | None = None,
    emit: Emitter | None = _default_emit,
) -> FastAPI:
    """The web app. Raises `InsecureSecretError` when the signing secret or webhook token is
    weak outside dev mode (generated ones never are). `clock` (default: the real time) and
    `emit` (default: Prefect events via `tasks.events.emit_step_event`; None: no events) are
    there for tests."""
    settings = settings or get_settings()
    secret = settings.signing_secret  # generated on first use; refuses a weak configured one
    install_log_redaction(secret)
    config = WebConfig(
        settings=settings,
        db_url=db_url or settings.sqlalchemy_url,
        secret=secret,
        clock=clock or utcnow,
        emit=emit,
    )
    # GuardedFastAPI: security headers on every response (500s too), relative redirects only,
    # failed token attempts throttled (web/security.py).
    app = GuardedFastAPI(
        title="ILP web",
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.dev_mode else None,
    )
    app.state.web = config
    app.state.settings = settings  # for routers (e.g. web/webhook.py): use these, not defaults
    app.state.db_url = config.db_url
    app.state.public_base_url = settings.public_base_url
    app.state.failed_attempts = FailedAttempts(
        settings.failed_token_limit, settings.failed_token_window_seconds
    )
    _install_handlers(app)
    _install_pages(app, config)
    _include_routers(app)
    if emit is not None:
        threading.Thread(target=_import_event_client, name="warm-up", daemon=True).start()
    return app


def _import_event_client() -> None:
    """Import Prefect's event client in the background at start: the first webhook would
    otherwise wait ~2 s for it before its enrollments' events go out."""
    import prefect.events  # noqa: F401

    import tasks.events  # noqa: F401


def _install_pages(app: FastAPI, config: WebConfig) -> None:
    """The landing page, the health check, the stylesheet and the pages behind the links."""

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def index(request: Request) -> Response:
        return views.render(
            "message.html.j2",
            title="ILP tasks",
            heading="ILP tasks",
            message="Open a link from one of your ILP messages to act on a step, or your "
            "personal task list link to see everything that is open.",
            tone="info",
            root=page_root(request),
        )

    @app.api_route("/healthz", methods=["GET", "HEAD"], include_in_schema=False)
    def healthz() -> JSONResponse:
        return JSONResponse({"ok": True})

    @app.api_route("/static/app.css", methods=["GET", "HEAD"], include_in_schema=False)
    def stylesheet() -> Response:
        return Response(views.stylesheet(), media_type="text/css")

    @app.api_route("/a/{token}", methods=["GET", "HEAD"], include_in_schema=False)
    def action_page(request: Request, token: str) -> Response:
        return guard(request, lambda: _show(request, config, token))

    @app.post("/a/{token}", include_in_schema=False)
    async def action_post(request: Request, token: str) -> Response:
        try:
            pairs = await _read_pairs(request)
        except PageError as exc:
            return error_page(request, exc)
        return await run_in_threadpool(guard, request, lambda: _act(request, config, token, pairs))


def _include_routers(app: FastAPI) -> None:
    """GET /report/{token} (web/report.py) and, when it exists, POST /enrollments."""
    from web.report import router as report_router

    app.include_router(report_router)
    from web.documents import router as documents_router  # /ilp/{token}: EL ILP, parent copy

    app.include_router(documents_router)
    from web.student import router as student_router  # /student/{token}?id=: a student's record

    app.include_router(student_router)

    try:
        from web.webhook import router as webhook_router
    except ModuleNotFoundError as exc:  # the webhook is optional until it exists
        if exc.name != "web.webhook":
            raise
    else:
        app.include_router(webhook_router)


# --- plumbing ------------------------------------------------------------------------------


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Not found", 405: "Method not allowed"}
        title = titles.get(exc.status_code, "Request refused")
        message = {
            404: "There is nothing at this address. Open a link from one of your ILP messages.",
            405: "This address does not accept that kind of request.",
        }.get(exc.status_code, str(exc.detail))
        response = error_page(request, PageError(exc.status_code, title, message))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        if wants_json(request):  # API callers keep FastAPI's detailed 422
            return await request_validation_exception_handler(request, exc)
        return error_page(request, PageError(400, "Bad request", "The request is malformed."))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:  # pragma: no cover
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_page(
            request, PageError(500, "Something went wrong", "Nothing was changed. Try again.")
        )


async def _read_pairs(request: Request) -> list[tuple[str, str]]:
    """A url-encoded form's fields in order, read with limits (a task-list bulk post may
    repeat `step` up to MAX_BULK_FIELDS times). Other bodies are refused with a 4xx."""
    length = request.headers.get("content-length")
    if length is not None:
        if not length.strip().isdigit():
            raise PageError(400, "Bad request", "The request's Content-Length is malformed.")
        if int(length) > MAX_FORM_BYTES:
            raise PageError(413, "Too large", "The form is too large.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PageError(413, "Too large", "The form is too large.")
    if not body:
        return []
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise PageError(415, "Unsupported form", "Send the form as a normal web form.")
    try:
        pairs = parse_qsl(
            body.decode("ascii"),
            keep_blank_values=True,
            encoding="utf-8",
            errors="strict",
            max_num_fields=MAX_BULK_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise PageError(400, "Bad request", "The form could not be read.") from None
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            raise PageError(400, "Bad request", "The form contains a NUL character.")
    return pairs


def _single_form(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """A one-step form: at most MAX_FIELDS fields, the first value of each."""
    if len(pairs) > MAX_FIELDS:
        raise PageError(400, "Bad request", "The form could not be read.")
    form: dict[str, str] = {}
    for key, value in pairs:
        form.setdefault(key, value)
    return form


def _mint(config: WebConfig, claims: TokenClaims, action: str, step_id: int) -> str:
    """A per-step token for a form on the task list; it expires with the task-list link."""
    return tasklist.mint(config, claims, action, step_id)


def _back_token(config: WebConfig, raw: str | None, staff_id: int, now: datetime) -> str | None:
    """A task-list token passed along so result pages can link back; ignored unless valid."""
    if not raw or len(raw) > MAX_TOKEN_CHARS:
        return None
    try:
        claims = verify_token(config.secret, raw, now=now)
    except (TokenExpired, TokenTampered):
        return None
    if claims.action != "tasks" or claims.staff_id != staff_id:
        return None
    return raw


# --- GET: show, change nothing --------------------------------------------------------------


def _show(request: Request, config: WebConfig, token: str) -> Response:
    now = config.clock()
    claims = verified_claims(config, token, now)
    root = page_root(request)
    back = _back_token(config, request.query_params.get("back"), claims.staff_id, now)
    if bulk.is_bulk(claims):
        return bulk.show(request, config, token, claims)
    with session_scope(config.db_url) as session:
        staff = staff_of(session, claims)
        if claims.action == "tasks":
            return tasklist.task_list(request, session, config, claims, staff, now, token)
        if claims.action == "report":
            return RedirectResponse(f"{root}/report/{token}", status_code=303)
        cards = []
        refused = missing = 0
        reassigning = claims.action == "reassign"
        student = None
        for step_id in claims.step_ids:
            try:
                ctx = actions.load_step(session, step_id, staff.id or 0, reassigning=reassigning)
            except StepNotFound:
                missing += 1
                continue
            except NotPermitted:
                refused += 1
                continue
            cards.append(views.step_view(session, ctx, now))
            if len(claims.step_ids) == 1:  # one step's page: who the student is, its history
                student = views.student_view(session, ctx)
        forms = _reassign_forms(session, config, claims, staff, cards, root)
        session.rollback()  # a GET never writes
    if not cards:
        if refused:
            raise PageError(
                403,
                "Not allowed",
                "This link is not for a step you are responsible for. Nothing was changed.",
            )
        raise PageError(404, "Not found", "The step in this link does not exist (any more).")
    title = views.ACTION_TITLES[claims.action]
    return views.render(
        "action.html.j2",
        title=f"{title}: {cards[0].label}" if len(cards) == 1 else f"{title}: {len(cards)} items",
        action=claims.action,
        cards=cards,
        many=len(claims.step_ids) > 1,
        open_count=sum(1 for c in cards if c.is_open),
        hidden_count=refused + missing,
        form_action=f"{root}/a/{token}",
        root=root,
        back=back,
        values={},
        errors={},
        reassign_forms=forms,
        student=student,
    )


def _reassign_forms(
    session: Session,
    config: WebConfig,
    claims: TokenClaims,
    staff: Staff,
    cards: list[views.StepView],
    root: str,
) -> dict[int, dict[str, Any]]:
    """For the school's ILP coordinator, a small form per open step to hand it to someone
    else (`services.actions.reassign`); nobody else sees it."""
    forms: dict[int, dict[str, Any]] = {}
    member = actions.staff_member(staff)
    for card in cards:
        if not card.is_open:
            continue
        step = session.get(Step, card.id)
        enrollment = session.get(Enrollment, step.enrollment_id) if step else None
        if step is None or enrollment is None:
            continue
        if not may_reassign(member, enrollment.school_id):
            continue
        token = _mint(config, claims, "reassign", card.id)
        forms[card.id] = {
            "action": f"{root}/a/{token}",
            "owner": step.owner_staff_id,
            "choices": actions.reassign_choices(session, enrollment.school_id),
        }
    return forms


# --- POST: act ------------------------------------------------------------------------------


def _act(request: Request, config: WebConfig, token: str, pairs: list[tuple[str, str]]) -> Response:
    now = config.clock()
    claims = verified_claims(config, token, now)
    root = page_root(request)
    if claims.action == "tasks" and any(key == "bulk" for key, _ in pairs):
        return tasklist.bulk(request, config, claims, token, pairs)
    if claims.action in ("tasks", "report"):
        raise PageError(
            405, "Nothing to submit", "This link opens a page; open it to act on a step."
        )
    form = _single_form(pairs)
    if bulk.is_bulk(claims):
        page, done = bulk.act(request, config, claims, form)
        if done:
            page.background = BackgroundTask(emit_outcomes, config, done, claims.staff_id)
        return page
    targets = _targets(claims, form)
    actor = request_actor(request, claims, now, form)
    back = _back_token(config, form.get("back"), claims.staff_id, now)
    outcomes: list[ActionOutcome] = []
    try:
        with session_scope(config.db_url) as session:
            staff_of(session, claims)
            for step_id in targets:
                try:
                    outcomes.append(_dispatch(session, claims.action, step_id, actor, form))
                except NotPermitted:
                    if len(targets) == 1:
                        raise
    except InvalidInput as exc:
        return _form_again(request, config, token, claims, form, exc, back, now)
    except NotPermitted as exc:
        raise PageError(403, "Not allowed", str(exc)) from None
    except StepNotFound as exc:
        raise PageError(404, "Not found", str(exc)) from None
    if not outcomes:
        raise PageError(403, "Not allowed", "None of these steps are yours. Nothing was changed.")
    events = [o for o in outcomes if o.event]
    background = BackgroundTask(emit_outcomes, config, events, claims.staff_id) if events else None
    with session_scope(config.db_url) as session:
        cards = []
        for outcome in outcomes:
            try:
                ctx = actions.load_step(session, outcome.step_id, claims.staff_id)
            except (StepNotFound, NotPermitted):
                continue
            cards.append(views.step_view(session, ctx, now))
        session.rollback()
    attempts_open = any(
        o.action == "contact_attempt" and c.is_open for o, c in zip(outcomes, cards, strict=False)
    )
    log_another = None
    if attempts_open and len(claims.step_ids) == 1:
        log_another = f"{root}/a/{token}" + (f"?back={back}" if back else "")
    response = views.render(
        "result.html.j2",
        title="Done" if any(o.changed for o in outcomes) else "Already done",
        results=list(zip(outcomes, cards, strict=False)),
        root=root,
        back=back,
        log_another=log_another,
    )
    response.background = background
    return response


def _targets(claims: TokenClaims, form: dict[str, str]) -> list[int]:
    if len(claims.step_ids) == 1:
        return [claims.step_ids[0]]
    choice = form.get("step", "").strip()
    if choice == "all" and claims.action == "acknowledge":
        return list(claims.step_ids)
    if choice.isdigit() and int(choice) in claims.step_ids:
        return [int(choice)]
    raise PageError(400, "Bad request", "Choose one of the steps listed on the page.")


def _dispatch(
    session: Session, action: str, step_id: int, actor: Actor, form: dict[str, str]
) -> ActionOutcome:
    if action == "acknowledge":
        return actions.acknowledge(session, step_id, actor)
    if action == "snooze":
        return actions.snooze(session, step_id, actor, form.get("until", ""))
    if action == "complete":
        return actions.complete(session, step_id, actor, form)
    if action == "reassign":
        return actions.reassign(session, step_id, actor, form.get("owner", ""))
    raise PageError(400, "Link not valid", "This link names an unknown action.")


def _form_again(
    request: Request,
    config: WebConfig,
    token: str,
    claims: TokenClaims,
    form: dict[str, str],
    error: InvalidInput,
    back: str | None,
    now: datetime,
) -> Response:
    """The form again with the message and what was typed (422); nothing was changed."""
    root = page_root(request)
    step_id = claims.step_ids[0]
    if len(claims.step_ids) > 1 and form.get("step", "").isdigit():
        step_id = int(form["step"])
    with session_scope(config.db_url) as session:
        try:
            ctx = actions.load_step(
                session, step_id, claims.staff_id, reassigning=claims.action == "reassign"
            )
        except (StepNotFound, NotPermitted) as exc:
            raise PageError(400, "Not done", str(error)) from exc
        card = views.step_view(session, ctx, now)
        student = views.student_view(session, ctx) if len(claims.step_ids) == 1 else None
        forms = (
            _reassign_forms(session, config, claims, ctx.staff, [card], root) if ctx.staff else {}
        )
        session.rollback()
    values = {k: v for k, v in form.items() if not k.startswith("_")}
    return views.render(
        "action.html.j2",
        422,
        title=f"Not done yet: {card.label}",
        action=claims.action,
        cards=[card],
        many=len(claims.step_ids) > 1,
        open_count=1 if card.is_open else 0,
        hidden_count=0,
        form_action=f"{root}/a/{token}",
        root=root,
        back=back,
        values=values,
        errors={"message": str(error), "field": error.field or ""},
        reassign_forms=forms,
        student=student,
    )
