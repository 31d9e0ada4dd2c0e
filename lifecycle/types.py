"""The school's vocabulary: what a step, a role and an enrollment are. Plain values, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum


class StepKind(StrEnum):
    WELCOME_CALL = "welcome_call"
    WELCOME_NOTE = "welcome_note"
    Q1_NOTE = "q1_note"
    Q2_NOTE = "q2_note"
    Q3_NOTE = "q3_note"
    SYNOPSIS = "synopsis"
    GRADUATION_PLAN = "graduation_plan"
    EL_ILP = "el_ilp"
    EL_ILP_REVIEW = "el_ilp_review"
    PARENT_COPY = "parent_copy"
    # Not planned: services/el_ilp.py adds one per collaborator when an EL ILP version is saved.
    EL_ILP_NOTICE = "el_ilp_notice"
    # Not planned: a teacher's input before an EL ILP review (services/el_ilp.py).
    TEACHER_INPUT = "teacher_input"


# Steps services add outside the planner; re-planning neither plans nor cancels them.
UNPLANNED_KINDS = frozenset({StepKind.EL_ILP_NOTICE, StepKind.TEACHER_INPUT})


class Role(StrEnum):
    """Staff roles. `TEACHER` is the student's assigned teacher."""

    TEACHER = "teacher"
    ESL_TEACHER = "esl_teacher"
    COUNSELOR = "counselor"
    ILP_COORDINATOR = "ilp_coordinator"
    PRINCIPAL = "principal"
    REGIONAL_VP = "regional_vp"


class EnglishLearner(StrEnum):
    """The three kinds of English learner who must have an ILP."""

    ESL = "esl"  # receiving ESL services
    MONITORED = "monitored"  # T1-T2 monitored
    WAIVED = "waived"  # parents waived direct ESL services


class StepStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # due on or after a withdrawal
    MISSED = "missed"  # overdue when the student withdrew, or open when the year ended
    TRANSFERRED = "transferred"  # open when the student moved to another school of the district


GRADE_NAMES = ("K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")


def parse_grade(text: str) -> int:
    """'K' (or 'KG') is 0; '1'..'12' (or '01'..'12') are themselves. Anything else is an error."""
    cleaned = text.strip().upper()
    if cleaned in ("K", "KG"):
        return 0
    if cleaned.isdigit() and 1 <= int(cleaned) <= 12:
        return int(cleaned)
    raise ValueError(f"unknown grade {text!r}: expected K or 1-12")


def grade_name(grade: int) -> str:
    return GRADE_NAMES[grade]


@dataclass(frozen=True)
class CompletedStep:
    """A step staff already finished; re-planning keeps it as it was."""

    kind: StepKind
    due: date
    completed_on: date
    seq: int = 0
    opens: date | None = None
    required: bool = True


@dataclass(frozen=True)
class Enrollment:
    """What the planner needs to know about one student's year at one school."""

    start: date
    grade: int  # 0 = K
    returning: bool = False
    english_learner: EnglishLearner | None = None
    withdrawn: date | None = None
    completed: tuple[CompletedStep, ...] = ()


@dataclass(frozen=True)
class Escalation:
    """One rung of a step's ladder: when it fires (UTC) and which roles hear of it.

    `level` is 0-4 for the communication plan; welcome-call attempt reminders use level 0 with
    `attempt_day` set: the school day of the window (1 = the start date, or the first school day
    on or after it). `repeat` counts the top level's repeats (0: a rung of the ladder itself);
    repeats are derived at run time, never stored.
    """

    level: int
    at: datetime
    notify: tuple[Role, ...]
    attempt_day: int | None = None
    repeat: int = 0


@dataclass(frozen=True)
class PlannedStep:
    kind: StepKind
    due: date
    required: bool
    owner: Role
    opens: date
    seq: int = 0
    status: StepStatus = StepStatus.OPEN
    completed_on: date | None = None
    escalations: tuple[Escalation, ...] = field(default=())

    @property
    def key(self) -> tuple[StepKind, int]:
        return (self.kind, self.seq)
