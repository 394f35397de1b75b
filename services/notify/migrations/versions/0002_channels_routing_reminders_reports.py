"""notify: targets per group (routing as data), grouped-message items, inbox read/ack state,
alert states and reminders, reminder policies, monthly reports.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notify_inbox") as t:
        t.add_column(sa.Column("read_at", sa.DateTime, nullable=True))
        t.add_column(sa.Column("read_by", sa.String(60), nullable=True))
        t.add_column(sa.Column("acked_at", sa.DateTime, nullable=True))
        t.add_column(sa.Column("acked_by", sa.String(60), nullable=True))
    with op.batch_alter_table("notify_deliveries") as t:
        t.add_column(sa.Column("target_key", sa.String(40), nullable=False, server_default=""))
        t.add_column(sa.Column("alerts", sa.Integer, nullable=False, server_default="1"))
        t.add_column(sa.Column("sent_at", sa.DateTime, nullable=True))
        t.drop_constraint("uq_notify_deliveries_transition_channel", type_="unique")
        t.create_unique_constraint("uq_notify_deliveries_target", ["alert_id", "transition_id", "channel", "target_key"])
        t.create_index("ix_notify_deliveries_target_sent", ["target_key", "sent_at"])
    op.create_table(
        "notify_targets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_code", sa.String(40), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("target", sa.String(2000), nullable=False),
        sa.Column("secret", sa.String(200), nullable=True),
        sa.Column("levels", sa.Text, nullable=False, server_default="[]"),
        sa.Column("categories", sa.Text, nullable=False, server_default="[]"),
        sa.Column("rule_ids", sa.Text, nullable=False, server_default="[]"),
        sa.Column("recipients", sa.Text, nullable=False, server_default="[]"),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default="1"),
        sa.Column("updated_by", sa.String(60), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_notify_targets_group", "notify_targets", ["group_code"])
    op.create_table(
        "notify_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(100), nullable=False),
        sa.Column("transition_id", sa.String(100), nullable=False),
        sa.Column("target_key", sa.String(40), nullable=False),
        sa.Column("group_key", sa.String(200), nullable=False),
        sa.Column("group_code", sa.String(40), nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("delivery_id", sa.Integer, nullable=True),
        sa.UniqueConstraint("alert_id", "transition_id", "target_key", name="uq_notify_items_transition_target"),
    )
    op.create_index("ix_notify_items_waiting", "notify_items", ["delivery_id", "group_key"])
    op.create_table(
        "notify_group_flushes",
        sa.Column("group_key", sa.String(200), primary_key=True),
        sa.Column("last_flush_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "notify_alerts",
        sa.Column("alert_id", sa.String(100), primary_key=True),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("rule_id", sa.String(20), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("title_zh", sa.String(120), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("group_code", sa.String(40), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("since", sa.DateTime, nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
    )
    op.create_index("ix_notify_alerts_open_level", "notify_alerts", ["open", "level"])
    op.create_table(
        "notify_reminders",
        sa.Column("reminder_id", sa.String(140), primary_key=True),
        sa.Column("alert_id", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("group_code", sa.String(40), nullable=False),
        sa.Column("recipients", sa.Text, nullable=False),
        sa.Column("working_days", sa.Integer, nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_notify_reminders_alert", "notify_reminders", ["alert_id"])
    op.create_table(
        "notify_reminder_policies",
        sa.Column("rule_id", sa.String(20), primary_key=True),
        sa.Column("level", sa.String(10), primary_key=True),
        sa.Column("remind_after", sa.Integer, nullable=False),
        sa.Column("escalate_after", sa.Integer, nullable=True),
        sa.Column("repeat_every", sa.Integer, nullable=False),
        sa.Column("updated_by", sa.String(60), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "notify_reports",
        sa.Column("report_id", sa.String(80), primary_key=True),
        sa.Column("month", sa.Date, nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("group_code", sa.String(40), nullable=False),
        sa.Column("generated_at", sa.DateTime, nullable=False),
        sa.Column("generated_by", sa.String(60), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("xlsx", sa.LargeBinary, nullable=False),
        sa.Column("html", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for name in ("notify_reports", "notify_reminder_policies", "notify_reminders", "notify_alerts",
                 "notify_group_flushes", "notify_items", "notify_targets"):
        op.drop_table(name)
    with op.batch_alter_table("notify_deliveries") as t:
        t.drop_index("ix_notify_deliveries_target_sent")
        t.drop_constraint("uq_notify_deliveries_target", type_="unique")
        t.create_unique_constraint("uq_notify_deliveries_transition_channel", ["alert_id", "transition_id", "channel"])
        t.drop_column("sent_at")
        t.drop_column("alerts")
        t.drop_column("target_key")
    with op.batch_alter_table("notify_inbox") as t:
        for name in ("acked_by", "acked_at", "read_by", "read_at"):
            t.drop_column(name)
