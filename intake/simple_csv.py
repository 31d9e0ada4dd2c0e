"""Simple one-row-per-student CSV, for schools without OneRoster. Columns (header names are
matched case-insensitively; spaces and hyphens count as underscores; extra columns are ignored):

| column          | required | meaning                                                        |
| --------------- | -------- | -------------------------------------------------------------- |
| student_id      | yes      | the student's stable id in the school's system                 |
| school_id       | yes      | the school's id                                                |
| given_name      | yes      | first name                                                     |
| family_name     | yes      | last name                                                      |
| grade           | yes      | K/KG/TK or 1-12 (01-12, 13 as 12); PK, UG are rejected         |
| start_date      | no       | ILP start date (YYYY-MM-DD; a slash date needs a date order)   |
| returning       | no       | true/false, yes/no, 1/0; blank = not stated                    |
| english_learner | no       | esl, monitored, waived or none; blank = not stated             |
| teacher_id      | no       | assigned teacher id(s); several separated by , or ;            |
| teacher_email   | no       | the assigned teacher's email                                   |
| counselor_id    | no       | counselor staff id                                             |
| esl_teacher_id  | no       | ESL teacher staff id                                           |
| withdrawn_date  | no       | set when the student left; marks the enrollment withdrawn      |

The webhook (`intake.webhook`) takes JSON items with the same field names and validation.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection
from datetime import date
from pathlib import Path

from lifecycle.types import Role

from ._source import Table
from .records import (
    ELValue,
    FeedError,
    ParsedFeed,
    Rejection,
    SchoolRecord,
    StaffRecord,
    StudentEnrollmentRecord,
)
from .values import (
    DateOrders,
    parse_bool,
    parse_date,
    parse_english_learner,
    parse_student_grade,
    split_multi,
)

__all__ = ["parse_simple_csv", "validate_item", "SIMPLE_COLUMNS", "REQUIRED_COLUMNS"]

SIMPLE_COLUMNS = (
    "student_id",
    "school_id",
    "given_name",
    "family_name",
    "grade",
    "start_date",
    "returning",
    "english_learner",
    "teacher_id",
    "teacher_email",
    "counselor_id",
    "esl_teacher_id",
    "withdrawn_date",
)
REQUIRED_COLUMNS = ("student_id", "school_id", "given_name", "family_name", "grade")
MISSING = "missing required value"


def normalize_column(text: str) -> str:
    return text.replace("\ufeff", "").strip().lower().replace(" ", "_").replace("-", "_")


def validate_item(
    get: Callable[[str], str],
    file: str,
    line: int,
    known_schools: Collection[str] | None = None,
    date_order: str | DateOrders | None = None,
) -> tuple[StudentEnrollmentRecord | None, list[Rejection]]:
    """Validate one student row/item; `get(column)` returns the stripped text ('' if absent).
    Returns the record, or None and one Rejection per bad value."""
    errors: list[Rejection] = []

    def bad(column: str, reason: str) -> None:
        errors.append(Rejection(file, line, column, reason))

    values = {c: get(c) for c in SIMPLE_COLUMNS}
    for c in REQUIRED_COLUMNS:
        if not values[c]:
            bad(c, MISSING)
    school = values["school_id"]
    if school and known_schools is not None and school not in known_schools:
        bad("school_id", f"unknown school {school!r}")
    grade = 0
    if values["grade"]:
        try:
            grade = parse_student_grade(values["grade"])
        except ValueError as e:
            bad("grade", str(e))
    dates: dict[str, date | None] = {}
    order = date_order.for_school(school) if isinstance(date_order, DateOrders) else date_order
    for c in ("start_date", "withdrawn_date"):
        dates[c] = None
        if values[c]:
            try:
                dates[c] = parse_date(values[c], order)
            except ValueError as e:
                bad(c, str(e))
    start, end = dates["start_date"], dates["withdrawn_date"]
    if start is not None and end is not None and end < start:
        bad("withdrawn_date", f"withdrawn_date {end} is before start_date {start}")
    returning: bool | None = None
    try:
        returning = parse_bool(values["returning"])
    except ValueError as e:
        bad("returning", str(e))
    el: ELValue = None
    try:
        el = parse_english_learner(values["english_learner"])
    except ValueError as e:
        bad("english_learner", str(e))
    email = values["teacher_email"]
    if email and ("@" not in email or " " in email):
        bad("teacher_email", f"bad email {email!r}")
    if errors:
        return None, errors
    sid = values["student_id"]
    return (
        StudentEnrollmentRecord(
            source_id=f"{sid}@{school}",
            student_source_id=sid,
            school_source_id=school,
            given_name=values["given_name"],
            family_name=values["family_name"],
            grade=grade,
            start=start,
            end=end,
            returning=returning,
            english_learner=el,
            withdrawn=end is not None,
            teacher_ids=tuple(split_multi(values["teacher_id"])),
            counselor_id=values["counselor_id"] or None,
            esl_teacher_id=values["esl_teacher_id"] or None,
            source_file=file,
            source_line=line,
            teacher_email=email or None,
        ),
        [],
    )


def collect_staff_and_schools(feed: ParsedFeed) -> None:
    """Derive staff (teachers, counselors, ESL teachers) and schools from the enrollments."""
    staff: dict[str, tuple[list[str], list[Role], str]] = {}
    schools: dict[str, None] = {}

    def add(sid: str | None, school: str, role: Role, email: str = "") -> None:
        if not sid:
            return
        entry = staff.setdefault(sid, ([], [], email))
        if school not in entry[0]:
            entry[0].append(school)
        if role not in entry[1]:
            entry[1].append(role)
        if email and not entry[2]:
            staff[sid] = (entry[0], entry[1], email)

    for r in feed.enrollments:
        schools[r.school_source_id] = None
        single = len(r.teacher_ids) == 1
        for t in r.teacher_ids:
            add(t, r.school_source_id, Role.TEACHER, (r.teacher_email or "") if single else "")
        add(r.counselor_id, r.school_source_id, Role.COUNSELOR)
        add(r.esl_teacher_id, r.school_source_id, Role.ESL_TEACHER)
    feed.schools = [SchoolRecord(source_id=s, name=s) for s in schools]
    feed.staff = [
        StaffRecord(sid, tuple(sch), "", "", email, tuple(roles))
        for sid, (sch, roles, email) in staff.items()
    ]


def parse_simple_csv(
    path: str | Path,
    *,
    known_schools: Collection[str] | None = None,
    bulk: bool = True,
    date_order: str | None = None,
    school_orders: DateOrders | None = None,
) -> ParsedFeed:
    """Parse a simple student CSV. `known_schools` (optional) rejects rows naming other schools.
    `bulk` says whether the file lists every current student (enables missing-student
    withdrawal detection by the caller)."""
    p = Path(path)
    if not p.is_file():
        raise FeedError(f"not a student CSV: {p} is not a file")
    with open(p, "rb") as fb:
        head = fb.read(8192)
    if not head.strip():
        raise FeedError(f"not a student CSV: {p.name} is empty")
    if b"\x00" in head:
        raise FeedError(f"not a student CSV: {p.name} is a binary file")
    fh = open(p, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed by Table.rows)
    feed = ParsedFeed(kind="simple-csv", bulk=bulk)

    def reject(file: str, line: int, column: str, reason: str) -> None:
        feed.rejections.append(Rejection(file, line, column, reason))

    orders = dataclasses.replace(school_orders or DateOrders(), given=date_order)
    t = Table(fh, p.name, REQUIRED_COLUMNS, normalize=normalize_column, reject=reject)
    cols = {c: t.col(c) for c in SIMPLE_COLUMNS}
    first: dict[str, int] = {}
    for line, row in t.rows():

        def get(c: str, row: list[str] = row) -> str:
            return row[cols[c]].strip()

        rec, errs = validate_item(get, p.name, line, known_schools, orders)
        sid = row[cols["student_id"]].strip()
        if sid:
            feed.students_seen.add(sid)
        if rec is None:
            feed.rejections.extend(errs)
            continue
        if rec.source_id in first:
            feed.rejections.append(
                Rejection(
                    p.name,
                    line,
                    "student_id",
                    f"duplicate student {sid!r} at school {rec.school_source_id!r} "
                    f"(first on line {first[rec.source_id]})",
                )
            )
            continue
        first[rec.source_id] = line
        feed.enrollments.append(rec)
    if t.broken_line is not None:
        feed.broken_files[p.name] = t.broken_line
    collect_staff_and_schools(feed)
    return feed
