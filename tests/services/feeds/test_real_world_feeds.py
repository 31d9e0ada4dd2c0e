"""Realistic OneRoster sets (tests/fixtures/oneroster) imported and planned end to end."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from models.db import get_engine, session_scope
from services.planning import unplanned_enrollment_ids
from tests.services.feeds.helpers import import_path, steps_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "oneroster"


def school_calendar(source_id: str) -> dict:
    with get_engine().connect() as conn:
        row = conn.execute(
            sa.text("SELECT calendar FROM school WHERE source_id = :s"), {"s": source_id}
        )
        value = row.scalar()
    import json

    return value if isinstance(value, dict) else json.loads(value)


def test_six_week_periods_2025_26_plan_on_their_own_year(ilp_env) -> None:
    result = import_path(FIXTURES / "sixweeks-1.1", today=date(2025, 9, 1))
    assert (result.new, result.rejected) == (3, 0)
    with session_scope() as session:
        assert unplanned_enrollment_ids(session) == []
    cal = school_calendar("org-s-mchs")
    assert cal["quarters"][0] == ["2025-08-13", "2025-10-31"]  # 1st + 2nd six weeks
    assert "2026-02-16" in cal["holidays"]  # the break between the 4th and 5th six weeks
    ninth = steps_of("usr-s-2001")
    assert ninth["q1_note"].due == date(2025, 10, 31)
    assert ninth["q3_note"].due == date(2026, 4, 2)
    assert ninth["synopsis"].due == date(2026, 5, 22)


def test_overlapping_quarters_reject_the_schools_rows_with_the_session_lines(
    ilp_env, tmp_path
) -> None:
    feed = tmp_path / "overlap"
    shutil.copytree(FIXTURES / "clean-1.1", feed)
    sessions = (feed / "academicSessions.csv").read_text()
    (feed / "academicSessions.csv").write_text(sessions.replace("2026-10-16", "2026-10-23"))
    result = import_path(feed)
    assert result.new == 0
    by_file = {(r.file, r.line): r.reason for r in result.rejections}
    overlap = (
        "academicSessions.csv lines 5, 6: grading periods overlap: 'Quarter 2' (2026-10-19 to "
        "2026-12-18) starts before 'Quarter 1' (2026-08-17 to 2026-10-23) ends"
    )
    assert by_file[("academicSessions.csv", 5)] == overlap
    assert by_file[("academicSessions.csv", 6)] == overlap
    enrollment_reasons = {r for (f, _), r in by_file.items() if f != "academicSessions.csv"}
    assert enrollment_reasons == {
        f"no calendar for school 'sch-A': {overlap}",
        f"no calendar for school 'sch-B': {overlap}",
    }
    with get_engine().connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM school")).scalar() == 0


def test_day_first_dates_only_with_a_date_order(ilp_env, tmp_path) -> None:
    feed = tmp_path / "dmy"
    shutil.copytree(FIXTURES / "clean-1.1", feed)
    enrollments = (feed / "enrollments.csv").read_text()
    (feed / "enrollments.csv").write_text(enrollments.replace("2026-10-20", "05/10/2026"))
    guessed = import_path(feed)
    assert [(r.file, r.column, r.reason[:30]) for r in guessed.rejections] == [
        ("enrollments.csv", "beginDate", "ambiguous date '05/10/2026': m")
    ]
    assert steps_of("s-2")["welcome_note"].due == date(2026, 11, 3)  # the other class: 10-21
    told = import_path(feed, date_order="dmy")
    assert told.rejected == 0
    assert steps_of("s-2")["welcome_note"].due == date(2026, 10, 18)  # starts 5 October


def test_trimesters_12_plan_every_student_the_standard_allows(ilp_env) -> None:
    result = import_path(FIXTURES / "trimesters-1.2", today=date(2026, 9, 1))
    assert (result.new, result.rejected) == (4, 1)  # 5005 is PK
    with session_scope() as session:
        assert unplanned_enrollment_ids(session) == []
    assert school_calendar("org-lvms")["quarters"] == [
        ["2026-08-12", "2026-11-13"],
        ["2026-11-16", "2027-02-26"],
        ["2027-03-01", "2027-04-16"],
        ["2027-04-19", "2027-05-28"],
    ]
    noah = steps_of("usr-stu-5004")  # starts 12-01, in Q2 (trimester 2)
    assert "q1_note" not in noah and noah["q2_note"].required is False
    assert noah["q3_note"].due == date(2027, 4, 16)
    with get_engine().connect() as conn:
        roles = dict(conn.execute(sa.text("SELECT source_id, roles FROM staff")).all())
    assert set(roles) == {
        "usr-tch-101",
        "usr-tch-102",
        "usr-tch-201",
        "usr-cns-202",
        "usr-prn-100",
        "usr-adm-200",
    }
    again = import_path(FIXTURES / "trimesters-1.2", today=date(2026, 9, 1))
    assert (again.new, again.changed, again.unchanged, again.withdrawn) == (0, 0, 4, 0)


def test_semesters_only_with_empty_grades_plan(ilp_env) -> None:
    result = import_path(FIXTURES / "semesters-1.1", today=date(2026, 9, 1))
    assert (result.new, result.rejected) == (3, 1)  # u-s-4: classes name grades 9-10 and 12
    assert school_calendar("s-prhs")["quarters"][1] == ["2026-10-19", "2026-12-18"]
    assert steps_of("u-s-2")["graduation_plan"].due is not None  # grade 12 from Government


def test_delta_12_first_sight_deletions_and_rejected_enrollments(ilp_env) -> None:
    import_path(FIXTURES / "trimesters-1.2", today=date(2026, 9, 1))
    result = import_path(FIXTURES / "delta-1.2", today=date(2026, 11, 20))
    assert (result.new, result.withdrawn, result.skipped, result.rejected) == (1, 1, 2, 2)
    assert steps_of("usr-stu-5004")["synopsis"].status == "cancelled"  # deleted, no roles row
    assert steps_of("usr-stu-5009")["welcome_note"].due == date(2026, 11, 29)
    with get_engine().connect() as conn:
        stored = set(conn.execute(sa.text("SELECT source_id FROM student")).scalars())
    # deleted (5006) or disabled (5007) at first sight, or only a rejected enrollment (5008)
    assert not {"usr-stu-5006", "usr-stu-5007", "usr-stu-5008"} & stored
    assert {(r.file, r.line) for r in result.rejections} == {
        ("enrollments.csv", 5),  # 2026-11-31
        ("enrollments.csv", 7),  # a student the delta does not list
    }


def test_school_default_grade_from_its_school_file(school_files, tmp_path) -> None:
    feed = tmp_path / "nogrades"
    shutil.copytree(FIXTURES / "trimesters-1.2", feed)
    for name in ("classes.csv", "courses.csv"):  # Kindergarten A and its course name no grade
        text = (feed / name).read_text().replace(",KG,", ",,")
        (feed / name).write_text(text)
    without = import_path(feed, today=date(2026, 9, 1))
    reasons = {(r.file, r.line, r.column): r.reason for r in without.rejections}
    assert reasons[("enrollments.csv", 8, "grades")] == (
        "users.csv line 11: grades names no grade (blank, UG or Other) and no class of the "
        "student at 'org-lves' names one"
    )
    assert without.new == 3
    (school_files / "org-lves.toml").write_text('[defaults]\ngrade = "K"\n')
    result = import_path(feed, today=date(2026, 9, 1))
    assert (result.new, result.rejected) == (1, 1)  # 5005 (PK) still rejected
    assert result.notes == {"grade taken from the school's default": 1}
    with get_engine().connect() as conn:
        grade = conn.execute(sa.text("SELECT grade FROM student WHERE source_id='usr-stu-5002'"))
        assert grade.scalar() == 0


def test_a_schools_date_order_reads_its_slash_dates_and_the_command_line_wins(
    school_files, tmp_path
) -> None:
    (school_files / "sch-A.toml").write_text('timezone = "America/Chicago"\ndate_order = "dmy"\n')
    feed = tmp_path / "dmy-school"
    shutil.copytree(FIXTURES / "clean-1.1", feed)
    enrollments = (feed / "enrollments.csv").read_text()
    (feed / "enrollments.csv").write_text(enrollments.replace("2026-10-20", "05/10/2026"))
    by_school = import_path(feed)
    assert by_school.rejected == 0
    assert steps_of("s-2")["welcome_note"].due == date(2026, 10, 18)  # 5 October, sch-A's way
    told = import_path(feed, date_order="mdy")  # --date-order wins: 10 May, before the year
    assert told.rejected == 0
    assert steps_of("s-2")["welcome_note"].due == date(2026, 8, 30)  # from the first day


def test_a_date_order_other_than_mdy_or_dmy_is_a_config_error(tmp_path) -> None:
    import pytest

    from config.schools import SchoolConfigError, load_school_configs

    (tmp_path / "sch-A.toml").write_text('[intake]\ndate_order = "ymd"\n')
    with pytest.raises(SchoolConfigError, match="date_order must be one of"):
        load_school_configs(tmp_path)
    (tmp_path / "sch-A.toml").write_text('[intake]\ndate_order = "mdy"\n')
    assert load_school_configs(tmp_path).date_orders() == {"sch-A": "mdy"}


def test_roles_per_school_from_a_12_roles_file(ilp_env, tmp_path) -> None:
    """usr-adm-200 is siteAdministrator at the middle school and teaches at the elementary one:
    stored per school, and the access rule reads them so."""
    from sqlmodel import select

    from models.db import session_scope
    from models.tables import School, Staff
    from services.actions import staff_member

    feed = tmp_path / "roles"
    shutil.copytree(FIXTURES / "trimesters-1.2", feed)
    roles = (feed / "roles.csv").read_text()
    roles = roles.replace(
        "usr-adm-200,secondary,teacher,2026-08-12,,org-lvms,",
        "usr-adm-200,secondary,teacher,2026-08-12,,org-lves,",
    )
    (feed / "roles.csv").write_text(roles)
    result = import_path(feed, today=date(2026, 9, 1))
    assert result.new == 4
    with session_scope() as session:
        ids = {s.source_id: s.id for s in session.exec(select(School))}
        staff = session.exec(select(Staff).where(Staff.source_id == "usr-adm-200")).one()
        assert sorted(staff.roles) == ["principal", "teacher"]  # the union, as before
        assert staff.school_roles == {
            str(ids["org-lvms"]): ["principal"],
            str(ids["org-lves"]): ["teacher"],
        }
        member = staff_member(staff)
        assert member.holds_at("principal", ids["org-lvms"])
        assert not member.holds_at("principal", ids["org-lves"])
        assert member.holds_at("teacher", ids["org-lves"])
    again = import_path(feed, today=date(2026, 9, 1))
    assert "staff.school_roles" not in again.fields
