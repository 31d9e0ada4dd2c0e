"""Per-school templates: a school's own quarter-note / synopsis questions and welcome call guide;
the forms, the completion check and the SIS export follow them; the default is the seed's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from config.schools import SchoolConfigError, _read
from lifecycle.forms import QUARTER_QUESTIONS, questions_for
from lifecycle.templates import WELCOME_CALL_GUIDE, TemplateError, templates_from_mapping
from lifecycle.types import StepKind
from models.db import session_scope
from models.tables import Enrollment, School
from services import actions
from services.actions import Actor, InvalidInput
from services.sis_export import export_notes
from tests.web.conftest import NOW, World

TEMPLATES = {
    "quarter_note": [
        {"key": "action", "label": "What we are doing for this student"},
        {"key": "evidence", "label": "The data behind it"},
        {"key": "family", "label": "What the family said", "required": False},
    ],
    "welcome_call_guide": ["Favourite subject", "Hardest subject", "Goal for the year"],
}
TEACHER = "tch-0001-001"


def test_default_is_the_seed_and_bad_templates_are_refused(tmp_path) -> None:  # noqa: ANN001
    seed = templates_from_mapping({})
    assert seed.questions == {} and seed.welcome_call_guide == WELCOME_CALL_GUIDE
    assert questions_for(StepKind.Q2_NOTE, seed.questions) == QUARTER_QUESTIONS
    custom = templates_from_mapping({"templates": TEMPLATES})
    assert [q.key for q in custom.questions[StepKind.Q1_NOTE]] == ["action", "evidence", "family"]
    assert StepKind.SYNOPSIS not in custom.questions  # left out: the seed's synopsis
    for bad in (
        {"quarter_note": []},
        {"quarter_note": [{"key": "Bad Key", "label": "x"}]},
        {"quarter_note": [{"key": "a", "label": "x", "required": False}]},
        {"graduation": []},
    ):
        with pytest.raises(TemplateError):
            templates_from_mapping({"templates": bad})
    path = tmp_path / "sch-x.toml"
    path.write_text('[policy.templates]\nquarter_note = [{ key = "a" }]\n', encoding="utf-8")
    with pytest.raises(SchoolConfigError):
        _read(path)


def _use_templates(world: World, step_id: int) -> None:
    with session_scope(world.url) as s:
        enrollment = s.get(Enrollment, world.get(step_id).enrollment_id)
        school = s.get(School, enrollment.school_id)  # type: ignore[union-attr]
        school.policy = {**school.policy, "templates": TEMPLATES}  # type: ignore[union-attr]
        s.add(school)


def test_forms_completion_and_export_follow_the_schools_template(
    world: World, client: TestClient
) -> None:
    q2 = world.step("q2_note", TEACHER)
    _use_templates(world, q2)
    page = client.get(f"/a/{world.token(TEACHER, 'complete', q2)}")
    assert "The data behind it" in page.text and "How it was communicated" not in page.text
    call = world.step("welcome_call", TEACHER)
    assert "Hardest subject" in client.get(f"/a/{world.token(TEACHER, 'complete', call)}").text

    actor = Actor(staff_id=world.staff[TEACHER], now=NOW)
    with pytest.raises(InvalidInput, match="The data behind it"), session_scope(world.url) as s:
        actions.complete(s, q2, actor, {"action": "Small group reading"})
    with session_scope(world.url) as s:
        out = actions.complete(
            s, q2, actor, {"action": "Small group reading", "evidence": "Diagnostic: 2nd pct"}
        )
    assert out.completed
    with session_scope(world.url) as s:
        (row,) = export_notes(s, target="t", now=NOW + timedelta(hours=1)).rows
    assert row.text == (
        "What we are doing for this student: Small group reading\n\n"
        "The data behind it: Diagnostic: 2nd pct"
    )
