"""Issue 14 end to end: the 2021 year where the welcome steps fall due on Sun 5 Sep and Mon 6 Sep is
Labor Day. Sweeps at every window opening and after hours; staff acknowledge through the same
action the web app runs; the digests' dates and their "OVERDUE (N school days)" are checked."""

from __future__ import annotations

import re
from datetime import date, datetime

import pytest

from lifecycle.calendar import calendar_from_mapping, calendar_to_mapping
from lifecycle.types import Role
from models.db import session_scope
from services.actions import Actor, acknowledge
from tests.lifecycle.conftest import YEAR_2021
from tests.services.sweep.conftest import District, local
from tests.services.sweep.test_year import days, received

WC, WN = "welcome_call", "welcome_note"
START = date(2021, 8, 23)  # Monday; the welcome call and note are due Sun 5 Sep 2021


def ack(d: District, student: str, at: datetime) -> str:
    """The teacher presses "acknowledge" on the student's welcome note at `at`."""
    with session_scope(d.url) as s:
        outcome = acknowledge(s, d.step_id(student, WN), Actor(staff_id=d.staff["teacher"], now=at))
    assert outcome.changed
    return outcome.message


@pytest.mark.timeout(120)
def test_sunday_due_welcome_steps_before_labor_day(district: District) -> None:
    d = district
    d.add_school(calendar=calendar_to_mapping(calendar_from_mapping(YEAR_2021)))
    d.add_staff("teacher", Role.TEACHER)
    d.add_staff("coord", Role.ILP_COORDINATOR)
    d.add_staff("principal", Role.PRINCIPAL)
    d.add_staff("rvp", Role.REGIONAL_VP, school_id=None)
    for name in ("Ana", "Ben", "Cal"):
        d.add_student(name, START, plan_now=local(date(2021, 8, 20), 12))

    messages: dict[str, str] = {}
    for day in days(date(2021, 8, 20), date(2021, 9, 24)):
        d.sweep(local(day, 7))
        if day == date(2021, 9, 7):  # Tuesday noon: Ben's note pauses to Fri 10 Sep 07:00
            messages["Ben"] = ack(d, "Ben", local(day, 12))
        if day == date(2021, 9, 9):  # Thursday noon: Cal's note pauses to Tue 14 Sep 07:00
            messages["Cal"] = ack(d, "Cal", local(day, 12))
        d.sweep(local(day, 17, 30))
    assert "pause until Fri 10 Sep 2021, 07:00" in messages["Ben"]
    assert "pause until Tue 14 Sep 2021, 07:00" in messages["Cal"]

    def items(students: str, kinds: tuple[str, ...], level: int) -> set[tuple[str, str, int]]:
        return {(s, k, level) for s in students.split() for k in kinds}

    abc = "Ana Ben Cal"
    teacher = {
        date(2021, 8, 23): items(abc, (WC,), 0),  # attempt school day 1
        date(2021, 8, 25): items(abc, (WC,), 0),  # school day 3
        date(2021, 8, 31): items(abc, (WC,), 0),  # school day 7 (was Mon 30 Aug)
        date(2021, 9, 1): items(abc, (WN,), 0),  # 3 school days before Sun 5 Sep
        date(2021, 9, 3): items(abc, (WC,), 2),  # school day 10: no contact (was Wed 1 Sep)
        date(2021, 9, 7): items(abc, (WC, WN), 1),  # due Sunday, Monday a holiday
        date(2021, 9, 8): items(abc, (WC,), 2) | items("Ana Cal", (WN,), 2),  # was Thu 9
        date(2021, 9, 10): items("Ben", (WN,), 2),  # came due during Ben's pause
        date(2021, 9, 13): items(abc, (WC,), 3) | items("Ana Ben", (WN,), 3),  # was Tue 14
        date(2021, 9, 14): items("Cal", (WN,), 3),  # came due during Cal's pause
        date(2021, 9, 20): items(abc, (WC, WN), 4),  # was Tue 21
    }
    principal = {
        date(2021, 9, 13): items(abc, (WC,), 3) | items("Ana Ben", (WN,), 3),
        date(2021, 9, 14): items("Cal", (WN,), 3),  # delayed by the pause, not dropped
        date(2021, 9, 20): items(abc, (WC, WN), 4),
    }
    got = received(d)
    assert {day: its for (who, day), its in got.items() if who == "teacher"} == teacher
    assert {day: its for (who, day), its in got.items() if who == "principal"} == principal
    assert {day for (who, day) in got if who == "rvp"} == {date(2021, 9, 20)}
    assert {day for (who, day) in got if who == "coord"} == {
        date(2021, 9, 3),
        date(2021, 9, 8),
        date(2021, 9, 10),
        date(2021, 9, 13),
        date(2021, 9, 14),
        date(2021, 9, 20),
    }

    # The words match the timing: each digest's "OVERDUE (N school days)" is the rung's count.
    teacher_id = d.staff["teacher"]
    windows = [local_date(s.window) for s in d.sent if s.staff_id == teacher_id]
    bodies = dict(zip(windows, d.inbox("teacher"), strict=True))  # both in sending order
    ana, ben, cal = (f"{n[0]}.E. #{student_id(d, n)}" for n in ("Ana", "Ben", "Cal"))
    expected_lines = {  # (student, line under the student's heading)
        date(2021, 8, 31): [(ana, "WELCOME CALL: school day 7 of the contact window")],
        date(2021, 9, 3): [(ana, "the family has fewer than 5 logged contact attempts and no "
                                 "contact by school day 10")],
        date(2021, 9, 7): [(ana, "DUE: Welcome note was due Sun 5 Sep 2021")],
        date(2021, 9, 8): [(ana, "OVERDUE (2 school days): Welcome note was due")],
        date(2021, 9, 10): [(ben, "OVERDUE (4 school days): Welcome note was due")],
        date(2021, 9, 13): [(ana, "OVERDUE (5 school days): Welcome note was due"),
                            (cal, "OVERDUE (5 school days): Welcome call was due")],
        date(2021, 9, 14): [(cal, "OVERDUE (6 school days): Welcome note was due")],
        date(2021, 9, 20): [(ana, "OVERDUE (10 school days): Welcome note was due")],
    }  # fmt: skip
    for day, lines in expected_lines.items():
        groups = by_student(bodies[day]["message"])
        for who, line in lines:
            assert line in groups[who], (day, who, line)
    assert "OVERDUE (3 school days)" not in " ".join(m["message"] for m in bodies.values())
    assert "due today" not in bodies[date(2021, 9, 7)]["message"]
    assert bodies[date(2021, 9, 7)]["title"] == "ILP: 6 items for you (6 due)"


def by_student(body: str) -> dict[str, str]:
    """A digest's text, per student heading ("A.E. #1"): the lines listed under it."""
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in body.splitlines():
        if re.fullmatch(r"[A-Z?]\.[A-Z?]\. #\d+", line.strip()) and not line.startswith(" "):
            current = groups.setdefault(line.strip(), [])
        elif current is not None and line.startswith("  "):
            current.append(line.strip())
        elif not line.strip():
            continue
        else:
            current = None
    return {ref: "\n".join(lines) for ref, lines in groups.items()}


def local_date(moment: datetime) -> date:
    import pendulum

    return moment.astimezone(pendulum.timezone("America/Chicago")).date()


def student_id(d: District, name: str) -> int:
    from models.tables import Enrollment

    with session_scope(d.url) as s:
        enrollment = s.get(Enrollment, d.students[name])
        assert enrollment is not None
        return int(enrollment.student_id)
