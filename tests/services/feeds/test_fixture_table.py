"""The issue 16 table (fixture_table.py) as a test: every shipped set plans its students, and
each malformed case says what is wrong."""

from __future__ import annotations

import re

from tests.services.feeds.fixture_table import fixture_sets, malformed_cases, table


def test_every_shipped_set_plans_and_says_why_rows_were_rejected() -> None:
    lines = {x.name: x for x in fixture_sets()}
    planned = {name: x.planned for name, x in lines.items()}
    assert planned == {
        "clean-1.1": 4,
        "clean-1.2": 4,
        "quirky-1.1": 0,  # a rejected session row leaves its schools without a calendar
        "quirky-1.1 (sch-Q, sch-R with their own school file)": 5,
        "semesters-1.1": 3,
        "sixweeks-1.1": 3,
        "trimesters-1.2": 4,
        "delta-1.1 (after clean-1.1)": 2,
        "delta-1.2 (after trimesters-1.2)": 4,
        "simple-csv/students.csv": 0,  # its schools are configured by no file and no feed
        "simple-csv/students.csv (sch-A, sch-B with a school file, unknown staff to the "
        "coordinator)": 3,
    }
    for x in lines.values():  # every rejection says where and why
        assert bool(x.rejected) == bool(re.match(r"\S+\.csv:\d+ \S", x.why))
    assert "| trimesters-1.2 | 4 | 4 | 0 | 0 | 1 | users.csv:14 grade 'PK'" in table(
        list(lines.values())
    )


def test_each_malformed_case_has_its_message() -> None:
    cases = {x.name.split(" (")[0]: x for x in malformed_cases()}
    stray = cases['stray " in a users.csv row']
    assert stray.withdrawn == 0 and "unterminated quote opened on line 11" in stray.why
    header = cases["users.csv header missing a column"]
    assert header.new == header.withdrawn == 0
    assert "a header column is missing, so no row of users.csv was read" in header.why
    assert "grading periods overlap" in cases["overlapping quarters in academicSessions.csv"].why
    assert "ambiguous date '05/09/2026'" in cases["05/09/2026 with no date order"].why
    assert "NUL byte in the cell: the row is refused" in cases["NUL byte in a cell"].why
    huge = cases["1 MB cell"]
    assert huge.planned == 3 and "cell longer than 64 KB" in huge.why
    assert "is a district in orgs.csv, not a school" in cases["a district org used as a school"].why
    first = cases["first-sight deletions, a rejected enrollment"]
    assert (first.skipped, first.new) == (2, 1)
