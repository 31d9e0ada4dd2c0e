"""contact_attempt.outcome (reached / no answer / left message / bad contact) and logged_at

Revision ID: 0006_attempts
Revises: 0004_contacts
Create Date: 2026-12-02 16:40:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_attempts"
down_revision: str | Sequence[str] | None = "0007_school_years"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contact_attempt", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("outcome", sa.String(length=32), nullable=False, server_default="no_answer")
        )
        batch_op.add_column(sa.Column("logged_at", sa.DateTime(timezone=True), nullable=True))
    # Attempts logged before outcomes existed: a success was a reached family.
    op.execute("UPDATE contact_attempt SET outcome = 'reached' WHERE succeeded")


def downgrade() -> None:
    for column in ("logged_at", "outcome"):
        op.execute(f"ALTER TABLE contact_attempt DROP COLUMN {column}")
