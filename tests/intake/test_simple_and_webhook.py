from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from intake.records import UNSET, FeedError
from intake.safety import csv_safe
from intake.simple_csv import parse_simple_csv
from intake.webhook import parse_enrollment_items
from lifecycle.types import EnglishLearner, Role

from .conftest import FIXTURES

STUDENTS = FIXTURES / "oneroster" / "simple-csv" / "students.csv"


def test_simple_csv() -> None:
    feed = parse_simple_csv(STUDENTS)
    assert feed.kind == "simple-csv" and feed.bulk
    ids = [e.source_id for e in feed.enrollments]
    assert ids == ["s-1@sch-A", "s-2@sch-A", "s-5@sch-B"]
    s1, s2, s5 = feed.enrollments
    assert (s1.grade, s1.start, s1.returning, s1.english_learner) == (
        0,
        date(2026, 8, 17),
        True,
        None,
    )
    assert s1.teacher_email == "t1@school.example" and s1.counselor_id == "c-1"
    assert s2.start == date(2026, 10, 20) and s2.teacher_ids == ("t-1", "t-2")
    assert s2.english_learner is EnglishLearner.ESL and s2.esl_teacher_id == "esl-1"
    assert s5.start is None and s5.withdrawn and s5.end == date(2026, 12, 1)
    assert s5.given_name == '=HYPERLINK("x")'  # stored verbatim
    assert s5.english_learner == UNSET and s5.returning is None
    assert feed.students_seen == {"s-1", "s-2", "s-3", "s-4", "s-5", "s-6"}
    got = [(r.file, r.line, r.column) for r in feed.rejections]
    assert got == [
        ("students.csv", 4, "grade"),
        ("students.csv", 5, "family_name"),
        ("students.csv", 5, "start_date"),
        ("students.csv", 5, "returning"),
        ("students.csv", 5, "english_learner"),
        ("students.csv", 5, "teacher_email"),
        ("students.csv", 6, "student_id"),
        ("students.csv", 8, "withdrawn_date"),
    ]
    assert "duplicate student 's-1'" in feed.rejections[6].reason
    staff = {s.source_id: s for s in feed.staff}
    assert staff["t-1"].email == "t1@school.example" and staff["t-1"].roles == (Role.TEACHER,)
    assert staff["c-1"].roles == (Role.COUNSELOR,)
    assert staff["esl-1"].roles == (Role.ESL_TEACHER,)
    assert [s.source_id for s in feed.schools] == ["sch-A", "sch-B"]


def test_simple_csv_known_schools() -> None:
    feed = parse_simple_csv(STUDENTS, known_schools={"sch-A"})
    assert [e.student_source_id for e in feed.enrollments] == ["s-1", "s-2"]
    assert ("students.csv", 7, "school_id") in {(r.file, r.line, r.column) for r in feed.rejections}


def test_simple_csv_not_a_feed(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(FeedError, match="empty"):
        parse_simple_csv(empty)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(FeedError, match="binary"):
        parse_simple_csv(binary)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("name,age\nJo,7\n")
    with pytest.raises(FeedError, match="wrong headers: no student_id, school_id"):
        parse_simple_csv(wrong)


def test_webhook_items() -> None:
    payload = [
        {
            "student_id": "s-1",
            "school_id": "sch-A",
            "given_name": "Jo",
            "family_name": "Lopez",
            "grade": 3,
            "start_date": "2026-09-01",
            "returning": True,
            "english_learner": "waived",
            "teacher_id": ["t-1", "t-2"],
            "extra_field": "ignored",
        },
        {
            "student_id": "s-2",
            "school_id": "sch-A",
            "given_name": "Kit",
            "family_name": "M",
            "grade": "PK",
        },
        "not an object",
        {
            "student_id": "s-3",
            "school_id": "sch-A",
            "given_name": "Lu",
            "family_name": "T",
            "grade": "KG",
            "start_date": {"bad": 1},
        },
        {
            "student_id": "s-1",
            "school_id": "sch-A",
            "given_name": "Jo",
            "family_name": "Lopez",
            "grade": "3",
        },
        {
            "student_id": "s-4",
            "school_id": "sch-B",
            "given_name": "Mo",
            "family_name": "W",
            "grade": "12",
            "returning": None,
            "english_learner": None,
        },
    ]
    records, rejections = parse_enrollment_items(payload)
    assert [r.source_id for r in records] == ["s-1@sch-A", "s-4@sch-B"]
    r1 = records[0]
    assert r1.grade == 3 and r1.returning is True and r1.teacher_ids == ("t-1", "t-2")
    assert r1.english_learner is EnglishLearner.WAIVED and r1.source_file == "request"
    assert records[1].english_learner == UNSET and records[1].returning is None
    assert [(r.file, r.line, r.column) for r in rejections] == [
        ("request", 2, "grade"),
        ("request", 3, ""),
        ("request", 4, "start_date"),
        ("request", 5, "student_id"),
    ]


def test_webhook_single_object_and_bad_payload() -> None:
    records, rejections = parse_enrollment_items(
        {"student_id": "s", "school_id": "x", "given_name": "A", "family_name": "B", "grade": "K"}
    )
    assert len(records) == 1 and rejections == []
    _, rej = parse_enrollment_items({"student_id": "s"})
    assert {r.column for r in rej} == {"school_id", "given_name", "family_name", "grade"}
    with pytest.raises(FeedError):
        parse_enrollment_items("nope")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=SUM(A1)", "'=SUM(A1)"),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Jo", "Jo"),
        ("", ""),
        ("a=b", "a=b"),
    ],
)
def test_csv_safe(value: str, expected: str) -> None:
    assert csv_safe(value) == expected
