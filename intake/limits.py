"""Field limits checked before the database, so SQLite and PostgreSQL answer alike.

PostgreSQL refuses a value longer than its column (`VARCHAR(255)`) or holding a NUL byte, and
fails the whole transaction; SQLite stores either. Checking here rejects just the bad item, with
a reason, on both. The lengths are the tables' `max_length` (tests/security holds them equal;
`intake` sits below `models`, so it cannot read them itself).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

__all__ = ["FIELD_LIMITS", "ID_LIMIT", "field_problem", "item_problems"]

ID_LIMIT = 255  # every source_id column: school, student, staff, enrollment
EMAIL_LIMIT = 320  # staff.email
NAME_LIMIT = 255  # student.given_name / family_name

# Field -> the longest value a column holding it takes. Other fields (grade, dates, flags) are
# parsed into short values; they still get the control-character check and a generous bound.
FIELD_LIMITS: dict[str, int] = {
    "student_id": ID_LIMIT,
    "school_id": ID_LIMIT,
    "given_name": NAME_LIMIT,
    "family_name": NAME_LIMIT,
    "teacher_id": ID_LIMIT,  # each of several
    "teacher_email": EMAIL_LIMIT,
    "counselor_id": ID_LIMIT,
    "esl_teacher_id": ID_LIMIT,
}
OTHER_LIMIT = 64
MULTI_SEPARATORS = (",", ";")


def _control(text: str) -> str | None:
    for ch in text:
        if ch == "\x00":
            return "contains a NUL byte"
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u2028\u2029":
            return f"contains a control character (U+{ord(ch):04X})"
    return None


def field_problem(field: str, text: str) -> str | None:
    """Why `text` cannot be stored as `field`, or None."""
    problem = _control(text)
    if problem:
        return problem
    limit = FIELD_LIMITS.get(field, OTHER_LIMIT)
    values = [text]
    if field == "teacher_id":
        for sep in MULTI_SEPARATORS:
            values = [part for v in values for part in v.split(sep)]
        limit = FIELD_LIMITS[field]
    longest = max(len(v.strip()) for v in values)
    if longest > limit:
        return f"is {longest} characters long; at most {limit} are allowed"
    return None


def item_problems(texts: Mapping[str, str]) -> list[tuple[str, str]]:
    """(field, reason) for every field of one item that breaks a limit."""
    problems = [
        (field, problem)
        for field, text in texts.items()
        if (problem := field_problem(field, text)) is not None
    ]
    # The enrollment's identity is f"{student_id}@{school_id}", one more column of ID_LIMIT.
    student, school = texts.get("student_id", ""), texts.get("school_id", "")
    combined = len(student) + 1 + len(school)
    if not problems and combined > ID_LIMIT:
        problems.append(
            (
                "student_id",
                f"student_id and school_id make an enrollment id of {combined} characters; "
                f"at most {ID_LIMIT} are allowed",
            )
        )
    return problems
