"""Completed notes in the SIS's terms: which TotalView School template each one is filed under.

The seed (000) names the templates staff pick in TotalView School; the export must use those
names verbatim or the SIS import files the note under the wrong template. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from lifecycle.forms import UNSUCCESSFUL, Question, questions_for
from lifecycle.types import StepKind

WELCOME_NOTE_TEMPLATE = "Welcome Note Template"
WELCOME_UNSUCCESSFUL_TEMPLATE = "Welcome Note - Contact Unsuccessful After 5+ Attempts Template"
QUARTER_TEMPLATES = {
    StepKind.Q1_NOTE: "ILP Action Qtr 1 Note Template",
    StepKind.Q2_NOTE: "ILP Action Qtr 2 Note Template",
    StepKind.Q3_NOTE: "ILP Action Qtr 3 Note Template",
    # "Student Synopsis (ILP Action Qtr 4 Note Template)"
    StepKind.SYNOPSIS: "ILP Action Qtr 4 Note Template",
}
# The seed's heading "Graduation Plan (State Requirements)": the plan itself lives in the state
# system, so the SIS row carries only its reference.
GRADUATION_PLAN_TEMPLATE = "Graduation Plan (State Requirements)"

# Kinds that are TotalView School notes. EL ILPs live in TN Pulse and the welcome call is logged
# as contact attempts, so neither is exported here.
EXPORTED_KINDS = (
    StepKind.WELCOME_NOTE,
    *QUARTER_TEMPLATES,
    StepKind.GRADUATION_PLAN,
)


def template_name(kind: StepKind | str, variant: str | None = None) -> str | None:
    """The TVS template a completed note of this kind files under; None if it is no TVS note."""
    kind = StepKind(kind)
    if kind is StepKind.WELCOME_NOTE:
        return WELCOME_UNSUCCESSFUL_TEMPLATE if variant == UNSUCCESSFUL else WELCOME_NOTE_TEMPLATE
    if kind in QUARTER_TEMPLATES:
        return QUARTER_TEMPLATES[kind]
    if kind is StepKind.GRADUATION_PLAN:
        return GRADUATION_PLAN_TEMPLATE
    return None


def note_text(
    kind: StepKind | str,
    answers: Mapping[str, str],
    variant: str | None = None,
    school: Mapping[StepKind, tuple[Question, ...]] | None = None,
) -> str:
    """The note's body as staff would paste it into the template: one labelled answer a paragraph.

    A single-question note (the welcome note) is its answer alone, so what the teacher wrote is
    the first thing in the cell.
    """
    kind = StepKind(kind)
    if kind is StepKind.GRADUATION_PLAN:
        return f"Graduation plan on file in the state system: {answers.get('external_ref', '')}"
    if kind is StepKind.WELCOME_NOTE and variant == UNSUCCESSFUL:
        tries = answers.get("failed_attempts", "")
        lead = f"Contact unsuccessful after {tries} documented attempts."
        return f"{lead}\n\n{answers['note']}" if answers.get("note") else lead
    questions = questions_for(kind, school)
    if len(questions) == 1:
        return answers.get(questions[0].key, "")
    parts = [f"{q.label}: {answers[q.key]}" for q in questions if answers.get(q.key)]
    return "\n\n".join(parts)


@dataclass(frozen=True)
class NoteRow:
    """One exported note: the columns the SIS import reads, in order."""

    note_id: int
    student_sourced_id: str
    school_sourced_id: str
    template: str
    author_sourced_id: str
    author_name: str
    date: str  # ISO local date the note was completed
    text: str
    state_system_ref: str = ""  # graduation plans only


COLUMNS = (
    "note_id",
    "student_sourced_id",
    "school_sourced_id",
    "template",
    "author_sourced_id",
    "author_name",
    "date",
    "text",
    "state_system_ref",
)
