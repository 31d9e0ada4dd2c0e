"""Chromium against a real server: a returning student's second-year welcome call page shows
last year's synopsis (the screenshot is docs/screenshots/carry-over.png)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.web.conftest import ARTIFACTS, Clock, LiveServer, World
from tests.web.test_years import SECOND_YEAR, SYNOPSIS, first_year_notes, roll, second_year_step


@pytest.mark.browser
def test_the_second_years_welcome_call_page_in_a_browser(
    world: World, live: LiveServer, clock: Clock, browser: object
) -> None:
    student, author = first_year_notes(world)
    roll(world)
    clock.now = SECOND_YEAR
    step_id, owner = second_year_step(world, student, "welcome_call")
    token = world.token(owner, "complete", step_id, expires_at=SECOND_YEAR + timedelta(days=30))
    page = browser.new_page(viewport={"width": 900, "height": 1250})  # type: ignore[attr-defined]
    page.goto(f"{live.base_url}/a/{token}")
    block = page.locator(".carry-over")
    assert block.is_visible()
    text = block.inner_text()
    assert "Last year (2026-2027" in text and f"Student Synopsis by {author}" in text
    assert SYNOPSIS["successes"] in text
    # The teacher can still log the call from the same page.
    assert page.get_by_role("button", name="Log this contact attempt").is_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "carry-over.png"), full_page=True)
