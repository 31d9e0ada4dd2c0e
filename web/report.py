"""The compliance report page: `GET|HEAD /report/{token}` (or `/report?token=...`).

Who may see it: the token must be a genuine, unexpired `report` token (mint one with
`ilp report --link STAFF_ID`), for an active staff member who *still* holds ILP coordinator,
principal or regional VP. Coordinators and principals see their own school; a regional VP
without a school sees every school (with a school: that school) and can narrow the page to one
with `?school=SOURCE_ID` (the school names in the table link there). Anyone else gets 403, a bad
token 400, an expired one 410, no token 401. The page only reads (counts, and owners' names for
the operators), never writes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lifecycle.types import Role
from notifications.render import step_label
from services.report import BUCKETS, Counts, compliance_report, escalated_text
from web.pages import PageError, guard, page_root, staff_of, verified_claims
from web.student import student_link

REPORT_ROLES = (Role.ILP_COORDINATOR.value, Role.PRINCIPAL.value, Role.REGIONAL_VP.value)
MAX_TEACHERS = 200
router = APIRouter()


def _page(request: Request, token: str | None, only_school: str | None = None) -> Response:
    from models.db import session_scope
    from models.tables import School
    from web import views

    def show() -> Response:
        if not token:
            raise PageError(
                401, "Link needed", "Open the report with the link from `ilp report --link`."
            )
        config = request.app.state.web
        now: datetime = config.clock()
        claims = verified_claims(config, token, now)
        if claims.action != "report":
            raise PageError(403, "Not allowed", "This link does not open the compliance report.")
        with session_scope(config.db_url) as session:
            staff = staff_of(session, claims)
            if not set(staff.roles or ()) & set(REPORT_ROLES):
                raise PageError(
                    403,
                    "Not allowed",
                    "The compliance report is for ILP coordinators, principals and regional VPs.",
                )
            school = None
            if staff.school_id is not None:
                row = session.get(School, staff.school_id)
                if row is None:
                    raise PageError(403, "Not allowed", "Your school is not on file.")
                school = row.source_id
            district_wide = school is None
            if only_school and only_school != school:
                if not district_wide:
                    raise PageError(403, "Not allowed", "This link shows your own school only.")
                school = only_school
            try:
                report = compliance_report(session, now, school=school)
            except LookupError:
                raise PageError(404, "No such school", "No school has that ID.") from None
            session.rollback()
        days = sorted({d.isoformat() for d in report.today.values()})
        return views.render(
            "report.html.j2",
            title="ILP compliance",
            report=report,
            scope=report.school or "all schools",
            as_of=", ".join(days) or now.date().isoformat(),
            buckets=BUCKETS,
            step_label=step_label,
            escalated_text=escalated_text,
            teachers=report.by_teacher[:MAX_TEACHERS],
            more_teachers=max(len(report.by_teacher) - MAX_TEACHERS, 0),
            root=page_root(request),
            rate=rate,
            district_wide=district_wide,
            link=_links(page_root(request), token),
            student_link=lambda student_id: student_link(page_root(request), token, student_id),
        )

    return guard(request, show)


@router.api_route("/report/{token}", methods=["GET", "HEAD"], include_in_schema=False)
def report_page(request: Request, token: str, school: str | None = None) -> Response:
    return _page(request, token, school)


@router.api_route("/report", methods=["GET", "HEAD"], include_in_schema=False)
def report_query(request: Request, token: str | None = None, school: str | None = None) -> Response:
    return _page(request, token, school)


def _links(root: str, token: str) -> Callable[..., str]:
    """The page's own address, for one school or (None) all of them."""
    from urllib.parse import quote

    base = f"{root}/report/{quote(token, safe='')}"
    return lambda school=None: base if school is None else f"{base}?school={quote(school)}"


def rate(counts: Counts) -> str:
    value = counts.on_time_rate
    return "-" if value is None else f"{value:.0%}"
