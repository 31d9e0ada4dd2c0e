"""Against a real uvicorn server: Chromium fills a quarter note from a real digest link; a
link scanner's GET/HEAD prefetch changes nothing; hypothesis fuzzes the endpoints."""

from __future__ import annotations

import re
import string
from datetime import timedelta
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select

from models.db import session_scope
from models.tables import Note, Step
from tests.web.conftest import ARTIFACTS, NOW, Events, LiveServer, World, dump

TEACHER = "tch-0001-001"
ANSWERS = {
    "The individualized action": "Weekly 1:1 check-in on fractions, with a short exit ticket.",
    "How it was communicated to the student and learning coach": (
        "Video call with the student and learning coach on Monday."
    ),
    "Follow-up or staff needed": "Math specialist joins the next call.",
    "Resources, interventions or instruction involved": "Small-group fractions unit, unit 4.",
}


def teacher_steps(world: World, limit: int = 4) -> list[int]:
    with session_scope(world.url) as s:
        return list(
            s.exec(
                select(Step.id)
                .where(Step.owner_staff_id == world.staff[TEACHER], Step.status == "open")
                .order_by(Step.due, Step.id)
                .limit(limit)
            )
        )


def item_link(digest_text: str, headline_part: str, label: str) -> str:
    """The `label` link of the digest item whose headline contains `headline_part`."""
    lines = digest_text.splitlines()
    start = next(i for i, line in enumerate(lines) if headline_part in line)
    for line in lines[start + 1 :]:
        if line.strip().startswith(f"{label}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {label} link after {headline_part!r}")


@pytest.mark.browser
def test_browser_completes_a_quarter_note_from_a_digest_link(
    world: World, live: LiveServer, events: Events, browser: object
) -> None:
    q2 = world.step("q2_note", TEACHER)
    assert world.get(q2).next_action_at is not None
    others = [sid for sid in teacher_steps(world) if sid != q2][:2]
    text = world.digest(TEACHER, [q2, *others], base_url=live.base_url)
    link = item_link(text, "ILP Action Qtr 2 Note", "Complete")
    assert link.startswith(f"{live.base_url}/a/")
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page(viewport={"width": 900, "height": 1100})  # type: ignore[attr-defined]
    page.goto(link)
    assert page.title().startswith("Complete: ILP Action Qtr 2 Note")
    assert world.get(q2).status == "open"  # opening the link changed nothing
    for label, answer in ANSWERS.items():
        page.get_by_label(label).fill(answer)
    page.screenshot(path=str(ARTIFACTS / "complete_form.png"), full_page=True)
    page.get_by_role("button", name=re.compile("Complete")).click()
    page.wait_for_selector("text=Completed.")
    page.screenshot(path=str(ARTIFACTS / "complete_done.png"), full_page=True)

    step = world.get(q2)
    assert step.status == "completed" and step.next_action_at is None
    assert step.completed_by == world.staff[TEACHER]
    with session_scope(world.url) as s:
        note = s.exec(select(Note).where(Note.step_id == q2)).one()
    assert note.answers["follow_up"] == "Math specialist joins the next call."
    assert ("completed", q2) in [(k, sid) for k, sid, _ in events.calls]

    # The same link again says "already done".
    page.goto(link)
    assert "Already done" in page.content()
    # The task list, for a look at it.
    page.goto(_tasks(text))
    page.screenshot(path=str(ARTIFACTS / "task_list.png"), full_page=True)
    assert "Your open ILP steps" in page.content()
    page.close()


def _tasks(text: str) -> str:
    match = re.search(r"Your task list:\s+(\S+)", text)
    assert match
    return match.group(1)


@pytest.mark.browser
def test_prefetching_every_link_changes_nothing(
    world: World, live: LiveServer, browser: object
) -> None:
    """What Outlook Safe Links and other scanners do: GET/HEAD every link, render it with
    scripts on, and follow what they find on the page. Nothing may change."""
    ids = teacher_steps(world)
    text = world.digest(TEACHER, ids, base_url=live.base_url)
    urls = re.findall(r"https?://\S+", text)
    assert len(urls) == 3 * len(ids) + 2  # per item x3, acknowledge all, task list
    snap = dump(world.url)
    found: list[str] = []
    with httpx.Client(timeout=10) as http:
        for link in urls:
            got = http.get(link)
            assert got.status_code == 200, link
            assert "<script" not in got.text.lower()
            assert http.head(link).status_code == 200
            for ref in re.findall(r'(?:href|action)="([^"]+)"', got.text):
                found.append(live.base_url + ref.replace("&amp;", "&"))
        for ref in found:
            assert http.get(ref).status_code in (200,), ref
            assert http.head(ref).status_code == 200
    page = browser.new_page()  # type: ignore[attr-defined]
    for link in urls + found[:10]:
        page.goto(link)  # waits for the load event: any script would have run by now
    page.close()
    assert dump(world.url) == snap


# --- fuzzing ------------------------------------------------------------------------------

KNOWN_FIELDS = [
    "action",
    "communicated",
    "follow_up",
    "resources",
    "support",
    "successes",
    "continuing_goals",
    "note",
    "variant",
    "external_ref",
    "confirm",
    "summary",
    "outcome",
    "method",
    "notes",
    "until",
    "step",
    "back",
    "_submission",
]
TOKEN_CHARS = string.ascii_letters + string.digits + "-_.%~"
PATHS = ["/", "/a/", "/a", "/healthz", "/static/app.css", "/a/x/y", "/docs", "/openapi.json"]
CONTENT_TYPES = [
    "application/x-www-form-urlencoded",
    "application/json",
    "multipart/form-data; boundary=xyz",
    "text/plain",
    "",
]


def mutate(token: str, position: int, char: str) -> str:
    position %= len(token)
    replacement = char if token[position] != char else ("A" if char != "A" else "B")
    return token[:position] + replacement + token[position + 1 :]


def test_fuzz_no_500_and_no_change_without_a_valid_token_and_post(
    world: World, live: LiveServer
) -> None:
    ids = teacher_steps(world, limit=6)
    valid = [world.token(TEACHER, a, sid) for sid in ids for a in ("acknowledge", "snooze")]
    valid += [world.token(TEACHER, "complete", sid) for sid in ids]
    valid += [world.token(TEACHER, "acknowledge", *ids)]
    tasks = world.token(TEACHER, "tasks")
    invalid = [
        world.token("tch-0001-002", "complete", ids[0]),  # other staff
        world.token("prn-0002", "acknowledge", ids[0]),  # principal of another school
        world.token(TEACHER, "complete", ids[0], expires_at=NOW - timedelta(days=1)),
        world.token(TEACHER, "complete", ids[0], secret="wrong-secret-" * 4),
        world.token(TEACHER, "acknowledge", 987654),
        tasks,  # a task-list link never changes anything by itself
    ]
    token_st = st.one_of(
        st.sampled_from(valid + invalid),
        st.builds(mutate, st.sampled_from(valid), st.integers(0, 500), st.sampled_from("AbZ09-_.")),
        st.text(TOKEN_CHARS, max_size=120),
    )
    path_st = st.one_of(
        st.builds(lambda t: "/a/" + quote(t, safe="-_.~%"), token_st),
        st.sampled_from(PATHS),
        st.builds(lambda t: "/" + quote(t, safe="/"), st.text(max_size=40)),
    )
    form_st = st.dictionaries(
        st.one_of(st.sampled_from(KNOWN_FIELDS), st.text(max_size=8)),
        st.one_of(
            st.sampled_from(
                ["", "yes", "failed", "succeeded", "phone", "contact_unsuccessful", "all"]
            ),
            st.sampled_from(["2026-12-16", "2026-12-31", "2026-12-15", "1999-01-01"]),
            st.builds(str, st.sampled_from(ids)),
            st.text(max_size=60),
        ),
        max_size=8,
    )
    body_st = st.one_of(
        st.none(),
        st.builds(lambda form: ("form", form), form_st),
        st.tuples(st.sampled_from(CONTENT_TYPES), st.binary(max_size=300)),
    )
    method_st = st.sampled_from(["GET", "HEAD", "POST", "POST", "POST", "PUT", "DELETE", "OPTIONS"])
    valid_paths = {f"/a/{t}" for t in valid}
    changes: list[str] = []

    with httpx.Client(base_url=live.base_url, timeout=10) as http:

        @settings(
            max_examples=200,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(method=method_st, path=path_st, body=body_st)
        def check(method: str, path: str, body: object) -> None:
            before = dump(world.url)
            kwargs: dict[str, object] = {}
            if isinstance(body, tuple) and body[0] == "form":
                kwargs["data"] = body[1]
            elif isinstance(body, tuple):
                ctype, raw = body
                kwargs["content"] = raw
                if ctype:
                    kwargs["headers"] = {"content-type": ctype}
            response = http.request(method, path, **kwargs)  # type: ignore[arg-type]
            assert response.status_code < 500, (method, path, body, response.text[:500])
            if dump(world.url) != before:
                assert method == "POST" and path in valid_paths, (method, path, body)
                changes.append(path)

        check()
    # The valid tokens did get through at least sometimes (the fuzz is not vacuous).
    assert changes


def test_concurrent_clicks_complete_once(world: World, live: LiveServer) -> None:
    """A double (or eightfold) click at once: one completion, the rest "already done"."""
    from concurrent.futures import ThreadPoolExecutor

    q2 = world.step("q2_note", TEACHER)
    link = f"{live.base_url}/a/{world.token(TEACHER, 'complete', q2)}"
    form = {
        "action": "a",
        "communicated": "b",
        "follow_up": "c",
        "resources": "d",
    }

    def post(_: int) -> httpx.Response:
        return httpx.post(link, data=form, timeout=30)

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(post, range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert sum("Completed." in r.text for r in responses) == 1
    assert sum("Already done" in r.text for r in responses) == 7
    with session_scope(world.url) as s:
        assert len(s.exec(select(Note).where(Note.step_id == q2)).all()) == 1
