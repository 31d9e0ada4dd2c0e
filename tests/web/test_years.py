"""Issue 17 in the web app: a returning student's second-year welcome call and welcome note
show last year's synopsis (author, date) and ILP actions; a first-year student's do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import select

from config.schools import load_school_configs
from models.db import session_scope
from models.tables import Enrollment, Staff, Step
from services import actions
from services.rollover import rollover
from tests.web.conftest import REPO, Clock, World

SYNOPSIS = {
    "support": "Small-group reading twice a week",
    "successes": "Finished two chapter books on his own",
    "continuing_goals": "Fluency: 90 words a minute by winter",
}
ACTION = {
    "action": "Daily reading log reviewed on Fridays",
    "communicated": "Call with the learning coach",
    "follow_up": "Reading specialist",
    "resources": "Leveled library",
}
END_OF_YEAR = datetime(2027, 5, 27, 15, 0, tzinfo=UTC)
ROLLOVER = datetime(2027, 5, 29, 11, 0, tzinfo=UTC)
SECOND_YEAR = datetime(2027, 8, 17, 15, 0, tzinfo=UTC)


def first_year_notes(world: World) -> tuple[int, str]:
    """Complete one student's Q2 note and synopsis; return (student id, the author's name)."""
    with session_scope(world.url) as s:
        synopsis = s.exec(
            select(Step)
            .join(Enrollment, Enrollment.id == Step.enrollment_id)
            .where(Step.kind == "synopsis", Enrollment.grade < 12, Step.owner_staff_id != None)  # noqa: E711
            .order_by(Step.id)
        ).first()
        assert synopsis is not None
        enrollment = s.get(Enrollment, synopsis.enrollment_id)
        assert enrollment is not None
        q2 = s.exec(
            select(Step).where(Step.enrollment_id == enrollment.id, Step.kind == "q2_note")
        ).one()
        author = s.get(Staff, synopsis.owner_staff_id)
        assert author is not None
        by = actions.Actor(staff_id=int(author.id or 0), now=datetime(2026, 12, 10, 15, tzinfo=UTC))
        assert actions.complete(s, int(q2.id or 0), by, ACTION).changed
        by = actions.Actor(staff_id=int(author.id or 0), now=END_OF_YEAR)
        assert actions.complete(s, int(synopsis.id or 0), by, SYNOPSIS).changed
        return enrollment.student_id, f"{author.given_name} {author.family_name}"


def roll(world: World) -> None:
    with session_scope(world.url) as s:
        result = rollover(
            s,
            "2027-2028",
            now=ROLLOVER,
            configs=load_school_configs(REPO / "deployments/config/schools"),
        )
    assert result.changed


def second_year_step(world: World, student_id: int, kind: str) -> tuple[int, str]:
    with session_scope(world.url) as s:
        row = s.execute(
            sa.select(Step.id, Staff.source_id)
            .join(Enrollment, Enrollment.id == Step.enrollment_id)
            .join(Staff, Staff.id == Step.owner_staff_id)
            .where(
                Enrollment.student_id == student_id,
                Enrollment.school_year == "2027-2028",
                Step.kind == kind,
            )
        ).one()
    return int(row[0]), str(row[1])


def page(world: World, client: TestClient, owner: str, step_id: int) -> str:
    token = world.token(owner, "complete", step_id, expires_at=SECOND_YEAR + timedelta(days=30))
    response = client.get(f"/a/{token}")
    assert response.status_code == 200, response.text
    return response.text


def test_second_year_welcome_call_and_note_show_last_years_synopsis(
    world: World, client: TestClient, clock: Clock
) -> None:
    student, author = first_year_notes(world)
    roll(world)
    clock.now = SECOND_YEAR
    for kind in ("welcome_call", "welcome_note"):
        step_id, owner = second_year_step(world, student, kind)
        text = page(world, client, owner, step_id)
        assert "Last year (2026-2027" in text
        for answer in SYNOPSIS.values():
            assert answer in text
        assert f"Student Synopsis by {author}, Thu 27 May 2027" in text
        assert "Quarter 2</strong>: Daily reading log reviewed on Fridays" in text


def test_a_student_new_this_year_has_no_carry_over(world: World, client: TestClient) -> None:
    step_id = world.step("welcome_call")
    with session_scope(world.url) as s:
        step = s.get(Step, step_id)
        assert step is not None
        owner = s.get(Staff, step.owner_staff_id)
        assert owner is not None
    text = client.get(f"/a/{world.token(str(owner.source_id), 'complete', step_id)}").text
    assert "Welcome" in text and "Last year (" not in text


def test_a_returning_english_learners_first_ilp_of_the_year_starts_from_last_years_last(
    world: World, client: TestClient, clock: Clock
) -> None:
    from tests.documents.helpers import EL_FORM, save

    outcome = save(world, EL_FORM | {"goals": "Last year's goal: summarize a chapter"})
    assert outcome.changed
    with session_scope(world.url) as s:
        student = s.execute(
            sa.select(Enrollment.student_id)
            .join(Step, Step.enrollment_id == Enrollment.id)
            .where(Step.kind == "el_ilp", Step.status == "completed")
        ).scalar_one()
    roll(world)
    clock.now = SECOND_YEAR
    step_id, owner = second_year_step(world, student, "el_ilp")
    token = world.token(owner, "complete", step_id, expires_at=SECOND_YEAR + timedelta(days=30))
    text = client.get(f"/ilp/{token}").text
    assert "summarize a chapter" in text  # the form starts from last year's last version
    assert "Sentence frames; word walls" in text


def _staff_where(world: World, **where: object) -> list[str]:
    with session_scope(world.url) as s:
        rows = s.exec(select(Staff)).all()
    return [
        str(r.source_id)
        for r in rows
        if all(
            (value in r.roles) if key == "role" else getattr(r, key) == value
            for key, value in where.items()
        )
    ]


def test_a_students_page_shows_every_year_to_their_staff_only(
    world: World, client: TestClient, clock: Clock
) -> None:
    student, author = first_year_notes(world)
    roll(world)
    clock.now = SECOND_YEAR
    call, teacher = second_year_step(world, student, "welcome_call")
    expires = SECOND_YEAR + timedelta(days=30)
    with session_scope(world.url) as s:
        by = actions.Actor(staff_id=world.staff[teacher], now=SECOND_YEAR)
        actions.log_contact_attempt(s, call, by, succeeded=False, method="phone", notes="voicemail")
        school_id = (
            s.execute(sa.select(Enrollment.school_id).where(Enrollment.student_id == student))
            .scalars()
            .first()
        )
        from models.tables import Student

        pupil = s.get(Student, student)
        assert pupil is not None
        full_name = f"{pupil.given_name} {pupil.family_name}"

    tasks = world.token(teacher, "tasks", expires_at=expires)
    listing = client.get(f"/a/{tasks}").text
    assert f"/student/{tasks}?id={student}" in listing  # linked from the task list
    text = client.get(f"/student/{tasks}?id={student}").text
    assert full_name in text  # the full name only here, behind the link
    assert "2027-2028 · " in text and "2026-2027 · " in text
    assert text.index("2027-2028 · ") < text.index("2026-2027 · ")  # newest first
    assert SYNOPSIS["continuing_goals"] in text and author in text
    assert "voicemail" in text and "year.rollover" in text and "missed" in text

    coordinator = _staff_where(world, role="ilp_coordinator", school_id=school_id)[0]
    report = world.token(coordinator, "report", expires_at=expires)
    assert client.get(f"/student/{report}?id={student}").status_code == 200
    other_school = _staff_where(world, role="ilp_coordinator")
    other = next(c for c in other_school if c != coordinator)
    refused = client.get(
        f"/student/{world.token(other, 'report', expires_at=expires)}?id={student}"
    )
    assert refused.status_code == 403 and full_name not in refused.text
    stranger = next(
        t
        for t in _staff_where(world, role="teacher")
        if t != teacher and t.split("-")[1] != teacher.split("-")[1]
    )
    assert (
        client.get(
            f"/student/{world.token(stranger, 'tasks', expires_at=expires)}?id={student}"
        ).status_code
        == 403
    )
    acting = world.token(teacher, "complete", call, expires_at=expires)
    assert client.get(f"/student/{acting}?id={student}").status_code == 403


def test_the_report_links_each_listed_student_to_their_page(
    world: World, client: TestClient
) -> None:
    coordinator = _staff_where(world, role="ilp_coordinator")[0]
    token = world.token(coordinator, "report")
    text = client.get(f"/report/{token}").text
    import re

    ids = re.findall(rf'href="/student/{re.escape(token)}\?id=(\d+)"', text)
    assert ids, "the escalated steps' students link to their page"
    assert client.get(f"/student/{token}?id={ids[0]}").status_code == 200


def test_student_page_tokens_stay_out_of_logs_and_count_as_failed_attempts() -> None:
    from web.security import TOKEN_PATHS, redact

    assert redact("GET /student/abcdefghijklmnopqrstu?id=3") == "GET /student/<token>?id=3"
    assert "/student/" in TOKEN_PATHS
