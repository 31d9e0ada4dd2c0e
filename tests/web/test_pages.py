"""The web app through HTTP (in-process ASGI client): pages, tokens, refusals, events."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from models.db import session_scope
from models.tables import AuditEvent, Enrollment, Step
from notifications.tokens import InsecureSecretError
from tests.web.conftest import NOW, REPO, Events, World, dump, settings_for
from web.app import create_app

ANSWERS = {
    "action": "Weekly check-in",
    "communicated": "Phone call with student and learning coach",
    "follow_up": "None",
    "resources": "Reading intervention block",
}
TEACHER = "tch-0001-001"


def url(token: str) -> str:
    return f"/a/{token}"


def links(text: str, label: str) -> list[str]:
    return re.findall(rf"{label}:\s+(\S+)", text)


def test_get_and_head_show_a_confirm_page_and_change_nothing(
    world: World, client: TestClient
) -> None:
    sid = world.step("q2_note", TEACHER)
    snap = dump(world.url)
    for action in ("acknowledge", "complete", "snooze"):
        link = url(world.token(TEACHER, action, sid))
        page = client.get(link)
        assert page.status_code == 200
        assert 'method="post"' in page.text and "<script" not in page.text.lower()
        assert "http-equiv" not in page.text.lower()
        assert page.headers["content-security-policy"].startswith("default-src 'none'")
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert "set-cookie" not in page.headers
        head = client.head(link)
        assert head.status_code == 200 and head.content == b""
    assert dump(world.url) == snap
    page = client.get(url(world.token(TEACHER, "complete", sid)))
    for label in ("The individualized action", "Follow-up or staff needed"):
        assert label in page.text


def test_the_task_list_shows_initials_and_id_only(world: World, client: TestClient) -> None:
    """The task list names students by initials and id; one step's page, behind its own link,
    shows who the student is (tests/web/test_student_block.py)."""
    sid = world.step("q2_note", TEACHER)
    with session_scope(world.url) as s:
        from models.tables import Enrollment, Student

        step = s.get(Step, sid)
        student = s.get(Student, s.get(Enrollment, step.enrollment_id).student_id)  # type: ignore[union-attr]
        names = (student.given_name, student.family_name)  # type: ignore[union-attr]
        ref = f"{student.initials} #{student.id}"  # type: ignore[union-attr]
    for token in (world.token(TEACHER, "tasks"),):
        text = client.get(url(token)).text
        assert ref in text
        for name in names:
            assert not re.search(rf"\b{re.escape(name)}\b", text)
        assert "English" not in text and "grade" not in text.lower()


def test_complete_via_post_stops_escalation_and_emits_after_commit(
    world: World, client: TestClient, events: Events
) -> None:
    sid = world.step("q2_note", TEACHER)
    link = url(world.token(TEACHER, "complete", sid))
    response = client.post(link, data=ANSWERS, headers={"user-agent": "Mozilla/5.0 test"})
    assert response.status_code == 200 and "Completed." in response.text
    step = world.get(sid)
    assert step.status == "completed" and step.next_action_at is None
    assert [(k, s) for k, s, _ in events.calls] == [("completed", sid)]
    assert events.calls[0][2]["actor"] == f"staff-{world.staff[TEACHER]}"
    with session_scope(world.url) as s:
        audit = s.exec(select(AuditEvent).where(AuditEvent.step_id == sid)).one()
    assert audit.user_agent == "Mozilla/5.0 test" and audit.ip == "testclient"
    assert audit.before["status"] == "open" and audit.after["status"] == "completed"
    # Reusing the link is harmless: "already done", nothing changes, no second event.
    snap = dump(world.url)
    for again in (client.post(link, data=ANSWERS), client.get(link)):
        assert again.status_code == 200 and "Already done" in again.text
    assert dump(world.url) == snap and len(events.calls) == 1


def test_missing_answer_is_rejected_naming_it(
    world: World, client: TestClient, events: Events
) -> None:
    sid = world.step("q2_note", TEACHER)
    snap = dump(world.url)
    form = ANSWERS | {"communicated": ""}
    response = client.post(url(world.token(TEACHER, "complete", sid)), data=form)
    assert response.status_code == 422
    assert (
        "Missing answer: How it was communicated to the student and learning coach" in response.text
    )
    assert "Weekly check-in" in response.text  # what was typed is kept
    assert dump(world.url) == snap and not events.calls


def test_snooze(world: World, client: TestClient, events: Events) -> None:
    sid = world.step("q2_note", TEACHER)  # due Fri 18 Dec 2026
    link = url(world.token(TEACHER, "snooze", sid))
    snap = dump(world.url)
    late = client.post(link, data={"until": "2026-12-21"})
    assert late.status_code == 422
    assert "at the latest" in late.text and "18 Dec 2026" in late.text
    for bad in ({"until": "someday"}, {}, {"until": "2026-02-30"}, {"until": "2026-12-01"}):
        assert client.post(link, data=bad).status_code == 422
    assert dump(world.url) == snap and not events.calls
    ok = client.post(link, data={"until": "2026-12-17"})
    assert ok.status_code == 200 and "Snoozed" in ok.text
    assert str(world.get(sid).snoozed_until) == "2026-12-17"
    assert [k for k, _, _ in events.calls] == ["snoozed"]
    again = client.post(link, data={"until": "2026-12-17"})
    assert "Already snoozed" in again.text


def test_acknowledge_and_reuse(world: World, client: TestClient, events: Events) -> None:
    sid = world.step("q2_note", TEACHER)
    link = url(world.token(TEACHER, "acknowledge", sid))
    page = client.post(link)
    assert page.status_code == 200 and "Acknowledged" in page.text
    assert world.get(sid).acknowledged_until is not None
    snap = dump(world.url)
    again = client.post(link)
    assert "Already acknowledged" in again.text
    assert dump(world.url) == snap
    assert [k for k, _, _ in events.calls] == ["acknowledged"]


def flip(char: str) -> str:
    return "A" if char != "A" else "B"


@pytest.mark.parametrize("how", ["signature", "payload", "truncated", "other-secret", "junk"])
def test_tampered_tokens_are_refused(world: World, client: TestClient, how: str) -> None:
    sid = world.step("q2_note", TEACHER)
    token = world.token(TEACHER, "complete", sid)
    payload, signature = token.split(".")
    bad = {
        "signature": f"{payload}.{signature[:-2]}{flip(signature[-2])}{signature[-1]}",
        "payload": f"{payload[:5]}{flip(payload[5])}{payload[6:]}.{signature}",
        "truncated": token[:-5],
        "other-secret": world.token(TEACHER, "complete", sid, secret="another-secret-" * 3),
        "junk": "not-a-token",
    }[how]
    snap = dump(world.url)
    for response in (client.get(url(bad)), client.post(url(bad), data=ANSWERS)):
        assert response.status_code == 400
        assert "not valid" in response.text
    assert dump(world.url) == snap


def test_expired_token_is_refused(world: World, client: TestClient) -> None:
    sid = world.step("q2_note", TEACHER)
    token = world.token(TEACHER, "complete", sid, expires_at=NOW - timedelta(seconds=1))
    snap = dump(world.url)
    for response in (client.get(url(token)), client.post(url(token), data=ANSWERS)):
        assert response.status_code == 410 and "expired" in response.text
    assert dump(world.url) == snap


@pytest.mark.parametrize("who", ["tch-0001-002", "prn-0002", "ilc-0002", "esl-0001"])
def test_other_staff_tokens_are_refused(world: World, client: TestClient, who: str) -> None:
    sid = world.step("q2_note", TEACHER)
    snap = dump(world.url)
    for action in ("acknowledge", "complete", "snooze"):
        link = url(world.token(who, action, sid))
        assert client.get(link).status_code == 403
        assert client.post(link, data=ANSWERS | {"until": "2026-12-16"}).status_code == 403
    assert dump(world.url) == snap


def test_escalation_roles_of_the_school_may_act(world: World, client: TestClient) -> None:
    sid = world.step("q2_note", TEACHER)
    assert client.get(url(world.token("prn-0001", "acknowledge", sid))).status_code == 200
    response = client.post(url(world.token("ilc-0001", "acknowledge", sid)))
    assert response.status_code == 200 and "Acknowledged" in response.text


def test_unknown_staff_or_step(world: World, client: TestClient) -> None:
    from notifications.tokens import sign_token
    from tests.web.conftest import SECRET

    sid = world.step("q2_note", TEACHER)
    ghost = sign_token(
        SECRET, staff_id=999, action="complete", step_ids=(sid,), expires_at=NOW + timedelta(1)
    )
    assert client.get(url(ghost)).status_code == 403
    huge = sign_token(
        SECRET, staff_id=2**70, action="complete", step_ids=(2**64,), expires_at=NOW + timedelta(1)
    )
    assert client.get(url(huge)).status_code == 400
    assert client.post(url(huge), data=ANSWERS).status_code == 400
    missing = world.token(TEACHER, "complete", 99999)
    assert client.get(url(missing)).status_code == 404
    assert client.post(url(missing), data=ANSWERS).status_code == 404


def test_welcome_note_unsuccessful_variant_over_http(world: World, client: TestClient) -> None:
    call = world.step("welcome_call", TEACHER)
    enrollment_id = world.get(call).enrollment_id
    note = world.step("welcome_note", TEACHER, enrollment_id=enrollment_id)
    call_link = url(world.token(TEACHER, "complete", call))
    note_link = url(world.token(TEACHER, "complete", note))
    form = client.get(call_link).text
    assert "No contact attempts logged yet" in form
    # the time defaults to now in the school's time zone (Tue 15 Dec 2026, 09:00 in Chicago)
    assert 'type="datetime-local" name="at" value="2026-12-15T09:00" max="2026-12-15T09:00"' in form
    for way in ("Phone", "Email", "Text message", "Video call", "In person"):
        assert f">{way}</option>" in form
    for outcome in ("No answer", "Left a message", "Wrong number / bad contact info"):
        assert outcome in form

    snap = dump(world.url)
    future = client.post(
        call_link, data={"outcome": "no_answer", "method": "text", "at": "2026-12-15T10:00"}
    )
    assert future.status_code == 422
    assert "Tue 15 Dec 2026, 10:00 is in the future" in future.text
    assert 'value="2026-12-15T10:00"' in future.text  # what was typed comes back
    assert dump(world.url) == snap

    days = ["2026-12-11T15:30", "2026-12-11T15:31", "2026-12-14T08:10", "2026-12-14T08:11"]
    for n, at in enumerate(days):
        page = client.post(call_link, data={"outcome": "left_message", "method": "text", "at": at})
        assert (
            page.status_code == 200 and f"{n + 1} {'is' if n == 0 else 'are'} logged" in page.text
        )
        another = re.search(r'href="([^"]+)">Log another attempt<', page.text)
        assert another and another.group(1) == call_link
    listed = client.get(call_link).text
    assert "Fri 11 Dec 2026, 15:30 · Text message · Left a message" in listed
    assert "(4 logged, on 2 days)" in listed
    refused = client.post(note_link, data={"variant": "contact_unsuccessful"})
    assert refused.status_code == 422 and "at least 5 failed contact attempts" in refused.text
    assert world.get(note).status == "open"
    done = client.post(
        call_link, data={"outcome": "bad_contact", "method": "phone", "notes": "x", "at": ""}
    )
    assert "the welcome call is complete" in done.text and "Log another attempt" not in done.text
    assert world.get(call).status == "completed"
    accepted = client.post(note_link, data={"variant": "contact_unsuccessful"})
    assert accepted.status_code == 200 and world.get(note).status == "completed"


def test_digest_token_lists_each_step_with_its_own_form(
    world: World, client: TestClient, events: Events
) -> None:
    with session_scope(world.url) as s:
        ids = list(
            s.exec(
                select(Step.id)
                .where(Step.owner_staff_id == world.staff[TEACHER], Step.status == "open")
                .order_by(Step.id)
                .limit(3)
            )
        )
    text = world.digest(TEACHER, ids)
    (ack_all,) = links(text, r"Acknowledge all \d+ items")
    path = ack_all.removeprefix("http://ilp.test")
    page = client.get(path)
    assert page.status_code == 200
    for sid in ids:
        assert f'name="step" value="{sid}"' in page.text
    assert 'name="step" value="all"' in page.text
    one = client.post(path, data={"step": str(ids[0])})
    assert one.status_code == 200 and world.get(ids[0]).acknowledged_until is not None
    assert world.get(ids[1]).acknowledged_until is None
    assert client.post(path, data={"step": "12345"}).status_code == 400
    assert client.post(path, data={}).status_code == 400
    every = client.post(path, data={"step": "all"})
    assert every.status_code == 200
    assert all(world.get(i).acknowledged_until is not None for i in ids)
    assert sorted(s for k, s, _ in events.calls) == sorted(ids)


def test_task_list_acts_through_minted_tokens(world: World, client: TestClient) -> None:
    tasks = url(world.token(TEACHER, "tasks"))
    page = client.get(tasks)
    assert page.status_code == 200 and "Your open ILP steps" in page.text
    with session_scope(world.url) as s:
        mine = s.exec(
            select(Step, Enrollment.student_id)
            .join(Enrollment, Enrollment.id == Step.enrollment_id)  # type: ignore[arg-type]
            .where(Step.owner_staff_id == world.staff[TEACHER], Step.status == "open")
        ).all()
    assert mine
    # By student, the student with the most overdue step first; each student's steps by due date.
    first_due: dict[int, date] = {}
    for step, student in mine:
        first_due[student] = min(first_due.get(student, step.due), step.due)
    mine = sorted(mine, key=lambda r: (first_due[r[1]], r[1], r[0].due, r[0].id))
    positions = [page.text.find(f'id="step-{step.id}"') for step, _ in mine]
    assert all(p > 0 for p in positions) and positions == sorted(positions)
    mine = [step for step, _ in mine]
    q2 = next(s.id for s in mine if s.kind == "q2_note")
    ack = re.search(
        rf'action="(/a/{re.escape(world.token(TEACHER, "acknowledge", q2))})"', page.text
    )
    assert ack
    back = re.search(r'name="back" value="([^"]+)"', page.text)
    assert back
    done = client.post(ack.group(1), data={"back": back.group(1)})
    assert done.status_code == 200 and "Back to your task list" in done.text
    assert world.get(q2).acknowledged_until is not None
    # POST to the task-list link itself does nothing.
    snap = dump(world.url)
    assert client.post(tasks, data={}).status_code == 405
    assert dump(world.url) == snap


FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b'{"a": 1}', {"content-type": "application/json"}, 415),
        (b"--x\r\n", {"content-type": "multipart/form-data; boundary=x"}, 415),
        (b"a=%ff", {"content-type": FORM}, 400),
        ("a=é".encode(), {"content-type": FORM}, 400),
        (b"a=%00", {"content-type": FORM}, 400),
        (b"x" * 300_000, {"content-type": FORM}, 413),
        (b"a=1", {"content-type": FORM, "content-length": "zz"}, 400),
        ("&".join(f"f{i}=1" for i in range(100)).encode(), {"content-type": FORM}, 400),
    ],
)
def test_malformed_posts_are_4xx(
    world: World, client: TestClient, content: bytes, headers: dict[str, str], status: int
) -> None:
    sid = world.step("q2_note", TEACHER)
    snap = dump(world.url)
    response = client.post(
        url(world.token(TEACHER, "complete", sid)), content=content, headers=headers
    )
    assert response.status_code == status
    assert dump(world.url) == snap


def test_other_methods_and_paths(world: World, client: TestClient) -> None:
    sid = world.step("q2_note", TEACHER)
    link = url(world.token(TEACHER, "acknowledge", sid))
    snap = dump(world.url)
    for method in ("PUT", "DELETE", "PATCH"):
        assert client.request(method, link).status_code == 405
    assert client.get("/nope").status_code == 404
    assert client.get("/a/").status_code == 404
    assert client.get("/a/x/y").status_code == 404
    assert client.get("/").status_code == 200
    assert client.get("/healthz").json() == {"ok": True}
    assert client.get("/static/app.css").headers["content-type"].startswith("text/css")
    assert dump(world.url) == snap


def test_refuses_to_start_with_a_weak_secret(world: World) -> None:
    with pytest.raises(InsecureSecretError, match="ILP_SECRET_KEY"):
        create_app(settings_for(world.url, dev_mode=False, secret="changeme"))
    create_app(settings_for(world.url, dev_mode=True, secret="changeme"))  # dev mode: tolerated


def test_ilp_web_exits_with_a_clear_message(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "ILP_DEV_MODE": "false",
        "ILP_SECRET_KEY": "x",
        "ILP_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
    }
    done = subprocess.run(
        [str(Path(sys.executable).with_name("ilp")), "web", "--no-migrate", "--port", "1"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "refusing to start" in done.stderr and "ILP_SECRET_KEY" in done.stderr


def test_default_emitter_without_prefect_is_harmless(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    app = create_app(settings_for(world.url))
    sid = world.step("q2_note", TEACHER)
    with TestClient(app) as client:
        response = client.post(url(world.token(TEACHER, "acknowledge", sid)))
    assert response.status_code == 200
    assert world.get(sid).acknowledged_until is not None
