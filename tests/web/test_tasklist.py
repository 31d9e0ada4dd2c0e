"""The task list (web/tasklist.py, services/tasklist.py): a caseload grouped by student, filtered,
most urgent first, paged past 300 steps, with bulk acknowledge / complete posted in the body."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from html import unescape

import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from lifecycle.students import initials, student_ref
from lifecycle.types import Role, StepKind
from models.db import session_scope
from models.tables import Assignment, AuditEvent, Enrollment, Staff, Step, Student
from tests.web.conftest import BASE_URL, Clock, Events, World, dump, settings_for
from web.app import create_app

TEACHER = "tch-0001-001"
OTHER = "tch-0001-002"
TODAY = date(2026, 12, 15)  # NOW in Chicago


NAMES = ["Ava", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jade", "Kai", "Lena"]
FAMILY = ["Ortiz", "Nguyen", "Brown", "Silva", "Kim", "Novak", "Reyes", "Young", "Patel"]


def fill_caseload(world: World, staff: str, extra: int) -> list[int]:
    """Give `staff` at least `extra` more open steps: new students of theirs (8 a student) with
    a year's steps each, starting on different days, so some are long overdue, some due soon
    and some later. Returns all their open steps."""
    with session_scope(world.url) as s:
        school_id = s.get(Staff, world.staff[staff]).school_id  # type: ignore[union-attr]
        count = 0
        n = 0
        while count < extra:
            student = Student(
                source_id=f"load-{staff}-{n}",
                given_name=NAMES[n % len(NAMES)],
                family_name=FAMILY[(n // len(NAMES) + n) % len(FAMILY)],
                grade=n % 13,
            )
            s.add(student)
            s.flush()
            start = date(2026, 8, 17) + timedelta(days=(n * 11) % 100)
            enrollment = Enrollment(
                source_id=f"load-{staff}-{n}",
                student_id=student.id,  # type: ignore[arg-type]
                school_id=school_id,  # type: ignore[arg-type]
                start_date=start,
                grade=student.grade,
                fingerprint="load",
                planned_fingerprint="load",
            )
            s.add(enrollment)
            s.add(Assignment(staff_id=world.staff[staff], student_id=student.id, role=Role.TEACHER))  # type: ignore[arg-type]
            s.flush()
            dues = {
                StepKind.WELCOME_CALL: start + timedelta(days=3),
                StepKind.WELCOME_NOTE: start + timedelta(days=13),
                StepKind.Q1_NOTE: date(2026, 10, 16),
                StepKind.Q2_NOTE: date(2026, 12, 18),
                StepKind.EL_ILP_NOTICE: TODAY - timedelta(days=n % 9),
                StepKind.Q3_NOTE: date(2027, 3, 12),
                StepKind.SYNOPSIS: date(2027, 5, 28),
                StepKind.GRADUATION_PLAN: start + timedelta(days=62),
            }
            for kind, due in dues.items():
                s.add(
                    Step(
                        enrollment_id=enrollment.id,  # type: ignore[arg-type]
                        kind=kind,
                        seq=0,
                        due=due,
                        owner_role=Role.TEACHER,
                        owner_staff_id=world.staff[staff],
                        opens=start,
                    )
                )
            count += len(dues)
            n += 1
    return open_steps(world, staff)


def open_steps(world: World, staff: str) -> list[int]:
    with session_scope(world.url) as s:
        return list(
            s.exec(
                select(Step.id).where(
                    Step.owner_staff_id == world.staff[staff], Step.status == "open"
                )
            )
        )


def expected_order(world: World, step_ids: list[int]) -> list[int]:
    """Students by their most urgent step, then each student's steps by due date."""
    with session_scope(world.url) as s:
        rows = s.execute(
            sa.select(Step.id, Step.due, Enrollment.student_id)
            .join(Enrollment, Enrollment.id == Step.enrollment_id)  # type: ignore[arg-type]
            .where(Step.id.in_(step_ids))  # type: ignore[union-attr]
        ).all()
    first: dict[int, date] = {}
    for _, due, student in rows:
        first[student] = min(first.get(student, due), due)
    return [r.id for r in sorted(rows, key=lambda r: (first[r[2]], r[2], r[1], r[0]))]


def listed(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<div class="task" id="step-(\d+)">', html)]


def refs(world: World, staff: str) -> dict[str, int]:
    """Each of the staff member's students' "initials #id" and how many steps they have."""
    with session_scope(world.url) as s:
        rows = s.execute(
            sa.select(Student.given_name, Student.family_name, Student.id)
            .join(Enrollment, Enrollment.student_id == Student.id)  # type: ignore[arg-type]
            .join(Step, Step.enrollment_id == Enrollment.id)  # type: ignore[arg-type]
            .where(Step.owner_staff_id == world.staff[staff], Step.status == "open")
        ).all()
    return Counter(student_ref(initials(g, f), i) for g, f, i in rows)


@pytest.fixture
def small_pages(world: World, clock: Clock, events: Events) -> Iterator[TestClient]:
    """The app with 50 steps a page (ILP_TASK_LIST_PAGE_SIZE)."""
    settings = settings_for(world.url)
    settings.task_list_page_size = 50
    app: FastAPI = create_app(settings, clock=clock, emit=events)
    with TestClient(app, base_url=BASE_URL) as c:
        yield c


def test_a_caseload_past_300_steps_pages_by_urgency_grouped_by_student(
    world: World, client: TestClient
) -> None:
    mine = fill_caseload(world, TEACHER, 320)
    assert len(mine) > 320
    tasks = f"/a/{world.token(TEACHER, 'tasks')}"
    order = expected_order(world, mine)
    seen: list[int] = []
    pages = -(-len(mine) // 100)  # the default page size is 100
    snap = dump(world.url)
    for page in range(1, pages + 1):
        html = client.get(tasks, params={"page": page}).text
        assert f"Page {page} of {pages}" in html
        ids = listed(html)
        assert len(ids) == (100 if page < pages else len(mine) - 100 * (pages - 1))
        first = (page - 1) * 100 + 1
        assert f"Steps {first}-{first + len(ids) - 1} of {len(mine)}" in html
        seen += ids
        # every step sits under its student's heading (initials + internal id)
        headings = re.findall(r'<h2 class="who">([^<]+?)(?: <small>|</h2>)', html)
        assert len(headings) == len(set(headings))  # one group per student on a page
        assert set(headings) <= set(refs(world, TEACHER))
        if page > 1:  # a student whose steps run over from the previous page says so
            same = _student(world, order[first - 2]) == _student(world, order[first - 1])
            assert ("(continued)" in html) == same
    assert seen == order  # every step once, most urgent student first, across the pages
    # a page past the end shows the last one; nonsense shows the first
    assert listed(client.get(tasks, params={"page": 99}).text) == order[100 * (pages - 1) :]
    assert listed(client.get(tasks, params={"page": "x", "state": "??"}).text) == order[:100]
    assert dump(world.url) == snap  # looking changes nothing


def _student(world: World, step_id: int) -> int:
    with session_scope(world.url) as s:
        step = s.get(Step, step_id)
        assert step is not None
        enrollment = s.get(Enrollment, step.enrollment_id)
        assert enrollment is not None
        return enrollment.student_id


def test_filters_by_step_and_state(world: World, small_pages: TestClient, clock: Clock) -> None:
    mine = fill_caseload(world, TEACHER, 60)
    tasks = f"/a/{world.token(TEACHER, 'tasks')}"
    with session_scope(world.url) as s:
        steps = {
            row.id: row
            for row in s.exec(select(Step).where(Step.id.in_(mine)))  # type: ignore[attr-defined]
        }

    def everything(**params: str) -> list[int]:
        ids: list[int] = []
        for page in range(1, 20):
            html = small_pages.get(tasks, params=params | {"page": str(page)}).text
            ids += listed(html)
            if f"Page {page} of {page}" in html or "Page " not in html:
                break
        return ids

    q2 = everything(kind="q2_note")
    assert q2 and {steps[i].kind for i in q2} == {"q2_note"}
    assert set(q2) == {i for i, s in steps.items() if s.kind == "q2_note"}
    overdue = everything(state="overdue")
    assert set(overdue) == {i for i, s in steps.items() if s.due < TODAY}
    assert everything(state="acknowledged") == everything(state="snoozed") == []
    assert everything(state="done") == []

    # act on a few, then each lands in its state (and stays in "open" until done)
    ack, snooze = overdue[0], next(i for i in mine if steps[i].due > TODAY + timedelta(days=5))
    notice = next(i for i in mine if steps[i].kind == "el_ilp_notice")
    small_pages.post(f"/a/{world.token(TEACHER, 'acknowledge', ack)}", data={})
    small_pages.post(
        f"/a/{world.token(TEACHER, 'snooze', snooze)}",
        data={"until": (TODAY + timedelta(days=3)).isoformat()},
    )
    small_pages.post(
        f"/a/{world.token(TEACHER, 'tasks')}", data={"bulk": "complete", "step": notice}
    )
    assert everything(state="acknowledged") == [ack]
    assert everything(state="snoozed") == [snooze]
    assert everything(state="done") == [notice]
    assert notice not in everything() and {ack, snooze} <= set(everything())
    both = everything(state="overdue", kind=steps[ack].kind)
    assert ack in both and {steps[i].kind for i in both} == {steps[ack].kind}
    # the filter bar counts each state; the kind menu lists the caseload's kinds
    html = small_pages.get(tasks, params={"state": "done"}).text
    assert re.search(r'aria-current="page">Done <span class="count">1</span>', html)
    assert '<option value="el_ilp_notice">' in html
    # a done step offers nothing to do
    assert "Acknowledge selected" not in html and 'name="step"' not in html


def test_bulk_acknowledge_posts_ids_in_the_body_and_reports_each_step(
    world: World, small_pages: TestClient, events: Events
) -> None:
    mine = fill_caseload(world, TEACHER, 200)
    theirs = open_steps(world, OTHER)[0]
    tasks = f"/a/{world.token(TEACHER, 'tasks')}"
    chosen = sorted(mine)[:150]  # more ids than one page, more fields than a step form allows
    sub = "ab" * 16
    body = [("_submission", sub), ("bulk", "acknowledge"), ("state", "overdue")]
    body += [("step", str(i)) for i in [*chosen, theirs, 999999]]
    done = small_pages.post(tasks, content=_form(body), headers=FORM)
    assert done.status_code == 200
    text = unescape(done.text)
    assert "150 of 152 selected steps acknowledged" in text
    assert "This link is not for a step you are responsible for" in text
    assert "This step does not exist (any more)" in text
    assert all(world.get(i).acknowledged_until is not None for i in chosen)
    assert world.get(theirs).acknowledged_until is None
    assert sorted(step for kind, step, _ in events.calls if kind == "acknowledged") == chosen
    assert f'href="{tasks}?state=overdue&amp;page=1"' in done.text  # back to the same filter
    # the same form again changes nothing, and says so per step
    snap = dump(world.url)
    again = unescape(small_pages.post(tasks, content=_form(body), headers=FORM).text)
    assert "0 of 152 selected steps acknowledged" in again
    assert again.count("Already done: this form was already submitted.") == 150
    assert dump(world.url) == snap
    # an acknowledged step no longer offers acknowledge (nor a tick box, unless it can be read)
    page = small_pages.get(tasks, params={"state": "acknowledged"}).text
    assert "Acknowledge selected" not in page
    assert f"/a/{world.token(TEACHER, 'acknowledge', chosen[0])}" not in page
    with session_scope(world.url) as s:
        audits = s.exec(select(AuditEvent).where(AuditEvent.action == "step.acknowledged")).all()
    assert len(audits) == 150


def test_bulk_complete_only_where_the_step_allows_it(world: World, small_pages: TestClient) -> None:
    mine = fill_caseload(world, TEACHER, 40)
    with session_scope(world.url) as s:
        kinds = {row.id: row.kind for row in s.exec(select(Step).where(Step.id.in_(mine)))}  # type: ignore[attr-defined]
    notices = [i for i in mine if kinds[i] == "el_ilp_notice"][:3]
    note = next(i for i in mine if kinds[i] == "q2_note")
    tasks = f"/a/{world.token(TEACHER, 'tasks')}"
    page = small_pages.get(tasks, params={"kind": "el_ilp_notice"}).text
    assert "Mark selected as read" in page
    boxes = re.findall(r'<input type="checkbox" name="step" value="\d+" form="bulk"[^>]*>', page)
    assert boxes and not any("checked" in b for b in boxes)
    ticked = small_pages.get(tasks, params={"kind": "el_ilp_notice", "select": "all"}).text
    assert "Tick all on this page" not in ticked and "Clear the ticks" in ticked
    assert ticked.count(" checked>") == len(boxes)
    quarter = small_pages.get(tasks, params={"kind": "q2_note"}).text
    assert "Mark selected as read" not in quarter and "Acknowledge selected" in quarter
    body = [("bulk", "complete")] + [("step", str(i)) for i in [*notices, note]]
    done = unescape(small_pages.post(tasks, content=_form(body), headers=FORM).text)
    assert "3 of 4 selected steps completed" in done
    assert "This step needs its own form: open it to complete it." in done
    assert f'href="/a/{world.token(TEACHER, "complete", note)}">Open its form' in done
    assert all(world.get(i).status == "completed" for i in notices)
    assert world.get(note).status == "open"


def test_bulk_posts_are_checked(world: World, client: TestClient) -> None:
    tasks = f"/a/{world.token(TEACHER, 'tasks')}"
    snap = dump(world.url)
    assert client.post(tasks, data={"bulk": "acknowledge"}).status_code == 400  # nothing ticked
    assert client.post(tasks, data={"bulk": "delete", "step": "1"}).status_code == 400
    assert client.post(tasks, data={"bulk": "acknowledge", "step": "1; drop"}).status_code == 400
    too_many = [("bulk", "acknowledge")] + [("step", str(i)) for i in range(1, 1002)]
    assert client.post(tasks, content=_form(too_many), headers=FORM).status_code == 413
    # a one-step form still takes at most 64 fields
    step = open_steps(world, TEACHER)[0]
    wide = [("x" + str(i), "1") for i in range(80)]
    one = client.post(
        f"/a/{world.token(TEACHER, 'acknowledge', step)}", content=_form(wide), headers=FORM
    )
    assert one.status_code == 400
    assert dump(world.url) == snap


FORM = {"content-type": "application/x-www-form-urlencoded"}


def _form(pairs: list[tuple[str, str]]) -> str:
    from urllib.parse import urlencode

    return urlencode(pairs)
