"""The parent copy: a real PDF of the current EL ILP, sent with Apprise or printed."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlmodel import select

from models.db import session_scope
from models.documents import ParentCopy
from models.tables import AuditEvent, Step
from notifications.sink import SinkServer
from services.actions import InvalidInput
from services.parent_copy import apprise_send, hand_over, parent_copy_url, preview
from tests.documents.helpers import EL_FORM, owner_actor, save
from tests.web.conftest import NOW, World

LATER = NOW + timedelta(days=1)


def _pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def _copy_step(world: World) -> int:
    save(world, EL_FORM)
    return world.step("parent_copy")


def test_the_pdf_is_the_version_in_the_parents_language(world: World) -> None:
    step_id = _copy_step(world)
    with session_scope(world.url) as s:
        owner = world.get(step_id).owner_staff_id or 0
        made = preview(s, step_id, owner)
    assert made.pdf.startswith(b"%PDF-")
    text = _pdf_text(made.pdf)
    # Spanish labels, the teacher's words as written.
    assert "Plan de Aprendizaje Individual" in text
    assert "Comprensión auditiva" in text and "2.5" in text
    assert "Sentence frames; word walls" in text
    assert "Parent: Sra. Núñez" in text
    assert "Fecha de la evaluación: 2026-09-01" in text
    # English when the parent's language has no label file.
    save(world, EL_FORM | {"parent_language": "vi"}, kind="el_ilp_review", now=LATER)
    with session_scope(world.url) as s:
        english = preview(s, step_id, owner)
    assert "English Learner Individual Learning Plan" in _pdf_text(english.pdf)
    assert english.language == "en" and english.version.version == 2


def test_send_attaches_the_pdf_stores_it_with_its_checksum_and_audits(
    world: World, tmp_path: Path
) -> None:
    step_id = _copy_step(world)
    actor = owner_actor(world, step_id, LATER)
    with SinkServer(tmp_path).start() as sink:
        url = parent_copy_url(sink.port)
        with session_scope(world.url) as s:
            out = hand_over(
                s,
                step_id,
                actor,
                {"how": "send", "email": "guardian@example.org"},
                url_template=url,
                send=apprise_send,
            )
        messages = sink.messages()
    assert out.completed and "guardian@example.org" in out.message
    (message,) = messages
    assert message["path"] == "/guardian/guardian@example.org"
    payload = message["payload"]
    (attachment,) = payload["attachments"]
    assert attachment["filename"].endswith("-es.pdf")
    import base64

    sent = base64.b64decode(attachment["base64"])
    assert "Plan de Aprendizaje Individual" in _pdf_text(sent)
    assert "Núñez" not in payload["title"] + payload["message"]  # initials only in the message
    with session_scope(world.url) as s:
        (copy,) = s.exec(select(ParentCopy)).all()
        assert copy.pdf == sent and copy.sha256 == hashlib.sha256(sent).hexdigest()
        assert (copy.handed_over, copy.recipient, copy.language) == (
            "send",
            "guardian@example.org",
            "es",
        )
        audit = s.exec(select(AuditEvent).where(AuditEvent.step_id == step_id)).one()
        assert audit.after["parent_copy"]["sha256"] == copy.sha256
        assert audit.after["parent_copy"]["recipient"] == "guardian@example.org"
        assert s.get(Step, step_id).status == "completed"  # type: ignore[union-attr]


def test_printed_and_handed_over(world: World) -> None:
    step_id = _copy_step(world)
    with session_scope(world.url) as s:
        out = hand_over(
            s,
            step_id,
            owner_actor(world, step_id, LATER),
            {"how": "printed"},
            url_template="json://127.0.0.1:9/x",
        )
    assert out.completed and "printed" in out.message
    with session_scope(world.url) as s:
        (copy,) = s.exec(select(ParentCopy)).all()
    assert copy.handed_over == "printed" and copy.recipient is None and copy.size == len(copy.pdf)


def test_a_failed_send_changes_nothing(world: World) -> None:
    step_id = _copy_step(world)
    with pytest.raises(InvalidInput, match="could not be sent"), session_scope(world.url) as s:
        hand_over(
            s,
            step_id,
            owner_actor(world, step_id, LATER),
            {"how": "send", "email": "guardian@example.org"},
            url_template="x",
            send=lambda *a: False,
        )
    with pytest.raises(InvalidInput, match="email address"), session_scope(world.url) as s:
        hand_over(
            s,
            step_id,
            owner_actor(world, step_id, LATER),
            {"how": "send", "email": "x"},
            url_template="x",
            send=lambda *a: True,
        )
    with session_scope(world.url) as s:
        assert s.exec(select(ParentCopy)).all() == []
        assert s.get(Step, step_id).status == "open"  # type: ignore[union-attr]
