"""The EL ILP document: versions, never edited in place; the review completes by saving one."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlmodel import select

from lifecycle.el_ilp import diff, line_diff, read_el_ilp
from lifecycle.forms import InvalidAnswer
from models.db import session_scope
from models.documents import ElIlpVersion
from models.tables import AuditEvent, Step
from services.actions import InvalidInput
from services.el_ilp import versions
from tests.documents.helpers import EL_FORM, save
from tests.web.conftest import NOW, World


def test_the_form_needs_every_part_of_the_document() -> None:
    content = read_el_ilp(EL_FORM, today=date(2026, 12, 15))
    assert content.collaborators == ("Ms. Rivera (ESL)", "Mr. Lee (math)", "Parent: Sra. Núñez")
    assert content.assessed_on == date(2026, 9, 1) and content.parent_language == "es"
    for field, bad in [
        ("listening", "7"),
        ("writing", ""),
        ("assessed_on", "2027-01-01"),
        ("strategies", " "),
        ("collaborators", ""),
        ("parent_language", "../en"),
    ]:
        with pytest.raises(InvalidAnswer) as err:
            read_el_ilp(EL_FORM | {field: bad}, today=date(2026, 12, 15))
        assert err.value.field == field


def test_diff_lists_only_what_changed() -> None:
    a = read_el_ilp(EL_FORM, today=date(2026, 12, 15))
    b = read_el_ilp(
        EL_FORM | {"reading": "2.2", "strategies": "Sentence frames\nPartner reading"},
        today=date(2026, 12, 15),
    )
    changes = diff(a, b)
    assert [c.key for c in changes] == ["reading", "strategies"]
    assert ("+", "Partner reading") in line_diff(changes[1].before, changes[1].after)


def test_saving_completes_the_step_and_each_update_is_a_new_version(world: World) -> None:
    first = save(world, EL_FORM)
    assert first.completed and "version 1" in first.message
    with session_scope(world.url) as s:
        step = s.get(Step, first.step_id)
        assert step is not None and step.status == "completed"
        (v1,) = s.exec(select(ElIlpVersion)).all()
        student_id = v1.student_id
        audit = s.exec(select(AuditEvent).where(AuditEvent.step_id == first.step_id)).one()
        assert audit.after["el_ilp_version"] == 1
        # Completing the initial ILP schedules a review and a parent copy.
        open_kinds = {
            k
            for k in s.exec(
                select(Step.kind).where(
                    Step.enrollment_id == step.enrollment_id, Step.status == "open"
                )
            )
        }
    assert {"el_ilp_review", "parent_copy"} <= {str(k) for k in open_kinds}

    second = save(
        world, EL_FORM | {"reading": "2.2"}, kind="el_ilp_review", now=NOW + timedelta(days=1)
    )
    assert second.completed and "version 2" in second.message
    with session_scope(world.url) as s:
        rows = versions(s, student_id)
    assert [(r.version, r.reading) for r in rows] == [(1, "1.8"), (2, "2.2")]  # v1 untouched


def test_an_invalid_form_changes_nothing(world: World) -> None:
    with pytest.raises(InvalidInput, match="proficiency level"):
        save(world, EL_FORM | {"speaking": "high"})
    with session_scope(world.url) as s:
        assert s.exec(select(ElIlpVersion)).all() == []
