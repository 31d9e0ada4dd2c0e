"""Parsing of single cell values shared by all intake parsers. Each raises ValueError with a
message fit for a `Rejection.reason`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from lifecycle.types import EnglishLearner, Role

from .records import UNSET, ELValue

_date_cache: dict[tuple[str, str | None], date] = {}

_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f"})

_EL = {
    "esl": EnglishLearner.ESL,
    "monitored": EnglishLearner.MONITORED,
    "waived": EnglishLearner.WAIVED,
}
_EL_NONE = frozenset({"none", "no", "false", "0", "n/a", "na"})

STAFF_ROLES = {r.value: r for r in Role}


DATE_ORDERS = ("mdy", "dmy")


@dataclass(frozen=True)
class DateOrders:
    """How a feed's slash dates are read, row by row: the command line's `--date-order` wins,
    then the row's school's `date_order` (school TOML), then the default file's; without any,
    an ambiguous slash date is a row error. A row with no school (a district-wide academic
    session) uses the default file's."""

    given: str | None = None
    by_school: Mapping[str, str] = field(default_factory=dict)
    default: str | None = None

    def for_school(self, school: str | None) -> str | None:
        if self.given:
            return self.given
        if school and school in self.by_school:
            return self.by_school[school]
        return self.default


def parse_date(text: str, order: str | None = None) -> date:
    """2023-05-01 or an ISO timestamp (date part) always. A slash date (5/9/2026) is read in
    `order` ("mdy" or "dmy"); without one, only when no other reading exists (13/05/2026), since
    a guess would store 5 September as 9 May without a word."""
    key = (text, order)
    cached = _date_cache.get(key)
    if cached is not None:
        return cached
    value = _parse_date(text.strip(), order)
    if len(_date_cache) < 100_000:
        _date_cache[key] = value
    return value


def _parse_date(s: str, order: str | None) -> date:
    try:
        if "/" in s:
            return _slash_date(s, order)
        if len(s) == 10:
            return date.fromisoformat(s)
        if len(s) > 10 and s[10] in "T ":
            return date.fromisoformat(s[:10])
    except ValueError as e:
        if str(e).startswith(("ambiguous", "bad date")):
            raise
    slash = {"mdy": "M/D/YYYY", "dmy": "D/M/YYYY"}.get(order or "", "with a date order")
    raise ValueError(
        f"bad date {s!r}: expected YYYY-MM-DD, an ISO timestamp or a slash date ({slash})"
    )


def _slash_date(s: str, order: str | None) -> date:
    parts = s.split("/")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts):
        raise ValueError("not a slash date")
    a, b, c = (int(p) for p in parts)
    if len(parts[0].strip()) == 4:  # 2026/05/09: year first is ISO order
        return date(a, b, c)
    if len(parts[2].strip()) != 4:
        raise ValueError(f"bad date {s!r}: the year must have four digits")
    if order == "mdy":
        return date(c, a, b)
    if order == "dmy":
        return date(c, b, a)
    if a > 12 >= b:
        return date(c, b, a)
    if b > 12 >= a or a == b:
        return date(c, a, b)
    raise ValueError(
        f"ambiguous date {s!r}: month/day or day/month? Give the feed's date order "
        "(ilp import --date-order mdy|dmy)"
    )


def parse_bool(text: str) -> bool | None:
    """true/false/yes/no/1/0 (any case); blank is None."""
    s = text.strip().lower()
    if not s:
        return None
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError(f"bad yes/no value {text.strip()!r}: expected true/false, yes/no or 1/0")


def parse_english_learner(text: str) -> ELValue:
    """esl | monitored | waived | none (any case); blank is UNSET."""
    s = text.strip().lower()
    if not s:
        return UNSET
    if s in _EL:
        return _EL[s]
    if s in _EL_NONE:
        return None
    raise ValueError(
        f"unknown English-learner status {text.strip()!r}: expected esl, monitored, waived or none"
    )


#: CEDS grade-level codes (OneRoster `grades`) the ILP plans -> its grade, 0 = K. *(chosen)*:
#: TK (transitional kindergarten) is planned as K; 13 (a thirteenth year) as 12.
K12_GRADES = {"KG": 0, "K": 0, "TK": 0, "13": 12} | {
    code: n for n in range(1, 13) for code in (f"{n:02d}", str(n))
}
#: CEDS codes of learners the K-12 ILP does not cover: the row is rejected
OUTSIDE_K12 = {
    "IT": "infant/toddler",
    "PR": "preschool",
    "PK": "prekindergarten",
    "PS": "postsecondary",
}
#: CEDS codes that name no grade: as a blank cell, the student's classes decide
NOT_A_GRADE = {"UG": "ungraded", "OTHER": "other"}


def parse_grades(text: str) -> int | None:
    """A OneRoster `grades` cell ("09" or "09,10") -> the highest K-12 grade in it; None when it
    names none (blank, UG, Other). A code outside K-12 alone, or an unknown code, is an error."""
    outside: list[str] = []
    found: list[int] = []
    for code in split_multi(text):
        key = code.upper()
        if key in K12_GRADES:
            found.append(K12_GRADES[key])
        elif key in OUTSIDE_K12:
            outside.append(f"grade {code!r} ({OUTSIDE_K12[key]}) is outside the K-12 ILP")
        elif key not in NOT_A_GRADE:
            raise ValueError(
                f"unknown grade {code!r}: expected a CEDS code (KG, TK, 01-13, PK, UG, Other, ...)"
            )
    if found:
        return max(found)
    if outside:
        raise ValueError(outside[0])
    return None


def parse_student_grade(text: str) -> int:
    """A grade that must be stated (simple CSV, webhook): K/KG/TK -> 0, 1-12 (01-12), 13 -> 12;
    several ("09,10") -> the highest. PK, UG and the like are errors."""
    grade = parse_grades(text)
    if grade is None:
        raise ValueError(f"grade {text.strip()!r} names no grade: expected K or 1-12")
    return grade


def parse_staff_roles(text: str) -> list[Role]:
    """Comma/semicolon separated ILP staff roles (see `lifecycle.types.Role`)."""
    out: list[Role] = []
    for part in text.replace(";", ",").split(","):
        key = part.strip().lower().replace(" ", "_").replace("-", "_")
        if not key:
            continue
        if key not in STAFF_ROLES:
            raise ValueError(
                f"unknown staff role {part.strip()!r}: expected one of "
                + ", ".join(r.value for r in Role)
            )
        if STAFF_ROLES[key] not in out:
            out.append(STAFF_ROLES[key])
    return out


def split_multi(text: str) -> list[str]:
    """A multi-value cell ("a,b" or "a;b") as a list of non-empty stripped values."""
    if not text:
        return []
    if "," not in text and ";" not in text:
        text = text.strip()
        return [text] if text else []
    return [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
