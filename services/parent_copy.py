"""The parent copy: a PDF of the student's current EL ILP, and the step it completes.

The seed (002): "the ILP coordinator will send you a hard copy or email a pdf". The coordinator
completes the `parent_copy` step one of two ways:

* **send**: Apprise delivers the PDF as an attachment to the guardian's address (prefilled from
  the feed when it carried one), through the parent-copy notify URL template;
* **printed**: the coordinator printed it and handed it over.

Either way the exact PDF (bytes and SHA-256) is stored in `parent_copy`, and the audit event
names the copy, its checksum, the language and, when sent, the address. The message itself
carries initials and the internal id only; the student's name is inside the PDF, for the family.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import apprise
from sqlmodel import Session, col, select

from config.labels import labels_for
from lifecycle.el_ilp import content_of
from lifecycle.types import StepKind, grade_name
from models.documents import ElIlpVersion, ParentCopy
from models.tables import Note
from services.actions import (
    ActionOutcome,
    Actor,
    InvalidInput,
    StepContext,
    _audit,
    _begin,
    _done,
    _finish,
    load_step,
    snapshot,
)
from services.el_ilp import latest
from services.ilp_pdf import CopyHeader, render_parent_copy

HOW = ("send", "printed")
_EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
# Feed columns (kept in Student.external) that may carry a guardian's address.
GUARDIAN_KEYS = ("guardian_email", "parent_email", "agent_email", "guardianEmail")
ENV_URL = "ILP_PARENT_COPY_URL"

# (Apprise URL, title, body, attachment path) -> sent?
Send = Callable[[str, str, str, Path], bool]


class NoVersion(InvalidInput):
    """There is no saved EL ILP version to copy yet."""


def parent_copy_url(sink_port: int) -> str:
    """The Apprise URL template for parent copies: `ILP_PARENT_COPY_URL` (e.g.
    `mailtos://user:pass@smtp.example.org?to={email}`), else the local sink."""
    return os.environ.get(ENV_URL) or f"json://127.0.0.1:{sink_port}/guardian/{{email}}"


def guardian_address(external: Mapping[str, str] | None) -> str:
    """The guardian's address from the feed, when it carried one."""
    for key in GUARDIAN_KEYS:
        value = str((external or {}).get(key) or "").strip()
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
    session: Session,
    step_id: int,
    actor: Actor,
    form: Mapping[str, Any],
    *,
    url_template: str,
    send: Send = apprise_send,
) -> ActionOutcome:
    """Complete the parent_copy step by sending the PDF or recording it printed."""
    ctx = _begin(session, step_id, actor, "complete")
    if isinstance(ctx, ActionOutcome):
        return ctx
    step = ctx.step
    if StepKind(step.kind) is not StepKind.PARENT_COPY:
        raise InvalidInput("Only the parent copy step is handed over")
    how = str(form.get("how") or "").strip()
    if how not in HOW:
        raise InvalidInput("Choose: send the PDF by email, or printed and handed over", "how")
    address = str(form.get("email") or "").strip()
    if how == "send" and not _EMAIL.match(address):
        raise InvalidInput("Give the guardian's email address (name@example.org)", "email")
    made = draft(session, ctx)
    labels = labels_for(made.language)[1]
    ref = ctx.student_ref
    if how == "send":
        with tempfile.TemporaryDirectory(prefix="ilp-parent-copy-") as folder:
            path = Path(folder) / made.filename
            path.write_bytes(made.pdf)
            title = labels["email_subject"].format(ref=ref, version=made.version.version)
            body = labels["email_body"].format(ref=ref, version=made.version.version)
            url = url_template.replace("{email}", quote(address, safe="@"))
            if not send(url, title, body, path):
                raise InvalidInput(
                    "The email could not be sent. Nothing was changed: try again, or print it "
                    "and mark it handed over.",
                    "email",
                )
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
        staff_id=actor.staff_id,
        created_at=actor.now,
    )
    session.add(copy)
    _finish(ctx, actor)
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
    after = snapshot(step) | {
        "note_id": note.id,
        "parent_copy": {
            "id": copy.id,
            "how": how,
            "recipient": copy.recipient,
            "filename": made.filename,
            "sha256": made.sha256,
            "size": len(made.pdf),
            "language": made.language,
            "el_ilp_version": made.version.version,
        },
    }
    audit_id = _audit(session, ctx, actor, "step.completed", before, after)
    message = (
        f"Sent the EL ILP (version {made.version.version}) to {address} as a PDF."
        if how == "send"
        else f"Recorded: the EL ILP (version {made.version.version}) was printed and handed over."
    )
    return _done(ctx, "complete", message, audit_id, "completed", completed=True)


def copies(session: Session, step_id: int) -> list[ParentCopy]:
    return list(
        session.exec(
            select(ParentCopy).where(ParentCopy.step_id == step_id).order_by(col(ParentCopy.id))
        )
    )
