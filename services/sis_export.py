"""Completed notes out to the SIS (TotalView School): one row per note, each note once per target.

Every target (the daily deployment, a person's CLI export, one per school...) keeps a cursor:
the highest note id it has written. A run reads the notes after the cursor, renders them, and
moves the cursor in the same transaction, so running it twice writes nothing the second time and
a crashed run writes nothing at all. Notes younger than `settle` wait for the next run: on
PostgreSQL a note's id is taken before its transaction commits, and a cursor that ran ahead of a
still-open transaction would skip that note for good.

CSV cells that start with = + - @ (or tab/CR) get an apostrophe (intake.safety.csv_safe), so a
note beginning "=HYPERLINK(...)" cannot run as a formula when someone opens the file. JSON keeps
the text verbatim: it is read by programs, not spreadsheets.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pendulum
from sqlmodel import Session, col, select

from intake.safety import csv_safe
from lifecycle.sis import COLUMNS, EXPORTED_KINDS, NoteRow, note_text, template_name
from lifecycle.templates import school_templates
from lifecycle.types import StepStatus
from models.documents import ExportCursor
from models.tables import Enrollment, Note, School, Staff, Step, Student, utcnow

FORMATS = ("csv", "json")
DEFAULT_SETTLE = timedelta(minutes=2)


@dataclass(frozen=True)
class NoteExport:
    """What one run produced: the rows (in note-id order) and the cursor it moved."""

    target: str
    rows: list[NoteRow] = field(default_factory=list)
    cursor_before: int = 0
    cursor_after: int = 0

    def render(self, fmt: str) -> str:
        return render(self.rows, fmt)


def cursor_key(target: str, school: str | None) -> str:
    """One cursor per target and school filter: exporting one school never skips another's."""
    return f"{target}|{school or 'all'}"


def _local_date(note: Note, step: Step, school: School) -> str:
    if step.completed_on is not None:
        return step.completed_on.isoformat()
    tz = pendulum.timezone(school.timezone or "UTC")
    return note.created_at.astimezone(tz).date().isoformat()


def _rows(
    session: Session,
    *,
    after_id: int,
    since: date | None,
    school: str | None,
    until: datetime,
    limit: int | None,
) -> list[NoteRow]:
    query = (
        select(Note, Step, Student, School)
        .join(Step, col(Step.id) == Note.step_id)
        .join(Enrollment, col(Enrollment.id) == Step.enrollment_id)
        .join(Student, col(Student.id) == Enrollment.student_id)
        .join(School, col(School.id) == Enrollment.school_id)
        .where(
            col(Note.id) > after_id,
            col(Note.kind).in_([k.value for k in EXPORTED_KINDS]),
            col(Note.created_at) <= until,
            Step.status == StepStatus.COMPLETED,
        )
        .order_by(col(Note.id))
    )
    if school:
        query = query.where(School.source_id == school)
    if since is not None:
        query = query.where(col(Step.completed_on) >= since)
    if limit:
        query = query.limit(limit)
    found = list(session.exec(query))
    author_ids = {n.author_staff_id for n, *_ in found if n.author_staff_id is not None}
    authors = {a.id: a for a in session.exec(select(Staff).where(col(Staff.id).in_(author_ids)))}
    rows = []
    for note, step, student, sch in found:
        author = authors.get(note.author_staff_id)
        template = template_name(note.kind, note.variant)
        if template is None:  # pragma: no cover - EXPORTED_KINDS all have one
            continue
        answers = dict(note.answers or {})
        rows.append(
            NoteRow(
                note_id=int(note.id or 0),
                student_sourced_id=student.source_id,
                school_sourced_id=sch.source_id,
                template=template,
                author_sourced_id=author.source_id if author else "",
                author_name=f"{author.given_name} {author.family_name}".strip() if author else "",
                date=_local_date(note, step, sch),
                text=note_text(
                    note.kind, answers, note.variant, school_templates(sch.policy).questions
                ),
                state_system_ref=step.external_ref or answers.get("external_ref", ""),
            )
        )
    return rows


def export_notes(
    session: Session,
    *,
    target: str,
    since: date | None = None,
    school: str | None = None,
    now: datetime | None = None,
    settle: timedelta = DEFAULT_SETTLE,
    full: bool = False,
    limit: int | None = None,
) -> NoteExport:
    """The completed notes this target has not exported yet; moves its cursor past them.

    `full=True` re-exports everything from `since` and leaves the cursor where it was (a one-off
    file for someone who lost theirs). The caller commits after the file is safely written.
    """
    key = cursor_key(target, school)
    cursor = session.exec(select(ExportCursor).where(ExportCursor.target == key)).first()
    before = 0 if full or cursor is None else cursor.last_note_id
    until = (now or utcnow()) - settle
    rows = _rows(session, after_id=before, since=since, school=school, until=until, limit=limit)
    after = max((r.note_id for r in rows), default=before)
    if not full and rows:
        if cursor is None:
            cursor = ExportCursor(target=key)
        cursor.last_note_id = after
        cursor.rows_exported = (cursor.rows_exported or 0) + len(rows)
        cursor.updated_at = now or utcnow()
        session.add(cursor)
        session.flush()
    return NoteExport(key, rows, before, after)


def render(rows: Sequence[NoteRow], fmt: str) -> str:
    """The rows as a CSV file (formula-safe, header first) or a JSON array."""
    if fmt == "json":
        return json.dumps([asdict(r) for r in rows], indent=2, ensure_ascii=False) + "\n"
    if fmt != "csv":
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        values = asdict(row)
        writer.writerow([csv_safe(str(values[name])) for name in COLUMNS])
    return out.getvalue()


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8", newline="")
    tmp.replace(path)


def export_notes_to_file(
    session: Session, directory: Path, *, target: str, fmt: str = "csv", **options: Any
) -> tuple[NoteExport, Path | None]:
    """Export the target's new notes into `directory` (one timestamped file per run that found
    any). The caller commits the moved cursor after this returns, i.e. after the file exists."""
    result = export_notes(session, target=target, **options)
    if not result.rows:
        return result, None
    now = options.get("now") or utcnow()
    school = options.get("school") or "all"
    name = f"notes-{school}-{now:%Y%m%dT%H%M%SZ}-{result.cursor_after}.{fmt}"
    path = directory / name
    write_atomically(path, result.render(fmt))
    return result, path
