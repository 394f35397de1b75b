"""notify schema: projection tracking and outbox, group routes, inbox, deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notify_tracking",
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "notify_outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "notify_group_routes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(12), nullable=False),
        sa.Column("fund_code", sa.String(40), nullable=True),
        sa.Column("group_code", sa.String(40), nullable=False),
        sa.Column("group_name", sa.String(60), nullable=False),
    )
    op.create_index("ix_notify_group_routes_scope_group", "notify_group_routes", ["scope", "group_code"])
    op.create_table(
        "notify_inbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(100), nullable=False),
        sa.Column("transition_id", sa.String(100), nullable=False),
        sa.Column("group_code", sa.String(40), nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("rule_id", sa.String(20), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("transition", sa.String(30), nullable=False),
        sa.Column("title_zh", sa.String(120), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("alert_id", "transition_id", "group_code", name="uq_notify_inbox_transition_group"),
    )
    op.create_index("ix_notify_inbox_group", "notify_inbox", ["group_code"])
    op.create_index("ix_notify_inbox_region", "notify_inbox", ["region"])
    op.create_table(
        "notify_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(100), nullable=False),
        sa.Column("transition_id", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("group_code", sa.String(40), nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("target", sa.String(2000), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("last_error", sa.String(500), nullable=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("alert_id", "transition_id", "channel", name="uq_notify_deliveries_transition_channel"),
    )
    op.create_index("ix_notify_deliveries_due", "notify_deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    for table in ("notify_deliveries", "notify_inbox", "notify_group_routes", "notify_outbox", "notify_tracking"):
        op.drop_table(table)
