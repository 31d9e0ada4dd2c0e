"""Issue 12 point 3: behind a valid link, one step's page shows who the student is, their
learning coaches / guardians, and what happened to the step so far."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlmodel import select

from lifecycle.types import grade_name
from models.db import session_scope
from models.tables import Contact, Enrollment, School, Step, Student, StudentContact
from tests.web.conftest import World

TEACHER = "tch-0001-001"


def add_contacts(world: World, step_id: int) -> tuple[Student, Enrollment, School]:
    with session_scope(world.url) as s:
        step = s.get(Step, step_id)
        assert step is not None
        enrollment = s.get(Enrollment, step.enrollment_id)
        assert enrollment is not None
        student = s.get(Student, enrollment.student_id)
        school = s.get(School, enrollment.school_id)
        assert student is not None and school is not None
        coach = Contact(
            source_id="g-coach",
            given_name="Rosa",
            family_name="Quintero",
            email="rosa.q@home.example",
            phone="555-0142",
            relationship="guardian",
        )
        aunt = Contact(source_id="g-aunt", given_name="Ines", family_name="Vidal", phone="555-0199")
        left = Contact(
            source_id="g-left",
            given_name="Old",
            family_name="Link",
            email="x@y.example",
            active=False,
        )
        s.add_all([coach, aunt, left])
        s.flush()
        for contact, relationship in ((coach, "guardian"), (aunt, "relative"), (left, "parent")):
            s.add(
                StudentContact(
                    student_id=student.id, contact_id=contact.id, relationship=relationship
                )
            )
        s.flush()
        s.expunge_all()
    return student, enrollment, school


def test_one_steps_page_shows_the_student_the_coaches_and_the_history(
    world: World, client: TestClient
) -> None:
    sid = world.step("q2_note", TEACHER)
    student, enrollment, school = add_contacts(world, sid)
    # something happens to the step: an acknowledgment through its link
    ack = client.post(f"/a/{world.token(TEACHER, 'acknowledge', sid)}", data={})
    assert ack.status_code == 200
    text = client.get(f"/a/{world.token(TEACHER, 'complete', sid)}").text
    block = text[text.index('data-testid="student"') :]
    assert f"{student.given_name} {student.family_name}" in block
    assert f"Grade {grade_name(enrollment.grade)}" in block
    assert school.name in block
    rows = re.findall(r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>", block)
    assert rows == [("Rosa Quintero", "guardian"), ("Ines Vidal", "relative")]  # active only
    assert 'href="tel:555-0142"' in block and 'href="mailto:rosa.q@home.example"' in block
    assert "Old Link" not in block
    history = re.findall(r"<li>(.*?)</li>", block, flags=re.S)
    assert len(history) == 1
    with session_scope(world.url) as s:
        from models.tables import Staff

        teacher = s.exec(select(Staff).where(Staff.source_id == TEACHER)).one()
        name = f"{teacher.given_name} {teacher.family_name}"
    assert f"{name}: acknowledged" in history[0]


def test_a_page_of_several_steps_and_a_bad_link_show_no_student(
    world: World, client: TestClient
) -> None:
    one = world.step("q2_note", TEACHER)
    two = world.step("q3_note", TEACHER)
    student, _, _ = add_contacts(world, one)
    many = client.get(f"/a/{world.token(TEACHER, 'acknowledge', one, two)}").text
    assert 'data-testid="student"' not in many and "555-0142" not in many
    forged = world.token(TEACHER, "complete", one, secret="x" * 43)
    refused = client.get(f"/a/{forged}")
    assert refused.status_code in (400, 403)
    assert student.family_name not in refused.text and "555-0142" not in refused.text


def test_the_history_lists_attempts_and_notes_with_who_and_when(
    world: World, client: TestClient
) -> None:
    sid = world.step("q2_note", TEACHER)
    add_contacts(world, sid)
    answers = {
        "action": "Weekly check-in",
        "communicated": "Phone call with student and learning coach",
        "follow_up": "None",
        "resources": "Reading intervention block",
    }
    done = client.post(f"/a/{world.token(TEACHER, 'complete', sid)}", data=answers)
    assert done.status_code == 200
    text = client.get(f"/a/{world.token(TEACHER, 'complete', sid)}").text
    block = text[text.index('data-testid="student"') :]
    history = re.findall(r"<li>(.*?)</li>", block, flags=re.S)
    assert any("completed the step" in h for h in history)
    assert any("note" in h and "Weekly check-in" in h for h in history)
    assert all(re.search(r"\d{4}, \d{2}:\d{2}", h) for h in history)  # when, local time
