"""The ILP documents behind a step's "complete" link: the EL ILP form and the parent copy.

    GET|HEAD /ilp/{token}       el_ilp / el_ilp_review: the form (prefilled with the current
                                version), the version history and a diff of two versions
                                (?a=1&b=2); parent_copy: the version the parent gets, the
                                guardian's address, send-or-printed, copies made so far
    POST     /ilp/{token}       save a new version / send or record the parent copy
    GET      /ilp/{token}/pdf   the parent copy PDF as it would go out now (changes nothing)

The token is the step's "complete" token (the same link as /a/{token}); who may open it is the
rule every action uses (`services.actions.may_act`). Like the action pages, GET never writes and
the pages carry no scripts.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from lifecycle.el_ilp import (
    FIELD_LABELS,
    PARENT_LANGUAGES,
    TEXT_QUESTIONS,
    diff,
    language_name,
    line_diff,
)
from lifecycle.forms import TEACHER_INPUT_QUESTIONS
from lifecycle.types import StepKind
from models.db import session_scope
from models.tables import Staff
from notifications.tokens import TokenClaims
from services import actions, el_ilp, parent_copy
from services.actions import InvalidInput, NotPermitted, StepNotFound
from web import views
from web.pages import (
    PageError,
    WebConfig,
    emit_outcomes,
    error_page,
    guard,
    page_root,
    request_actor,
    staff_of,
    verified_claims,
)

logger = logging.getLogger(__name__)
router = APIRouter()

EL_KINDS = (StepKind.EL_ILP.value, StepKind.EL_ILP_REVIEW.value)
NOTICE_KIND = StepKind.EL_ILP_NOTICE.value
DOCUMENT_KINDS = (*EL_KINDS, StepKind.PARENT_COPY.value, NOTICE_KIND)
MAX_FORM_FIELDS = 32
MAX_FORM_BYTES = 128 * 1024


def _config(request: Request) -> WebConfig:
    config: WebConfig = request.app.state.web
    return config


def _claims(config: WebConfig, token: str, now: datetime) -> TokenClaims:
    claims = verified_claims(config, token, now)
    if claims.action != "complete" or len(claims.step_ids) != 1:
        raise PageError(403, "Not allowed", "This link does not open an ILP document.")
    return claims


def _load(session: Session, claims: TokenClaims) -> actions.StepContext:
    staff_of(session, claims)
    try:
        ctx = actions.load_step(session, claims.step_ids[0], claims.staff_id)
    except StepNotFound as exc:
        raise PageError(404, "Not found", str(exc)) from None
    except NotPermitted as exc:
        raise PageError(403, "Not allowed", str(exc)) from None
    if str(ctx.step.kind) not in DOCUMENT_KINDS:
        raise PageError(404, "Not found", "This step has no ILP document.")
    return ctx


def _staff_names(session: Session, ids: set[int]) -> dict[int, str]:
    names = {}
    for staff_id in ids:
        staff = session.get(Staff, staff_id)
        if staff is not None:
            names[staff_id] = f"{staff.given_name} {staff.family_name}".strip()
    return names


def _pick(raw: str | None, numbers: list[int], default: int | None) -> int | None:
    if raw and raw.isdigit() and int(raw) in numbers:
        return int(raw)
    return default


def _el_page(
    request: Request,
    session: Session,
    ctx: actions.StepContext,
    card: views.StepView,
    token: str,
    values: dict[str, str],
    errors: dict[str, str],
) -> dict[str, Any]:
    rows = el_ilp.versions(session, int(ctx.student.id or 0))
    numbers = [r.version for r in rows]
    by_number = {r.version: r for r in rows}
    if not values and rows:
        values = el_ilp.content(rows[-1]).as_form()
    b = _pick(request.query_params.get("b"), numbers, numbers[-1] if numbers else None)
    a = _pick(request.query_params.get("a"), numbers, numbers[-2] if len(numbers) > 1 else None)
    changes = []
    if a is not None and b is not None and a != b:
        for change in diff(el_ilp.content(by_number[a]), el_ilp.content(by_number[b])):
            changes.append((change, line_diff(change.before, change.after)))
    authors = _staff_names(session, {r.author_staff_id for r in rows if r.author_staff_id})
    history = [
        {
            "version": r.version,
            "saved": views.local_text(r.created_at, ctx.calendar.timezone),
            "by": authors.get(r.author_staff_id or 0, ""),
        }
        for r in reversed(rows)
    ]
    current = el_ilp.content(rows[-1]) if rows else None
    teacher_input = []
    if str(ctx.step.kind) == StepKind.EL_ILP_REVIEW.value:
        for note, author in el_ilp.teacher_input_for(session, ctx.step):
            answers = note.answers or {}
            teacher_input.append(
                {
                    "by": f"{author.given_name} {author.family_name}" if author else "",
                    "answers": [
                        (q.label, answers[q.key])
                        for q in TEACHER_INPUT_QUESTIONS
                        if answers.get(q.key)
                    ],
                }
            )
    return {
        "teacher_input": teacher_input,
        "template": "el_ilp.html.j2",
        "title": f"ILP: {card.student_ref}",
        "history": history,
        "numbers": numbers,
        "a": a,
        "b": b,
        "changes": changes,
        "current": current,
        "current_version": numbers[-1] if numbers else None,
        "field_labels": FIELD_LABELS,
        "text_questions": TEXT_QUESTIONS,
        "languages": PARENT_LANGUAGES,
        "language_name": language_name,
        "values": values,
        "errors": errors,
    }


def _notice_page(
    session: Session, ctx: actions.StepContext, card: views.StepView
) -> dict[str, Any]:
    row = el_ilp.latest(session, int(ctx.student.id or 0))
    return {
        "template": "notice.html.j2",
        "title": f"ILP updated: {card.student_ref}",
        "current": el_ilp.content(row) if row else None,
        "current_version": row.version if row else None,
        "field_labels": FIELD_LABELS,
        "text_questions": TEXT_QUESTIONS,
        "language_name": language_name,
    }


def _copy_page(
    session: Session,
    ctx: actions.StepContext,
    card: views.StepView,
    values: dict[str, str],
    errors: dict[str, str],
) -> dict[str, Any]:
    current = el_ilp.latest(session, int(ctx.student.id or 0))
    made = parent_copy.copies(session, int(ctx.step.id or 0))
    guardian = parent_copy.guardian_address(session, ctx.student)
    return {
        "template": "parent_copy.html.j2",
        "title": f"Parent copy: {card.student_ref}",
        "current": (
            {"version": current.version, "parent_language": current.parent_language}
            if current
            else None
        ),
        "language_name": language_name,
        "copies": [
            {
                "when": views.local_text(c.created_at, ctx.calendar.timezone),
                "how": c.handed_over,
                "recipient": c.recipient or "",
                "status": c.send_status or "",
                "sha256": c.sha256,
                "language": language_name(c.language),
            }
            for c in made
        ],
        "values": values or {"email": guardian, "how": "send" if guardian else ""},
        "errors": errors,
    }


def _page(
    request: Request,
    token: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    config = _config(request)
    now = config.clock()
    claims = _claims(config, token, now)
    root = page_root(request)
    with session_scope(config.db_url) as session:
        ctx = _load(session, claims)
        card = views.step_view(session, ctx, now)
        if str(ctx.step.kind) in EL_KINDS:
            context = _el_page(request, session, ctx, card, token, values or {}, errors or {})
        elif str(ctx.step.kind) == NOTICE_KIND:
            context = _notice_page(session, ctx, card)
        else:
            context = _copy_page(session, ctx, card, values or {}, errors or {})
        session.rollback()  # a GET never writes
    template = context.pop("template")
    return views.render(
        template,
        status,
        card=card,
        form_action=f"{root}/ilp/{token}",
        pdf_link=f"{root}/ilp/{token}/pdf",
        root=root,
        **context,
    )


@router.api_route("/ilp/{token}", methods=["GET", "HEAD"], include_in_schema=False)
def document_page(request: Request, token: str) -> Response:
    return guard(request, lambda: _page(request, token))


@router.api_route("/ilp/{token}/pdf", methods=["GET", "HEAD"], include_in_schema=False)
def document_pdf(request: Request, token: str) -> Response:
    def show() -> Response:
        config = _config(request)
        claims = _claims(config, token, config.clock())
        with session_scope(config.db_url) as session:
            ctx = _load(session, claims)
            try:
                made = parent_copy.draft(session, ctx)
            except InvalidInput as exc:
                raise PageError(404, "No EL ILP yet", str(exc)) from None
            session.rollback()
        return Response(
            made.pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="{made.filename}"',
                "X-Content-SHA256": made.sha256,
            },
        )

    return guard(request, show)


async def _read_form(request: Request) -> dict[str, str]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/x-www-form-urlencoded":
        raise PageError(415, "Unsupported form", "Send the form as a normal web form.")
    length = request.headers.get("content-length", "0").strip()
    if not length.isdigit() or int(length) > MAX_FORM_BYTES:
        raise PageError(413, "Too large", "The form is too large.")
    try:
        data = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    except Exception:  # noqa: BLE001 - any malformed body is the sender's problem
        raise PageError(400, "Bad request", "The form could not be read.") from None
    form: dict[str, str] = {}
    for key, value in data.multi_items():
        if not isinstance(value, str) or "\x00" in key or "\x00" in value:
            raise PageError(400, "Bad request", "The form could not be read.")
        form.setdefault(key, value)
    return form


def _act(request: Request, token: str, form: dict[str, str]) -> Response:
    config = _config(request)
    now = config.clock()
    claims = _claims(config, token, now)
    actor = request_actor(request, claims, now, form)
    try:
        with session_scope(config.db_url) as session:
            ctx = _load(session, claims)
            step_id = int(ctx.step.id or 0)
            kind = str(ctx.step.kind)
            if kind in EL_KINDS:
                outcome = el_ilp.save_version(session, step_id, actor, form)
            elif kind == NOTICE_KIND:
                outcome = actions.complete(session, step_id, actor, {"confirm": "yes"})
        if kind not in EL_KINDS and kind != NOTICE_KIND:  # committed first, then the e-mail
            outcome = parent_copy.hand_over_and_send(
                step_id,
                actor,
                form,
                db_url=config.db_url,
                url_template=parent_copy.parent_copy_url(config.settings),
            )
    except InvalidInput as exc:
        values = {k: v for k, v in form.items() if not k.startswith("_")}
        errors = {"message": str(exc), "field": exc.field or ""}
        return _page(request, token, values, errors, status=422)
    root = page_root(request)
    with session_scope(config.db_url) as session:
        card = views.step_view(session, _load(session, claims), now)
        session.rollback()
    response = views.render(
        "result.html.j2",
        title="Done" if outcome.changed else "Already done",
        results=[(outcome, card)],
        root=root,
        document_link=f"{root}/ilp/{token}",
    )
    if outcome.event:
        response.background = BackgroundTask(emit_outcomes, config, [outcome], claims.staff_id)
    return response


@router.post("/ilp/{token}", include_in_schema=False)
async def document_post(request: Request, token: str) -> Response:
    try:
        form = await _read_form(request)
    except PageError as exc:
        return error_page(request, exc)
    return await run_in_threadpool(guard, request, lambda: _act(request, token, form))
