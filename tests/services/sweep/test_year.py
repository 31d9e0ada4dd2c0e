"""Time travel: the sweep run window by window over the school year, real DB, real Apprise, real
sink. Asserts exactly which digests went to whom, on which local day, with which items at which
level."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from config.schools import school_rules
from lifecycle.escalation import acknowledge_pause_until, full_schedule, snooze_until
from lifecycle.types import Role, StepStatus
from models.db import session_scope
from models.tables import (
    ContactAttempt,
    ContactMethod,
    Enrollment,
    EnrollmentStatus,
    School,
    Step,
    escalations_from_json,
)
from tests.services.sweep.conftest import District, local

START = date(2026, 8, 17)  # first day of Q1 in deployments/config/schools/default.toml
WC, WN = "welcome_call", "welcome_note"


def staff_up(d: District, *, with_rvp: bool = True) -> None:
    d.add_school()
    d.add_staff("teacher", Role.TEACHER)
    d.add_staff("coord", Role.ILP_COORDINATOR)
    d.add_staff("principal", Role.PRINCIPAL)
    if with_rvp:
        d.add_staff("rvp", Role.REGIONAL_VP, school_id=None)


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def received(d: District) -> dict[tuple[str, date], set[tuple[str, str, int]]]:
    """{(recipient name, local date): {(student, step kind, level)}} from what was delivered."""
    names = {v: k for k, v in d.staff.items()}
    steps: dict[int, tuple[str, str]] = {}
    students = {v: k for k, v in d.students.items()}
    with session_scope(d.url) as s:
        for sid, enrollment_id, kind in s.execute(
            sa.select(Step.id, Step.enrollment_id, Step.kind)
        ):
            steps[sid] = (students[enrollment_id], str(kind))
    out: dict[tuple[str, date], set[tuple[str, str, int]]] = defaultdict(set)
    for sent in d.sent:
        key = (names[sent.staff_id], local_day(sent.window))
        assert not out[key], f"two digests for {key}"
        out[key] = {(*steps[step_id], level) for step_id, level, _ in sent.items}
    return dict(out)


def local_day(moment: datetime) -> date:
    import pendulum

    return moment.astimezone(pendulum.timezone("America/Chicago")).date()


def test_first_weeks_exactly(district: District) -> None:
    """Ana and Ben (teacher on file) and Cal (no teacher: the coordinator hears as owner)."""
    d = district
    staff_up(d)
    before = local(date(2026, 8, 14), 12)
    for name in ("Ana", "Ben"):
        d.add_student(name, START, plan_now=before)
    d.add_student("Cal", START, teacher=None, plan_now=before)

    for day in days(date(2026, 8, 14), date(2026, 9, 16)):
        for hour, minute in ((6, 0), (7, 0), (7, 15), (12, 0), (18, 0)):
            d.sweep(local(day, hour, minute))

    both = ("Ana", "Ben")
    everyone = ("Ana", "Ben", "Cal")

    def items(students: tuple[str, ...], kinds: tuple[str, ...], level: int) -> set:
        return {(s, k, level) for s in students for k in kinds}

    expected = {
        ("teacher", date(2026, 8, 17)): items(both, (WC,), 0),  # attempt school day 1
        ("coord", date(2026, 8, 17)): items(("Cal",), (WC,), 0),
        ("teacher", date(2026, 8, 19)): items(both, (WC,), 0),  # school day 3
        ("coord", date(2026, 8, 19)): items(("Cal",), (WC,), 0),
        ("teacher", date(2026, 8, 25)): items(both, (WC,), 0),  # school day 7: Tuesday
        ("coord", date(2026, 8, 25)): items(("Cal",), (WC,), 0),
        # welcome note reminder: 3 school days before Sun 30 Aug (Fri 28, Thu 27, Wed 26)
        ("teacher", date(2026, 8, 26)): items(both, (WN,), 0),
        ("coord", date(2026, 8, 26)): items(("Cal",), (WN,), 0),
        # school day 10: no contact -> coordinator (level 2)
        ("teacher", date(2026, 8, 28)): items(both, (WC,), 2),
        ("coord", date(2026, 8, 28)): items(everyone, (WC,), 2),
        # due Sun 30 Aug -> "due" on Monday 31 Aug
        ("teacher", date(2026, 8, 31)): items(both, (WC, WN), 1),
        ("coord", date(2026, 8, 31)): items(("Cal",), (WC, WN), 1),
        # 2 school days after Sun 30 Aug: Mon 31 is the 1st, Tue 1 Sep the 2nd
        ("teacher", date(2026, 9, 1)): items(both, (WC, WN), 2),
        ("coord", date(2026, 9, 1)): items(everyone, (WC, WN), 2),
        # 5 school days after: Fri 4 Sep
        ("teacher", date(2026, 9, 4)): items(both, (WC, WN), 3),
        ("coord", date(2026, 9, 4)): items(everyone, (WC, WN), 3),
        ("principal", date(2026, 9, 4)): items(everyone, (WC, WN), 3),
        # 10 school days after: Labor Day (7 Sep) is a holiday -> Monday 14 Sep
        ("teacher", date(2026, 9, 14)): items(both, (WC, WN), 4),
        ("coord", date(2026, 9, 14)): items(everyone, (WC, WN), 4),
        ("principal", date(2026, 9, 14)): items(everyone, (WC, WN), 4),
        ("rvp", date(2026, 9, 14)): items(everyone, (WC, WN), 4),
    }
    assert received(d) == expected
    # Sent exactly at the window's opening sweep (07:00 local), never at 06:00 / 18:00.
    assert {(s.now - s.window) for s in d.sent} == {timedelta(0)}
    # Every Apprise message reached the sink, one per digest, at the staff member's own path.
    per_path = Counter(m["path"] for m in d.sink.messages())
    want = Counter(f"/staff/{s.staff_id}" for s in d.sent)
    assert per_path == want
    # FERPA-minimal: initials + internal id, a link, no names, no grade.
    for message in d.sink.messages():
        text = message["title"] + message["message"]
        assert "Example" not in text and "Ana" not in text and "grade" not in text.lower()
        assert "http://ilp.test/a/" in message["message"]
    assert "A.E. #" in d.inbox("teacher")[0]["message"]
    # Delivery rows: all sent, one per recipient per window.
    rows = d.deliveries()
    assert {r.status.value for r in rows} == {"sent"}
    assert len({(r.recipient_staff_id, r.window_start) for r in rows}) == len(rows) == len(d.sent)


def _update_step(d: District, step_id: int, **values: Any) -> None:
    with session_scope(d.url) as s:
        s.execute(sa.update(Step).where(Step.id == step_id).values(**values))


def _rules(d: District) -> Any:
    with session_scope(d.url) as s:
        school = s.get(School, d.school_id)
        return school_rules(school.calendar, school.policy)


def acknowledge(d: District, step_id: int, at: datetime) -> None:
    """What the web app does on 'acknowledge' (see services/actions.py)."""
    calendar, policy = _rules(d)
    until = acknowledge_pause_until(at, calendar, policy)
    with session_scope(d.url) as s:
        step = s.get(Step, step_id)
        step.acknowledged_until = until
        if step.next_action_at is not None:
            step.next_action_at = max(step.next_action_at, until)


def snooze(d: District, step_id: int, day: date) -> None:
    calendar, policy = _rules(d)
    with session_scope(d.url) as s:
        step = s.get(Step, step_id)
        step.snoozed_until = day
        if step.next_action_at is not None:
            step.next_action_at = max(
                step.next_action_at, snooze_until(day, step.due, calendar, policy)
            )


def complete(d: District, step_id: int, day: date) -> None:
    _update_step(
        d, step_id, status=StepStatus.COMPLETED.value, completed_on=day, next_action_at=None
    )


def model_of_untouched(d: District, student: str) -> set[tuple[str, date, str, int]]:
    """What an untouched student's steps must produce with a sweep at every window: for each
    distinct rung instant, the highest rung there, to its roles (owner -> coordinator here)."""
    role_to = {
        Role.TEACHER: "coord",  # Cal has no teacher: the coordinator stands in as owner
        Role.ILP_COORDINATOR: "coord",
        Role.PRINCIPAL: "principal",
        Role.REGIONAL_VP: "rvp",
    }
    out = set()
    calendar, policy = _rules(d)
    with session_scope(d.url) as s:
        steps = s.execute(
            sa.select(Step).where(Step.enrollment_id == d.students[student])
        ).scalars()
        for step in steps:
            by_at: dict[datetime, Any] = {}
            ladder = escalations_from_json(step.escalation_schedule)
            for rung in full_schedule(ladder, calendar, policy):  # the ladder, then repeats
                best = by_at.get(rung.at)
                if best is None or rung.level > best.level:
                    by_at[rung.at] = rung
            for at, rung in by_at.items():
                for role in rung.notify:
                    out.add((role_to[role], local_day(at), str(step.kind), rung.level))
    return out


@pytest.mark.timeout(120)
def test_whole_year(district: District) -> None:
    """A full year, one sweep at every window opening (07:00 local) and one after hours, with
    staff acting on some items: attempts logged, complete, acknowledge, snooze, a withdrawal."""
    d = district
    staff_up(d)
    before = local(date(2026, 8, 14), 12)
    d.add_student("Ana", START, plan_now=before)
    d.add_student("Ben", START, plan_now=before)
    d.add_student("Cal", START, teacher=None, plan_now=before)
    ana_wc, ana_wn, ana_q2 = (d.step_id("Ana", k) for k in (WC, WN, "q2_note"))
    ben_enrollment = d.students["Ben"]

    actions = {
        # Ana's teacher logs 5 unsuccessful attempts (made Wed and Thu) after the day-3
        # reminder: no more attempt reminders and no day-10 coordinator check; the
        # due/overdue ladder still runs.
        date(2026, 8, 20): lambda at: log_attempts(d, ana_wc, 5, at),
        # Mon 31 Aug 10:00: paused for the rest of Monday, Tue 1 and Wed 2 Sep; resumes Thu 3 Sep
        date(2026, 8, 31): lambda at: acknowledge(d, ana_wn, at),
        date(2026, 9, 3): lambda at: complete(d, ana_wc, at.date()),
        date(2026, 9, 9): lambda at: withdraw(d, ben_enrollment, at.date()),
        date(2026, 12, 14): lambda at: snooze(d, ana_q2, date(2026, 12, 17)),
        date(2026, 10, 20): lambda at: complete(d, ana_wn, at.date()),
    }
    for day in days(date(2026, 8, 14), date(2027, 6, 4)):
        d.sweep(local(day, 7))
        if day in actions:
            actions[day](local(day, 10))
        d.sweep(local(day, 17, 30))

    got = received(d)
    flat = {(who, day, stu, kind, lvl) for (who, day), its in got.items() for stu, kind, lvl in its}

    # Cal, untouched all year: exactly the model.
    cal = {(w, day, k, lvl) for (w, day, stu, k, lvl) in flat if stu == "Cal"}
    assert cal == model_of_untouched(d, "Cal")
    assert len(cal) > 30  # 6 steps, the full ladder each

    # Ana: welcome call: attempts on days 1 and 3 only, then due + overdue until completed.
    ana = defaultdict(list)
    for who, day, stu, kind, lvl in sorted(flat):
        if stu == "Ana" and who == "teacher":
            ana[kind].append((day, lvl))
    assert ana[WC] == [(date(2026, 8, 17), 0), (date(2026, 8, 19), 0), (date(2026, 8, 31), 1),
                       (date(2026, 9, 1), 2)]  # fmt: skip
    # Welcome note: acknowledged Mon 31 Aug -> level 2 (due Tue 1 Sep, inside the pause) sent
    # when the pause ends, Thu 3 Sep 07:00; then on.
    # Then level 4 again every 5 school days until it is completed (Tue 20 Oct).
    assert ana[WN] == [(date(2026, 8, 26), 0), (date(2026, 8, 31), 1), (date(2026, 9, 3), 2),
                       (date(2026, 9, 4), 3), (date(2026, 9, 14), 4), (date(2026, 9, 21), 4),
                       (date(2026, 9, 28), 4), (date(2026, 10, 5), 4), (date(2026, 10, 12), 4),
                       (date(2026, 10, 19), 4)]  # fmt: skip
    # Q2 note (due Fri 18 Dec): reminder (Tue 15 Dec) snoozed to Thu 17 Dec; then due; then
    # overdue +2 school days across the winter break (Q3 starts Tue 5 Jan): Wed 6 Jan.
    assert ana["q2_note"][:3] == [(date(2026, 12, 17), 0), (date(2026, 12, 18), 1),
                                  (date(2027, 1, 6), 2)]  # fmt: skip
    coord_ana = sorted((day, k, lvl) for w, day, s, k, lvl in flat if s == "Ana" and w == "coord")
    assert (date(2026, 8, 28), WC, 2) not in coord_ana  # 5 attempts logged: no day-10 check

    # Ben withdrew on 9 Sep (steps not re-planned: the sweep alone must stop): nothing after.
    ben_days = sorted(day for (_, day, stu, _, _) in flat if stu == "Ben")
    assert ben_days and max(ben_days) <= date(2026, 9, 8)

    # Only school days, only at the window's opening; one digest per recipient per window.
    calendar, _ = _rules(d)
    assert all(calendar.is_school_day(local_day(s.window)) for s in d.sent)
    assert {s.now - s.window for s in d.sent} == {timedelta(0)}
    assert len({(s.staff_id, s.window) for s in d.sent}) == len(d.sent)
    assert d.sink.count() == len(d.sent) == len(d.deliveries())


def log_attempts(d: District, step_id: int, n: int, at: datetime) -> None:
    """`n` failed attempts, made over two days (the day before `at` and `at`): the count the
    policy asks for (5 on 2 different days)."""
    with session_scope(d.url) as s:
        for i in range(n):
            when = at - timedelta(days=1 if i < n // 2 else 0, minutes=n - i)
            s.add(
                ContactAttempt(
                    step_id=step_id, at=when, succeeded=False, method=ContactMethod.PHONE
                )
            )


def withdraw(d: District, enrollment_id: int, day: date) -> None:
    with session_scope(d.url) as s:
        s.execute(
            sa.update(Enrollment)
            .where(Enrollment.id == enrollment_id)
            .values(withdrawn_on=day, status=EnrollmentStatus.WITHDRAWN.value)
        )
