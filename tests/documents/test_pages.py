"""The document pages behind a step's complete link: /ilp/{token}, which /a/{token} points to."""

from __future__ import annotations

import io
from datetime import timedelta

from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import select

from models.db import session_scope
from models.documents import ElIlpVersion, ParentCopy
from tests.documents.helpers import EL_FORM
from tests.web.conftest import World, dump

ESL = "esl-0001"


def _owner_source(world: World, step_id: int) -> str:
    owner = world.get(step_id).owner_staff_id
    return next(src for src, sid in world.staff.items() if sid == owner)


def _post(client: TestClient, url: str, form: dict[str, str]):  # noqa: ANN202
    return client.post(url, data=form | {"_submission": "ab" * 16})


def test_el_ilp_link_opens_the_form_and_saving_makes_versions_and_a_diff(
    world: World, client: TestClient
) -> None:
    el = world.step("el_ilp", ESL)
    token = world.token(ESL, "complete", el)
    action = client.get(f"/a/{token}")
    assert action.status_code == 200 and f"/ilp/{token}" in action.text
    assert 'name="confirm"' not in action.text  # saving a version is the only way

    snap = dump(world.url)
    page = client.get(f"/ilp/{token}")
    assert page.status_code == 200 and "this will be version 1" in page.text
    assert client.head(f"/ilp/{token}").status_code == 200
    assert dump(world.url) == snap  # GET changes nothing

    bad = _post(client, f"/ilp/{token}", EL_FORM | {"reading": "9"})
    assert bad.status_code == 422 and "proficiency level" in bad.text
    assert "Sentence frames; word walls" in bad.text  # what was typed comes back

    done = _post(client, f"/ilp/{token}", EL_FORM)
    assert done.status_code == 200 and "Saved as version 1" in done.text

    review = world.step("el_ilp_review", ESL)
    token2 = world.token(ESL, "complete", review)
    prefilled = client.get(f"/ilp/{token2}")
    assert "Current version: <strong>1</strong>" in prefilled.text
    assert "Mr. Lee (math)" in prefilled.text  # the form starts from the current version
    form = EL_FORM | {
        "reading": "2.2",
        "strategies": "Sentence frames; word walls; visuals with every new word\nPartner reading",
    }
    assert "Saved as version 2" in _post(client, f"/ilp/{token2}", form).text

    diff = client.get(f"/ilp/{token2}", params={"a": "1", "b": "2"})
    assert "What changed from version 1 to version 2" in diff.text
    assert 'class="added"><span class="mark">+</span> Partner reading' in diff.text
    changed = diff.text.split('id="diff"')[1]
    assert "<h3>Reading</h3>" in changed and "<h3>Goals</h3>" not in changed
    assert "The current ILP (version 2)" in diff.text  # the step is done: read mode
    with session_scope(world.url) as s:
        assert [v.version for v in s.exec(select(ElIlpVersion))] == [1, 2]


def test_parent_copy_page_pdf_and_printed(world: World, client: TestClient) -> None:
    el = world.step("el_ilp", ESL)
    _post(client, f"/ilp/{world.token(ESL, 'complete', el)}", EL_FORM)
    copy_step = world.step("parent_copy")
    who = _owner_source(world, copy_step)
    token = world.token(who, "complete", copy_step)
    page = client.get(f"/ilp/{token}")
    assert page.status_code == 200 and "version <strong>1</strong>" in page.text
    assert "Spanish" in page.text
    pdf = client.get(f"/ilp/{token}/pdf")
    assert pdf.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text()
    assert "Plan de Aprendizaje Individual" in text

    missing = _post(client, f"/ilp/{token}", {"how": "send", "email": ""})
    assert missing.status_code == 422 and "email address" in missing.text
    done = _post(client, f"/ilp/{token}", {"how": "printed"})
    assert done.status_code == 200 and "printed and handed over" in done.text
    with session_scope(world.url) as s:
        (row,) = s.exec(select(ParentCopy)).all()
    assert row.pdf == pdf.content  # what was checked is what was handed over
    again = client.get(f"/ilp/{token}")
    assert row.sha256[:12] in again.text


def test_other_links_do_not_open_documents(world: World, client: TestClient) -> None:
    el = world.step("el_ilp", ESL)
    q2 = world.step("q2_note", "tch-0001-001")
    assert client.get(f"/ilp/{world.token(ESL, 'acknowledge', el)}").status_code == 403
    assert client.get(f"/ilp/{world.token('tch-0001-001', 'complete', q2)}").status_code == 404
    assert client.get(f"/ilp/{world.token('tch-0001-001', 'complete', el)}").status_code == 403
    assert client.get("/ilp/not-a-token").status_code == 400
    assert (
        client.post(
            f"/ilp/{world.token(ESL, 'complete', el)}",
            content=b"{}",
            headers={"content-type": "application/json"},
        ).status_code
        == 415
    )
    expired = world.token(ESL, "complete", el, expires_at=world.get(el).created_at - timedelta(1))
    assert client.get(f"/ilp/{expired}").status_code == 410
