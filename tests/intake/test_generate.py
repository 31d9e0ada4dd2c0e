from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path

from intake.generate import write_sample_district
from intake.oneroster import parse_oneroster
from lifecycle.types import Role


def test_round_trip_200(tmp_path: Path) -> None:
    p = write_sample_district(tmp_path / "d.zip", students=200, schools=3, seed=7)
    feed = parse_oneroster(p)
    assert feed.rejections == []
    assert len(feed.enrollments) == 200 and len(feed.students_seen) == 200
    assert feed.kind == "oneroster-1.1" and feed.bulk
    assert len(feed.schools) == 3
    assert all(e.teacher_ids for e in feed.enrollments)
    assert all(e.start is not None for e in feed.enrollments)
    assert all(date(2026, 8, 17) <= e.start <= date(2027, 5, 28) for e in feed.enrollments)
    assert {e.returning for e in feed.enrollments} == {True, False}
    assert {e.grade for e in feed.enrollments} == set(range(13))
    els = [e.english_learner for e in feed.enrollments if e.english_learner is not None]
    assert 0 < len(els) < 60
    roles = {r for s in feed.staff for r in s.roles}
    assert roles == set(Role)
    gps = sorted((s.start, s.end) for s in feed.sessions if s.kind == "gradingPeriod")
    assert gps[0] == (date(2026, 8, 17), date(2026, 10, 16))
    assert gps[-1] == (date(2027, 3, 15), date(2027, 5, 28))


def test_deterministic(tmp_path: Path) -> None:
    a = write_sample_district(tmp_path / "a.zip", students=50, schools=2, seed=3)
    b = write_sample_district(tmp_path / "b.zip", students=50, schools=2, seed=3)
    with zipfile.ZipFile(a) as za, zipfile.ZipFile(b) as zb:
        assert za.namelist() == zb.namelist()
        for n in za.namelist():
            assert za.read(n) == zb.read(n)
