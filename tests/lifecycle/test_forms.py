"""The completion forms' rules (lifecycle/forms.py): what each kind of step accepts."""

from datetime import UTC, date, datetime

import pytest

from lifecycle.forms import (
    BULK_COMPLETE_KINDS,
    CONTACT_MADE,
    UNSUCCESSFUL,
    InvalidAnswer,
    questions_for,
    read_attempt,
    read_completion,
)
from lifecycle.types import StepKind
from lifecycle.welcome_call import AttemptCount

QUARTER = {
    "action": "Reading plan",
    "communicated": "Call with coach",
    "follow_up": "None",
    "resources": "Tutoring",
}


def complete(
    kind: StepKind, form: dict[str, str], failed: int = 0, minimum: int = 5, days: int = 0
):
    """`failed` attempts spread over `days` days (default: each on its own day)."""
    spread = days or failed
    attempts = AttemptCount.of(date(2026, 9, 1 + n % max(spread, 1)) for n in range(failed))
    return read_completion(kind, form, attempts=attempts, min_attempts=minimum, min_attempt_days=2)


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
    assert (filed.variant, filed.answers) == (
        UNSUCCESSFUL,
        {"failed_attempts": "5", "attempt_days": "5"},
    )
    # Five attempts, all on one day: one effort, not five.
    with pytest.raises(InvalidAnswer, match="on at least 2 different days; 7 are logged, on 1 day"):
        complete(StepKind.WELCOME_NOTE, form, failed=7, days=1)
    assert complete(StepKind.WELCOME_NOTE, form, failed=5, days=2).answers["attempt_days"] == "2"
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


NOW = datetime(2026, 9, 14, 15, 30, tzinfo=UTC)  # 10:30 in Chicago
CHICAGO = "America/Chicago"


def attempt(form: dict[str, str], now: datetime = NOW):
    return read_attempt(form, now=now, timezone=CHICAGO)


def test_contact_attempt_form() -> None:
    filed = attempt({"outcome": "no_answer", "method": "phone", "notes": " voicemail "})
    assert (filed.succeeded, filed.method, filed.outcome, filed.notes) == (
        False,
        "phone",
        "no_answer",
        "voicemail",
    )
    assert filed.at == NOW  # no time given: now
    assert attempt({"outcome": "reached", "method": "text"}).succeeded
    for outcome in ("left_message", "bad_contact"):
        assert not attempt({"outcome": outcome, "method": "email"}).succeeded
    # the earlier form's two outcomes still read
    assert attempt({"outcome": "succeeded", "method": "video"}).outcome == "reached"
    assert attempt({"outcome": "failed", "method": "in_person"}).outcome == "no_answer"
    with pytest.raises(InvalidAnswer, match="how the contact attempt ended"):
        attempt({"method": "phone"})
    with pytest.raises(InvalidAnswer, match="how you tried"):
        attempt({"outcome": "no_answer", "method": "pigeon"})


def test_an_attempt_time_is_local_and_never_in_the_future() -> None:
    form = {"outcome": "no_answer", "method": "phone"}
    earlier = attempt(form | {"at": "2026-09-11T16:45"})  # Friday afternoon, Chicago (CDT)
    assert earlier.at == datetime(2026, 9, 11, 21, 45, tzinfo=UTC)
    assert attempt(form | {"at": "2026-09-14T10:30"}).at == NOW  # this very minute
    with pytest.raises(InvalidAnswer, match="Mon 14 Sep 2026, 10:31 is in the future") as err:
        attempt(form | {"at": "2026-09-14T10:31"})
    assert err.value.field == "at"
    with pytest.raises(InvalidAnswer, match="more than 60 days ago"):
        attempt(form | {"at": "2026-07-01T10:00"})
    with pytest.raises(InvalidAnswer, match="YYYY-MM-DD HH:MM"):
        attempt(form | {"at": "yesterday"})
    # across the change to standard time: the local wall clock is what staff typed
    winter = attempt(form | {"at": "2026-11-02T08:00"}, now=datetime(2026, 11, 3, tzinfo=UTC))
    assert winter.at == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)


def test_only_confirmation_kinds_complete_in_bulk() -> None:
    assert BULK_COMPLETE_KINDS == (StepKind.EL_ILP_NOTICE,)
    for kind in StepKind:
        needs_answers = bool(questions_for(kind)) or kind in (
            StepKind.WELCOME_CALL,
            StepKind.WELCOME_NOTE,
        )
        if kind in BULK_COMPLETE_KINDS:
            assert not needs_answers and complete(kind, {"confirm": "yes"}).answers
        else:
            assert needs_answers or kind is StepKind.PARENT_COPY, kind
