"""Shared values for the pure-core tests: the issue's sample calendar and small builders."""

from __future__ import annotations

from datetime import date

import pytest

from lifecycle.calendar import SchoolCalendar, calendar_from_mapping
from lifecycle.policy import SchoolPolicy
from lifecycle.types import Enrollment

SAMPLE = {
    "timezone": "America/Chicago",
    "year_start": date(2026, 8, 17),
    "year_end": date(2027, 5, 28),
    "quarters": [
        [date(2026, 8, 17), date(2026, 10, 16)],
        [date(2026, 10, 19), date(2026, 12, 18)],
        [date(2027, 1, 5), date(2027, 3, 12)],
        [date(2027, 3, 15), date(2027, 5, 28)],
    ],
    "semesters": [[date(2026, 8, 17), date(2026, 12, 18)], [date(2027, 1, 5), date(2027, 5, 28)]],
    "holidays": [date(2026, 9, 7), date(2026, 11, 26), date(2026, 11, 27)],
}

# A date inside each quarter, for "enrolled in quarter N".
IN_QUARTER = {1: date(2026, 9, 1), 2: date(2026, 11, 2), 3: date(2027, 1, 20), 4: date(2027, 4, 5)}


@pytest.fixture
def calendar() -> SchoolCalendar:
    return calendar_from_mapping(SAMPLE)


@pytest.fixture
def policy() -> SchoolPolicy:
    return SchoolPolicy()


def enrollment(start: date, grade: int = 5, **kw: object) -> Enrollment:
    return Enrollment(start=start, grade=grade, **kw)  # type: ignore[arg-type]
