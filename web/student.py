"""A student's page: `GET|HEAD /student/{token}?id=STUDENT_ID`.

The student's whole ILP record, every school year (services/student_history.py): steps with
status and dates, the notes' answers, contact attempts, EL ILP versions, graduation-plan
references and the audit trail. The full name appears here only, behind the link; lists and
messages keep to initials.

The link is the viewer's own signed task-list (`tasks`) or report (`report`) link with the
student's internal id: the student's teachers, counselor and ESL teacher follow it from their
task list, coordinators, principals and regional VPs from the compliance report. Who may see
it is `lifecycle.access.may_view_student`: anyone else gets 403, a bad token 400, an expired
one 410. The page only reads.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lifecycle.access import StaffMember, may_view_student
from web.pages import PageError, guard, page_root, staff_of, verified_claims

STUDENT_LINK_ACTIONS = ("tasks", "report")
router = APIRouter()


def student_link(root: str, token: str, student_id: int) -> str:
    return f"{root}/student/{quote(token, safe='')}?id={student_id}"


@router.api_route("/student/{token}", methods=["GET", "HEAD"], include_in_schema=False)
def student_page(request: Request, token: str, id: int | None = None) -> Response:  # noqa: A002
    from models.db import session_scope
    from services.student_history import is_assigned, student_history, student_schools
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
            member = StaffMember(
                int(staff.id or 0), frozenset(staff.roles or ()), staff.school_id, staff.active
            )
            schools = student_schools(session, id)
            assigned = is_assigned(session, id, member.id)
            if not schools or not may_view_student(member, assigned, schools):
                raise PageError(
                    403,
                    "Not allowed",
                    "A student's page is for their teachers, counselor and ESL teacher, and "
                    "their school's ILP coordinator and principal.",
                )
            history = student_history(session, id)
            session.rollback()
        assert history is not None
        return views.render(
            "student_page.html.j2",
            title=f"ILP: {history.initials}",
            history=history,
            root=page_root(request),
        )

    return guard(request, show)
