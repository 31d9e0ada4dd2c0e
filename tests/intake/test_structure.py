"""Structure before values: a row that does not fit its header is refused whole, with its line,
and never lends its cells to other fields."""

from __future__ import annotations

import shutil
from pathlib import Path

from intake.oneroster import parse_oneroster
from intake.records import ParsedFeed

from .conftest import ONEROSTER


def copy_clean(tmp_path: Path, version: str = "clean-1.1") -> Path:
    dest = tmp_path / "feed"
    shutil.copytree(ONEROSTER / version, dest)
    return dest


def edit_lines(path: Path, edit) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")


def reasons(feed: ParsedFeed, file: str) -> dict[int, str]:
    return {r.line: r.reason for r in feed.rejections if r.file == file}


def test_stray_quote_rejects_its_row_only(tmp_path: Path) -> None:
    feed_dir = copy_clean(tmp_path)

    def stray(lines: list[str]) -> list[str]:
        lines[11] = lines[11].replace(",Kit,", ',"Kit,')  # line 12: s-2
        return lines

    edit_lines(feed_dir / "users.csv", stray)
    feed = parse_oneroster(feed_dir)
    assert reasons(feed, "users.csv") == {12: "unterminated quote opened on line 12"}
    assert feed.broken_files == {"users.csv": 12}
    assert feed.absence_withdraws is False
    # the rows the quote swallowed are read again as rows of their own
    assert {e.student_source_id for e in feed.enrollments} == {"s-1", "s-3", "s-4"}
    # s-2's enrollments say why they are not applied, without a false "not in users.csv"
    enr = reasons(feed, "enrollments.csv")
    assert enr and all("could be read (see line 12)" in r for r in enr.values())


def test_stray_quote_before_a_quoted_cell(tmp_path: Path) -> None:
    """The quote pairs with the next legitimate quote (esl-1's "sch-A,sch-B"): rows between
    are still read once, and esl-1 keeps both schools."""
    feed_dir = copy_clean(tmp_path)

    def stray(lines: list[str]) -> list[str]:
        lines[4] = lines[4].replace(",Dee,", ',"Dee,')  # line 5: t-B2
        return lines

    edit_lines(feed_dir / "users.csv", stray)
    feed = parse_oneroster(feed_dir)
    assert reasons(feed, "users.csv") == {5: "unterminated quote opened on line 5"}
    staff = {s.source_id: s for s in feed.staff}
    assert "t-B2" not in staff
    assert staff["esl-1"].school_ids == ("sch-A", "sch-B")
    assert staff["c-B"].family_name == "Haddad"
    assert len(feed.enrollments) == 4


def test_header_missing_a_column_shifts_nothing(tmp_path: Path) -> None:
    feed_dir = copy_clean(tmp_path)

    def drop_middle_name(lines: list[str]) -> list[str]:
        lines[0] = lines[0].replace(",middleName", "")
        return lines

    edit_lines(feed_dir / "users.csv", drop_middle_name)
    feed = parse_oneroster(feed_dir)
    got = reasons(feed, "users.csv")
    assert got[1] == (
        "the header has 23 columns but every row has 24 cells: a header column is missing, "
        "so no row of users.csv was read"
    )
    assert got[2] == "row has 24 cells but the header has 23 columns"
    assert len(got) == 15  # the header and each of the 14 rows
    assert feed.staff == [] and feed.enrollments == []  # nobody stored with shifted names
    assert feed.absence_withdraws is False


def test_wrong_cell_count_rejects_that_row(tmp_path: Path) -> None:
    feed_dir = copy_clean(tmp_path)

    def extra(lines: list[str]) -> list[str]:
        lines[2] = lines[2] + ",surplus"  # line 3: t-A2
        lines[12] = ",".join(lines[12].split(",")[:10])  # line 13: s-3, cut short
        return lines

    edit_lines(feed_dir / "users.csv", extra)
    feed = parse_oneroster(feed_dir)
    assert reasons(feed, "users.csv") == {
        3: "row has 25 cells but the header has 24 columns",
        13: "row has 10 cells but the header has 24 columns",
    }
    assert "t-A2" not in {s.source_id for s in feed.staff}
    assert {e.student_source_id for e in feed.enrollments} == {"s-1", "s-2", "s-4"}


def test_duplicate_header_column(tmp_path: Path) -> None:
    feed_dir = copy_clean(tmp_path)

    def dup(lines: list[str]) -> list[str]:
        lines[0] += ",familyName"
        for i in range(1, len(lines)):
            family = lines[i].split(",")[9 if i != 6 else 10]
            lines[i] += "," + (family if i != 12 else "Other")  # line 13 disagrees
        return lines

    edit_lines(feed_dir / "users.csv", dup)
    feed = parse_oneroster(feed_dir)
    got = reasons(feed, "users.csv")
    assert got[1].startswith("duplicate header column 'familyName' (columns 10 and 25)")
    assert got[13] == "the two 'familyName' columns disagree: 'Tanaka' and 'Other'"
    assert len(got) == 2
    assert {e.student_source_id for e in feed.enrollments} == {"s-1", "s-2", "s-4"}
    assert feed.broken_files == {"users.csv": 1}


def test_nul_byte_and_huge_cell_reject_their_rows(tmp_path: Path) -> None:
    feed_dir = copy_clean(tmp_path)

    def bad(lines: list[str]) -> list[str]:
        lines[10] = lines[10].replace(",Jo,", ",J\x00o,")  # line 11: s-1
        lines[11] = lines[11].replace(",Kit,", "," + "k" * (1024 * 1024) + ",")  # line 12: s-2
        return lines

    edit_lines(feed_dir / "users.csv", bad)
    feed = parse_oneroster(feed_dir)
    got = {r.line: (r.column, r.reason) for r in feed.rejections if r.file == "users.csv"}
    assert got == {
        11: ("givenName", "NUL byte in the cell: the row is refused"),
        12: ("givenName", "cell longer than 64 KB (1048576 characters)"),
    }
    assert {e.student_source_id for e in feed.enrollments} == {"s-3", "s-4"}
    # their sourcedIds were not read: absence from this file proves nothing
    assert feed.broken_files == {"users.csv": 11} and feed.absence_withdraws is False


def test_legit_multiline_cell_is_kept() -> None:
    feed = parse_oneroster(ONEROSTER / "quirky-1.1")
    assert feed.broken_files == {}
    assert any(e.given_name == "Mary\r\nAnn" for e in feed.enrollments)


def test_quote_left_open_on_the_last_line(tmp_path: Path) -> None:
    feed_dir = copy_clean(tmp_path)

    def last(lines: list[str]) -> list[str]:
        lines[-1] = lines[-1].replace(",Ned,", ',"Ned,')  # line 15: g-1, to end of file
        return lines

    edit_lines(feed_dir / "users.csv", last)
    feed = parse_oneroster(feed_dir)
    assert reasons(feed, "users.csv") == {15: "unterminated quote opened on line 15"}
    assert len(feed.enrollments) == 4


def test_stray_quote_in_a_crlf_file(tmp_path: Path) -> None:
    feed_dir = copy_clean(tmp_path)
    text = (feed_dir / "users.csv").read_text().replace(",Lu,", ',"Lu,')  # line 13: s-3
    (feed_dir / "users.csv").write_bytes(text.replace("\n", "\r\n").encode())
    feed = parse_oneroster(feed_dir)
    assert reasons(feed, "users.csv") == {13: "unterminated quote opened on line 13"}
    assert {e.student_source_id for e in feed.enrollments} == {"s-1", "s-2", "s-4"}
    assert all(e.family_name and "\n" not in e.family_name for e in feed.enrollments)


def test_open_quote_in_the_header_is_not_a_feed(tmp_path: Path) -> None:
    import pytest

    from intake.records import FeedError

    feed_dir = copy_clean(tmp_path)
    edit_lines(feed_dir / "users.csv", lambda lines: ['"' + lines[0], *lines[1:]])
    with pytest.raises(FeedError, match="unterminated quote opened on line 1"):
        parse_oneroster(feed_dir)


def test_simple_csv_rows_that_do_not_fit(tmp_path: Path) -> None:
    from intake.simple_csv import parse_simple_csv

    path = tmp_path / "students.csv"
    path.write_text(
        "student_id,school_id,given_name,family_name,grade\n"
        "s-1,sch-A,Jo,Lopez,3\n"
        's-2,sch-A,"Kit,Mensah,4\n'
        "s-3,sch-A,Lu,Tanaka,5,extra\n"
        "s-4,sch-A,Mo,Walker,6\n"
    )
    feed = parse_simple_csv(path)
    assert {(r.line, r.reason) for r in feed.rejections} == {
        (3, "unterminated quote opened on line 3"),
        (4, "row has 6 cells but the header has 5 columns"),
    }
    assert [e.student_source_id for e in feed.enrollments] == ["s-1", "s-4"]
    assert feed.broken_files == {"students.csv": 3} and not feed.absence_withdraws


def test_user_whose_roles_row_was_refused(tmp_path: Path) -> None:
    feed_dir = copy_clean(tmp_path, "clean-1.2")

    def stray(lines: list[str]) -> list[str]:
        lines[13] = lines[13] + ",surplus"  # line 14: s-3's student role
        return lines

    edit_lines(feed_dir / "roles.csv", stray)
    feed = parse_oneroster(feed_dir)
    assert reasons(feed, "roles.csv") == {14: "row has 11 cells but the header has 10 columns"}
    assert reasons(feed, "users.csv")[13] == (
        "no role: not among the rows of roles.csv that could be read (see line 14)"
    )
    assert feed.absence_withdraws is False
