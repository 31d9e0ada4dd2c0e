"""The parent copy: a real PDF of the current EL ILP, sent with Apprise or printed."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlmodel import select

from config.settings import Settings
from models.db import session_scope
from models.documents import ParentCopy
from models.tables import AuditEvent, Contact, Enrollment, Step, StudentContact
from notifications.sink import SinkServer, free_port
from services.actions import InvalidInput
from services.parent_copy import (
    hand_over,
    hand_over_and_send,
    preview,
    send_again,
    send_pending,
)
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


def _sink_url(sink: SinkServer) -> str:
    return Settings(sink_port=sink.port, _env_file=None).parent_copy_target  # type: ignore[call-arg]


def _add_guardian(world: World, step_id: int, email: str = "rosa.q@home.example") -> None:
    with session_scope(world.url) as s:
        step = s.get(Step, step_id)
        enrollment = s.get(Enrollment, step.enrollment_id)  # type: ignore[union-attr]
        relative = Contact(
            source_id="g-rel", given_name="Ines", family_name="Vidal", email="i@v.example"
        )
        guardian = Contact(source_id="g-1", given_name="Rosa", family_name="Q", email=email)
        s.add_all([relative, guardian])
        s.flush()
        for contact, relationship in ((relative, "relative"), (guardian, "guardian")):
            s.add(
                StudentContact(
                    student_id=enrollment.student_id,  # type: ignore[union-attr]
                    contact_id=contact.id,
                    relationship=relationship,
                )
            )


def test_send_goes_after_commit_to_the_guardian_on_file_and_is_audited(
    world: World, tmp_path: Path
) -> None:
    step_id = _copy_step(world)
    _add_guardian(world, step_id)
    actor = owner_actor(world, step_id, LATER)
    with SinkServer(tmp_path).start() as sink:
        out = hand_over_and_send(
            step_id, actor, {"how": "send"}, db_url=world.url, url_template=_sink_url(sink)
        )
        messages = sink.messages()
    assert out.completed and "Sent the EL ILP (version 1) to rosa.q@home.example" in out.message
    (message,) = messages
    assert message["path"] == "/guardian/rosa.q@home.example"  # the guardian, not the relative
    payload = message["payload"]
    (attachment,) = payload["attachments"]
    assert attachment["filename"].endswith("-es.pdf")  # the parent's preferred language
    import base64

    sent = base64.b64decode(attachment["base64"])
    assert "Plan de Aprendizaje Individual" in _pdf_text(sent)
    assert "Núñez" not in payload["title"] + payload["message"]  # initials only in the message
    with session_scope(world.url) as s:
        (copy,) = s.exec(select(ParentCopy)).all()
        assert copy.pdf == sent and copy.sha256 == hashlib.sha256(sent).hexdigest()
        assert (copy.handed_over, copy.recipient, copy.language, copy.send_status) == (
            "send",
            "rosa.q@home.example",
            "es",
            "sent",
        )
        assert copy.sent_at is not None
        completed, delivered = s.exec(
            select(AuditEvent).where(AuditEvent.step_id == step_id).order_by(AuditEvent.id)
        ).all()
        assert completed.action == "step.completed"
        assert completed.after["parent_copy"]["send_status"] == "to_send"  # recorded first
        assert delivered.action == "parent_copy.sent"
        assert delivered.after["parent_copy"]["sha256"] == copy.sha256
        assert delivered.after["parent_copy"]["recipient"] == "rosa.q@home.example"
        assert s.get(Step, step_id).status == "completed"  # type: ignore[union-attr]


def test_printed_and_handed_over(world: World) -> None:
    step_id = _copy_step(world)
    out = hand_over_and_send(
        step_id,
        owner_actor(world, step_id, LATER),
        {"how": "printed"},
        db_url=world.url,
        url_template="json://127.0.0.1:9/x",
    )
    assert out.completed and "printed" in out.message
    with session_scope(world.url) as s:
        (copy,) = s.exec(select(ParentCopy)).all()
    assert copy.handed_over == "printed" and copy.recipient is None and copy.size == len(copy.pdf)
    assert copy.send_status is None


def test_a_failed_send_keeps_the_step_completed_and_records_the_failure(world: World) -> None:
    step_id = _copy_step(world)
    # a bad address is refused before anything is recorded
    with pytest.raises(InvalidInput, match="email address"), session_scope(world.url) as s:
        hand_over(s, step_id, owner_actor(world, step_id, LATER), {"how": "send", "email": "x"})
    with session_scope(world.url) as s:
        assert s.exec(select(ParentCopy)).all() == []
    closed = f"json://127.0.0.1:{free_port()}/guardian/{{email}}"  # nothing listens there
    out = hand_over_and_send(
        step_id,
        owner_actor(world, step_id, LATER),
        {"how": "send", "email": "guardian@example.org"},
        db_url=world.url,
        url_template=closed,
    )
    assert out.completed and "could not be sent" in out.message
    with session_scope(world.url) as s:
        (copy,) = s.exec(select(ParentCopy)).all()
        assert (copy.send_status, copy.sent_at) == ("failed", None) and copy.send_error
        assert s.get(Step, step_id).status == "completed"  # type: ignore[union-attr]
        actions = [
            e.action for e in s.exec(select(AuditEvent).where(AuditEvent.step_id == step_id))
        ]
        assert actions == ["step.completed", "parent_copy.send_failed"]
        copy_id = int(copy.id or 0)
    assert send_pending(LATER, db_url=world.url, url_template=closed) == {}  # failed: not pending
    assert send_again(copy_id, LATER, db_url=world.url, url_template=closed) == "failed"


def test_a_rolled_back_hand_over_never_sends_and_a_committed_one_is_sent_once(
    world: World, tmp_path: Path
) -> None:
    step_id = _copy_step(world)
    actor = owner_actor(world, step_id, LATER)
    form = {"how": "send", "email": "guardian@example.org"}
    with SinkServer(tmp_path).start() as sink:
        url = _sink_url(sink)
        with pytest.raises(RuntimeError), session_scope(world.url) as s:
            hand_over(s, step_id, actor, form)
            raise RuntimeError("the transaction fails after the copy was recorded")
        assert send_pending(LATER, db_url=world.url, url_template=url) == {}
        with session_scope(world.url) as s:
            assert s.exec(select(ParentCopy)).all() == []
            assert s.get(Step, step_id).status == "open"  # type: ignore[union-attr]
        # committed, then the process stops before sending: the next send_pending sends it
        with session_scope(world.url) as s:
            hand_over(s, step_id, actor, form)
        assert sink.messages() == []
        (status,) = send_pending(LATER, db_url=world.url, url_template=url).values()
        assert status == "sent"
        assert send_pending(LATER, db_url=world.url, url_template=url) == {}
        assert len(sink.messages()) == 1


def test_the_url_template_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    template = "mailtos://user:pass@smtp.example.org?to={email}"
    monkeypatch.setenv("ILP_PARENT_COPY_URL", template)
    assert Settings(_env_file=None).parent_copy_target == template  # type: ignore[call-arg]
    monkeypatch.delenv("ILP_PARENT_COPY_URL")
    default = Settings(sink_port=9999, _env_file=None)  # type: ignore[call-arg]
    assert default.parent_copy_target == "json://127.0.0.1:9999/guardian/{email}"
