"""enrollment.source (which feed owns the row) and dated changes (pending, pending_on)

Revision ID: 0003
Revises: 0002_documents
Create Date: 2026-12-02 13:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002_documents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=255), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("pending", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(sa.Column("pending_on", sa.Date(), nullable=True))
        batch_op.create_index(batch_op.f("ix_enrollment_pending_on"), ["pending_on"], unique=False)
    # Rows stored before sources existed: the webhook's and the CSVs' are known by their feed
    # run; the rest ("") count as the OneRoster district's (services/feed_store.py).
    for kind, source in (("json", "webhook"), ("simple-csv", "csv")):
        op.execute(
            f"UPDATE enrollment SET source = '{source}' WHERE feed_run_id IN "
            f"(SELECT id FROM feed_run WHERE kind = '{kind}')"
        )


def downgrade() -> None:
    op.drop_index("ix_enrollment_pending_on", table_name="enrollment")
    # Plain DROP COLUMN (SQLite 3.35+, PostgreSQL): a batch copy of the table would not quote
    # the `returning` column for SQLite.
    for column in ("pending_on", "pending", "source"):
        op.execute(f"ALTER TABLE enrollment DROP COLUMN {column}")
