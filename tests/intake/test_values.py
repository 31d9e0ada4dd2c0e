"""Single-cell values: dates without guessing."""

from __future__ import annotations

from datetime import date

import pytest

from ilp.cli import _extra_commands, build_parser
from intake.values import parse_date


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2026-05-09", None, date(2026, 5, 9)),
        ("2023-05-01T18:25:43.511Z", None, date(2023, 5, 1)),
        ("2026-05-09 08:00:00", "dmy", date(2026, 5, 9)),
        ("05/09/2026", "mdy", date(2026, 5, 9)),
        ("05/09/2026", "dmy", date(2026, 9, 5)),
        ("8/17/2026", None, date(2026, 8, 17)),  # only one reading
        ("17/8/2026", None, date(2026, 8, 17)),
        ("5/5/2026", None, date(2026, 5, 5)),
        ("2026/05/09", None, date(2026, 5, 9)),
    ],
)
def test_dates_read(text: str, order: str | None, expected: date) -> None:
    assert parse_date(text, order) == expected


@pytest.mark.parametrize(
    ("text", "order", "message"),
    [
        ("05/09/2026", None, "ambiguous date '05/09/2026': month/day or day/month?"),
        ("8/17/2026", "dmy", "bad date '8/17/2026'"),
        ("1/5/26", "mdy", "bad date '1/5/26': the year must have four digits"),
        ("2026-02-30", None, "bad date '2026-02-30'"),
        ("09.05.2026", "dmy", "bad date '09.05.2026'"),
    ],
)
def test_dates_refused(text: str, order: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("?", r"\?").replace("(", r"\(")):
        parse_date(text, order)


def test_ilp_import_takes_a_date_order() -> None:
    parser = build_parser(_extra_commands())
    assert parser.parse_args(["import", "feed.zip", "--date-order", "dmy"]).date_order == "dmy"
    assert parser.parse_args(["import", "feed.zip"]).date_order is None
    with pytest.raises(SystemExit):
        parser.parse_args(["import", "feed.zip", "--date-order", "ymd"])
