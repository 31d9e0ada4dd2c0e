"""Shared bits of the ILP document tests."""

from __future__ import annotations

from datetime import datetime

from models.db import session_scope
from services.actions import Actor
from tests.web.conftest import NOW, World

EL_FORM = {
    "listening": "2.5",
    "speaking": "3.0",
    "reading": "1.8",
    "writing": "2.0",
    "assessed_on": "2026-09-01",
    "goals": "Read grade-level texts with support\nWrite a paragraph with a topic sentence",
    "strategies": "Sentence frames; word walls; visuals with every new word",
    "classroom_accommodations": "Extra time; bilingual glossary",
    "testing_accommodations": "Small group; directions read aloud",
    "collaborators": "Ms. Rivera (ESL)\nMr. Lee (math)\nParent: Sra. Núñez",
    "parent_language": "es",
}


def owner_actor(world: World, step_id: int, now: datetime = NOW) -> Actor:
    owner = world.get(step_id).owner_staff_id
    assert owner is not None
    return Actor(staff_id=owner, now=now, ip="203.0.113.7", user_agent="pytest")


def save(world: World, form: dict[str, str], kind: str = "el_ilp", now: datetime = NOW):  # noqa: ANN201
    from services.el_ilp import save_version

    step_id = world.step(kind)
    with session_scope(world.url) as s:
        return save_version(s, step_id, owner_actor(world, step_id, now), form)
