"""The completion forms' rules (lifecycle/forms.py): what each kind of step accepts."""

import pytest

from lifecycle.forms import (
    CONTACT_MADE,
    UNSUCCESSFUL,
    InvalidAnswer,
    questions_for,
    read_attempt,
    read_completion,
)
from lifecycle.types import StepKind

QUARTER = {
    "action": "Reading plan",
    "communicated": "Call with coach",
    "follow_up": "None",
    "resources": "Tutoring",
}


def complete(kind: StepKind, form: dict[str, str], failed: int = 0, minimum: int = 5):
    return read_completion(kind, form, failed_attempts=failed, min_attempts=minimum)


def test_every_kind_but_the_call_has_a_form() -> None:
    assert [q.key for q in questions_for(StepKind.Q2_NOTE)] == list(QUARTER)
    assert questions_for(StepKind.WELCOME_CALL) == ()


def test_quarter_note_needs_every_answer() -> None:
    assert complete(StepKind.Q1_NOTE, QUARTER).answers == QUARTER
    with pytest.raises(InvalidAnswer) as err:
        complete(StepKind.Q1_NOTE, QUARTER | {"resources": "  "})
    assert err.value.field == "resources"


def test_answers_refuse_nul_and_overlong_text() -> None:
    with pytest.raises(InvalidAnswer, match="NUL"):
        complete(StepKind.Q3_NOTE, QUARTER | {"action": "a\x00b"})
    with pytest.raises(InvalidAnswer, match="too long"):
        complete(StepKind.Q3_NOTE, QUARTER | {"action": "x" * 5001})


def test_unsuccessful_welcome_note_needs_the_minimum_of_failed_attempts() -> None:
    form = {"variant": UNSUCCESSFUL}
    with pytest.raises(InvalidAnswer, match="4 are logged"):
        complete(StepKind.WELCOME_NOTE, form, failed=4)
    filed = complete(StepKind.WELCOME_NOTE, form, failed=5)
    assert (filed.variant, filed.answers) == (UNSUCCESSFUL, {"failed_attempts": "5"})
    with pytest.raises(InvalidAnswer, match="Missing answer"):
        complete(StepKind.WELCOME_NOTE, {"variant": CONTACT_MADE})


def test_graduation_plan_takes_a_url_or_an_id() -> None:
    ok = complete(StepKind.GRADUATION_PLAN, {"external_ref": " https://state.example/p/1 "})
    assert ok.answers["external_ref"] == "https://state.example/p/1"
    assert complete(StepKind.GRADUATION_PLAN, {"external_ref": "GP-2026/17"}).answers
    for bad in ("http://", "two words", "javascript:alert(1)"):
        with pytest.raises(InvalidAnswer):
            complete(StepKind.GRADUATION_PLAN, {"external_ref": bad})


def test_confirm_steps_need_the_box_ticked() -> None:
    with pytest.raises(InvalidAnswer, match="confirm"):
        complete(StepKind.PARENT_COPY, {})
    assert complete(StepKind.EL_ILP, {"confirm": "on"}).answers == {"confirmed": "yes"}


def test_contact_attempt_form() -> None:
    attempt = read_attempt({"outcome": "failed", "method": "phone", "notes": " voicemail "})
    assert (attempt.succeeded, attempt.method, attempt.notes) == (False, "phone", "voicemail")
    with pytest.raises(InvalidAnswer, match="succeeded or failed"):
        read_attempt({"method": "phone"})
    with pytest.raises(InvalidAnswer, match="how you tried"):
        read_attempt({"outcome": "failed", "method": "pigeon"})
