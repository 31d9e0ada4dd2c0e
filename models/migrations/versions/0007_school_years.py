"""school years: school_year table (one calendar per school and year), enrollment.school_year

Revision ID: 0007_school_years
Revises: 0003
Create Date: 2026-12-02 16:20:00

"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007_school_years"
down_revision: str | Sequence[str] | None = "0004_contacts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "school_year",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("school_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=16), nullable=False),
        sa.Column("first_day", sa.Date(), nullable=False),
        sa.Column("last_day", sa.Date(), nullable=False),
        sa.Column("calendar", sa.JSON(), nullable=False),
        sa.Column("rolled_over_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["school_id"], ["school.id"], name=op.f("fk_school_year_school_id_school")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_school_year")),
        sa.UniqueConstraint("school_id", "label", name=op.f("uq_school_year_school_id_label")),
    )
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("school_year", sa.String(length=16), nullable=False, server_default="")
        )
        batch_op.create_index(batch_op.f("ix_enrollment_school_year"), ["school_year"])
    # Every stored school has one year so far: its calendar's. Its enrollments belong to it.
    bind = op.get_bind()
    school = sa.table("school", sa.column("id"), sa.column("calendar", sa.JSON()))
    year = sa.table(
        "school_year",
        sa.column("school_id"),
        sa.column("label"),
        sa.column("first_day", sa.Date()),
        sa.column("last_day", sa.Date()),
        sa.column("calendar", sa.JSON()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    enrollment = sa.table("enrollment", sa.column("school_id"), sa.column("school_year"))
    for school_id, calendar in bind.execute(sa.select(school.c.id, school.c.calendar)).all():
        data = json.loads(calendar) if isinstance(calendar, str) else calendar
        if not data or "year_start" not in data:
            continue
        first = datetime.fromisoformat(data["year_start"]).date()
        last = datetime.fromisoformat(data["year_end"]).date()
        label = f"{first.year}-{last.year}"
        bind.execute(
            sa.insert(year).values(
                school_id=school_id,
                label=label,
                first_day=first,
                last_day=last,
                calendar=data,
                created_at=datetime.now(UTC),
            )
        )
        bind.execute(
            sa.update(enrollment).where(enrollment.c.school_id == school_id).values(school_year=label)
        )


def downgrade() -> None:
    op.drop_index("ix_enrollment_school_year", table_name="enrollment")
    # Plain DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch copy of the table would not quote
    # the `returning` column for SQLite.
    op.execute("ALTER TABLE enrollment DROP COLUMN school_year")
    op.drop_table("school_year")
