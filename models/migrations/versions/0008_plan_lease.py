"""enrollment.plan_count, planned_by, plan_claimed_by, plan_claimed_until: lifecycle runs claim
the enrollments waiting to be planned (a lease), and each plan is counted

Revision ID: 0008_plan_lease
Revises: 0006_attempts
Create Date: 2026-12-02 19:10:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_plan_lease"
down_revision: str | Sequence[str] | None = "0006_attempts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("enrollment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("plan_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("planned_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("plan_claimed_by", sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column("plan_claimed_until", sa.DateTime(timezone=True), nullable=True))
    # Enrollments planned before plans were counted were planned at least once.
    op.execute("UPDATE enrollment SET plan_count = 1 WHERE planned_fingerprint IS NOT NULL")


def downgrade() -> None:
    # Plain DROP COLUMN: a batch rebuild of enrollment trips over its "returning" column.
    for column in ("plan_claimed_until", "plan_claimed_by", "planned_by", "plan_count"):
        op.execute(f"ALTER TABLE enrollment DROP COLUMN {column}")
