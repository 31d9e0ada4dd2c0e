"""Realistic OneRoster sets in the shapes public samples have: what each parse yields."""

from __future__ import annotations

from datetime import date

from intake.oneroster import parse_oneroster
from intake.records import ContactRecord
from lifecycle.types import Role

from .conftest import ONEROSTER


def test_trimesters_12_roles_profiles_departments_and_empty_grades() -> None:
    feed = parse_oneroster(ONEROSTER / "trimesters-1.2")
    assert feed.kind == "oneroster-1.2" and feed.broken_files == {}
    assert [(r.file, r.line, r.column, r.reason) for r in feed.rejections] == [
        ("users.csv", 14, "grades", "grade 'PK' (prekindergarten) is outside the K-12 ILP")
    ]
    grades = {e.student_source_id: e.grade for e in feed.enrollments}
    assert grades == {"usr-stu-5001": 2, "usr-stu-5002": 0, "usr-stu-5003": 6, "usr-stu-5004": 7}
    assert feed.notes["grade taken from the student's classes"] == 2  # 5002 (KG), 5003 (UG)
    # a class at a department belongs to the department's school
    hana = next(e for e in feed.enrollments if e.student_source_id == "usr-stu-5003")
    assert hana.school_source_id == "org-lvms" and hana.teacher_ids == ("usr-tch-201",)
    roles = {s.source_id: s.roles for s in feed.staff}
    assert roles == {
        "usr-tch-101": (Role.TEACHER,),
        "usr-tch-102": (Role.TEACHER,),
        "usr-tch-201": (Role.TEACHER,),
        "usr-cns-202": (Role.COUNSELOR,),
        "usr-prn-100": (Role.PRINCIPAL,),
        "usr-adm-200": (Role.PRINCIPAL, Role.TEACHER),  # siteAdministrator, and teaches
    }  # districtAdministrator and aide carry no ILP role
    assert feed.contacts == [
        ContactRecord(
            "usr-par-7001",
            ("usr-stu-5001",),
            "Grace",
            "Johnson",
            "grace.j@home.example",
            "555-0142",
            "parent",
        ),
        ContactRecord(
            "usr-gdn-7002",
            ("usr-stu-5003",),  # linked from the student's agentSourcedIds
            "Kenji",
            "Sato",
            "kenji.s@home.example",
            "555-0177",
            "guardian",
        ),
    ]


def test_semesters_only_11_every_grade_empty() -> None:
    feed = parse_oneroster(ONEROSTER / "semesters-1.1")
    assert [(r.line, r.column, r.reason) for r in feed.rejections] == [
        (
            9,
            "grades",
            "grades names no grade and the student's classes at 's-prhs' name different grades "
            "(9, 10; 12)",
        )
    ]
    grades = {e.student_source_id: e.grade for e in feed.enrollments}
    assert grades == {"u-s-1": 10, "u-s-2": 12, "u-s-3": 10}  # from course grades
    assert feed.notes["grade taken from the student's classes"] == 3
    assert {s.source_id: s.roles for s in feed.staff}["u-a-1"] == (Role.PRINCIPAL,)
    assert [(c.source_id, c.student_ids, c.relationship) for c in feed.contacts] == [
        ("u-r-1", ("u-s-1",), "relative")
    ]


def test_six_weeks_11_parent_is_a_contact() -> None:
    feed = parse_oneroster(ONEROSTER / "sixweeks-1.1")
    assert feed.rejections == []
    assert [e.start for e in feed.enrollments] == [
        date(2025, 8, 13),
        date(2025, 9, 29),
        date(2025, 8, 13),
    ]
    assert [(c.source_id, c.student_ids) for c in feed.contacts] == [
        ("usr-g-3001", ("usr-s-2001",))
    ]


def test_unknown_role_is_rejected(tmp_path) -> None:
    import shutil

    feed_dir = tmp_path / "feed"
    shutil.copytree(ONEROSTER / "trimesters-1.2", feed_dir)
    roles = (feed_dir / "roles.csv").read_text().replace(",aide,", ",janitor,")
    (feed_dir / "roles.csv").write_text(roles)
    feed = parse_oneroster(feed_dir)
    assert ("roles.csv", 10, "role") in {(r.file, r.line, r.column) for r in feed.rejections}
    reason = next(r.reason for r in feed.rejections if r.file == "roles.csv")
    assert reason.startswith("unknown role 'janitor'")


def test_org_that_is_not_a_school(tmp_path) -> None:
    import shutil

    feed_dir = tmp_path / "feed"
    shutil.copytree(ONEROSTER / "trimesters-1.2", feed_dir)
    classes = (feed_dir / "classes.csv").read_text()
    (feed_dir / "classes.csv").write_text(
        classes.replace(",org-lves,sy-2627", ",org-lvusd,sy-2627")
    )
    feed = parse_oneroster(feed_dir)
    reasons = {r.reason for r in feed.rejections if r.file == "classes.csv"}
    assert reasons == {"org 'org-lvusd' is a district in orgs.csv, not a school"}


def test_grade_left_to_the_school_only_when_no_class_names_one() -> None:
    feed = parse_oneroster(ONEROSTER / "quirky-1.1")
    ug = next(e for e in feed.enrollments if e.student_source_id == "s-ug")
    assert ug.grade_unknown.startswith("users.csv line 11: grades names no grade (blank, UG")
    assert not any(r.line == 11 and r.file == "users.csv" for r in feed.rejections)
    # classes that disagree are rejected here: a school default would paper over them
    sem = parse_oneroster(ONEROSTER / "semesters-1.1")
    assert "u-s-4" not in {e.student_source_id for e in sem.enrollments}
    assert all(not e.grade_unknown for e in sem.enrollments)
