"""The ILP as documents: EL ILP versions, the parent copies made of them, and the SIS export cursor.

Same conventions as models/tables.py (aware UTC datetimes, nothing deleted). An EL ILP is never
edited in place: every update is a new `ElIlpVersion` row, so the history is the table itself.
"""

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from models.tables import _json, utcnow


class ExportCursor(SQLModel, table=True):
    """How far one export target has read the notes: the last note id it wrote."""

    __tablename__ = "export_cursor"

    id: int | None = Field(default=None, primary_key=True)
    target: str = Field(unique=True, max_length=255)  # e.g. "sis-notes|all"
    last_note_id: int = 0
    rows_exported: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class ElIlpVersion(SQLModel, table=True):
    """One saved version of a student's EL ILP (the English learner's plan)."""

    __tablename__ = "el_ilp_version"
    __table_args__ = (UniqueConstraint("student_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    student_id: int = Field(foreign_key="student.id")
    enrollment_id: int = Field(foreign_key="enrollment.id", index=True)
    step_id: int | None = Field(default=None, foreign_key="step.id")  # the el_ilp(_review) step
    version: int  # 1, 2, ... per student
    # Language proficiency levels from the assessment (e.g. WIDA 1.0-6.0), and its date.
    listening: str = Field(max_length=16)
    speaking: str = Field(max_length=16)
    reading: str = Field(max_length=16)
    writing: str = Field(max_length=16)
    assessed_on: date
    goals: str
    strategies: str
    classroom_accommodations: str
    testing_accommodations: str
    collaborators: list[str] = Field(default_factory=list, sa_type=_json())
    parent_language: str = Field(default="en", max_length=16)  # a label file's code, e.g. "es"
    author_staff_id: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(default_factory=utcnow)


class ParentCopy(SQLModel, table=True):
    """A PDF made for the parent from one EL ILP version, and how it reached them."""

    __tablename__ = "parent_copy"

    id: int | None = Field(default=None, primary_key=True)
    step_id: int = Field(foreign_key="step.id", index=True)  # the parent_copy step
    version_id: int | None = Field(default=None, foreign_key="el_ilp_version.id")
    language: str = Field(max_length=16)
    filename: str = Field(max_length=255)
    sha256: str = Field(max_length=64)
    size: int
    pdf: bytes = Field(sa_type=sa.LargeBinary())
    handed_over: str | None = Field(default=None, max_length=16)  # "sent" | "printed"
    recipient: str | None = Field(default=None, max_length=320)  # the guardian's address
    # A sent copy goes out after its transaction commits: "to_send" in the transaction, then
    # "sent" or "failed" (a failed send never undoes the step; a rolled-back one never sends).
    send_status: str | None = Field(default=None, max_length=16)
    sent_at: datetime | None = None
    send_error: str | None = None
    staff_id: int | None = Field(default=None, foreign_key="staff.id")
    created_at: datetime = Field(default_factory=utcnow)


DOCUMENT_TABLES: tuple[type[SQLModel], ...] = (ExportCursor, ElIlpVersion, ParentCopy)
