"""Collaborators told: each new version reaches the student's teachers and counselor in their
next digest, with a link to read the current ILP; the notice never escalates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from config.settings import Settings
from lifecycle.types import Role, StepKind
from models.db import session_factory, session_scope
from models.tables import Assignment, Enrollment, Step
from notifications.deliver import DeliveryResult
from notifications.sender import AppriseSender
from services.planning import plan_enrollments
from services.sweep import SweepConfig, run_sweep
from tests.documents.helpers import EL_FORM, save
from tests.web.conftest import BASE_URL, NOW, SECRET, World

LABEL = "ILP updated: read the current plan"


@dataclass
class Capture:
    """A sender that renders each digest as the real one would and keeps it."""

    config: SweepConfig
    sent: dict[int, list[str]] = field(default_factory=dict)

    def __call__(self, outgoing: Any) -> DeliveryResult:
        body = AppriseSender(self.config).render(outgoing).body
        self.sent.setdefault(outgoing.recipient.staff_id, []).append(body)
        return DeliveryResult(True, 1, False, None, "capture")


def capture(world: World, base_url: str = BASE_URL) -> Capture:
    settings = Settings(  # type: ignore[call-arg]
        database_url=world.url,
        secret_key=SECRET,
        public_base_url=base_url,
        dev_mode=False,
        apprise_config="/nonexistent.yaml",
        _env_file=None,
    )
    config = SweepConfig.from_settings(settings)
    config = type(config)(**{**config.__dict__, "apprise_config": None})
    return Capture(config)


def collaborators(world: World, step_id: int) -> set[int]:
    with session_scope(world.url) as s:
        step = s.get(Step, step_id)
        enrollment = s.get(Enrollment, step.enrollment_id)  # type: ignore[union-attr]
        rows = s.exec(
            select(Assignment.staff_id).where(
                Assignment.student_id == enrollment.student_id,  # type: ignore[union-attr]
                Assignment.role.in_([Role.TEACHER, Role.COUNSELOR]),  # type: ignore[attr-defined]
            )
        )
        return set(rows)


def notices(world: World) -> list[Step]:
    with session_scope(world.url) as s:
        rows = list(s.exec(select(Step).where(Step.kind == StepKind.EL_ILP_NOTICE)))
        for row in rows:
            s.expunge(row)
        return rows


def test_a_new_version_reaches_teachers_and_counselor_in_their_next_digest(
    world: World, client: TestClient
) -> None:
    el = world.step("el_ilp")
    expected = collaborators(world, el)
    assert expected, "the sample district assigns this student a teacher and a counselor"
    out = save(world, EL_FORM)
    told = notices(world)
    assert {n.owner_staff_id for n in told} == expected
    assert all(not n.required and n.next_action_at is not None for n in told)
    # Only ever the owner: no rung names the coordinator, principal or RVP.
    assert all(
        r["notify"] in (["teacher"], ["counselor"]) for n in told for r in n.escalation_schedule
    )

    sender = capture(world)
    run_sweep(session_factory(world.url), NOW + timedelta(minutes=5), sender)
    for staff_id in expected:
        body = "\n".join(sender.sent[staff_id])
        assert LABEL in body, body
        assert "Núñez" not in body and "Sentence frames" not in body  # details only behind the link
    # The re-plan the save triggers leaves notices alone; a later re-plan does too.
    with session_scope(world.url) as s:
        plan_enrollments(s, [out.enrollment_id or 0], now=NOW + timedelta(days=1))
    assert all(n.status == "open" for n in notices(world))

    # Opening the notice shows the current ILP; "I have read it" completes it.
    notice = told[0]
    who = next(src for src, sid in world.staff.items() if sid == notice.owner_staff_id)
    token = world.token(who, "complete", notice.id or 0)
    page = client.get(f"/ilp/{token}")
    assert (
        "Sentence frames; word walls" in page.text and "Extra time; bilingual glossary" in page.text
    )
    done = client.post(f"/ilp/{token}", data={"_submission": "cd" * 16})
    assert done.status_code == 200 and "Completed" in done.text
    with session_scope(world.url) as s:
        assert s.get(Step, notice.id).status == "completed"  # type: ignore[union-attr]
    # A sweep weeks later sends no notice again: one rung, to the owner, once.
    later = capture(world)
    run_sweep(session_factory(world.url), NOW + timedelta(days=20), later)
    assert all(LABEL not in "\n".join(bodies) for bodies in later.sent.values())


def item_link(digest_text: str, headline_part: str, label: str) -> str:
    """The `label` link of the digest item whose headline contains `headline_part`."""
    lines = digest_text.splitlines()
    start = next(i for i, line in enumerate(lines) if headline_part in line)
    for line in lines[start + 1 :]:
        if line.strip().startswith(f"{label}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {label} link after {headline_part!r}")
