"""Teacher input: before each EL ILP review, the student's teachers and counselor are asked
(what works, what doesn't, suggestions); the ESL teacher sees the answers on the review form;
the request escalates only to the ESL teacher."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from config.schools import school_rules
from lifecycle.calendar import nth_school_day
from lifecycle.el_ilp import teacher_input_days
from lifecycle.types import StepKind
from models.db import session_scope
from models.tables import Enrollment, School, Step
from services import actions
from services.actions import Actor, InvalidInput
from tests.documents.helpers import EL_FORM, save
from tests.documents.test_collaborators import collaborators
from tests.web.conftest import NOW, World

ESL = "esl-0001"


def requests(world: World) -> list[Step]:
    with session_scope(world.url) as s:
        rows = list(s.exec(select(Step).where(Step.kind == StepKind.TEACHER_INPUT)))
        for row in rows:
            s.expunge(row)
        return rows


def test_policy_days() -> None:
    assert teacher_input_days({}) == 5
    assert teacher_input_days({"teacher_input_school_days": 3}) == 3
    with pytest.raises(ValueError):
        teacher_input_days({"teacher_input_school_days": 0})


def test_each_review_asks_teachers_and_counselor_and_the_esl_teacher_sees_answers(
    world: World, client: TestClient
) -> None:
    el = world.step("el_ilp", ESL)
    expected = collaborators(world, el)
    save(world, EL_FORM)
    review = world.get(world.step("el_ilp_review", ESL))
    asked = requests(world)
    assert {r.owner_staff_id for r in asked} == expected
    with session_scope(world.url) as s:
        enrollment = s.get(Enrollment, review.enrollment_id)
        school = s.get(School, enrollment.school_id)  # type: ignore[union-attr]
        calendar, _ = school_rules(school.calendar, school.policy)  # type: ignore[union-attr]
    assert all(r.due == nth_school_day(calendar, review.due, -5) for r in asked)
    # Escalation reaches the ESL teacher, never the coordinator, principal or RVP.
    roles = {role for r in asked for rung in r.escalation_schedule for role in rung["notify"]}
    assert "esl_teacher" in roles
    assert roles.isdisjoint({"ilp_coordinator", "principal", "regional_vp"})

    # A teacher answers with the standard complete form; a missing answer is refused.
    request = asked[0]
    owner = Actor(staff_id=request.owner_staff_id or 0, now=NOW + timedelta(days=1))
    with pytest.raises(InvalidInput, match="What does not work"), session_scope(world.url) as s:
        actions.complete(s, request.id or 0, owner, {"works": "Visuals"})
    with session_scope(world.url) as s:
        out = actions.complete(
            s,
            request.id or 0,
            owner,
            {
                "works": "Visuals and sentence frames",
                "does_not_work": "Long lectures",
                "suggestions": "Pair with a bilingual buddy",
            },
        )
    assert out.completed
    page = client.get(f"/ilp/{world.token(ESL, 'complete', review.id or 0)}")
    assert "Teacher input for this review" in page.text
    assert "Visuals and sentence frames" in page.text and "Pair with a bilingual buddy" in page.text

    # Saving again for the same review asks nobody twice.
    save(world, EL_FORM | {"reading": "2.0"}, kind="el_ilp_review", now=NOW + timedelta(days=2))
    later = requests(world)
    for_review = [r for r in later if r.seq // 100 == review.seq]
    assert len(for_review) == len(asked)
    # The unanswered ones stop: the review they were for is done.
    assert sorted(str(r.status) for r in for_review) == ["cancelled"] * (len(asked) - 1) + [
        "completed"
    ]
    assert {r.owner_staff_id for r in later if r.seq // 100 == review.seq + 1} == expected
