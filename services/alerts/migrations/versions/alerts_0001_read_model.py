"""alerts read model: projection tracking and outbox, alerts, transitions, dispositions, rule configs.

Revision ID: alerts_0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "alerts_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts_tracking",
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "alerts_outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "alerts_alerts",
        sa.Column("alert_id", sa.String(100), primary_key=True),
        sa.Column("rule_id", sa.String(20), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("title_zh", sa.String(120), nullable=False),
        sa.Column("title_en", sa.String(160), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("fund_code", sa.String(40)),
        sa.Column("group_code", sa.String(40)),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("shadow", sa.Boolean, nullable=False),
        sa.Column("budget_year", sa.Integer),
        sa.Column("due", sa.Date),
        sa.Column("findings", sa.Text, nullable=False),
        sa.Column("raised_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.Column("transitions", sa.Integer, nullable=False),
        sa.Column("last_transition", sa.String(30), nullable=False),
    )
    op.create_index("ix_alerts_alerts_region", "alerts_alerts", ["region"])
    op.create_index("ix_alerts_alerts_rule", "alerts_alerts", ["rule_id"])
    op.create_index("ix_alerts_alerts_level_open", "alerts_alerts", ["level", "open"])
    op.create_index("ix_alerts_alerts_group", "alerts_alerts", ["group_code"])
    op.create_index("ix_alerts_alerts_raised", "alerts_alerts", ["raised_at"])
    op.create_table(
        "alerts_transitions",
        sa.Column("transition_id", sa.String(110), primary_key=True),
        sa.Column("alert_id", sa.String(100), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("from_level", sa.String(10)),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("open", sa.Boolean, nullable=False),
        sa.Column("actor", sa.String(60), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("method", sa.String(60)),
        sa.Column("findings", sa.Text, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("disposition_id", sa.String(100)),
        sa.Column("corrective_actions", sa.Text, nullable=False),
        sa.Column("attachments", sa.Text, nullable=False),
    )
    op.create_index("ix_alerts_transitions_alert", "alerts_transitions", ["alert_id", "seq"])
    op.create_table(
        "alerts_dispositions",
        sa.Column("disposition_id", sa.String(100), primary_key=True),
        sa.Column("alert_id", sa.String(100), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(60), nullable=False),
        sa.Column("group_code", sa.String(40), nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(500)),
        sa.Column("transition_id", sa.String(110)),
        sa.Column("filed_at", sa.DateTime, nullable=False),
        sa.Column("decided_at", sa.DateTime),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_alerts_dispositions_alert", "alerts_dispositions", ["alert_id"])
    op.create_table(
        "alerts_rule_configs",
        sa.Column("rule_id", sa.String(20), primary_key=True),
        sa.Column("budget_year", sa.Integer, primary_key=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("alerts_rule_configs", "alerts_dispositions", "alerts_transitions", "alerts_alerts",
                  "alerts_outbox", "alerts_tracking"):
        op.drop_table(table)
