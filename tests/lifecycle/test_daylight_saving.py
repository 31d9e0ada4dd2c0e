"""A school year crosses two daylight-saving changes; local 07:00 must stay local 07:00."""

from __future__ import annotations

from datetime import UTC, date, datetime

from lifecycle.calendar import calendar_from_mapping
from lifecycle.planner import plan_enrollment
from lifecycle.types import StepKind
from tests.lifecycle.conftest import SAMPLE, enrollment


def test_utc_hour_shifts_when_daylight_saving_ends(calendar, policy) -> None:
    steps = {s.kind: s for s in plan_enrollment(enrollment(date(2026, 8, 17)), calendar, policy)}
    q1 = steps[StepKind.Q1_NOTE]  # optional: no rungs
    assert q1.escalations == ()
    q2 = steps[StepKind.Q2_NOTE]
    synopsis = steps[StepKind.SYNOPSIS]
    # CST (UTC-6) in December, CDT (UTC-5) in May.
    assert q2.escalations[1].at == datetime(2026, 12, 18, 13, 0, tzinfo=UTC)
    assert synopsis.escalations[1].at == datetime(2027, 5, 28, 12, 0, tzinfo=UTC)


def test_rung_in_the_week_after_the_change_is_still_seven_local(policy) -> None:
    calendar = calendar_from_mapping({**SAMPLE, "timezone": "America/New_York"})
    # DST ends Sun 2026-11-01. A start on Mon Oct 26 puts welcome-call school day 7 on Tue Nov 3.
    steps = plan_enrollment(enrollment(date(2026, 10, 26)), calendar, policy)
    call = next(s for s in steps if s.kind is StepKind.WELCOME_CALL)
    before = next(e for e in call.escalations if e.attempt_day == 3)  # Wed Oct 28, EDT
    after = next(e for e in call.escalations if e.attempt_day == 7)  # Tue Nov 3, EST
    assert before.at == datetime(2026, 10, 28, 11, 0, tzinfo=UTC)
    assert after.at == datetime(2026, 11, 3, 12, 0, tzinfo=UTC)


def test_zone_without_daylight_saving(policy) -> None:
    calendar = calendar_from_mapping({**SAMPLE, "timezone": "America/Phoenix"})
    steps = plan_enrollment(enrollment(date(2026, 8, 17)), calendar, policy)
    hours = {e.at.hour for s in steps for e in s.escalations}
    assert hours == {14}
