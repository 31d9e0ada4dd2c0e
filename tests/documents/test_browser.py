"""Chromium against a real server: the ESL teacher updates the EL ILP from the step's link; the
collaborators' next digests carry the notice and its link opens the ILP; the coordinator checks
the parent copy PDF and records it handed over."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlmodel import select

from models.db import session_factory, session_scope
from models.documents import ElIlpVersion, ParentCopy
from services.sweep import run_sweep
from tests.documents.helpers import EL_FORM, save
from tests.documents.test_collaborators import LABEL, capture, item_link, notices
from tests.web.conftest import ARTIFACTS, NOW, Clock, LiveServer, World

ESL = "esl-0001"


@pytest.mark.browser
def test_browser_updates_the_el_ilp_and_hands_over_the_parent_copy(
    world: World, live: LiveServer, clock: Clock, browser: object, tmp_path: Path
) -> None:
    save(world, EL_FORM)  # version 1, saved on the initial ILP step
    clock.now = NOW + timedelta(days=1)
    review = world.step("el_ilp_review", ESL)
    link = f"{live.base_url}/a/{world.token(ESL, 'complete', review)}"
    ARTIFACTS.mkdir(exist_ok=True)

    page = browser.new_page(viewport={"width": 900, "height": 1400})  # type: ignore[attr-defined]
    page.goto(link)
    page.get_by_role("link", name="Open the EL ILP").click()
    assert "Current version:" in page.content()
    # The form starts from version 1; the teacher changes what the review found.
    assert page.get_by_label("Reading").input_value() == "1.8"
    page.get_by_label("Reading").fill("2.4")
    page.get_by_label("Strategies to use daily in the classroom").fill(
        "Sentence frames; word walls; visuals with every new word\nPartner reading twice a week"
    )
    page.get_by_label(re.compile("Collaborators consulted")).fill(
        "Ms. Rivera (ESL)\nMr. Lee (math)\nMs. Okafor (counselor)\nParent: Sra. Núñez"
    )
    page.screenshot(path=str(ARTIFACTS / "el_ilp_form.png"), full_page=True)
    page.get_by_role("button", name=re.compile("Save as version 2")).click()
    page.wait_for_selector("text=Saved as version 2")
    page.get_by_role("link", name="See the ILP document and its versions").click()
    page.get_by_role("button", name="Compare").click()
    diff = page.content()
    assert "What changed from version 1 to version 2" in diff
    assert "Partner reading twice a week" in diff and "Ms. Okafor (counselor)" in diff
    page.screenshot(path=str(ARTIFACTS / "el_ilp_diff.png"), full_page=True)
    with session_scope(world.url) as s:
        rows = list(s.exec(select(ElIlpVersion).order_by(ElIlpVersion.version)))  # type: ignore[arg-type]
    assert [(r.version, r.reading) for r in rows] == [(1, "1.8"), (2, "2.4")]

    # The next sweep: each teacher's and the counselor's digest carries the notice, and its
    # link opens the current ILP for them to use in class.
    sender = capture(world, live.base_url)
    run_sweep(session_factory(world.url), clock.now + timedelta(minutes=5), sender)
    told = {n.owner_staff_id for n in notices(world) if n.seq >= 200}  # version 2's notices
    assert told and told <= set(sender.sent)
    teacher = sorted(told)[0]
    digest = "\n".join(sender.sent[teacher])
    assert LABEL in digest
    page.goto(item_link(digest, LABEL, "Complete"))
    page.get_by_role("link", name="Read the ILP").click()
    assert "Partner reading twice a week" in page.content()
    page.screenshot(path=str(ARTIFACTS / "el_ilp_notice.png"), full_page=True)
    page.get_by_role("button", name="I have read it").click()
    page.wait_for_selector("text=Completed")

    # The coordinator: the parent copy of version 2, checked, then printed and handed over.
    copy_step = world.step("parent_copy")
    owner = world.get(copy_step).owner_staff_id
    who = next(src for src, sid in world.staff.items() if sid == owner)
    page.goto(f"{live.base_url}/ilp/{world.token(who, 'complete', copy_step)}")
    assert "version <strong>2</strong>" in page.content()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the PDF to check it").click()
    pdf_path = tmp_path / "copy.pdf"
    download.value.save_as(str(pdf_path))
    text = PdfReader(io.BytesIO(pdf_path.read_bytes())).pages[0].extract_text()
    assert "Plan de Aprendizaje Individual" in text and "Partner reading twice a week" in text
    page.get_by_label("I printed it and handed it over").check()
    page.get_by_role("button", name="Complete: parent copy").click()
    page.wait_for_selector("text=printed and handed over")
    page.screenshot(path=str(ARTIFACTS / "parent_copy_done.png"), full_page=True)
    page.close()
    with session_scope(world.url) as s:
        (copy,) = s.exec(select(ParentCopy)).all()
    assert copy.pdf == pdf_path.read_bytes() and copy.handed_over == "printed"
