"""contacts (guardians, parents, relatives) and their students; parent copies sent after
commit; staff roles per school

Revision ID: 0004_contacts
Revises: 0003
Create Date: 2026-12-02 16:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_contacts"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.String(length=255), nullable=False),
        sa.Column("given_name", sa.String(length=255), nullable=False),
        sa.Column("family_name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=64), nullable=True),
        sa.Column("relationship", sa.String(length=32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact")),
        sa.UniqueConstraint("source_id", name=op.f("uq_contact_source_id")),
    )
    op.create_table(
        "student_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("relationship", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contact.id"], name=op.f("fk_student_contact_contact_id_contact")
        ),
        sa.ForeignKeyConstraint(
            ["student_id"], ["student.id"], name=op.f("fk_student_contact_student_id_student")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_student_contact")),
        sa.UniqueConstraint(
            "student_id", "contact_id", name=op.f("uq_student_contact_student_id_contact_id")
        ),
    )
    with op.batch_alter_table("student_contact", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_student_contact_contact_id"), ["contact_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_student_contact_student_id"), ["student_id"], unique=False
        )
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("school_roles", sa.JSON(), nullable=False, server_default="{}")
        )
    with op.batch_alter_table("parent_copy", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("send_status", sa.String(length=16), nullable=True)
        )
        batch_op.add_column(
            sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("send_error", sa.String(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("parent_copy", schema=None) as batch_op:
        batch_op.drop_column("send_error")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("send_status")
    with op.batch_alter_table("staff", schema=None) as batch_op:
        batch_op.drop_column("school_roles")
    with op.batch_alter_table("student_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_student_contact_student_id"))
        batch_op.drop_index(batch_op.f("ix_student_contact_contact_id"))
    op.drop_table("student_contact")
    op.drop_table("contact")
