"""Five attempts on one day are one effort: the welcome call's attempt reminders go on until the
failed attempts are spread over the policy's days (welcome_call_min_attempt_days, 2)."""

from __future__ import annotations

from datetime import date, timedelta

from models.db import session_scope
from models.tables import Step
from services import actions
from services.actions import Actor
from tests.services.sweep.conftest import District, local
from tests.services.sweep.test_year import START, WC, days, local_day, staff_up


def test_attempt_reminders_stop_only_after_attempts_on_two_days(district: District) -> None:
    d = district
    staff_up(d, with_rvp=False)
    before = local(date(2026, 8, 14), 12)
    d.add_student("Ana", START, plan_now=before)  # five tries within a minute on Wed 19 Aug
    d.add_student("Ben", START, plan_now=before)  # three on Tue 18, two on Wed 19 Aug
    calls = {name: d.step_id(name, WC) for name in ("Ana", "Ben")}
    teacher = d.staff["teacher"]

    def log(name: str, day: date, n: int) -> None:
        at = local(day, 10)
        with session_scope(d.url) as s:
            for i in range(n):
                moment = at + timedelta(seconds=2 * i)
                actions.log_contact_attempt(
                    s,
                    calls[name],
                    Actor(staff_id=teacher, now=moment),
                    method="phone",
                    outcome="no_answer",
                )

    plan = {date(2026, 8, 18): [("Ben", 3)], date(2026, 8, 19): [("Ana", 5), ("Ben", 2)]}
    for day in days(date(2026, 8, 17), date(2026, 8, 31)):
        d.sweep(local(day, 7))
        for name, n in plan.get(day, []):
            log(name, day, n)
    reminded = {
        name: sorted(
            local_day(s.window)
            for s in d.sent
            if s.staff_id == teacher
            for step_id, level, attempt_day in s.items
            if step_id == calls[name] and attempt_day is not None
        )
        for name in calls
    }
    # school days 1, 3, 7 and 10 are Mon 17, Wed 19, Tue 25 and Fri 28 Aug
    assert reminded["Ana"] == [date(2026, 8, d) for d in (17, 19, 25, 28)]
    assert reminded["Ben"] == [date(2026, 8, 17), date(2026, 8, 19)]
    with session_scope(d.url) as s:
        statuses = {name: str(s.get(Step, sid).status) for name, sid in calls.items()}  # type: ignore[union-attr]
    assert statuses == {"Ana": "open", "Ben": "completed"}
