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

# Issue 14's year: 2021, where Sun 5 Sep is followed by Labor Day (Mon 6 Sep). A student starting
# Mon 23 Aug has the welcome call and note due Sun 5 Sep; a returning 9th grader's graduation
# plan is due Sun 24 Oct (9 weeks); Thanksgiving is Thu 25 and Fri 26 Nov; winter break between Q2
# and Q3.
YEAR_2021 = {
    "timezone": "America/Chicago",
    "year_start": date(2021, 8, 23),
    "year_end": date(2022, 5, 27),
    "quarters": [
        [date(2021, 8, 23), date(2021, 10, 22)],
        [date(2021, 10, 25), date(2021, 12, 17)],
        [date(2022, 1, 4), date(2022, 3, 11)],
        [date(2022, 3, 14), date(2022, 5, 27)],
    ],
    "holidays": [date(2021, 9, 6), [date(2021, 11, 25), date(2021, 11, 26)]],
}

# A date inside each quarter, for "enrolled in quarter N".
IN_QUARTER = {1: date(2026, 9, 1), 2: date(2026, 11, 2), 3: date(2027, 1, 20), 4: date(2027, 4, 5)}


@pytest.fixture
def calendar() -> SchoolCalendar:
    return calendar_from_mapping(SAMPLE)


@pytest.fixture
def year_2021() -> SchoolCalendar:
    return calendar_from_mapping(YEAR_2021)


@pytest.fixture
def policy() -> SchoolPolicy:
    return SchoolPolicy()


def enrollment(start: date, grade: int = 5, **kw: object) -> Enrollment:
    return Enrollment(start=start, grade=grade, **kw)  # type: ignore[arg-type]
