"""Chromium on the grouped task list: filter by step and state, page through, tick steps and
acknowledge them in bulk. Saves docs/screenshots/task-list.png."""

from __future__ import annotations

import re

import pytest

from notifications.render import step_label
from tests.web.conftest import REPO, Events, LiveServer, World
from tests.web.test_live import browser  # noqa: F401  (the shared Chromium fixture)
from tests.web.test_tasklist import TEACHER, TODAY, fill_caseload, listed

SCREENSHOT = REPO / "docs" / "screenshots" / "task-list.png"


@pytest.mark.browser
def test_browser_filters_pages_and_acknowledges_in_bulk(
    world: World,
    live: LiveServer,
    events: Events,
    browser: object,  # noqa: F811
) -> None:
    mine = fill_caseload(world, TEACHER, 320)
    pages = -(-len(mine) // 100)
    page = browser.new_page(viewport={"width": 1000, "height": 1250})  # type: ignore[attr-defined]
    page.goto(f"{live.base_url}/a/{world.token(TEACHER, 'tasks')}")
    assert page.get_by_role("heading", level=1).inner_text() == "Your open ILP steps"
    assert page.get_by_text(f"Page 1 of {pages}").is_visible()
    first_group = page.locator("section.caseload-student h2.who").first.inner_text()
    assert re.fullmatch(r"[A-Z]\.[A-Z]\. #\d+", first_group)  # initials + internal id only

    # tick the first three listed and acknowledge them in bulk
    ticked = listed(page.content())[:3]
    for step_id in ticked:
        page.locator(f'#step-{step_id} input[type="checkbox"]').check()
    page.screenshot(path=str(SCREENSHOT))
    page.get_by_role("button", name="Acknowledge selected").click()
    page.wait_for_selector("text=3 of 3 selected steps acknowledged")
    assert all(world.get(i).acknowledged_until is not None for i in ticked)
    assert sorted(s for k, s, _ in events.calls if k == "acknowledged") == sorted(ticked)
    page.get_by_role("link", name="Back to your task list").click()
    for step_id in ticked:  # they stay listed, paused, and no longer offer acknowledge
        row = page.locator(f"#step-{step_id}")
        assert "acknowledged: paused until" in row.inner_text()
        assert row.get_by_role("button", name="Acknowledge").count() == 0

    # paginate: the next page continues in the same order
    # (wait_for: a click returns before the next page has loaded on a busy machine)
    page.get_by_role("link", name="Next →").first.click()
    page.get_by_text(f"Page 2 of {pages}").wait_for(state="visible")
    assert len(listed(page.content())) == 100
    page.get_by_role("link", name="← Previous").first.click()
    page.get_by_text(f"Page 1 of {pages}").wait_for(state="visible")

    # filter: overdue steps, then only the welcome notes among them, then the acknowledged ones
    page.get_by_role("link", name=re.compile(r"^Overdue \d+")).click()
    assert page.get_by_role("heading", level=1).inner_text() == "Your ILP steps: overdue"
    page.get_by_label("Step").select_option(label=step_label("welcome_note"))
    page.get_by_role("button", name="Show").click()
    labels = page.locator("div.task .task-title strong").all_inner_texts()
    assert labels and set(labels) == {step_label("welcome_note")}
    assert all("overdue since" in b for b in page.locator("div.task").all_inner_texts())
    assert all(world.get(i).due < TODAY for i in listed(page.content()))
    page.get_by_role("link", name=re.compile(r"^Acknowledged \d+")).click()  # keeps the kind
    acknowledged = listed(page.content())
    assert set(acknowledged) == {i for i in ticked if world.get(i).kind == "welcome_note"}
    page.close()
