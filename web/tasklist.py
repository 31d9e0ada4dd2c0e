"""The personal task list (GET /a/{tasks token}) and its bulk actions (POST to the same link).

The list is a caseload (`services.tasklist`): grouped by student (initials + internal id), filtered
by step kind and state, most urgent first, one page at a time (`ILP_TASK_LIST_PAGE_SIZE`). Each
row carries its own forms, posting to per-step tokens minted on the page; they expire with the
task-list link.

Bulk actions post the ticked step ids in the form body to the task-list link itself: the signed
token says who acts, the body says on what, so no URL grows with the selection. Every step is
checked again (who may act, still open, what its kind accepts), a refused step is refused
before anything of it is written, and the result page says what happened to each one.

A row offers only what will be accepted: acknowledge unless it is already paused that long,
snooze only up to the due date, complete in bulk only for kinds whose completion asks nothing
(`lifecycle.forms`); the others link to their own form. The school's ILP coordinator also gets
"Reassign…" on each open step (the step's page with the reassign form, as from a digest) and
"Reassign selected to …" (`services.actions.reassign`, each step checked again); nobody else.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.background import BackgroundTask

from config.schools import school_rules
from lifecycle.access import StaffMember, may_reassign
from lifecycle.escalation import acknowledge_pause_until
from lifecycle.types import Role, StepKind
from models.db import session_scope
from models.tables import School, Staff
from notifications.render import step_label
from notifications.tokens import TokenClaims, sign_token
from services import actions
from services.actions import (
    ActionOutcome,
    Actor,
    InvalidInput,
    NotPermitted,
    StepContext,
    StepNotFound,
)
from services.tasklist import STATE_LABELS, TaskFilter, TaskState, caseload_page
from web import views
from web.pages import PageError, WebConfig, emit_outcomes, page_root, staff_of

logger = logging.getLogger(__name__)

BULK_ACTIONS = ("acknowledge", "complete", "reassign")
MAX_BULK_STEPS = 1000  # ids in one bulk post (a page is at most MAX_PAGE_SIZE)
MAX_PAGE_SIZE = 500


def mint(config: WebConfig, claims: TokenClaims, action: str, step_id: int) -> str:
    """A per-step token for a form on the task list; it expires with the task-list link."""
    return sign_token(
        config.secret,
        staff_id=claims.staff_id,
        action=action,
        step_ids=(step_id,),
        expires_at=claims.expires_at,
    )


@dataclass
class TaskRow:
    view: views.StepView
    links: dict[str, str]
    can_acknowledge: bool
    bulk_complete: bool
    reassign_school: int | None = None  # the viewer may hand this step on (its school)

    @property
    def selectable(self) -> bool:
        return self.can_acknowledge or self.bulk_complete or self.reassign_school is not None


@dataclass
class StudentGroup:
    student_ref: str
    rows: list[TaskRow] = field(default_factory=list)
    continued: bool = False  # the student's earlier steps are on the previous page


def page_size(config: WebConfig) -> int:
    return max(1, min(int(config.settings.task_list_page_size), MAX_PAGE_SIZE))


def _row(
    session: Session,
    config: WebConfig,
    claims: TokenClaims,
    ctx: StepContext,
    now: datetime,
    root: str,
    member: StaffMember,
) -> TaskRow:
    view = views.step_view(session, ctx, now)
    school = ctx.enrollment.school_id
    movable = ctx.open and may_reassign(member, school)
    wanted = ("acknowledge", "snooze", "complete") + (("reassign",) if movable else ())
    links = {action: f"{root}/a/{mint(config, claims, action, view.id)}" for action in wanted}
    step = ctx.step
    pause = acknowledge_pause_until(now, ctx.calendar, ctx.policy)
    can_ack = ctx.open and (step.acknowledged_until is None or step.acknowledged_until < pause)
    bulk_complete = ctx.open and actions.bulk_completable(step.kind)
    return TaskRow(view, links, can_ack, bulk_complete, school if movable else None)


def task_list(
    request: Request,
    session: Session,
    config: WebConfig,
    claims: TokenClaims,
    staff: Staff,
    now: datetime,
    token: str,
) -> Response:
    """GET: the page. Changes nothing."""
    root = page_root(request)
    wanted = TaskFilter.read(request.query_params)
    today = now.date()
    if staff.school_id is not None:  # "today" where the staff member works
        school = session.get(School, staff.school_id)
        if school is not None:
            today = school_rules(school.calendar, school.policy)[0].local_date(now)
    size = page_size(config)
    found = caseload_page(session, staff.id or 0, wanted, today=today, now=now, page_size=size)
    groups: list[StudentGroup] = []
    member = actions.staff_member(staff)
    for step_id in found.step_ids:
        try:
            ctx = actions.load_step(session, step_id, staff.id or 0)
        except (StepNotFound, NotPermitted):
            continue
        row = _row(session, config, claims, ctx, now, root, member)
        if not groups or groups[-1].student_ref != row.view.student_ref:
            groups.append(StudentGroup(row.view.student_ref))
        groups[-1].rows.append(row)
    if groups:
        groups[0].continued = found.continued
    schools = {r.reassign_school for g in groups for r in g.rows if r.reassign_school is not None}
    owners = {
        staff_id: label
        for school_id in sorted(schools)
        for staff_id, label in actions.reassign_choices(session, school_id)
    }
    session.rollback()
    shown = TaskFilter(wanted.kind, wanted.state, found.page)
    base = f"{root}/a/{token}"

    def href(**changes: Any) -> str:
        return f"{base}?{urlencode(shown.query(**changes))}"

    rows = [row for group in groups for row in group.rows]
    return views.render(
        "tasks.html.j2",
        title="Your ILP task list",
        heading="Your open ILP steps"
        if shown.state is TaskState.OPEN
        else f"Your ILP steps: {STATE_LABELS[shown.state].lower()}",
        groups=groups,
        total=found.total,
        page=found.page,
        pages=found.pages,
        first_item=(found.page - 1) * size + 1,
        last_item=(found.page - 1) * size + len(found.step_ids),
        state=shown.state.value,
        kind=shown.kind.value if shown.kind else "",
        states=[(s.value, STATE_LABELS[s], found.counts[s]) for s in TaskState],
        kinds=[(k, step_label(StepKind(k))) for k in found.kinds],
        href=href,
        select_all=request.query_params.get("select") == "all",
        any_ack=any(r.can_acknowledge for r in rows),
        any_bulk_complete=any(r.bulk_complete for r in rows),
        reassign_choices=sorted(owners.items(), key=lambda item: item[1]),
        any_selectable=any(r.selectable for r in rows),
        form_action=base,
        root=root,
        tasks_token=token,
    )


# --- POST: bulk ----------------------------------------------------------------------------


@dataclass
class BulkResult:
    step_id: int
    label: str
    student_ref: str
    message: str
    tone: str  # ok | info | error
    link: str | None = None  # the step's own form, when bulk could not do it


def selected_ids(pairs: Sequence[tuple[str, str]]) -> list[int]:
    """The ticked steps, in order, each once. Anything that is not an id is refused."""
    ids: list[int] = []
    for key, value in pairs:
        if key != "step":
            continue
        text = value.strip()
        if not text.isdigit() or len(text) > 18:
            raise PageError(
                400, "Bad request", "The selection contains something that is not a step."
            )
        if int(text) not in ids:
            ids.append(int(text))
    if not ids:
        raise PageError(400, "Nothing selected", "Tick at least one step, then press the button.")
    if len(ids) > MAX_BULK_STEPS:
        raise PageError(413, "Too many", f"Select at most {MAX_BULK_STEPS} steps at a time.")
    return ids


def bulk(
    request: Request,
    config: WebConfig,
    claims: TokenClaims,
    token: str,
    pairs: Sequence[tuple[str, str]],
) -> Response:
    """POST: acknowledge or complete the ticked steps, in one transaction."""
    form = dict(reversed(list(pairs)))  # the first value of each field
    action = form.get("bulk", "")
    if action not in BULK_ACTIONS:
        raise PageError(400, "Bad request", "Choose what to do with the selected steps.")
    ids = selected_ids(pairs)
    owner = form.get("owner", "").strip()
    if action == "reassign" and not owner:
        raise PageError(400, "Nobody chosen", "Choose whom to hand the selected steps to.")
    now = config.clock()
    root = page_root(request)
    actor = Actor(
        staff_id=claims.staff_id,
        now=now,
        ip=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
        submission=form.get("_submission"),
    )
    results: list[BulkResult] = []
    outcomes: list[ActionOutcome] = []
    # One transaction: a step the action refuses is refused before anything of it is written
    # (access, open, kind), so the others go on; anything unexpected changes nothing at all.
    with session_scope(config.db_url) as session:
        staff = staff_of(session, claims)
        if action == "reassign" and Role.ILP_COORDINATOR.value not in (staff.roles or ()):
            raise PageError(403, "Not allowed", "Only the school's ILP coordinator can reassign.")
        for step_id in ids:
            result, outcome = _bulk_one(
                session, config, claims, action, step_id, actor, root, owner
            )
            results.append(result)
            if outcome is not None and outcome.event:
                outcomes.append(outcome)
    back = TaskFilter.read(form)
    events = BackgroundTask(emit_outcomes, config, outcomes, claims.staff_id) if outcomes else None
    done = sum(1 for r in results if r.tone == "ok")
    verb = {"acknowledge": "acknowledged", "complete": "completed"}.get(action, "reassigned")
    response = views.render(
        "bulk_result.html.j2",
        title=f"{done} of {len(results)} {verb}",
        heading=f"{done} of {len(results)} selected step{'s' if len(results) != 1 else ''} {verb}",
        results=results,
        counts={
            tone: sum(1 for r in results if r.tone == tone) for tone in ("ok", "info", "error")
        },
        back_href=f"{root}/a/{token}?{urlencode(back.query())}",
        root=root,
    )
    response.background = events
    return response


def _bulk_one(
    session: Session,
    config: WebConfig,
    claims: TokenClaims,
    action: str,
    step_id: int,
    actor: Actor,
    root: str,
    owner: str = "",
) -> tuple[BulkResult, ActionOutcome | None]:
    """Act on one step (the action takes the step's write lock first). A step that is not the
    actor's shows no student: only its id. `owner` is whom `reassign` hands the step to."""
    reassigning = action == "reassign"

    def named(message: str, tone: str, link: str | None = None) -> BulkResult:
        ctx = actions.load_step(session, step_id, claims.staff_id, reassigning=reassigning)
        label, ref = step_label(StepKind(ctx.step.kind)), ctx.student_ref
        return BulkResult(step_id, label, ref, message, tone, link)

    try:
        if action == "acknowledge":
            outcome = actions.acknowledge(session, step_id, actor)
        elif reassigning:
            outcome = actions.reassign(session, step_id, actor, owner)
        else:
            outcome = actions.complete_without_form(session, step_id, actor)
    except (NotPermitted, StepNotFound) as exc:
        return BulkResult(step_id, "", "", str(exc), "error"), None
    except InvalidInput as exc:
        page = "reassign" if reassigning else "complete"
        link = f"{root}/a/{mint(config, claims, page, step_id)}"
        return named(str(exc), "error", link), None
    return named(outcome.message, "ok" if outcome.changed else "info"), outcome
