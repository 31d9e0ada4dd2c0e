"""Parsing of single cell values shared by all intake parsers. Each raises ValueError with a
message fit for a `Rejection.reason`."""

from __future__ import annotations

from datetime import date

from lifecycle.types import EnglishLearner, Role, parse_grade

from .records import UNSET, ELValue

_date_cache: dict[str, date] = {}

_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f"})

_EL = {
    "esl": EnglishLearner.ESL,
    "monitored": EnglishLearner.MONITORED,
    "waived": EnglishLearner.WAIVED,
}
_EL_NONE = frozenset({"none", "no", "false", "0", "n/a", "na"})

STAFF_ROLES = {r.value: r for r in Role}


def parse_date(text: str) -> date:
    """2023-05-01, 2023-05-01T18:25:43.511Z (date part) or m/d/yyyy (US order)."""
    cached = _date_cache.get(text)
    if cached is not None:
        return cached
    value = _parse_date(text.strip())
    if len(_date_cache) < 100_000:
        _date_cache[text] = value
    return value


def _parse_date(s: str) -> date:
    try:
        if "/" in s:
            parts = s.split("/")
            if len(parts) == 3 and len(parts[2]) == 4:
                return date(int(parts[2]), int(parts[0]), int(parts[1]))
        elif len(s) == 10:
            return date.fromisoformat(s)
        elif len(s) > 10 and s[10] in "T ":
            return date.fromisoformat(s[:10])
    except ValueError:
        pass
    raise ValueError(f"bad date {s!r}: expected YYYY-MM-DD, an ISO timestamp or M/D/YYYY")


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


def parse_student_grade(text: str) -> int:
    """KG/K -> 0, 01..12 -> 1..12. Several grades ("09,10") -> the highest. PK, TK, UG: error."""
    s = text.strip()
    if "," in s:
        return max(parse_student_grade(g) for g in s.split(",") if g.strip())
    try:
        return parse_grade(s)
    except ValueError:
        raise ValueError(f"unknown grade {s!r}: expected KG/K or 01-12") from None


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
