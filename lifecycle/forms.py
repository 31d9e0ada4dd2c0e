"""What each kind of step asks for when staff complete it, and how an answer is read.

The questions are the seed's templates (welcome note, quarterly ILP action note, synopsis). Every
rule that decides whether a completion is acceptable lives here; the actions service only loads
and stores.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from lifecycle.types import StepKind
from lifecycle.welcome_call import AttemptCount

MAX_ANSWER_CHARS = 5000
MAX_NOTES_CHARS = 2000
MAX_REF_CHARS = 500
UNSUCCESSFUL = "contact_unsuccessful"
CONTACT_MADE = "contact_made"
CONTACT_METHODS = ("phone", "email", "text", "video", "in_person", "other")
# How a contact attempt ended; only "reached" is a successful contact.
REACHED = "reached"
CONTACT_OUTCOMES = {
    REACHED: "Reached the family (contact made)",
    "no_answer": "No answer",
    "left_message": "Left a message",
    "bad_contact": "Wrong number / bad contact info",
}
# A logged attempt may be backdated this far at most (a form left open over a long weekend is fine).
MAX_ATTEMPT_AGE = timedelta(days=60)
_REF_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,127}$")


class InvalidAnswer(ValueError):
    """The form is incomplete or wrong; `field` names the offending field when there is one."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Question:
    key: str
    label: str
    required: bool = True
    multiline: bool = True
    max_chars: int = MAX_ANSWER_CHARS


QUARTER_QUESTIONS = (
    Question("action", "The individualized action"),
    Question("communicated", "How it was communicated to the student and learning coach"),
    Question("follow_up", "Follow-up or staff needed"),
    Question("resources", "Resources, interventions or instruction involved"),
)
SYNOPSIS_QUESTIONS = (
    Question("support", "Support the student received"),
    Question("successes", "Successes"),
    Question("continuing_goals", "Goals that continue"),
)
WELCOME_NOTE_QUESTIONS = (
    Question("note", "Welcome note (what you shared and agreed)", required=False),
)
# Teacher input before an EL ILP review (seed 002: "Teacher input should be gathered regularly").
TEACHER_INPUT_QUESTIONS = (
    Question("works", "What works for this student in your class"),
    Question("does_not_work", "What does not work"),
    Question("suggestions", "Strategies you suggest for the ILP", required=False),
)
EL_QUESTIONS = (Question("summary", "Short summary of the update (optional)", required=False),)
GRADUATION_QUESTIONS = (
    Question(
        "external_ref",
        "Reference to the plan in the state system (URL or ID)",
        multiline=False,
        max_chars=MAX_REF_CHARS,
    ),
)
ATTEMPT_NOTES = Question("notes", "Notes", required=False, max_chars=MAX_NOTES_CHARS)
QUARTER_KINDS = (StepKind.Q1_NOTE, StepKind.Q2_NOTE, StepKind.Q3_NOTE)
CONFIRM_KINDS = (
    StepKind.EL_ILP,
    StepKind.EL_ILP_REVIEW,
    StepKind.PARENT_COPY,
    StepKind.EL_ILP_NOTICE,  # "I have read the updated ILP"
)
REPLAN_KINDS = (StepKind.EL_ILP, StepKind.EL_ILP_REVIEW)
# Kinds the task list may complete in bulk: their completion needs no answers. Every other kind
# needs its own form: notes and the synopsis answer questions, the welcome note chooses a variant
# and says what was shared, the welcome call logs attempts, the graduation plan gives a reference,
# and the EL ILP, its review and the parent copy are completed by their document. Only the
# "I have read the updated ILP" notice is a plain confirmation.
BULK_COMPLETE_KINDS = (StepKind.EL_ILP_NOTICE,)
BULK_CONFIRMATION: dict[str, str] = {"confirm": "yes"}


def questions_for(
    kind: StepKind | str, school: Mapping[StepKind, tuple[Question, ...]] | None = None
) -> tuple[Question, ...]:
    """The text fields the completion form of this kind of step shows: the school's own
    template where it has one (lifecycle.templates), else the seed's."""
    kind = StepKind(kind)
    if school and kind in school:
        return school[kind]
    if kind in QUARTER_KINDS:
        return QUARTER_QUESTIONS
    if kind is StepKind.SYNOPSIS:
        return SYNOPSIS_QUESTIONS
    if kind is StepKind.TEACHER_INPUT:
        return TEACHER_INPUT_QUESTIONS
    if kind is StepKind.WELCOME_NOTE:
        return WELCOME_NOTE_QUESTIONS
    if kind is StepKind.GRADUATION_PLAN:
        return GRADUATION_QUESTIONS
    if kind in (StepKind.EL_ILP, StepKind.EL_ILP_REVIEW):
        return EL_QUESTIONS
    return ()


def answer(form: Mapping[str, Any], question: Question) -> str:
    """One answer, trimmed and checked: no NUL, within its length, present when required."""
    raw = form.get(question.key)
    value = "" if raw is None else str(raw)
    if "\x00" in value:
        raise InvalidAnswer(f"{question.label}: contains a NUL character", question.key)
    value = value.replace("\r\n", "\n").strip()
    if len(value) > question.max_chars:
        raise InvalidAnswer(
            f"{question.label}: too long ({len(value)} characters, at most {question.max_chars})",
            question.key,
        )
    if question.required and not value:
        raise InvalidAnswer(f"Missing answer: {question.label}", question.key)
    return value


def answers(form: Mapping[str, Any], questions: tuple[Question, ...]) -> dict[str, str]:
    """The non-empty answers to `questions`."""
    found = {q.key: answer(form, q) for q in questions}
    return {k: v for k, v in found.items() if v}


def confirmed(form: Mapping[str, Any]) -> None:
    if str(form.get("confirm", "")).strip().lower() not in ("yes", "on", "true", "1"):
        raise InvalidAnswer("Tick the box to confirm it is done", "confirm")


def parse_external_ref(text: str) -> str:
    """A URL (http/https with a host) or an ID (letters, digits and . _ : / # -)."""
    value = text.strip()
    if value.lower().startswith(("http://", "https://")):
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if parts is None or not parts.netloc or any(c.isspace() for c in value):
            raise InvalidAnswer(f"{value[:80]!r} is not a valid URL", "external_ref")
        return value
    if not _REF_ID.match(value):
        raise InvalidAnswer(
            "Give the plan's URL (https://...) or its ID (letters, digits and . _ : / # -)",
            "external_ref",
        )
    return value


@dataclass(frozen=True)
class Completion:
    """An accepted completion form: the answers to store and, for a welcome note, its variant."""

    answers: dict[str, str] = field(default_factory=dict)
    variant: str | None = None


def _welcome_note(
    form: Mapping[str, Any], attempts: AttemptCount, min_attempts: int, min_days: int
) -> Completion:
    variant = str(form.get("variant") or CONTACT_MADE).strip()
    if variant not in (CONTACT_MADE, UNSUCCESSFUL):
        raise InvalidAnswer("Choose which welcome note this is", "variant")
    found = answers(form, WELCOME_NOTE_QUESTIONS)
    if variant == CONTACT_MADE and not found.get("note"):
        raise InvalidAnswer(f"Missing answer: {WELCOME_NOTE_QUESTIONS[0].label}", "note")
    if variant == UNSUCCESSFUL:
        short = attempts.shortfall(min_attempts, min_days)
        if short is not None:
            raise InvalidAnswer(
                f'"Contact unsuccessful after {min_attempts}+ attempts" {short} '
                "on the welcome call.",
                "variant",
            )
        found["failed_attempts"] = str(attempts.attempts)
        found["attempt_days"] = str(attempts.days)
    return Completion(found, variant)


def read_completion(
    kind: StepKind | str,
    form: Mapping[str, Any],
    *,
    attempts: AttemptCount,
    min_attempts: int,
    min_attempt_days: int = 1,
    school: Mapping[StepKind, tuple[Question, ...]] | None = None,
) -> Completion:
    """Check a completion form for any kind but the welcome call (which logs attempts).
    `attempts`: the welcome call's failed attempts (for the "unsuccessful" welcome note);
    `school`: the school's own questions per kind (lifecycle.templates)."""
    kind = StepKind(kind)
    if kind in QUARTER_KINDS or kind in (StepKind.SYNOPSIS, StepKind.TEACHER_INPUT):
        return Completion(answers(form, questions_for(kind, school)))
    if kind is StepKind.WELCOME_NOTE:
        return _welcome_note(form, attempts, min_attempts, min_attempt_days)
    if kind is StepKind.GRADUATION_PLAN:
        found = answers(form, GRADUATION_QUESTIONS)
        found["external_ref"] = parse_external_ref(found["external_ref"])
        return Completion(found)
    if kind in CONFIRM_KINDS:
        confirmed(form)
        return Completion(answers(form, questions_for(kind)) | {"confirmed": "yes"})
    raise InvalidAnswer(f"{kind.value} steps cannot be completed here")


@dataclass(frozen=True)
class AttemptForm:
    """A logged contact attempt: when it happened (UTC), how, how it ended, optional notes."""

    at: datetime
    method: str
    outcome: str
    notes: str

    @property
    def succeeded(self) -> bool:
        return self.outcome == REACHED


def attempt_time(value: Any, *, now: datetime, timezone: str) -> datetime:
    """The form's local date and time (YYYY-MM-DDTHH:MM, the school's time zone) as UTC; empty
    means now. The future is refused: an attempt is logged after it was made."""
    text = str(value or "").strip()
    if not text:
        return now
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidAnswer(
            "Give the date and time of the attempt (YYYY-MM-DD HH:MM)", "at"
        ) from None
    zone = ZoneInfo(timezone)
    if local.tzinfo is None:
        local = local.replace(tzinfo=zone)
    at = local.astimezone(now.tzinfo)
    shown = f"{local.astimezone(zone):%a} {local.astimezone(zone):%d %b %Y, %H:%M}"
    if at > now:
        raise InvalidAnswer(f"{shown} is in the future: log an attempt once it has been made", "at")
    if at < now - MAX_ATTEMPT_AGE:
        raise InvalidAnswer(
            f"{shown} is more than {MAX_ATTEMPT_AGE.days} days ago: check the date", "at"
        )
    return at


def read_attempt(form: Mapping[str, Any], *, now: datetime, timezone: str) -> AttemptForm:
    """A welcome-call contact attempt: when (default now), how, its outcome, optional notes.
    The older form's `outcome=succeeded|failed` still reads (as reached / no answer)."""
    outcome = str(form.get("outcome") or "").strip()
    outcome = {"succeeded": REACHED, "failed": "no_answer"}.get(outcome, outcome)
    if outcome not in CONTACT_OUTCOMES:
        choices = ", ".join(label.lower() for label in CONTACT_OUTCOMES.values())
        raise InvalidAnswer(f"Say how the contact attempt ended ({choices})", "outcome")
    method = str(form.get("method") or "").strip()
    if method not in CONTACT_METHODS:
        choices = ", ".join(m.replace("_", " ") for m in CONTACT_METHODS)
        raise InvalidAnswer(f"Choose how you tried to make contact ({choices})", "method")
    at = attempt_time(form.get("at"), now=now, timezone=timezone)
    return AttemptForm(at, method, outcome, answer(form, ATTEMPT_NOTES))
