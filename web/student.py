"""A student's page: `GET|HEAD /student/{token}?id=STUDENT_ID`.

The student's whole ILP record, every school year (services/student_history.py): steps with
status and dates, the notes' answers, contact attempts, EL ILP versions, graduation-plan
references and the audit trail. The full name appears here only, behind the link; lists and
messages keep to initials.

The link is the viewer's own signed task-list (`tasks`) or report (`report`) link with the
student's internal id: the student's teachers, counselor and ESL teacher follow it from their
task list, coordinators, principals and regional VPs from the compliance report. Who may see
it is `lifecycle.access.may_view_student`, with roles held per school: anyone else gets 403, a
bad token 400, an expired one 410. The page only reads; for the school's ILP coordinator each
open step of the current year links to its "Reassign…" page (a per-step `reassign` token
minted here, expiring with the viewer's link), where the change is made.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from web.pages import PageError, guard, page_root, staff_of, verified_claims
from web.tasklist import mint

STUDENT_LINK_ACTIONS = ("tasks", "report")
router = APIRouter()


def student_link(root: str, token: str, student_id: int) -> str:
    return f"{root}/student/{quote(token, safe='')}?id={student_id}"


@router.api_route("/student/{token}", methods=["GET", "HEAD"], include_in_schema=False)
def student_page(request: Request, token: str, id: int | None = None) -> Response:  # noqa: A002
    from models.db import session_scope
    from services.student_history import may_view, reassignable_steps, student_history
    from web import views

    def show() -> Response:
        config = request.app.state.web
        now: datetime = config.clock()
        claims = verified_claims(config, token, now)
        if claims.action not in STUDENT_LINK_ACTIONS:
            raise PageError(403, "Not allowed", "This link does not open a student's page.")
        if id is None:
            raise PageError(404, "No such student", "The link names no student.")
        with session_scope(config.db_url) as session:
            staff = staff_of(session, claims)
            if not may_view(session, staff, id):
                raise PageError(
                    403,
                    "Not allowed",
                    "A student's page is for their teachers, counselor and ESL teacher, and "
                    "their school's ILP coordinator and principal.",
                )
            history = student_history(session, id)
            movable = reassignable_steps(session, id, staff)
            session.rollback()
        assert history is not None
        root = page_root(request)
        back = f"?back={quote(token, safe='')}" if claims.action == "tasks" else ""
        reassign = {
            step_id: f"{root}/a/{mint(config, claims, 'reassign', step_id)}{back}"
            for step_id in movable
        }
        return views.render(
            "student_page.html.j2",
            title=f"ILP: {history.initials}",
            history=history,
            reassign=reassign,
            root=root,
        )

    return guard(request, show)
