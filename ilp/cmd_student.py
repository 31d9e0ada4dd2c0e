"""`ilp student --link STAFF_ID --student STUDENT_ID`: a staff member's signed link to a
student's page (`/student/{token}?id=N`), as `ilp report --link` is for the report.

The token is the staff member's own task-list (`tasks`) link, which the student page accepts;
the command refuses, as the page would, a viewer who may not see that student
(`services.student_history.may_view`: the student's teachers, counselor and ESL teacher, the
coordinator, principal or regional VP of a school the student attended)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from sqlmodel import Session

    from models.tables import Staff, Student


def _matches(source_id: Any, row_id: Any, ref: str) -> Any:
    """A row by feed source id, or by database id when `ref` is a number."""
    import sqlalchemy as sa
    from sqlmodel import col

    cond = col(source_id) == ref
    return sa.or_(cond, col(row_id) == int(ref)) if ref.isdigit() else cond


def student_link(
    session: Session,
    staff_ref: str,
    student_ref: str,
    *,
    secret: str,
    base_url: str,
    now: datetime,
    ttl_days: int,
) -> tuple[str, Staff, Student]:
    """(URL of the student's page, staff row, student row). Raises `ValueError` when there is
    no such active staff member or student, or the staff member may not see the student."""
    from sqlmodel import col, select

    from models.tables import Staff, Student
    from notifications.tokens import sign_token
    from services.student_history import may_view
    from web.student import student_link as page_link

    staff = session.exec(
        select(Staff).where(_matches(Staff.source_id, Staff.id, staff_ref)).order_by(col(Staff.id))
    ).first()
    if staff is None or not staff.active:
        raise ValueError(f"no active staff member {staff_ref!r}")
    student = session.exec(
        select(Student)
        .where(_matches(Student.source_id, Student.id, student_ref))
        .order_by(col(Student.id))
    ).first()
    if student is None:
        raise ValueError(f"no student {student_ref!r}")
    student_id = int(student.id or 0)
    if not may_view(session, staff, student_id):
        raise ValueError(
            f"staff {staff_ref!r} may not see student {student_ref!r}: a student's page is for "
            "their teachers, counselor and ESL teacher, and the ILP coordinator, principal or "
            "regional VP of a school they attended"
        )
    token = sign_token(
        secret,
        staff_id=int(staff.id or 0),
        action="tasks",
        expires_at=now + timedelta(days=ttl_days),
    )
    return page_link(base_url.rstrip("/"), token, student_id), staff, student


def cmd_student(args: argparse.Namespace) -> int:
    """print a staff member's signed link to a student's ILP page"""
    from config.settings import get_settings
    from models.db import session_scope

    settings = get_settings()
    now = datetime.now(UTC)
    url = args.database_url or settings.sqlalchemy_url
    with session_scope(url) as session:
        link, staff, student = student_link(
            session,
            args.link,
            args.student,
            secret=settings.signing_secret,
            base_url=settings.base_url,
            now=now,
            ttl_days=settings.link_ttl_days,
        )
        who = f"{staff.given_name} {staff.family_name}"
        whom = f"{student.initials} #{student.id}"
    print(link)
    print(f"(for {who}, student {whom}; valid {settings.link_ttl_days} days)", file=sys.stderr)
    return 0


def configure_student(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print a signed link to a student's ILP page (every school year: steps, notes, contact "
        "attempts, EL ILP versions, audit trail) for one staff member who may see it."
    )
    parser.add_argument(
        "--link",
        metavar="STAFF_ID",
        required=True,
        help="the staff member the link is for (database id or source id)",
    )
    parser.add_argument(
        "--student",
        metavar="STUDENT_ID",
        required=True,
        help="the student (source id from the feed, or database id)",
    )
    parser.add_argument("--database-url", help="default: settings (ILP_DATABASE_URL)")


COMMANDS = {"student": (cmd_student, configure_student)}
