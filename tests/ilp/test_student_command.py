"""`ilp student --link STAFF_ID --student STUDENT_ID`: a signed link to a student's page for a
staff member who may see it, refused (one line, exit 2) for anyone else."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from config.settings import get_settings
from ilp.cli import main
from models.db import session_scope
from models.tables import Assignment, Enrollment, Student
from tests.web.conftest import BASE_URL, SECRET, World, settings_for


def ilp(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ILP_SECRET_KEY", SECRET)
    monkeypatch.setenv("ILP_PUBLIC_BASE_URL", BASE_URL)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def a_student_of(world: World, teacher: str) -> tuple[str, int]:
    """(source id, id) of a school-1 student the teacher teaches."""
    with session_scope(world.url) as s:
        row = s.exec(
            select(Student.source_id, Student.id)
            .join(Assignment, Assignment.student_id == Student.id)  # type: ignore[arg-type]
            .join(Enrollment, Enrollment.student_id == Student.id)  # type: ignore[arg-type]
            .where(Assignment.staff_id == world.staff[teacher], Enrollment.school_id == 1)
        ).first()
    assert row is not None
    return str(row[0]), int(row[1] or 0)


def test_prints_a_link_that_opens_the_students_page(
    world: World, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    source_id, student_id = a_student_of(world, "tch-0001-001")
    from web.app import create_app

    app = create_app(settings_for(world.url))
    for who in ("tch-0001-001", "ilc-0001", str(world.staff["ilc-0001"])):
        code, out, err = ilp(
            capsys, "student", "--link", who, "--student", source_id, "--database-url", world.url
        )
        assert code == 0, err
        link = out.strip()
        assert link.startswith(f"{BASE_URL}/student/") and link.endswith(f"?id={student_id}")
        assert "valid" in err
        with TestClient(app, base_url=BASE_URL) as client:
            page = client.get(link.removeprefix(BASE_URL))
        assert page.status_code == 200 and "ILP record:" in page.text
    # by database id too
    code, out, _ = ilp(
        capsys, "student", "--link", "ilc-0001", "--student", str(student_id),
        "--database-url", world.url,
    )  # fmt: skip
    assert code == 0 and out.strip().endswith(f"?id={student_id}")


def test_refuses_who_may_not_see_the_student(
    world: World, env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    source_id, _ = a_student_of(world, "tch-0001-001")
    for who, message in (
        ("ilc-0002", "may not see student"),  # the other school's coordinator
        ("nobody", "no active staff member"),
    ):
        code, out, err = ilp(
            capsys, "student", "--link", who, "--student", source_id, "--database-url", world.url
        )
        assert (code, out) == (2, "") and message in err
        assert len(err.strip().splitlines()) == 1
    code, _, err = ilp(
        capsys, "student", "--link", "ilc-0001", "--student", "no-such", "--database-url", world.url
    )
    assert code == 2 and "no student 'no-such'" in err
