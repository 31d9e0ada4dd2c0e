"""The parent copy: a PDF of the student's current EL ILP, and the step it completes.

The seed (002): "the ILP coordinator will send you a hard copy or email a pdf". The coordinator
completes the `parent_copy` step one of two ways:

* **send**: Apprise delivers the PDF as an attachment to the guardian's address (prefilled from
  the student's contacts in the feed: guardians first, then parents, relatives), through the
  parent-copy URL template (`Settings.parent_copy_url`, `ILP_PARENT_COPY_URL`);
* **printed**: the coordinator printed it and handed it over.

Either way the exact PDF (bytes and SHA-256) is stored in `parent_copy`, and the audit event
names the copy, its checksum, the language and, when sent, the address. The message itself
carries initials and the internal id only; the student's name is inside the PDF, for the family.

Sending happens after the step's transaction commits (`hand_over_and_send`): the transaction
records the copy as "to_send"; only a committed copy is sent, then marked "sent" or "failed"
with an audit event of its own. A failed send never undoes the step (print it instead, or send
again); a rolled-back transaction never sends. `send_pending` sends copies left "to_send" by a
process that stopped between the commit and the send; every sweep runs it (the escalation flow
and `ilp sweep`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import apprise
import sqlalchemy as sa
from sqlmodel import Session, col, select

from config.labels import labels_for
from config.settings import Settings, get_settings
from lifecycle.el_ilp import content_of
from lifecycle.types import StepKind, grade_name
from models.db import session_scope
from models.documents import ElIlpVersion, ParentCopy
from models.tables import AuditEvent, Note, Student
from services.actions import (
    ActionOutcome,
    Actor,
    InvalidInput,
    StepContext,
    begin_action,
    done_outcome,
    load_step,
    mark_completed,
    record_audit,
    snapshot,
)
from services.contacts import contacts_of
from services.el_ilp import latest
from services.ilp_pdf import CopyHeader, render_parent_copy

HOW = ("send", "printed")
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
# Feed columns (kept in Student.external) that may carry a guardian's address (simple CSVs).
GUARDIAN_KEYS = ("guardian_email", "parent_email", "agent_email", "guardianEmail")
TO_SEND, SENT, FAILED = "to_send", "sent", "failed"

# (Apprise URL, title, body, attachment path) -> sent?
Send = Callable[[str, str, str, Path], bool]


class NoVersion(InvalidInput):
    """There is no saved EL ILP version to copy yet."""


def parent_copy_url(settings: Settings | None = None) -> str:
    """The Apprise URL template for parent copies (`ILP_PARENT_COPY_URL`), else the sink."""
    return (settings or get_settings()).parent_copy_target


def guardian_address(session: Session, student: Student) -> str:
    """The guardian's address: the first of the student's contacts from the feed with a valid
    e-mail (guardians, then parents, then relatives), else a guardian column of a simple CSV."""
    for contact in contacts_of(session, int(student.id or 0)):
        if _EMAIL.match(contact.email):
            return contact.email
    for key in GUARDIAN_KEYS:
        value = str((student.external or {}).get(key) or "").strip()
        if _EMAIL.match(value):
            return value
    return ""


def apprise_send(url: str, title: str, body: str, attachment: Path) -> bool:
    apobj = apprise.Apprise()
    if not apobj.add(url):
        raise InvalidInput("The parent-copy notify URL is not one Apprise can use")
    return bool(apobj.notify(title=title, body=body, attach=str(attachment)))


@dataclass(frozen=True)
class Draft:
    """A parent copy ready to hand over: the PDF and what it was made from."""

    version: ElIlpVersion
    language: str
    filename: str
    pdf: bytes
    sha256: str


def draft(session: Session, ctx: StepContext) -> Draft:
    """The PDF of the student's newest EL ILP version, in the parent's language."""
    row = latest(session, int(ctx.student.id or 0))
    if row is None:
        raise NoVersion("There is no saved EL ILP yet: the ESL teacher saves one first.")
    language, labels = labels_for(row.parent_language)
    header = CopyHeader(
        student_name=f"{ctx.student.given_name} {ctx.student.family_name}".strip(),
        school_name=ctx.school.name,
        grade=grade_name(ctx.enrollment.grade),
        version=row.version,
        updated_on=row.created_at.date(),
    )
    pdf = render_parent_copy(header, content_of(row), labels)
    filename = f"el-ilp-{ctx.student.id}-v{row.version}-{language}.pdf"
    return Draft(row, language, filename, pdf, hashlib.sha256(pdf).hexdigest())


def preview(session: Session, step_id: int, staff_id: int) -> Draft:
    """The PDF as it would go out now (for the coordinator to look at); stores nothing."""
    ctx = load_step(session, step_id, staff_id)
    return draft(session, ctx)


def hand_over(
    session: Session, step_id: int, actor: Actor, form: Mapping[str, Any]
) -> ActionOutcome:
    """Complete the parent_copy step: the PDF is stored, and a copy to e-mail is recorded
    "to_send" (sent after this transaction commits: `send_recorded`)."""
    ctx = begin_action(session, step_id, actor, "complete")
    if isinstance(ctx, ActionOutcome):
        return ctx
    step = ctx.step
    if StepKind(step.kind) is not StepKind.PARENT_COPY:
        raise InvalidInput("Only the parent copy step is handed over")
    how = str(form.get("how") or "").strip()
    if how not in HOW:
        raise InvalidInput("Choose: send the PDF by email, or printed and handed over", "how")
    address = str(form.get("email") or "").strip()
    if how == "send" and not address:
        address = guardian_address(session, ctx.student)
    if how == "send" and not _EMAIL.match(address):
        raise InvalidInput("Give the guardian's email address (name@example.org)", "email")
    made = draft(session, ctx)
    before = snapshot(step)
    copy = ParentCopy(
        step_id=int(step.id or 0),
        version_id=made.version.id,
        language=made.language,
        filename=made.filename,
        sha256=made.sha256,
        size=len(made.pdf),
        pdf=made.pdf,
        handed_over=how,
        recipient=address if how == "send" else None,
        send_status=TO_SEND if how == "send" else None,
        staff_id=actor.staff_id,
        created_at=actor.now,
    )
    session.add(copy)
    mark_completed(ctx, actor)
    session.add(step)
    answers = {
        "confirmed": "yes",
        "handed_over": how,
        "version": str(made.version.version),
        "sha256": made.sha256,
    }
    note = Note(
        step_id=step.id,  # type: ignore[arg-type]
        kind=StepKind.PARENT_COPY,
        answers=answers,
        variant=how,
        author_staff_id=actor.staff_id,
        created_at=actor.now,
    )
    session.add(note)
    session.flush()
    after = snapshot(step) | {"note_id": note.id, "parent_copy": _copy_audit(copy, made)}
    audit_id = record_audit(session, ctx, actor, "step.completed", before, after)
    message = (
        f"Recorded: the EL ILP (version {made.version.version}) goes to {address} as a PDF."
        if how == "send"
        else f"Recorded: the EL ILP (version {made.version.version}) was printed and handed over."
    )
    outcome = done_outcome(ctx, "complete", message, audit_id, "completed", completed=True)
    outcome.after["parent_copy_id"] = copy.id
    return outcome


def _copy_audit(copy: ParentCopy, made: Draft | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": copy.id,
        "how": copy.handed_over,
        "recipient": copy.recipient,
        "filename": copy.filename,
        "sha256": copy.sha256,
        "size": copy.size,
        "language": copy.language,
        "send_status": copy.send_status,
    }
    if made is not None:
        out["el_ilp_version"] = made.version.version
    return out


def send_recorded(
    copy_id: int,
    now: datetime,
    *,
    db_url: str | None = None,
    url_template: str | None = None,
    send: Send = apprise_send,
) -> str | None:
    """Send one committed copy recorded "to_send"; mark it "sent" or "failed" and audit what
    was sent (address, file, checksum). Returns the new status, or None when the copy was not
    waiting (already sent, printed, or never committed): a copy is claimed once."""
    template = url_template or parent_copy_url()
    pc = ParentCopy.__table__  # type: ignore[attr-defined]
    with session_scope(db_url) as session:
        claimed = session.execute(
            sa.update(pc)
            .where(pc.c.id == copy_id, pc.c.send_status == TO_SEND)
            .values(send_status="sending")
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        copy = session.get(ParentCopy, copy_id)
        assert copy is not None
        session.expunge(copy)
        ref = _student_ref(session, copy.step_id)
        version = _version_number(session, copy)
    labels = labels_for(copy.language)[1]
    error = ""
    try:
        with tempfile.TemporaryDirectory(prefix="ilp-parent-copy-") as folder:
            path = Path(folder) / copy.filename
            path.write_bytes(copy.pdf)
            title = labels["email_subject"].format(ref=ref, version=version)
            body = labels["email_body"].format(ref=ref, version=version)
            url = template.replace("{email}", quote(copy.recipient or "", safe="@"))
            ok = send(url, title, body, path)
    except Exception as exc:  # Apprise refusing the URL, a full disk: a failed send, recorded
        ok, error = False, f"{type(exc).__name__}: {exc}"[:500]
    status = SENT if ok else FAILED
    with session_scope(db_url) as session:
        row = session.get(ParentCopy, copy_id)
        assert row is not None
        row.send_status = status
        row.sent_at = now if ok else None
        row.send_error = None if ok else (error or "the notification service refused it")
        session.add(row)
        session.add(
            AuditEvent(
                at=now,
                actor_staff_id=row.staff_id,
                action="parent_copy.sent" if ok else "parent_copy.send_failed",
                step_id=row.step_id,
                after={"parent_copy": _copy_audit(row)},
                detail=row.send_error,
            )
        )
    return status


def send_pending(
    now: datetime,
    *,
    db_url: str | None = None,
    url_template: str | None = None,
    send: Send = apprise_send,
) -> dict[int, str]:
    """Send every copy still "to_send" (a process stopped between its commit and the send)."""
    pc = ParentCopy.__table__  # type: ignore[attr-defined]
    with session_scope(db_url) as session:
        ids = list(session.execute(sa.select(pc.c.id).where(pc.c.send_status == TO_SEND)).scalars())
    out: dict[int, str] = {}
    for copy_id in ids:
        status = send_recorded(copy_id, now, db_url=db_url, url_template=url_template, send=send)
        if status is not None:
            out[copy_id] = status
    return out


def hand_over_and_send(
    step_id: int,
    actor: Actor,
    form: Mapping[str, Any],
    *,
    db_url: str | None = None,
    url_template: str | None = None,
    send: Send = apprise_send,
) -> ActionOutcome:
    """`hand_over` in its own transaction, then (once committed) the e-mail. The outcome's
    message says whether the e-mail went; the step stays completed either way."""
    with session_scope(db_url) as session:
        outcome = hand_over(session, step_id, actor, form)
    copy_id = outcome.after.get("parent_copy_id")
    if not outcome.changed or str(form.get("how") or "").strip() != "send" or copy_id is None:
        return outcome
    status = send_recorded(
        int(copy_id), actor.now, db_url=db_url, url_template=url_template, send=send
    )
    with session_scope(db_url) as session:
        copy = session.get(ParentCopy, int(copy_id))
        assert copy is not None
        recipient, number = copy.recipient, _version_number(session, copy)
    if status == SENT:
        message = f"Sent the EL ILP (version {number}) to {recipient} as a PDF."
    else:
        message = (
            f"The step is completed, but the email to {recipient} could not be sent (recorded "
            "as failed). Print the PDF and hand it over."
        )
    return dataclasses.replace(outcome, message=message)


def send_again(
    copy_id: int,
    now: datetime,
    *,
    db_url: str | None = None,
    url_template: str | None = None,
    send: Send = apprise_send,
) -> str | None:
    """Try a failed copy once more (the same PDF, to the same address)."""
    pc = ParentCopy.__table__  # type: ignore[attr-defined]
    with session_scope(db_url) as session:
        session.execute(
            sa.update(pc)
            .where(pc.c.id == copy_id, pc.c.send_status == FAILED)
            .values(send_status=TO_SEND)
        )
    return send_recorded(copy_id, now, db_url=db_url, url_template=url_template, send=send)


def _version_number(session: Session, copy: ParentCopy) -> int:
    version = session.get(ElIlpVersion, copy.version_id) if copy.version_id else None
    return version.version if version else 0


def _student_ref(session: Session, step_id: int) -> str:
    from lifecycle.students import student_ref
    from models.tables import Enrollment, Step

    step = session.get(Step, step_id)
    enrollment = session.get(Enrollment, step.enrollment_id) if step else None
    student = session.get(Student, enrollment.student_id) if enrollment else None
    return student_ref(
        student.initials if student else None, int(student.id or 0) if student else 0
    )


def copies(session: Session, step_id: int) -> list[ParentCopy]:
    return list(
        session.exec(
            select(ParentCopy).where(ParentCopy.step_id == step_id).order_by(col(ParentCopy.id))
        )
    )
