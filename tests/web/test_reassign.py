"""Issue 12, delegation: the school's ILP coordinator reassigns a step from the task list (one
step, or the ticked ones) and from the student's page; a teacher sees no reassign control and a
forged post is refused. Issue 17: the student page reads roles per school."""

from __future__ import annotations

import html
import re
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlmodel import select

from models.db import session_scope
from models.tables import AuditEvent, Enrollment, Staff, Step
from tests.web.conftest import World


def give(world: World, step_id: int, who: str) -> None:
    """The step goes to `who` as the feed would put it (no audit): an orphan to the coordinator."""
    with session_scope(world.url) as s:
        s.execute(sa.update(Step).where(Step.id == step_id).values(owner_staff_id=world.staff[who]))


def reassignments(world: World, step_id: int) -> list[AuditEvent]:
    with session_scope(world.url) as s:
        rows = list(
            s.exec(
                select(AuditEvent).where(
                    AuditEvent.step_id == step_id, AuditEvent.action == "step.reassigned"
                )
            )
        )
        for row in rows:
            s.expunge(row)
        return rows


def student_of(world: World, step_id: int) -> int:
    with session_scope(world.url) as s:
        enrollment = s.get(Enrollment, world.get(step_id).enrollment_id)
        assert enrollment is not None
        return int(enrollment.student_id)


def reassign_link(page: str, step_id: int) -> str:
    """The "Reassign…" link of the step's row (task list) or line (student page)."""
    found = re.search(
        rf'id="step-{step_id}"[^>]*>(?:(?!class="task").)*?'
        r'<a class="[^"]*reassign" href="([^"]+)">Reassign…</a>',
        page,
        re.S,
    )
    assert found is not None, f"no Reassign… for step {step_id}"
    return html.unescape(found.group(1))


def post_reassign_form(client: TestClient, link: str, owner: int) -> Any:
    """Open the step's reassign page and submit its form (with what the form carries)."""
    page = client.get(link)
    assert page.status_code == 200 and 'class="inline reassign"' in page.text
    form = re.search(
        r'<form method="post" action="([^"]+)"[^>]*class="inline reassign">(.*?)</form>',
        page.text,
        re.S,
    )
    assert form is not None
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[2]))
    return client.post(html.unescape(form[1]), data={**hidden, "owner": str(owner)})


def test_a_coordinator_reassigns_a_step_from_the_task_list(
    world: World, client: TestClient
) -> None:
    q2 = world.step("q2_note", "tch-0001-001")
    give(world, q2, "ilc-0001")
    tasks = world.token("ilc-0001", "tasks")
    listing = client.get(f"/a/{tasks}?kind=q2_note")
    assert listing.status_code == 200
    link = reassign_link(listing.text, q2)
    assert link.endswith(f"?back={tasks}")
    done = post_reassign_form(client, link, world.staff["tch-0001-002"])
    assert done.status_code == 200 and "Reassigned to" in done.text
    assert f'href="/a/{tasks}"' in done.text  # back to the task list
    assert world.get(q2).owner_staff_id == world.staff["tch-0001-002"]
    (audit,) = reassignments(world, q2)
    assert audit.actor_staff_id == world.staff["ilc-0001"]
    assert audit.before["owner_staff_id"] == world.staff["ilc-0001"]
    assert audit.after["owner_staff_id"] == world.staff["tch-0001-002"]
    # no longer the coordinator's: gone from their list
    assert f'id="step-{q2}"' not in client.get(f"/a/{tasks}?kind=q2_note").text


def test_a_coordinator_reassigns_the_ticked_steps(world: World, client: TestClient) -> None:
    first = world.step("welcome_note", "tch-0001-001")
    second = world.step("synopsis", "tch-0001-001")
    for step_id in (first, second):
        give(world, step_id, "ilc-0001")
    tasks = world.token("ilc-0001", "tasks")
    listing = client.get(f"/a/{tasks}").text
    assert 'value="reassign"' in listing
    target = world.staff["tch-0001-002"]
    assert f'<option value="{target}">' in listing
    assert f'<option value="{world.staff["tch-0002-001"]}">' not in listing  # other school
    unchosen = client.post(f"/a/{tasks}", data={"bulk": "reassign", "step": [str(first)]})
    assert (
        unchosen.status_code == 400 and world.get(first).owner_staff_id == world.staff["ilc-0001"]
    )
    done = client.post(
        f"/a/{tasks}",
        data={"bulk": "reassign", "owner": str(target), "step": [str(first), str(second)]},
    )
    assert done.status_code == 200 and "2 of 2 selected steps reassigned" in done.text
    for step_id in (first, second):
        assert world.get(step_id).owner_staff_id == target
        (audit,) = reassignments(world, step_id)
        assert audit.actor_staff_id == world.staff["ilc-0001"]


def test_a_teacher_sees_no_reassign_and_a_forged_post_is_refused(
    world: World, client: TestClient
) -> None:
    q2 = world.step("q2_note", "tch-0001-001")
    tasks = world.token("tch-0001-001", "tasks")
    listing = client.get(f"/a/{tasks}").text
    assert f'id="step-{q2}"' in listing
    assert "Reassign" not in listing and 'name="owner"' not in listing
    student = client.get(f"/student/{tasks}?id={student_of(world, q2)}")
    assert student.status_code == 200 and "Reassign" not in student.text
    other = str(world.staff["tch-0001-002"])
    forged = client.post(f"/a/{tasks}", data={"bulk": "reassign", "owner": other, "step": [q2]})
    assert forged.status_code == 403
    own_token = world.token("tch-0001-001", "reassign", q2)
    assert client.get(f"/a/{own_token}").status_code == 403
    assert client.post(f"/a/{own_token}", data={"owner": other}).status_code == 403
    assert world.get(q2).owner_staff_id == world.staff["tch-0001-001"]
    assert reassignments(world, q2) == []


def test_a_coordinator_reassigns_from_the_students_page(world: World, client: TestClient) -> None:
    q2 = world.step("q2_note", "tch-0001-001")
    student = student_of(world, q2)
    report = world.token("ilc-0001", "report")
    page = client.get(f"/student/{report}?id={student}")
    assert page.status_code == 200
    with session_scope(world.url) as s:
        open_ids = set(
            s.exec(
                select(Step.id)
                .join(Enrollment, Enrollment.id == Step.enrollment_id)  # type: ignore[arg-type]
                .where(Enrollment.student_id == student, Step.status == "open")
            )
        )
    links = re.findall(r'<a class="reassign" href="([^"]+)">Reassign…</a>', page.text)
    assert {_step_of(world, link) for link in links} == open_ids  # every open step, no other
    assert len(links) == len(open_ids) > 0
    chosen = next(link for link in links if _step_of(world, link) == q2)
    done = post_reassign_form(client, html.unescape(chosen), world.staff["tch-0001-002"])
    assert done.status_code == 200 and "Reassigned to" in done.text
    assert world.get(q2).owner_staff_id == world.staff["tch-0001-002"]
    (audit,) = reassignments(world, q2)
    assert audit.actor_staff_id == world.staff["ilc-0001"]
    # the page shows the new owner and the audit row
    again = client.get(f"/student/{report}?id={student}").text
    assert "step.reassigned" in again
    # the coordinator of the other school sees the page of none of school 1's students
    other = world.token("ilc-0002", "report")
    assert client.get(f"/student/{other}?id={student}").status_code == 403


def _step_of(world: World, link: str) -> int:
    from notifications.tokens import verify_token
    from tests.web.conftest import NOW, SECRET

    token = link.split("/a/", 1)[1].split("?", 1)[0]
    claims = verify_token(SECRET, token, now=NOW)
    assert claims.action == "reassign" and claims.staff_id == world.staff["ilc-0001"]
    return claims.step_ids[0]


def test_the_student_page_reads_roles_per_school(world: World, client: TestClient) -> None:
    """A principal at school 2 who teaches at school 1 is not a principal at school 1."""
    with session_scope(world.url) as s:
        s.add(
            Staff(
                source_id="dual-0001",
                given_name="Dana",
                family_name="Dual",
                roles=["principal", "teacher"],
                school_id=1,
                school_roles={"2": ["principal"], "1": ["teacher"]},
            )
        )
        s.flush()
        students = {
            school: s.exec(
                select(Enrollment.student_id).where(Enrollment.school_id == school)
            ).first()
            for school in (1, 2)
        }
        world.staff["dual-0001"] = int(
            s.exec(select(Staff.id).where(Staff.source_id == "dual-0001")).one()
        )
    token = world.token("dual-0001", "report")
    assert client.get(f"/student/{token}?id={students[2]}").status_code == 200
    refused = client.get(f"/student/{token}?id={students[1]}")
    assert refused.status_code == 403
