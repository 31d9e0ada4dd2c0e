from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

import pytest

from intake.oneroster import parse_oneroster
from intake.records import UNSET, FeedError, ParsedFeed, Rejection
from lifecycle.types import EnglishLearner, Role

from .conftest import ONEROSTER, zip_folder


def by_id(feed: ParsedFeed) -> dict:
    return {e.source_id: e for e in feed.enrollments}


def check_clean(feed: ParsedFeed) -> None:
    assert feed.rejections == []
    assert feed.bulk is True
    assert [s.source_id for s in feed.schools] == ["sch-A", "sch-B"]
    assert feed.students_seen == {"s-1", "s-2", "s-3", "s-4"}
    e = by_id(feed)
    assert sorted(e) == ["s-1@sch-A", "s-2@sch-A", "s-3@sch-B", "s-4@sch-B"]
    s1, s2, s3, s4 = e["s-1@sch-A"], e["s-2@sch-A"], e["s-3@sch-B"], e["s-4@sch-B"]
    assert (s1.grade, s1.start, s1.returning, s1.english_learner) == (
        0,
        date(2026, 8, 17),
        True,
        None,
    )
    assert s1.teacher_ids == ("t-A1",)
    # no metadata start date: earliest class enrollment beginDate
    assert s2.start == date(2026, 10, 20)
    assert s2.teacher_ids == ("t-A1", "t-A2")
    assert s2.english_learner is EnglishLearner.ESL and s2.esl_teacher_id == "esl-1"
    assert s2.returning is False
    # metadata start date wins over beginDate
    assert s3.start == date(2027, 1, 11) and s3.grade == 10
    assert s3.english_learner is EnglishLearner.MONITORED and s3.counselor_id == "c-B"
    assert s4.returning is None and s4.english_learner == UNSET and s4.grade == 12
    assert not any(r.withdrawn for r in feed.enrollments)
    staff = {s.source_id: s for s in feed.staff}
    assert "g-1" not in staff
    assert staff["t-A1"].roles == (Role.TEACHER,)
    assert staff["c-B"].roles == (Role.TEACHER, Role.COUNSELOR)
    assert staff["esl-1"].school_ids == ("sch-A", "sch-B")
    assert Role.ESL_TEACHER in staff["esl-1"].roles
    assert staff["ilp-A"].roles == (Role.ILP_COORDINATOR,)
    assert staff["p-A"].roles == (Role.PRINCIPAL,)
    assert staff["rvp-1"].roles == (Role.REGIONAL_VP,) and staff["rvp-1"].school_ids == ()
    quarters = [s for s in feed.sessions if s.kind == "gradingPeriod"]
    assert [(q.start, q.end) for q in quarters] == [
        (date(2026, 8, 17), date(2026, 10, 16)),
        (date(2026, 10, 19), date(2026, 12, 18)),
        (date(2027, 1, 5), date(2027, 3, 12)),
        (date(2027, 3, 15), date(2027, 5, 28)),
    ]
    assert all(q.school_year == 2027 for q in feed.sessions)
    assert len([s for s in feed.sessions if s.kind == "semester"]) == 2


def test_clean_11_folder() -> None:
    feed = parse_oneroster(ONEROSTER / "clean-1.1")
    assert feed.kind == "oneroster-1.1"
    check_clean(feed)


def test_clean_11_zip_in_subfolder(tmp_path: Path) -> None:
    z = zip_folder(ONEROSTER / "clean-1.1", tmp_path / "feed.zip", prefix="export/")
    feed = parse_oneroster(z)
    check_clean(feed)


def test_clean_12_roles_csv(tmp_path: Path) -> None:
    feed = parse_oneroster(zip_folder(ONEROSTER / "clean-1.2", tmp_path / "feed.zip"))
    assert feed.kind == "oneroster-1.2"
    check_clean(feed)


def test_quirky_rejections_exact() -> None:
    feed = parse_oneroster(ONEROSTER / "quirky-1.1", date_order="mdy")
    got = {(r.file, r.line, r.column) for r in feed.rejections}
    assert got == {
        ("orgs.csv", 5, "sourcedId"),
        ("academicSessions.csv", 4, "endDate"),
        ("classes.csv", 4, "schoolSourcedId"),
        ("users.csv", 9, "grades"),
        ("users.csv", 12, "metadata.ilp.startDate"),
        ("users.csv", 13, "orgSourcedIds"),
        ("users.csv", 14, "sourcedId"),
        ("users.csv", 15, "familyName"),
        ("users.csv", 18, "metadata.ilp.returning"),
        ("users.csv", 19, "metadata.ilp.englishLearner"),
        ("users.csv", 22, "metadata.ilp.staffRole"),
        ("enrollments.csv", 7, "userSourcedId"),
        ("enrollments.csv", 13, "classSourcedId"),
        ("enrollments.csv", 14, "sourcedId"),
        ("enrollments.csv", 15, "beginDate"),
        ("enrollments.csv", 16, "classSourcedId"),
    }
    assert len(feed.rejections) == len(got)
    reasons = {(r.file, r.line): r.reason for r in feed.rejections}
    assert reasons[("users.csv", 9)] == "grade 'PK' (prekindergarten) is outside the K-12 ILP"
    # UG with no class naming a grade: left to the school's default grade (the store decides)
    ug = by_id(feed)["s-ug@sch-Q"]
    assert ug.grade_unknown == (
        "users.csv line 11: grades names no grade (blank, UG or Other) and no class of the "
        "student at 'sch-Q' names one"
    )
    assert "unknown school 'sch-ZZ'" in reasons[("users.csv", 13)]
    assert "duplicate sourcedId 's-ok' (first on line 6)" == reasons[("users.csv", 14)]
    assert reasons[("users.csv", 15)] == "missing required value"
    assert "unknown user 'ghost-user'" in reasons[("enrollments.csv", 7)]
    assert "bad date '2026-99-01'" in reasons[("enrollments.csv", 15)]
    assert "unknown school 'sch-X'" in reasons[("classes.csv", 4)]


def test_quirky_good_rows_go_through() -> None:
    feed = parse_oneroster(ONEROSTER / "quirky-1.1", date_order="mdy")
    e = by_id(feed)
    assert sorted(e) == [
        "s-disabled@sch-Q",
        "s-end@sch-R",
        "s-multiline@sch-Q",
        "s-noenr@sch-R",
        "s-ok@sch-Q",
        "s-slash@sch-Q",
        "s-tk@sch-Q",
        "s-ug@sch-Q",
    ]
    assert e["s-tk@sch-Q"].grade == 0  # TK is planned as K
    ok = e["s-ok@sch-Q"]
    # ISO timestamp metadata; e3 + e4 teachers; returning=yes; EL upper case
    assert ok.start == date(2026, 9, 1) and ok.grade == 9 and ok.returning is True
    assert ok.english_learner is EnglishLearner.ESL and ok.teacher_ids == ("t-1", "t-2")
    assert ok.counselor_id == "coun-1" and ok.esl_teacher_id == "t-2"
    slash = e["s-slash@sch-Q"]
    assert slash.start == date(2027, 1, 5)  # 1/05/2027 is m/d/yyyy
    assert slash.grade == 0 and slash.returning is False
    assert slash.english_learner is EnglishLearner.WAIVED
    assert e["s-disabled@sch-Q"].withdrawn and "s-disabled" in feed.withdrawn_ids
    end = e["s-end@sch-R"]
    assert end.withdrawn and end.end == date(2026, 11, 20)
    assert end.teacher_ids == ("t-2",)  # e9: school taken from the class
    multi = e["s-multiline@sch-Q"]
    assert multi.given_name == "Mary\r\nAnn"  # CRLF file: kept verbatim
    assert multi.start == date(2026, 8, 25)  # enrollment metadata.ilp.startDate
    assert multi.source_line == 12
    noenr = e["s-noenr@sch-R"]
    assert noenr.start is None and noenr.teacher_ids == () and noenr.source_file == "users.csv"
    # a rejected user's enrollments are not reported a second time
    assert "s-pk" in feed.students_seen
    assert not any(r.reason.startswith("unknown user 's-pk'") for r in feed.rejections)
    staff = {s.source_id: s for s in feed.staff}
    assert staff["adm-1"].roles == (Role.PRINCIPAL,)
    assert staff["t-2"].school_ids == ("sch-Q", "sch-R")
    assert {s.source_id for s in feed.schools} == {"sch-Q", "sch-R"}
    gp1 = next(s for s in feed.sessions if s.source_id == "gp1")
    assert (gp1.start, gp1.end) == (date(2026, 8, 17), date(2026, 10, 16))
    ay = next(s for s in feed.sessions if s.source_id == "ay")
    assert ay.end == date(2027, 5, 28)


def test_ambiguous_slash_date_needs_a_date_order() -> None:
    feed = parse_oneroster(ONEROSTER / "quirky-1.1")
    slash = [r for r in feed.rejections if (r.file, r.line) == ("users.csv", 7)]
    assert [(r.column, r.reason) for r in slash] == [
        (
            "metadata.ilp.startDate",
            "ambiguous date '1/05/2027': month/day or day/month? Give the feed's date order "
            "(ilp import --date-order mdy|dmy)",
        )
    ]
    assert "s-slash@sch-Q" not in by_id(feed)
    # 8/17/2026 has one reading only: no order needed
    gp1 = next(s for s in feed.sessions if s.source_id == "gp1")
    assert gp1.start == date(2026, 8, 17)
    day_first = parse_oneroster(ONEROSTER / "quirky-1.1", date_order="dmy")
    by_line = {(r.file, r.line): r.reason for r in day_first.rejections}
    assert ("users.csv", 7) not in by_line  # 1/05/2027 read as 1 May
    assert by_line[("enrollments.csv", 6)].startswith("bad date '8/17/2026'")
    # its only enrollment row was rejected: nothing is planned with an invented start date
    assert "s-slash@sch-Q" not in by_id(day_first)


def test_delta_feed() -> None:
    feed = parse_oneroster(ONEROSTER / "delta-1.1")
    assert feed.bulk is False and feed.file_modes["users"] == "delta"
    assert feed.rejections == []
    assert feed.withdrawn_ids == {"s-2"}  # tobedeleted with an otherwise empty row
    e = by_id(feed)
    assert sorted(e) == ["s-1@sch-A", "s-3@sch-B"]
    assert e["s-1@sch-A"].grade == 1 and not e["s-1@sch-A"].withdrawn
    assert e["s-1@sch-A"].start == date(2026, 10, 2)  # the tobedeleted enrollment is ignored
    assert e["s-3@sch-B"].withdrawn  # its only enrollment is tobedeleted
    assert [(s.source_id, s.enabled) for s in feed.staff] == [("t-A2", False)]


def test_header_variants_and_line_ends(tmp_path: Path) -> None:
    # CRLF, BOM, no final newline and odd header spelling are all in quirky-1.1; check the raw bytes
    raw = (ONEROSTER / "quirky-1.1" / "users.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and not raw.endswith(b"\n")
    assert b"sourceID" in raw and b"agentSourceIds" in raw and b"prefferedGivenName" in raw


# ---- not a feed -------------------------------------------------------------------------


def test_binary_file(tmp_path: Path) -> None:
    p = tmp_path / "feed.zip"
    p.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(FeedError, match="neither a zip archive nor a folder"):
        parse_oneroster(p)


def test_empty_file(tmp_path: Path) -> None:
    p = tmp_path / "feed.zip"
    p.write_bytes(b"")
    with pytest.raises(FeedError, match="empty file"):
        parse_oneroster(p)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(FeedError, match="does not exist"):
        parse_oneroster(tmp_path / "nope.zip")


def test_empty_zip(tmp_path: Path) -> None:
    p = tmp_path / "feed.zip"
    zipfile.ZipFile(p, "w").close()
    with pytest.raises(FeedError, match="holds no CSV files"):
        parse_oneroster(p)


def test_zip_without_users(tmp_path: Path) -> None:
    p = tmp_path / "feed.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.write(ONEROSTER / "clean-1.1" / "orgs.csv", "orgs.csv")
    with pytest.raises(FeedError, match="no users.csv"):
        parse_oneroster(p)


def test_wrong_headers(tmp_path: Path) -> None:
    d = tmp_path / "feed"
    d.mkdir()
    (d / "orgs.csv").write_bytes((ONEROSTER / "clean-1.1" / "orgs.csv").read_bytes())
    (d / "users.csv").write_text("id,name,role\n1,Jo,student\n")
    with pytest.raises(FeedError, match="users.csv has wrong headers: no sourcedId column"):
        parse_oneroster(d)


def test_empty_users_csv(tmp_path: Path) -> None:
    d = tmp_path / "feed"
    d.mkdir()
    (d / "orgs.csv").write_bytes((ONEROSTER / "clean-1.1" / "orgs.csv").read_bytes())
    (d / "users.csv").write_text("")
    with pytest.raises(FeedError, match="users.csv is empty"):
        parse_oneroster(d)


def test_binary_member(tmp_path: Path) -> None:
    p = tmp_path / "feed.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.write(ONEROSTER / "clean-1.1" / "orgs.csv", "orgs.csv")
        zf.writestr("users.csv", b"sourcedId,role\n\x00\xff\xfe\x00binary\n")
    with pytest.raises(FeedError, match="users.csv"):
        parse_oneroster(p)


def test_12_without_roles(tmp_path: Path) -> None:
    d = tmp_path / "feed"
    d.mkdir()
    for name in ("orgs.csv", "users.csv"):
        (d / name).write_bytes((ONEROSTER / "clean-1.2" / name).read_bytes())
    with pytest.raises(FeedError, match="no role column and the feed has no roles.csv"):
        parse_oneroster(d)


@pytest.mark.parametrize(
    "bad_name", ["../evil.csv", "/etc/evil.csv", "a/../../evil.csv", "C:/x.csv"]
)
def test_zip_slip_refused(tmp_path: Path, bad_name: str) -> None:
    p = zip_folder(ONEROSTER / "clean-1.1", tmp_path / "feed.zip")
    with zipfile.ZipFile(p, "a") as zf:
        zf.writestr(zipfile.ZipInfo(bad_name), "x")
    with pytest.raises(FeedError, match="points outside it"):
        parse_oneroster(p)
    assert not (tmp_path.parent / "evil.csv").exists()


def test_zip_bomb_ratio_refused(tmp_path: Path) -> None:
    p = zip_folder(ONEROSTER / "clean-1.1", tmp_path / "feed.zip")
    with zipfile.ZipFile(p, "a", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("results.csv", b"0" * (20 * 1024 * 1024))
    with pytest.raises(FeedError, match="zip bomb guard"):
        parse_oneroster(p)


def test_rejection_is_plain_value() -> None:
    r = Rejection("users.csv", 3, "grades", "unknown grade 'PK'")
    assert r == Rejection("users.csv", 3, "grades", "unknown grade 'PK'")
