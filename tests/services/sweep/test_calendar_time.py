"""Sending windows in each school's own time zone across daylight-saving changes, weekends, a
holiday week and an after-hours sweep."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from lifecycle.types import Role
from tests.services.sweep.conftest import DEFAULTS, District, local
from tests.services.sweep.test_year import days

PHOENIX = {**DEFAULTS.calendar, "timezone": "America/Phoenix"}  # no daylight saving


@pytest.mark.parametrize(
    ("start", "expected_chicago"),
    [
        # Fall back on Sun 1 Nov 2026: 07:00 CDT = 12:00Z, then 07:00 CST = 13:00Z.
        (date(2026, 10, 26), ["2026-10-26T12:00", "2026-10-28T12:00", "2026-11-03T13:00"]),
        # Spring forward on Sun 14 Mar 2027: 07:00 CST = 13:00Z, then 07:00 CDT = 12:00Z.
        (date(2027, 3, 8), ["2027-03-08T13:00", "2027-03-10T13:00", "2027-03-16T12:00"]),
    ],
)
def test_daylight_saving(district: District, start: date, expected_chicago: list[str]) -> None:
    d = district
    chicago = d.add_school("chicago")
    d.add_staff("teacher", Role.TEACHER)
    d.add_staff("coord", Role.ILP_COORDINATOR)
    phoenix = d.add_school("phoenix", calendar=PHOENIX)
    d.add_staff("pteacher", Role.TEACHER)
    d.add_staff("pcoord", Role.ILP_COORDINATOR)
    plan_at = datetime.combine(start - timedelta(days=3), datetime.min.time(), tzinfo=UTC)
    d.add_student("Ana", start, school_id=chicago, plan_now=plan_at)
    d.add_student("Pia", start, teacher="pteacher", school_id=phoenix, plan_now=plan_at)
    # Every half hour from 05:00Z to 16:00Z, for 9 days: attempt school days 1, 3 and 7.
    for day in days(start, start + timedelta(days=8)):
        for half_hours in range(10, 33):
            d.sweep(datetime.combine(day, datetime.min.time(), tzinfo=UTC) + half_hours * HALF)

    def sent_at(name: str) -> list[str]:
        staff_id = d.staff[name]
        return [s.now.strftime("%Y-%m-%dT%H:%M") for s in d.sent if s.staff_id == staff_id]

    assert sent_at("teacher") == expected_chicago
    # Phoenix keeps 07:00 MST = 14:00Z all year, on the same local days.
    assert sent_at("pteacher") == [t[:11] + "14:00" for t in expected_chicago]


HALF = timedelta(minutes=30)


def test_holiday_week_and_after_hours(district: District) -> None:
    """Spring break 22-26 Mar 2027 (default.toml). A student starting Mon 8 Mar: welcome call
    attempt school days 1, 3, 7 (Tue 16) and 10 (Fri 19); welcome note reminder 3 school days
    before Sun 21 Mar (Wed 17); due Sun 21 Mar -> the next school day is Mon 29 Mar, after the
    break, and level 2 the 2nd school day after Sun 21: Tue 30 Mar. On 17 Mar the sweep is down
    all day and runs at 18:00: after hours, so the reminder waits for Thursday's window."""
    d = district
    d.add_school()
    d.add_staff("teacher", Role.TEACHER)
    d.add_staff("coord", Role.ILP_COORDINATOR)
    d.add_staff("principal", Role.PRINCIPAL)
    start = date(2027, 3, 8)
    d.add_student("Ana", start, plan_now=local(date(2027, 3, 5), 12))
    wc, wn = d.step_id("Ana", "welcome_call"), d.step_id("Ana", "welcome_note")
    for day in days(start, date(2027, 4, 1)):
        hours = (18,) if day == date(2027, 3, 17) else (6, 7, 12, 18)
        for hour in hours:
            d.sweep(local(day, hour))
    teacher = d.staff["teacher"]
    got = [(s.now, s.items) for s in d.sent if s.staff_id == teacher]
    assert got == [
        (local(date(2027, 3, 8), 7), ((wc, 0, 1),)),
        (local(date(2027, 3, 10), 7), ((wc, 0, 3),)),
        (local(date(2027, 3, 16), 7), ((wc, 0, 7),)),
        # the welcome note reminder, held from Wednesday 18:00 to Thursday 07:00
        (local(date(2027, 3, 18), 7), ((wn, 0, None),)),
        (local(date(2027, 3, 19), 7), ((wc, 2, 10),)),
        # nothing during the break; due on the first school day after it
        (local(date(2027, 3, 29), 7), ((wc, 1, None), (wn, 1, None))),
        (local(date(2027, 3, 30), 7), ((wc, 2, None), (wn, 2, None))),
    ]
    assert not [s for s in d.sent if date(2027, 3, 19) < s.now.date() < date(2027, 3, 29)]
