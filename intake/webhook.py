"""Enrollment items posted as JSON (one object or a list of objects).

Field names and validation are those of the simple CSV (see `intake.simple_csv`). Rejections
carry file="request", line = the 1-based item index and column = the field name. Unknown fields
are ignored. JSON values may be strings, numbers (grade), booleans (returning) or null (= blank);
`teacher_id` may also be a list of strings.
"""

from __future__ import annotations

from typing import Any

from .limits import item_problems
from .records import FeedError, Rejection, StudentEnrollmentRecord
from .simple_csv import SIMPLE_COLUMNS, validate_item

__all__ = ["parse_enrollment_items", "REQUEST"]

REQUEST = "request"


def _as_text(value: Any) -> str:
    """JSON value -> text; raises ValueError for objects and lists of non-strings."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ",".join(v.strip() for v in value)
    raise ValueError(f"expected text, got {type(value).__name__}")


def parse_enrollment_items(
    payload: list[dict[str, Any]] | dict[str, Any],
) -> tuple[list[StudentEnrollmentRecord], list[Rejection]]:
    """Validate webhook items. A payload that is neither an object nor a list raises FeedError."""
    if isinstance(payload, dict):
        items: list[Any] = [payload]
    elif isinstance(payload, list):
        items = payload
    else:
        raise FeedError("request body must be a JSON object or a list of objects")
    records: list[StudentEnrollmentRecord] = []
    rejections: list[Rejection] = []
    first: dict[str, int] = {}
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict):
            rejections.append(Rejection(REQUEST, n, "", "item is not a JSON object"))
            continue
        texts: dict[str, str] = {}
        bad = False
        for c in SIMPLE_COLUMNS:
            try:
                texts[c] = _as_text(item.get(c))
            except ValueError as e:
                rejections.append(Rejection(REQUEST, n, c, str(e)))
                bad = True
        if bad:
            continue
        too_long = item_problems(texts)  # before the database: SQLite and PostgreSQL alike
        if too_long:
            rejections.extend(Rejection(REQUEST, n, c, reason) for c, reason in too_long)
            continue
        rec, errs = validate_item(texts.__getitem__, REQUEST, n)
        if rec is None:
            rejections.extend(errs)
            continue
        if rec.source_id in first:
            rejections.append(
                Rejection(
                    REQUEST,
                    n,
                    "student_id",
                    f"duplicate student {rec.student_source_id!r} at school "
                    f"{rec.school_source_id!r} (first as item {first[rec.source_id]})",
                )
            )
            continue
        first[rec.source_id] = n
        records.append(rec)
    return records, rejections
