"""Deterministic sample OneRoster 1.1 district (a .zip) for demos, tests and benchmarks.

`write_sample_district(path, students=N, schools=S, seed=...)` streams every CSV straight into the
zip (csv.writer over zipfile), so memory stays flat even for 100,000 students. Students are
generated twice from the same seed (once for users.csv, once for enrollments.csv) instead of
being kept in memory.
"""

from __future__ import annotations

import csv
import io
import random
import zipfile
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

YEAR_START = date(2026, 8, 17)
YEAR_END = date(2027, 5, 28)
SCHOOL_YEAR = 2027
QUARTERS = (
    (date(2026, 8, 17), date(2026, 10, 16)),
    (date(2026, 10, 19), date(2026, 12, 18)),
    (date(2027, 1, 5), date(2027, 3, 12)),
    (date(2027, 3, 15), date(2027, 5, 28)),
)
STUDENTS_PER_TEACHER = 25
DISTRICT_ID = "org-district"

GIVEN = (
    "Ava Liam Noah Emma Olivia Mateo Sofia Lucas Mia Elijah Amara Kai Zoe Ethan Aria Leo Nia Omar "
    "Priya Yuki Diego Hana Ivan Lina Musa Rosa Tariq Wei Ximena Yara"
).split()
FAMILY = (
    "Smith Garcia Nguyen Johnson Patel Kim Lopez Brown Okafor Silva Chen Haddad Ivanova Martin "
    "Rossi Tanaka Hughes Diaz Mensah Novak Reyes Singh Walker Young Zhang Ali Baker Costa Evans Fox"
).split()

USER_HEADER = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,"
    "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
    "metadata.ilp.startDate,metadata.ilp.returning,metadata.ilp.englishLearner,"
    "metadata.ilp.counselorSourcedId,metadata.ilp.eslTeacherSourcedId,metadata.ilp.staffRole"
).split(",")
GRADE_CODES = ("KG",) + tuple(f"{g:02d}" for g in range(1, 13))
BANDS = ((0, 5), (6, 8), (9, 12))  # elementary, middle, high


def _school_id(s: int) -> str:
    return f"sch-{s + 1:04d}"


def _band(grade: int) -> int:
    return 0 if grade <= 5 else 1 if grade <= 8 else 2


def _school_days() -> list[date]:
    days = []
    d = YEAR_START
    while d <= YEAR_END - timedelta(days=14):
        if d.weekday() < 5 and any(a <= d <= b for a, b in QUARTERS):
            days.append(d)
        d += timedelta(days=1)
    return days


class _Plan:
    """Sizes derived from (students, schools): students per school and teachers per school."""

    def __init__(self, students: int, schools: int) -> None:
        self.students = students
        self.schools = schools
        self.per_school = [
            students // schools + (1 if s < students % schools else 0) for s in range(schools)
        ]
        self.teachers = [max(3, -(-n // STUDENTS_PER_TEACHER)) for n in self.per_school]


# (id, school index, grade, given, family, start, returning, el, class ids)
_Student = tuple[str, int, int, str, str, date, bool, str, tuple[str, ...]]


def _students(plan: _Plan, seed: int) -> Iterator[_Student]:
    rng = random.Random(seed)
    days = _school_days()
    for i in range(plan.students):
        s = i % plan.schools
        grade = rng.randrange(13)
        band = _band(grade)
        nt = plan.teachers[s]
        band_teachers = range(band, nt, 3)
        k1 = rng.choice(band_teachers)
        classes = [f"cls-{s + 1:04d}-{k1 + 1:03d}-a"]
        if rng.random() < 0.4:
            k2 = rng.choice(band_teachers)
            classes.append(f"cls-{s + 1:04d}-{k2 + 1:03d}-b")
        start = YEAR_START if rng.random() < 0.7 else rng.choice(days)
        returning = rng.random() < 0.6
        r = rng.random()
        el = "esl" if r < 0.05 else "monitored" if r < 0.08 else "waived" if r < 0.10 else "none"
        yield (
            f"stu-{i + 1:06d}",
            s,
            grade,
            rng.choice(GIVEN),
            rng.choice(FAMILY),
            start,
            returning,
            el,
            tuple(classes),
        )


def _writer(zf: zipfile.ZipFile, name: str) -> tuple[io.TextIOWrapper, Any]:
    fh = io.TextIOWrapper(zf.open(name, "w"), encoding="utf-8", newline="")
    return fh, csv.writer(fh, lineterminator="\r\n")


def write_sample_district(
    path: str | Path, students: int = 1000, schools: int = 3, seed: int = 2026
) -> Path:
    """Write a OneRoster 1.1 bulk feed zip with `students` students over `schools` schools."""
    if students < 0 or schools < 1:
        raise ValueError("need students >= 0 and schools >= 1")
    plan = _Plan(students, schools)
    path = Path(path)
    rng = random.Random(seed ^ 0x5EED)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        _write_manifest(zf)
        _write_orgs(zf, plan)
        _write_sessions(zf)
        _write_courses_classes(zf, plan)
        _write_users(zf, plan, seed, rng)
        _write_enrollments(zf, plan, seed)
    return path


def _write_manifest(zf: zipfile.ZipFile) -> None:
    fh, w = _writer(zf, "manifest.csv")
    w.writerow(["propertyName", "value"])
    w.writerow(["manifest.version", "1.0"])
    w.writerow(["oneroster.version", "1.1"])
    w.writerow(["source.systemName", "ilp-engine sample generator"])
    for name in ("academicSessions", "classes", "courses", "enrollments", "orgs", "users"):
        w.writerow([f"file.{name}", "bulk"])
    for name in (
        "categories",
        "classResources",
        "courseResources",
        "demographics",
        "lineItems",
        "resources",
        "results",
    ):
        w.writerow([f"file.{name}", "absent"])
    fh.close()


def _write_orgs(zf: zipfile.ZipFile, plan: _Plan) -> None:
    fh, w = _writer(zf, "orgs.csv")
    w.writerow("sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId".split(","))
    w.writerow([DISTRICT_ID, "", "", "Sample Unified District", "district", "D001", ""])
    for s in range(plan.schools):
        w.writerow(
            [
                _school_id(s),
                "",
                "",
                f"Sample School {s + 1}",
                "school",
                f"S{s + 1:04d}",
                DISTRICT_ID,
            ]
        )
    fh.close()


def _write_sessions(zf: zipfile.ZipFile) -> None:
    fh, w = _writer(zf, "academicSessions.csv")
    w.writerow(
        "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear".split(
            ","
        )
    )
    y = str(SCHOOL_YEAR)
    w.writerow(["ay-2027", "", "", "2026-2027", "schoolYear", YEAR_START, YEAR_END, "", y])
    w.writerow(
        ["sem-1", "", "", "Semester 1", "semester", QUARTERS[0][0], QUARTERS[1][1], "ay-2027", y]
    )
    w.writerow(
        ["sem-2", "", "", "Semester 2", "semester", QUARTERS[2][0], QUARTERS[3][1], "ay-2027", y]
    )
    for q, (a, b) in enumerate(QUARTERS, 1):
        w.writerow(
            [
                f"gp-q{q}",
                "",
                "",
                f"Quarter {q}",
                "gradingPeriod",
                a,
                b,
                "sem-1" if q <= 2 else "sem-2",
                y,
            ]
        )
    fh.close()


def _band_grades(band: int) -> str:
    lo, hi = BANDS[band]
    return ",".join(GRADE_CODES[lo : hi + 1])


def _write_courses_classes(zf: zipfile.ZipFile, plan: _Plan) -> None:
    fh, w = _writer(zf, "courses.csv")
    w.writerow(
        "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,"
        "orgSourcedId,subjects,subjectCodes".split(",")
    )
    for s in range(plan.schools):
        for band, title in enumerate(("Elementary Core", "Middle Core", "High School Core")):
            w.writerow(
                [
                    f"crs-{s + 1:04d}-{band}",
                    "",
                    "",
                    "ay-2027",
                    title,
                    f"C{band}",
                    _band_grades(band),
                    _school_id(s),
                    "",
                    "",
                ]
            )
    fh.close()
    fh, w = _writer(zf, "classes.csv")
    w.writerow(
        "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,classType,"
        "location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods".split(",")
    )
    for s in range(plan.schools):
        for k in range(plan.teachers[s]):
            band = k % 3
            for suffix, kind in (("a", "homeroom"), ("b", "scheduled")):
                cid = f"cls-{s + 1:04d}-{k + 1:03d}-{suffix}"
                w.writerow(
                    [
                        cid,
                        "",
                        "",
                        f"Class {k + 1}{suffix.upper()}",
                        _band_grades(band),
                        f"crs-{s + 1:04d}-{band}",
                        cid,
                        kind,
                        "",
                        _school_id(s),
                        "ay-2027",
                        "",
                        "",
                        "1",
                    ]
                )
    fh.close()


def _staff_row(
    sid: str, org: str, role: str, given: str, family: str, staff_role: str
) -> list[str]:
    row = [
        sid,
        "",
        "",
        "true",
        org,
        role,
        sid,
        "",
        given,
        family,
        "",
        sid,
        f"{sid}@district.example.org",
        "",
        "",
        "",
        "",
        "",
    ]
    return row + ["", "", "", "", "", staff_role]


def _write_users(zf: zipfile.ZipFile, plan: _Plan, seed: int, rng: random.Random) -> None:
    fh, w = _writer(zf, "users.csv")
    w.writerow(USER_HEADER)
    w.writerow(
        _staff_row(
            "rvp-0001",
            DISTRICT_ID,
            "administrator",
            rng.choice(GIVEN),
            rng.choice(FAMILY),
            "regional_vp",
        )
    )
    for s in range(plan.schools):
        org, n = _school_id(s), f"{s + 1:04d}"
        for k in range(plan.teachers[s]):
            w.writerow(
                _staff_row(
                    f"tch-{n}-{k + 1:03d}",
                    org,
                    "teacher",
                    rng.choice(GIVEN),
                    rng.choice(FAMILY),
                    "",
                )
            )
        for prefix, role, staff_role in (
            ("cou", "teacher", "counselor"),
            ("esl", "teacher", "esl_teacher"),
            ("ilc", "administrator", "ilp_coordinator"),
            ("prn", "administrator", ""),
        ):
            w.writerow(
                _staff_row(
                    f"{prefix}-{n}", org, role, rng.choice(GIVEN), rng.choice(FAMILY), staff_role
                )
            )
    writerow = w.writerow
    for sid, s, grade, given, family, start, returning, el, _classes in _students(plan, seed):
        n = f"{s + 1:04d}"
        writerow(
            (
                sid,
                "",
                "",
                "true",
                _school_id(s),
                "student",
                sid,
                "",
                given,
                family,
                "",
                sid,
                "",
                "",
                "",
                "",
                GRADE_CODES[grade],
                "",
                start.isoformat(),
                "true" if returning else "false",
                el,
                f"cou-{n}",
                f"esl-{n}" if el != "none" else "",
                "",
            )
        )
    fh.close()


def _write_enrollments(zf: zipfile.ZipFile, plan: _Plan, seed: int) -> None:
    fh, w = _writer(zf, "enrollments.csv")
    w.writerow(
        "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,userSourcedId,"
        "role,primary,beginDate,endDate".split(",")
    )
    begin = YEAR_START.isoformat()
    for s in range(plan.schools):
        n = f"{s + 1:04d}"
        for k in range(plan.teachers[s]):
            for suffix in "ab":
                cid = f"cls-{n}-{k + 1:03d}-{suffix}"
                w.writerow(
                    [
                        f"enr-{cid}-t",
                        "",
                        "",
                        cid,
                        _school_id(s),
                        f"tch-{n}-{k + 1:03d}",
                        "teacher",
                        "true",
                        begin,
                        "",
                    ]
                )
    writerow = w.writerow
    for sid, s, _g, _gn, _fn, start, _r, _el, classes in _students(plan, seed):
        school = _school_id(s)
        d = start.isoformat()
        for j, cid in enumerate(classes):
            writerow(
                (
                    f"enr-{sid}-{j + 1}",
                    "",
                    "",
                    cid,
                    school,
                    sid,
                    "student",
                    "true" if j == 0 else "false",
                    d,
                    "",
                )
            )
    fh.close()
