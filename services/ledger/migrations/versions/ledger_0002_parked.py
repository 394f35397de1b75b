"""parked events (a correction before what it corrects, a return before its payment), the event
time of fund links (the earliest link is the designated one, whatever order they came in), and
whether an account was ever registered special (its payments are then not spending, in any order)

Revision ID: ledger_0002
Revises: ledger_0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ledger_0002"
down_revision = "ledger_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_parked",
        sa.Column("event_id", sa.String(100), primary_key=True),
        sa.Column("waits_for", sa.String(120), nullable=False),
        sa.Column("event_type", sa.String(60), nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ledger_parked_waits_for", "ledger_parked", ["waits_for"])
    with op.batch_alter_table("ledger_fund_links") as batch_op:
        batch_op.add_column(sa.Column("linked_at", sa.DateTime(timezone=True)))
    with op.batch_alter_table("ledger_accounts") as batch_op:
        batch_op.add_column(sa.Column("was_special", sa.Boolean, nullable=False, server_default="0"))
    op.execute("UPDATE ledger_accounts SET was_special = (kind = 'special')")


def downgrade() -> None:
    with op.batch_alter_table("ledger_accounts") as batch_op:
        batch_op.drop_column("was_special")
    with op.batch_alter_table("ledger_fund_links") as batch_op:
        batch_op.drop_column("linked_at")
    op.drop_index("ix_ledger_parked_waits_for", "ledger_parked")
    op.drop_table("ledger_parked")
