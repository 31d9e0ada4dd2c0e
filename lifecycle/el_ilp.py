"""The EL ILP as a document: what a version holds, how its form is read, how two versions differ.

The seed (002): an ILP "details the strategies, accommodations, and goals to be implemented daily
in the classroom", is developed "in collaboration with" teachers, counselors and parents, and
"should be updated at least every 9 weeks". Each update is a whole new version; nothing here edits
one. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date
from typing import Any

from lifecycle.calendar import SchoolCalendar, nth_school_day
from lifecycle.forms import InvalidAnswer, Question, answer
from lifecycle.policy import SchoolPolicy
from lifecycle.types import Escalation, Role

DOMAINS = ("listening", "speaking", "reading", "writing")
# A proficiency level as the state's assessment reports it (e.g. WIDA ACCESS 1.0-6.0).
_LEVEL = re.compile(r"^[1-6](\.[0-9])?$")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
MAX_COLLABORATORS = 30
MAX_COLLABORATOR_CHARS = 200

# Languages offered for the parent's copy (code, name); labels exist for those in `labels/`.
PARENT_LANGUAGES = (
    ("en", "English"),
    ("es", "Spanish / Español"),
    ("ar", "Arabic"),
    ("vi", "Vietnamese"),
    ("zh", "Chinese"),
    ("so", "Somali"),
    ("ku", "Kurdish"),
    ("fr", "French"),
    ("ht", "Haitian Creole"),
    ("pt", "Portuguese"),
)

TEXT_QUESTIONS = (
    Question("goals", "Goals"),
    Question("strategies", "Strategies to use daily in the classroom"),
    Question("classroom_accommodations", "Classroom accommodations"),
    Question("testing_accommodations", "Testing accommodations"),
)
COLLABORATORS = Question(
    "collaborators",
    "Collaborators consulted (one a line: teachers, counselor, parent, student...)",
)


@dataclass(frozen=True)
class ElIlpContent:
    """One version's content, as saved. Levels are kept as the assessment reports them."""

    listening: str
    speaking: str
    reading: str
    writing: str
    assessed_on: date
    goals: str
    strategies: str
    classroom_accommodations: str
    testing_accommodations: str
    collaborators: tuple[str, ...]
    parent_language: str = "en"

    def as_form(self) -> dict[str, str]:
        """The content as form values, to prefill the next version's form."""
        out = {f.name: str(getattr(self, f.name)) for f in fields(self)}
        out["assessed_on"] = self.assessed_on.isoformat()
        out["collaborators"] = "\n".join(self.collaborators)
        return out


# The labels a reader sees for each field, in the order pages, diffs and the PDF list them.
FIELD_LABELS: dict[str, str] = {
    "listening": "Listening",
    "speaking": "Speaking",
    "reading": "Reading",
    "writing": "Writing",
    "assessed_on": "Date of the language assessment",
    **{q.key: q.label for q in TEXT_QUESTIONS},
    "collaborators": "Collaborators consulted",
    "parent_language": "Parent's preferred language",
}


def _level(form: Mapping[str, Any], domain: str) -> str:
    value = str(form.get(domain) or "").strip()
    if not _LEVEL.match(value):
        raise InvalidAnswer(
            f"{domain.capitalize()}: give the proficiency level from 1.0 to 6.0", domain
        )
    return value


def _assessed_on(form: Mapping[str, Any], today: date) -> date:
    text = str(form.get("assessed_on") or "").strip()
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None:
        raise InvalidAnswer("Give the date of the language assessment (YYYY-MM-DD)", "assessed_on")
    if day > today:
        raise InvalidAnswer("The language assessment date is in the future", "assessed_on")
    return day


def _collaborators(form: Mapping[str, Any]) -> tuple[str, ...]:
    text = answer(form, COLLABORATORS)
    names = tuple(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
    if len(names) > MAX_COLLABORATORS:
        raise InvalidAnswer(f"At most {MAX_COLLABORATORS} collaborators", "collaborators")
    if any(len(n) > MAX_COLLABORATOR_CHARS for n in names):
        raise InvalidAnswer("One collaborator per line, please", "collaborators")
    return names


def _language(form: Mapping[str, Any]) -> str:
    value = str(form.get("parent_language") or "en").strip()
    if not _LANGUAGE.match(value):
        raise InvalidAnswer("Choose the parent's preferred language", "parent_language")
    return value


def read_el_ilp(form: Mapping[str, Any], *, today: date) -> ElIlpContent:
    """Check an EL ILP form; every field is required (it is the whole document)."""
    levels = {d: _level(form, d) for d in DOMAINS}
    assessed_on = _assessed_on(form, today)
    texts = {q.key: answer(form, q) for q in TEXT_QUESTIONS}
    return ElIlpContent(
        **levels,
        assessed_on=assessed_on,
        **texts,
        collaborators=_collaborators(form),
        parent_language=_language(form),
    )


@dataclass(frozen=True)
class FieldChange:
    key: str
    label: str
    before: str
    after: str


def _text(value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    return str(value)


def diff(before: ElIlpContent, after: ElIlpContent) -> list[FieldChange]:
    """The fields that changed from one version to another, in reading order."""
    changes = []
    for key, label in FIELD_LABELS.items():
        old, new = _text(getattr(before, key)), _text(getattr(after, key))
        if old != new:
            changes.append(FieldChange(key, label, old, new))
    return changes


def line_diff(before: str, after: str) -> list[tuple[str, str]]:
    """A field's lines as (mark, line): '-' removed, '+' added, ' ' kept."""
    import difflib

    out: list[tuple[str, str]] = []
    for line in difflib.ndiff(before.splitlines(), after.splitlines()):
        mark, text = line[:1], line[2:]
        if mark in ("-", "+", " "):
            out.append((mark, text))
    return out


def content_of(row: Any) -> ElIlpContent:
    """The content of a stored version (any object with the same attributes)."""
    values = {f.name: getattr(row, f.name) for f in fields(ElIlpContent)}
    values["collaborators"] = tuple(values["collaborators"] or ())
    return ElIlpContent(**values)


def language_name(code: str, languages: Sequence[tuple[str, str]] = PARENT_LANGUAGES) -> str:
    return dict(languages).get(code, code)


# --- teacher input before a review ---------------------------------------------------------

TEACHER_INPUT_SCHOOL_DAYS = 5  # default; a school's policy may set teacher_input_school_days


def teacher_input_days(policy_mapping: Mapping[str, Any] | None) -> int:
    """How many school days before a review the teachers' input is due (school policy)."""
    raw = (policy_mapping or {}).get("teacher_input_school_days", TEACHER_INPUT_SCHOOL_DAYS)
    days = int(raw)
    if not 1 <= days <= 30:
        raise ValueError("teacher_input_school_days must be between 1 and 30")
    return days


def teacher_input_ladder(
    review_due: date,
    today: date,
    owner: Role,
    days: int,
    calendar: SchoolCalendar,
    policy: SchoolPolicy,
) -> tuple[date, tuple[Escalation, ...]]:
    """(due, rungs) of one teacher's input request: due `days` school days before the review
    (today at the earliest); a reminder 3 school days before, one on the due date, then the
    ESL teacher hears of it 2 school days after. Never the coordinator, principal or RVP."""
    due = max(nth_school_day(calendar, review_due, -days), today)
    at = [
        (0, max(nth_school_day(calendar, due, -3), today), (owner,)),
        (1, due, (owner,)),
        (2, nth_school_day(calendar, due, 2), (owner, Role.ESL_TEACHER)),
    ]
    rungs: list[Escalation] = []
    for level, day, roles in at:
        moment = calendar.local_instant(calendar.next_school_day(day), policy.window_start)
        if rungs and moment <= rungs[-1].at:
            rungs.pop()  # rungs on the same day collapse into the higher one
        rungs.append(Escalation(level, moment, roles))
    return due, tuple(rungs)
